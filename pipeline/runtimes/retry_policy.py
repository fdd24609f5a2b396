"""How long and how often a job's transient failures are retried: the same on every runtime.

Exponential back-off with jitter, from 1 s doubling to 5 minutes, never shorter than what the
server asked for (BackOffMilliseconds is a minimum, not the whole delay: honouring a 1 s
back-off exactly let a throttling storm use up a fixed number of attempts in seconds). A job
gives up by elapsed time, not by a count: once the next retry would fall past the retry window
(PIPELINE_RETRY_WINDOW, 30 minutes by default) counted from the job's first attempt, it is failed
for good, recorded with its reason and a job.failed event.

The runtimes' own counters (dramatiq's retries, SQS's maxReceiveCount) stay as a safety net far
beyond the window; they never decide.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.config import PipelineConfig

__all__ = ["MAX_DELAY_MS", "MIN_DELAY_MS", "RetryPolicy"]

MIN_DELAY_MS = 1_000
MAX_DELAY_MS = 5 * 60_000


@dataclass(frozen=True)
class RetryPolicy:
    window: timedelta = timedelta(minutes=30)
    min_delay_ms: int = MIN_DELAY_MS
    max_delay_ms: int = MAX_DELAY_MS
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @classmethod
    def from_config(cls, config: PipelineConfig) -> RetryPolicy:
        return cls(window=timedelta(seconds=config.retry_window_seconds))

    def delay_ms(self, attempt: int, server_minimum_ms: int | None = None) -> int:
        """The wait before the retry after attempt number `attempt` (1 for the first).

        "Equal jitter": half the exponential step fixed, half random, so that retries spread out
        without ever collapsing to zero; then at least the server's own back-off.
        """
        step = min(self.max_delay_ms, self.min_delay_ms * 2 ** max(0, min(attempt - 1, 30)))
        jittered = step // 2 + self.rng.randint(0, step - step // 2)
        return max(jittered, server_minimum_ms or 0)

    def gives_up(self, first_attempt_at: datetime, now: datetime, delay_ms: int) -> bool:
        """True when a retry after `delay_ms` would start past the window: fail for good now."""
        return now + timedelta(milliseconds=delay_ms) > first_attempt_at + self.window

    def most_attempts(self) -> int:
        """The most attempts the window can hold: every delay at its shortest (the jitter's low end,
        no server minimum). The runtimes' safety nets (maxReceiveCount) must stay above it, so that
        a job held back behind its mailbox's failing one is never dead-lettered unrun."""
        attempts, elapsed_ms = 1, 0
        window_ms = self.window.total_seconds() * 1000
        while True:
            step = min(self.max_delay_ms, self.min_delay_ms * 2 ** max(0, min(attempts - 1, 30)))
            elapsed_ms += step // 2
            if elapsed_ms > window_ms:
                return attempts
            attempts += 1

    def expired(self, first_attempt_at: datetime, now: datetime) -> bool:
        """True when the window has passed already (a delivery arriving after it gives up at once)."""
        return now > first_attempt_at + self.window
