"""EWS schema versions: which Exchange the simulator presents, and what each requested version may use.

Exchange serves each request against the schema version its RequestServerVersion header names and
shapes the answer for that version ("Versioning EWS Requests in Exchange 2010",
https://learn.microsoft.com/en-us/previous-versions/office/developer/exchange-server-2010/bb856547(v=exchg.140)):

- a request without the header is served as Exchange 2007 (the initial release);
- a Version that is not a schema version the server knows (Exchange2099, or Exchange2013 sent to an
  Exchange 2010 server) is refused with ErrorInvalidServerVersion, "an invalid request server
  version was specified in the request" (ResponseCode,
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode);
  RequestServerVersion,
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/requestserverversion,
  lists the values;
- an operation newer than the requested version is ErrorIncorrectSchemaVersion, "valid for the
  current Exchange Server version but invalid for the request server version" (same ResponseCode
  page); when each operation arrived: "EWS operations in Exchange",
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/ews-operations-in-exchange;
- a property newer than the requested version is not in that version's schema: asking for it is a
  schema violation, and AllProperties answers leave it out (IsOrganizer: "introduced in Exchange
  Server 2013", .../web-service-reference/isorganizer; LastModifiedName and LastModifiedTime:
  Exchange 2007 SP1, .../lastmodifiedname and .../lastmodifiedtime; StartTimeZone and EndTimeZone:
  Exchange 2010, .../starttimezone and .../endtimezone), and an item's time zone is MeetingTimeZone
  below Exchange 2010 (.../meetingtimezone), StartTimeZone and EndTimeZone from it on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from infra.ewssim.errors import RequestFault, SchemaValidationError
from infra.ewssim.namespaces import Element, t

__all__ = [
    "DEFAULT_PRODUCT",
    "PRODUCTS",
    "Product",
    "admit",
    "omitted_fields",
    "product",
    "requested_version",
]

# ExchangeVersionType in types.xsd, oldest first. Exchange2009 and Exchange2012 are the pre-release
# names of Exchange2010 and Exchange2013 and rank as those.
SCHEMA_VERSIONS: tuple[str, ...] = (
    "Exchange2007", "Exchange2007_SP1", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
    "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016", "V2015_10_05", "V2016_01_06",
    "V2016_04_13", "V2016_07_13", "V2016_10_10", "V2017_01_07", "V2017_04_14", "V2017_07_11",
    "V2017_10_09", "V2018_01_08",
)  # fmt: skip
_ALIASES = {"Exchange2009": "Exchange2010", "Exchange2012": "Exchange2013"}
_RANK = {name: rank for rank, name in enumerate(SCHEMA_VERSIONS)}
# Served as when the header is missing.
UNVERSIONED = "Exchange2007"

# The first schema version of each operation the simulator implements that is newer than Exchange 2007.
OPERATION_SINCE: dict[str, str] = {
    "ConvertId": "Exchange2007_SP1",
    "GetRoomLists": "Exchange2010",
    "GetRooms": "Exchange2010",
    "GetServerTimeZones": "Exchange2010",
    "GetStreamingEvents": "Exchange2010_SP1",
}
# The first schema version of each item property (FieldURI) the simulator renders that is newer
# than Exchange 2007.
FIELD_SINCE: dict[str, str] = {
    "item:LastModifiedName": "Exchange2007_SP1",
    "item:LastModifiedTime": "Exchange2007_SP1",
    "calendar:StartTimeZone": "Exchange2010",
    "calendar:EndTimeZone": "Exchange2010",
    "calendar:IsOrganizer": "Exchange2013",
}
# Item properties an answer carries only below a schema version: StartTimeZone and EndTimeZone took
# over from MeetingTimeZone in Exchange 2010.
FIELD_UNTIL: dict[str, str] = {"calendar:MeetingTimeZone": "Exchange2010"}
_NEWEST_FIELD = max(_RANK[since] for since in FIELD_SINCE.values())


@dataclass(frozen=True)
class Product:
    """An Exchange release as the simulator presents it: its build and the newest schema it serves."""

    name: str
    build: tuple[int, int, int, int]
    schema: str  # the newest RequestServerVersion it accepts, and the Version its answers report
    reports_schema: bool = True  # Exchange 2007 sends ServerVersionInfo without a Version

    def server_version_info(self) -> dict[str, str]:
        """The ServerVersionInfo attributes of every answer."""
        keys = ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber")
        info = {key: str(part) for key, part in zip(keys, self.build, strict=True)}
        return info | ({"Version": self.schema} if self.reports_schema else {})


# Builds of the release (or a late cumulative update, for 2016 and 2019); 2016 CU and 2019 report the
# V2017_07_11 schema, Exchange Online the newest one.
PRODUCTS: dict[str, Product] = {
    found.name: found
    for found in (
        Product("Exchange 2007 SP1", (8, 1, 240, 6), "Exchange2007_SP1", reports_schema=False),
        Product("Exchange 2007 SP2", (8, 2, 176, 2), "Exchange2007_SP1", reports_schema=False),
        Product("Exchange 2007 SP3", (8, 3, 83, 6), "Exchange2007_SP1", reports_schema=False),
        Product("Exchange 2010", (14, 0, 639, 21), "Exchange2010"),
        Product("Exchange 2010 SP1", (14, 1, 218, 15), "Exchange2010_SP1"),
        Product("Exchange 2010 SP2", (14, 2, 247, 5), "Exchange2010_SP2"),
        Product("Exchange 2010 SP3", (14, 3, 123, 4), "Exchange2010_SP2"),
        Product("Exchange 2013", (15, 0, 516, 32), "Exchange2013"),
        Product("Exchange 2013 SP1", (15, 0, 847, 32), "Exchange2013_SP1"),
        Product("Exchange 2016", (15, 1, 2507, 6), "V2017_07_11"),
        Product("Exchange 2019", (15, 2, 1118, 7), "V2017_07_11"),
        Product("Exchange Online", (15, 20, 5000, 10), "V2018_01_08"),
    )
}
DEFAULT_PRODUCT = "Exchange 2019"


def product(name: str | Product) -> Product:
    """A product by its name ("Exchange 2010 SP2"); KeyError names the known ones."""
    if isinstance(name, Product):
        return name
    try:
        return PRODUCTS[name]
    except KeyError:
        raise KeyError(f"unknown Exchange version {name!r}; known: {', '.join(PRODUCTS)}") from None


def requested_version(header_version: str | None) -> str:
    """The schema version a request targets: its RequestServerVersion Version, canonical.

    None is a request without the header (served as Exchange 2007); "" one whose header has no
    Version, which Exchange refuses like an unknown value.
    """
    if header_version is None:
        return UNVERSIONED
    version = _ALIASES.get(header_version, header_version)
    if version not in _RANK:
        raise RequestFault("ErrorInvalidServerVersion", "The specified server version is invalid.")
    return version


def admit(presented: Product, header_version: str | None, operation: str, body: Element) -> str:
    """The request's schema version, once the presented server accepts it for this operation."""
    version = requested_version(header_version)
    rank = _RANK[version]
    if rank > _RANK[presented.schema]:
        # A server knows no schema newer than its own, as Exchange 2010 knows no Exchange2013.
        raise RequestFault("ErrorInvalidServerVersion", "The specified server version is invalid.")
    since = OPERATION_SINCE.get(operation)
    if since is not None and rank < _RANK[since]:
        raise RequestFault(
            "ErrorIncorrectSchemaVersion",
            "The request is valid but does not specify the correct server version in the "
            "RequestServerVersion SOAP header.  Ensure that the RequestServerVersion SOAP header is set "
            "with the correct RequestServerVersionValue.",
        )
    if rank < _NEWEST_FIELD:
        _check_field_uris(body, rank)
    return version


def _check_field_uris(body: Element, rank: int) -> None:
    """A FieldURI newer than the requested schema fails its enumeration, as Exchange reports it."""
    for path in body.iter(t("FieldURI")):
        uri = path.get("FieldURI", "")
        since = FIELD_SINCE.get(uri)
        if since is not None and rank < _RANK[since]:
            raise SchemaValidationError(
                f"The 'FieldURI' attribute is invalid - The value '{uri}' is invalid according to its "
                "datatype 'http://schemas.microsoft.com/exchange/services/2006/types:UnindexedFieldURIType'"
                " - The Enumeration constraint failed."
            )


@functools.cache
def omitted_fields(version: str) -> frozenset[str]:
    """The FieldURIs an answer for this schema version leaves out (they are newer)."""
    rank = _RANK[version]
    newer = {uri for uri, since in FIELD_SINCE.items() if rank < _RANK[since]}
    return frozenset(newer | {uri for uri, until in FIELD_UNTIL.items() if rank >= _RANK[until]})
