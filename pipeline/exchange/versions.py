"""The Exchange versions an integration can pin, by the names operators and EWS use: one table.

`server_version` takes a product as its operators know it ("Exchange 2010 SP2", "Exchange
Online"), an EWS API version name (the RequestServerVersion value, "Exchange2010_SP2"), or a build
("14.2.247.5"). Names compare without case, spaces, "_" and "-" (and the words "Microsoft" and
"Server"), so "exchange 2010 sp2", "Exchange2010_SP2" and "Microsoft Exchange Server 2010 SP2" pin
one version. Exchange 2019 and Exchange Online speak the 2016 API, so "Exchange2019" pins the
Exchange2016 API on a 2019 build.

Plain data, no exchangelib: settings validation reads it, and the EWS connection layer turns the
result into exchangelib's Version (pipeline/exchange/ews/protocol.py, pinned_version).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

__all__ = ["EXCHANGE_VERSIONS", "ROOM_LISTS_SINCE", "ExchangeVersion", "accepted_names", "resolve"]

Build = tuple[int, int, int, int]
ROOM_LISTS_SINCE: Build = (14, 0, 0, 0)

_BUILD = re.compile(r"\d+\.\d+(\.\d+){0,2}")
_NOISE = re.compile(r"microsoft|server|[\s_\-]")


@dataclass(frozen=True)
class ExchangeVersion:
    """One Exchange product version: its name, the EWS API it speaks, and a build of it."""

    name: str  # as operators know it: "Exchange 2010 SP2"
    api_version: str  # the RequestServerVersion value: "Exchange2010_SP2"
    # The oldest build of the product when pinned by name (never claims what the server may lack);
    # the build given when pinned by build.
    build: Build

    @property
    def has_room_lists(self) -> bool:
        """GetRoomLists and GetRooms arrived with Exchange 2010 (EWS operations in Exchange)."""
        return self.build >= ROOM_LISTS_SINCE


# Newest last. The builds are Microsoft's major.minor(.build) for each release; the API versions are
# the ones exchangelib sends for those builds (2007 SP2/SP3 keep the SP1 schema, 2010 SP3 the SP2 one).
EXCHANGE_VERSIONS: tuple[ExchangeVersion, ...] = (
    ExchangeVersion("Exchange 2007 SP1", "Exchange2007_SP1", (8, 1, 0, 0)),
    ExchangeVersion("Exchange 2007 SP2", "Exchange2007_SP1", (8, 2, 0, 0)),
    ExchangeVersion("Exchange 2007 SP3", "Exchange2007_SP1", (8, 3, 0, 0)),
    ExchangeVersion("Exchange 2010", "Exchange2010", (14, 0, 0, 0)),
    ExchangeVersion("Exchange 2010 SP1", "Exchange2010_SP1", (14, 1, 0, 0)),
    ExchangeVersion("Exchange 2010 SP2", "Exchange2010_SP2", (14, 2, 0, 0)),
    ExchangeVersion("Exchange 2010 SP3", "Exchange2010_SP2", (14, 3, 0, 0)),
    ExchangeVersion("Exchange 2013", "Exchange2013", (15, 0, 0, 0)),
    ExchangeVersion("Exchange 2013 SP1", "Exchange2013_SP1", (15, 0, 847, 0)),
    ExchangeVersion("Exchange 2016", "Exchange2016", (15, 1, 0, 0)),
    ExchangeVersion("Exchange 2019", "Exchange2016", (15, 2, 0, 0)),
    ExchangeVersion("Exchange Online", "Exchange2016", (15, 20, 0, 0)),
)


def _key(name: str) -> str:
    return _NOISE.sub("", name.casefold().replace("service pack", "sp"))


# "exchange2010sp2" is both "Exchange 2010 SP2" and the API name "Exchange2010_SP2"; "exchange2019"
# is "Exchange 2019" and the API-style "Exchange2019".
_BY_KEY = {_key(version.name): version for version in EXCHANGE_VERSIONS}


def accepted_names() -> list[str]:
    """Every name server_version accepts, as documented: products, then the API version names."""
    api_names = sorted({version.api_version for version in EXCHANGE_VERSIONS} | {"Exchange2019"})
    return [version.name for version in EXCHANGE_VERSIONS] + api_names


def resolve(server_version: str) -> ExchangeVersion:
    """The version a server_version setting pins; ValueError, naming what is accepted, otherwise."""
    text = server_version.strip()
    if _BUILD.fullmatch(text):
        parts = [int(part) for part in text.split(".")] + [0, 0]
        found = _for_build((parts[0], parts[1], parts[2], parts[3]))
        if found is None:
            releases = dict.fromkeys(f"{v.build[0]}.{v.build[1]}" for v in EXCHANGE_VERSIONS)
            raise ValueError(
                "server_version is not a build of a known Exchange version (one starting "
                + ", ".join(releases)
                + ")"
            )
        return found
    found = _BY_KEY.get(_key(text))
    if found is None:
        raise ValueError(
            "server_version must be one of "
            + ", ".join(accepted_names())
            + " (case and spaces do not matter), or a build such as 15.2.1118.7"
        )
    return found


def _for_build(build: Build) -> ExchangeVersion | None:
    """The newest release with the build's major.minor that is not newer than the build."""
    same_release = [
        version for version in EXCHANGE_VERSIONS if version.build[:2] == build[:2] and version.build <= build
    ]
    return replace(same_release[-1], build=build) if same_release else None
