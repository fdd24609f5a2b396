"""The Microsoft Graph implementation of the ExchangeGateway (msal tokens, a pooled requests session).

Loaded only when an integration with backend graph is used: an EWS-only process never imports
this package's modules, msal included. The two names below are loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.exchange.graph.connection import GraphConnector
    from pipeline.exchange.graph.gateway import GraphGateway

__all__ = ["GraphConnector", "GraphGateway"]

_MODULES = {
    "GraphConnector": "pipeline.exchange.graph.connection",
    "GraphGateway": "pipeline.exchange.graph.gateway",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
