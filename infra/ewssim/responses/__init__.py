"""One handler per EWS operation, registered by name; importing this package registers them all."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from infra.ewssim.namespaces import Element
from infra.ewssim.responses.context import RequestContext

Operation = Callable[[RequestContext, Element], Element]
# An operation that answers on an open connection, one response element after another
# (GetStreamingEvents): it checks the request when called, and the iterator yields what to send.
StreamingOperation = Callable[[RequestContext, Element], Iterator[Element]]

OPERATIONS: dict[str, Operation] = {}
STREAMING_OPERATIONS: dict[str, StreamingOperation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    """Register a handler for the EWS operation `name` (the local name of the body element)."""

    def register(handler: Operation) -> Operation:
        OPERATIONS[name] = handler
        return handler

    return register


def streaming_operation(name: str) -> Callable[[StreamingOperation], StreamingOperation]:
    """Register a handler for an EWS operation that streams its answer."""

    def register(handler: StreamingOperation) -> StreamingOperation:
        STREAMING_OPERATIONS[name] = handler
        return handler

    return register


# Imported for their registrations; each module owns one family of operations.
from infra.ewssim.responses import (  # noqa: E402
    availability,
    directory,
    folder_tree,
    folders,
    items,
    subscriptions,
    sync_folder_items,
)

__all__ = [
    "OPERATIONS",
    "STREAMING_OPERATIONS",
    "Operation",
    "RequestContext",
    "StreamingOperation",
    "operation",
    "streaming_operation",
]
del availability, directory, folder_tree, folders, items, subscriptions, sync_folder_items
