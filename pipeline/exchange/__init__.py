"""The connection layer: the only package that imports exchangelib (in its ews/ sub-package)."""

from pipeline.exchange.base import ExchangeGateway

__all__ = ["ExchangeGateway"]
