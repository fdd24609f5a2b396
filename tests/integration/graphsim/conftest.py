"""Graph simulator tests use the fixtures of tests/integration/graph_support.py."""

from tests.integration.graph_support import graph_client, graph_sim, graph_simulator  # noqa: F401
