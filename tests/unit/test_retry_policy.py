"""The retry policy: back-off that grows with jitter, the server's BackOffMilliseconds as a floor,
and giving up by elapsed time, well inside the runtimes' safety nets."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pipeline.config import PipelineConfig
from pipeline.runtimes.lambda_runtime import DEFAULT_MAX_RECEIVE_COUNT
from pipeline.runtimes.retry_policy import MAX_DELAY_MS, RetryPolicy

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def policy(**options: object) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7), **options)  # type: ignore[arg-type]


def test_the_delay_grows_exponentially_within_its_jitter_up_to_five_minutes() -> None:
    retries = policy()
    for attempt in range(1, 15):
        step = min(MAX_DELAY_MS, 1000 * 2 ** (attempt - 1))
        delays = {retries.delay_ms(attempt) for _ in range(50)}
        assert all(step // 2 <= d <= step for d in delays), attempt
        assert len(delays) > 1  # jittered, so that a storm's retries spread out


def test_the_servers_back_off_is_a_minimum_not_the_whole_delay() -> None:
    retries = policy()
    assert retries.delay_ms(1, server_minimum_ms=30_000) == 30_000  # more than the first step
    # Late in a storm the growing step wins over a short BackOffMilliseconds.
    assert all(retries.delay_ms(9, server_minimum_ms=1_000) >= 128_000 for _ in range(20))


def test_a_job_gives_up_by_elapsed_time_not_by_count() -> None:
    retries = policy(window=timedelta(minutes=30))
    assert not retries.gives_up(NOW, NOW + timedelta(minutes=29), 30_000)
    assert retries.gives_up(NOW, NOW + timedelta(minutes=29, seconds=31), 30_000)
    assert retries.expired(NOW, NOW + timedelta(minutes=31)) and not retries.expired(NOW, NOW)


def test_a_storm_of_one_second_back_offs_no_longer_uses_up_the_attempts_in_seconds() -> None:
    # The defect: 9 attempts honouring 1,000 ms exactly were spent in about 17 s.
    retries = policy()
    elapsed_ms = sum(retries.delay_ms(attempt, server_minimum_ms=1_000) for attempt in range(1, 9))
    assert elapsed_ms > 60_000
    assert not retries.gives_up(NOW, NOW + timedelta(milliseconds=elapsed_ms), 0)


def test_the_longest_window_fits_far_inside_the_dead_letter_safety_net() -> None:
    # A job held back behind its mailbox's failing one is received once per attempt of that one:
    # the most attempts any window allows must stay below SQS's maxReceiveCount.
    longest = RetryPolicy.from_config(PipelineConfig(retry_window_seconds=3 * 3600))
    assert longest.most_attempts() < DEFAULT_MAX_RECEIVE_COUNT
    assert RetryPolicy.from_config(PipelineConfig()).most_attempts() <= 25
