"""The EWS implementation of the ExchangeGateway (exchangelib over HTTP)."""

from pipeline.exchange.ews.connection import EwsConnector
from pipeline.exchange.ews.gateway import EwsGateway

__all__ = ["EwsConnector", "EwsGateway"]
