"""A local Microsoft Graph v1.0 over the EWS simulator's backend (see routes.py for the endpoints'
plug-in contract and docs/simulator.md for what it serves)."""

from infra.graphsim.service import GraphOutcome, GraphService

__all__ = ["GraphOutcome", "GraphService"]
