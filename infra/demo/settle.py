"""settle: wait, without guessing, until the demo has nothing left to happen.

Nothing is left when every push notification has been delivered, every job the pushes enqueued
has run (with the jobs those enqueued in turn), none of those jobs' own writes was pushed in
turn, and every event they published has reached the app. This holds because each step hands
on before it answers: the simulator queues a push before answering the request that caused it,
the callback function enqueues its job before answering the push, and a job publishes its
events before its message is acknowledged.

A delivery can fail: the callback function answers 403 to a push that comes between Exchange
creating a subscription and subscribe_mailbox storing its record (a booking written at that
moment), or does not answer in time on a loaded machine. Exchange retries it 30 s later, then
60 s, 120 s...; in the simulator that time passes only when its clock is moved on, so settle moves
it on while a subscription waits for a retry, as that much time would pass.

The local Graph's change notifications (`graph`, when given) count the same way: its sender
queues a notification before answering the request that made the change, and retries a failed
one 30 s later, then 60 s... on the same clock (it serves the same backend).
"""

from __future__ import annotations

from collections import Counter

import dramatiq

from infra.ewssim import EwsSimulator
from infra.ewssim.push import FIRST_RETRY_DELAY, PushService
from infra.ewssim.push import attach as attach_push
from infra.graphsim.responses.subscriptions import SubscriptionPlugin
from infra.graphsim.webhooks import WebhookAttempt

__all__ = ["settle"]

# A failing subscription is dropped once its next retry falls past StatusFrequency (the demo's
# is 30 minutes): at most this many steps of FIRST_RETRY_DELAY.
_MAX_RETRY_STEPS = 64


def settle(sim: EwsSimulator, broker: dramatiq.Broker, jobs_queue: str, events_queue: str,
           timeout_s: float, graph: SubscriptionPlugin | None = None) -> Counter[str]:
    """Wait until nothing is left to happen; returns the push deliveries that failed meanwhile
    (each was retried), counted by HTTP status ("no answer" when there was none; Graph's marked)."""
    pushes = attach_push(sim.backend)
    seen = len(pushes.attempts)
    seen_graph = len(graph.webhooks.attempts) if graph is not None else 0

    def idle(timeout: float) -> bool:
        return pushes.wait_idle(timeout) and (graph is None or graph.wait_idle(timeout))

    steps = 0
    while True:
        if not idle(timeout_s):
            raise TimeoutError("the simulator's push notifications did not settle")
        broker.join(jobs_queue, timeout=int(timeout_s * 1000))
        if not idle(0):
            continue  # the jobs just run wrote to a watched calendar
        waiting = _awaiting_retry(pushes) + (_graph_awaiting_retry(graph) if graph is not None else 0)
        if not waiting:
            break
        if steps == _MAX_RETRY_STEPS:
            raise TimeoutError(f"{waiting} push subscription(s) kept failing")
        steps += 1
        sim.advance_clock(FIRST_RETRY_DELAY)
    broker.join(events_queue, timeout=int(timeout_s * 1000))
    failed = Counter(_reason(attempt.status) for attempt in pushes.attempts[seen:]
                     if attempt.outcome == "failed")
    if graph is not None:
        failed += Counter(f"{_reason(attempt.status)} (Graph)"
                          for attempt in graph.webhooks.attempts[seen_graph:]
                          if attempt.kind == "notification" and not attempt.delivered)
    return failed


def _reason(status: int | None) -> str:
    return "no answer" if status is None else f"HTTP {status}"


def _awaiting_retry(pushes: PushService) -> int:
    """Live push subscriptions whose last delivery failed (so a retry is scheduled)."""
    last: dict[str, str] = {}
    for attempt in pushes.attempts:
        last[attempt.subscription_id] = attempt.outcome
    return sum(1 for subscription in pushes.subscriptions()
               if last.get(subscription.subscription_id) == "failed")


def _graph_awaiting_retry(graph: SubscriptionPlugin) -> int:
    """Graph change notifications, of live subscriptions, whose last delivery failed. Graph retries
    each notification on its own; every attempt at one carries the same body object."""
    last: dict[int, WebhookAttempt] = {}
    for attempt in graph.webhooks.attempts:
        if attempt.kind == "notification":
            last[id(attempt.body)] = attempt
    live = {subscription.subscription_id for subscription in graph.subscriptions()}
    return sum(1 for attempt in last.values() if not attempt.delivered and attempt.subscription_id in live)
