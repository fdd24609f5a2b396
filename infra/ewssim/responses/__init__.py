"""One handler per EWS operation, registered by name; importing this package registers them all."""

from __future__ import annotations

from collections.abc import Callable

from infra.ewssim.namespaces import Element
from infra.ewssim.responses.context import RequestContext

Operation = Callable[[RequestContext, Element], Element]

OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    """Register a handler for the EWS operation `name` (the local name of the body element)."""

    def register(handler: Operation) -> Operation:
        OPERATIONS[name] = handler
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

__all__ = ["OPERATIONS", "Operation", "RequestContext", "operation"]
del availability, directory, folder_tree, folders, items, subscriptions, sync_folder_items
