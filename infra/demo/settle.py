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
"""

from __future__ import annotations

from collections import Counter

import dramatiq

from infra.ewssim import EwsSimulator
from infra.ewssim.push import FIRST_RETRY_DELAY, DeliveryAttempt, PushService
from infra.ewssim.push import attach as attach_push

__all__ = ["settle"]

# A failing subscription is dropped once its next retry falls past StatusFrequency (the demo's
# is 30 minutes): at most this many steps of FIRST_RETRY_DELAY.
_MAX_RETRY_STEPS = 64


def settle(sim: EwsSimulator, broker: dramatiq.Broker, jobs_queue: str, events_queue: str,
           timeout_s: float) -> Counter[str]:
    """Wait until nothing is left to happen; returns the push deliveries that failed meanwhile
    (each was retried), counted by HTTP status ("no answer" when there was none)."""
    pushes = attach_push(sim.backend)
    seen = len(pushes.attempts)
    steps = 0
    while True:
        if not pushes.wait_idle(timeout_s):
            raise TimeoutError("the simulator's push notifications did not settle")
        broker.join(jobs_queue, timeout=int(timeout_s * 1000))
        if not pushes.wait_idle(0):
            continue  # the jobs just run wrote to a watched calendar
        waiting = _awaiting_retry(pushes)
        if not waiting:
            break
        if steps == _MAX_RETRY_STEPS:
            raise TimeoutError(f"{waiting} push subscription(s) kept failing")
        steps += 1
        sim.advance_clock(FIRST_RETRY_DELAY)
    broker.join(events_queue, timeout=int(timeout_s * 1000))
    return Counter(_reason(attempt) for attempt in pushes.attempts[seen:] if attempt.outcome == "failed")


def _reason(attempt: DeliveryAttempt) -> str:
    return "no answer" if attempt.status is None else f"HTTP {attempt.status}"


def _awaiting_retry(pushes: PushService) -> int:
    """Live push subscriptions whose last delivery failed (so a retry is scheduled)."""
    last: dict[str, str] = {}
    for attempt in pushes.attempts:
        last[attempt.subscription_id] = attempt.outcome
    return sum(1 for subscription in pushes.subscriptions()
               if last.get(subscription.subscription_id) == "failed")
