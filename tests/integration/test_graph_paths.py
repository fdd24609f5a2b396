"""A mailbox address goes into a Graph path as one segment: the request names that mailbox, or none.

The contract takes any character but '@' and white space in an address, so '/', '?' and '#'. Put
in `/users/{mailbox}/...` as it is, `dan/../alice@example.com` names alice's calendar once urllib3
removes the dot segments, and `alice@example.com#x.y` or `alice@example.com?x.y` lose their tail
to a fragment or a query. Real requests, msal and urllib3 against the local Graph over TLS, which
decodes each path segment on its own as Graph does.
"""

from __future__ import annotations

import pytest

from infra.graphsim.responses.subscriptions import plugin_of
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode
from tests.integration.callback_support import MemoryQueue
from tests.integration.event_support import ALICE, booking, follow_up, stamped
from tests.integration.graph_support import graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, graph_pipeline
from tests.integration.test_graph_privacy import callback

__all__ = ["callback", "graph_pipeline", "graph_sim", "graph_simulator"]  # fixtures, re-exported

# A mailbox of its own whose address, put in a path unencoded, would name alice's.
DOTTED = "dan/../alice@example.com"
# Addresses no one has, each alice's if cut at its '#', '?' or '/..'.
NO_ONES = ["alice@example.com#x.y", "alice@example.com?x.y", "x/../alice@example.com"]
BOOKING_KEY = "interview-1:slot-1"


@pytest.fixture
def app(graph_pipeline: PipelineHarness) -> str:
    graph_pipeline.sim.seed({"users": [{"smtp": DOTTED, "name": "Dan Dots", "password": "Dan-Pass-1",
                                        "domain": "EXAMPLE"}]})
    return graph_pipeline.install("impersonation", "oauth2", backend="graph")


def test_a_booking_for_an_address_with_dot_segments_lands_in_that_mailbox(
    graph_pipeline: PipelineHarness, app: str
) -> None:
    sim = graph_pipeline.sim

    # When a booking is made, then cancelled, for the mailbox whose address holds /../
    created = graph_pipeline.run("create_event", **booking(app, mailbox=DOTTED))

    # Then it is in that mailbox's calendar, and alice's has nothing
    assert created.status is JobStatus.SUCCEEDED, created.error
    assert len(stamped(sim, DOTTED, BOOKING_KEY)) == 1
    assert stamped(sim, ALICE, BOOKING_KEY) == []
    # ...and the event it reads back and cancels by id is that one too
    cancelled = graph_pipeline.run("cancel_event", **follow_up(app, mailbox=DOTTED))
    assert cancelled.status is JobStatus.SUCCEEDED, cancelled.error
    assert cancelled.result is not None and cancelled.result["cancelled"] is True
    assert stamped(sim, DOTTED, BOOKING_KEY) == []


@pytest.mark.parametrize("address", NO_ONES)
def test_an_address_no_one_has_is_an_unknown_mailbox_never_another_mailbox(
    graph_pipeline: PipelineHarness, app: str, address: str
) -> None:
    # When a booking is made for an address that, cut at its '#', '?' or '/..', would be alice's
    outcome = graph_pipeline.run("create_event", **booking(app, mailbox=address))

    # Then Graph was asked for that address, which no one has: nothing reached alice's calendar
    assert outcome.status is JobStatus.FAILED, outcome
    assert outcome.error is not None and outcome.error.code is ErrorCode.UNKNOWN_MAILBOX, outcome.error
    assert stamped(graph_pipeline.sim, ALICE, BOOKING_KEY) == []


def test_a_subscription_watches_the_mailbox_named(
    graph_pipeline: PipelineHarness, app: str, callback: MemoryQueue
) -> None:
    # When the mailbox whose address holds /../ is subscribed to
    outcome = graph_pipeline.run("subscribe_mailbox", integration_id=app, mailbox=DOTTED)

    # Then Graph watches that mailbox's events (the resource's segment decoded, as Graph does)
    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert [s.mailbox for s in plugin_of(graph_pipeline.sim.graph).subscriptions()] == [DOTTED]
