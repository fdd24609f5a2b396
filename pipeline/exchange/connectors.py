"""BackendGateways: the GatewayFactory a Runtime uses, dispatching on each integration's backend.

EWS integrations get the EwsConnector; Graph integrations a GraphConnector, built on the first
Graph integration this process meets, so an EWS-only process never imports the Graph backend
(msal included). Both are shared by every job of the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline.exchange.base import ExchangeGateway
from pipeline.integrations import ExchangeBackend, IntegrationSettings

if TYPE_CHECKING:
    from pipeline.actions.context import GatewayFactory
    from pipeline.exchange.graph.connection import GraphConnector

__all__ = ["BackendGateways"]


class BackendGateways:
    """Opens the gateway of an integration's backend (ews or graph)."""

    def __init__(self, ews: GatewayFactory, graph: Callable[[], GraphConnector]) -> None:
        self.ews = ews
        self._build_graph = graph
        self._graph: GraphConnector | None = None
        self._lock = threading.Lock()

    @property
    def graph(self) -> GraphConnector:
        """The Graph connector (built now if no Graph integration needed it before)."""
        with self._lock:
            if self._graph is None:
                self._graph = self._build_graph()
            return self._graph

    @property
    def graph_built(self) -> bool:
        return self._graph is not None

    def gateway(self, settings: IntegrationSettings, mailbox: str | None = None) -> ExchangeGateway:
        if settings.backend is ExchangeBackend.GRAPH:
            return self.graph.gateway(settings, mailbox)
        return self.ews.gateway(settings, mailbox)

    def close_all(self) -> None:
        close = getattr(self.ews, "close_all", None)
        if close is not None:
            close()
        if self._graph is not None:
            self._graph.close_all()
