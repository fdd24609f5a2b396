"""Graph request paths: a mailbox, a room list or an id goes into a path as one percent-encoded segment.

The contract's EMAIL_PATTERN takes any character but '@' and white space in an address, so '/',
'?' and '#' among them; ids are opaque. Put in a path as they are, they change which resource the
request names: `carol/../alice@example.com` becomes alice's calendar once urllib3 removes the dot
segments, `alice@example.com#.x` loses its tail to a fragment and `alice@example.com?.x` to a
query. Graph (and the local one, infra/graphsim/routes.py) decodes each segment on its own, so
the request names the mailbox it was given, or none (404: UNKNOWN_MAILBOX). Every module builds
its paths from these.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["mailbox_path", "place_path", "segment"]


def segment(value: str) -> str:
    """`value` as one path segment: everything but unreserved characters and '@' percent-encoded
    ('.' too, where the whole segment is a dot segment)."""
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="@")


def mailbox_path(mailbox: str) -> str:
    """/users/{mailbox}."""
    return f"/users/{segment(mailbox)}"


def place_path(address: str) -> str:
    """/places/{room list or room address}."""
    return f"/places/{segment(address)}"
