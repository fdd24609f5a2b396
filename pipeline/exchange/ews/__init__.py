"""The EWS implementation of the ExchangeGateway (exchangelib over HTTP).

The two names below are loaded on first use: importing one module of this package (logins.py,
say) must not import exchangelib and lxml (half a second) with it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.exchange.ews.connection import EwsConnector
    from pipeline.exchange.ews.gateway import EwsGateway

__all__ = ["EwsConnector", "EwsGateway"]

_MODULES = {"EwsConnector": "pipeline.exchange.ews.connection", "EwsGateway": "pipeline.exchange.ews.gateway"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(import_module(_MODULES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
