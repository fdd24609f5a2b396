"""A broker outage at the moment a job ends loses neither its retry nor its next pipeline step.

dramatiq swallows exceptions in after_process_message hooks, so a retry copy or a pipeline step
that the broker refused used to vanish while the original was acknowledged: the job stayed
"retrying" for ever, or a created booking was never invited (found by bench/chaos.py with Redis
restarts). Here the broker goes away through a TCP proxy exactly when the actor finishes, and
comes back 1.5 s later; the successor must still run. Real brokers behind the proxy, real workers.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import dramatiq
import pytest

from pipeline.runtimes.broker import build_broker
from pipeline.runtimes.worker import EXIT_BROKER_CONNECTION_LOST, wait_until_stopped
from tests.integration.brokers import amqp_url, redis_url, sqs_url  # noqa: F401
from tests.integration.event_sink_support import at_port
from tests.integration.moto_server import moto_endpoint  # noqa: F401
from tests.integration.runtime_support import aws_credentials  # noqa: F401
from tests.integration.tcp_proxy import TcpProxy

OUTAGE_S = 1.5
WAIT_FOR_SUCCESSOR_S = 30.0


def _through_proxy(url: str, proxy_port: int) -> str:
    """The broker URL with its server (or, for sqs://, its endpoint) at the proxy's port."""
    parsed = urlparse(url)
    if parsed.scheme != "sqs":
        return at_port(url, proxy_port)
    query = [(key, at_port(value, proxy_port) if key == "endpoint" else value)
             for key, value in parse_qsl(parsed.query)]
    return parsed._replace(query=urlencode(query)).geturl()


def _upstream_port(url: str) -> int:
    parsed = urlparse(url)
    if parsed.scheme == "sqs":
        endpoint = dict(parse_qsl(parsed.query))["endpoint"]
        return int(urlparse(endpoint).port or 80)
    return int(parsed.port or {"redis": 6379, "amqp": 5672}[parsed.scheme])


@pytest.fixture
def broker_behind_proxy(request: pytest.FixtureRequest) -> Iterator[tuple[dramatiq.Broker, TcpProxy]]:
    if request.param == "sqs_url":
        request.getfixturevalue("aws_credentials")
    url = request.getfixturevalue(request.param)
    if url.startswith("redis"):
        url += f"?namespace=outage-{uuid.uuid4().hex[:8]}"
    proxy = TcpProxy(upstream_port=_upstream_port(url)).start()
    broker = build_broker(_through_proxy(url, proxy.port), make_global=False, for_worker=True)
    try:
        yield broker, proxy
    finally:
        if not proxy.up:
            proxy.start()  # the broker must be reachable to close cleanly
        broker.close()
        proxy.stop()


def _take_the_broker_down(proxy: TcpProxy, *, after_s: float = 0.0) -> None:
    """Cut the broker off (now, or `after_s` from now), and bring it back OUTAGE_S later."""
    if after_s:
        threading.Timer(after_s, _take_the_broker_down, args=(proxy,)).start()
        return
    proxy.stop()
    threading.Timer(OUTAGE_S, proxy.start).start()


def _run_until(broker: dramatiq.Broker, done: threading.Event, send: Callable[[], Any]) -> bool:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        send()
        return done.wait(WAIT_FOR_SUCCESSOR_S)
    finally:
        worker.stop(timeout=5_000)


@pytest.mark.parametrize("broker_behind_proxy", ["redis_url", "amqp_url"], indirect=True)
def test_a_retry_outlives_an_outage_that_starts_as_the_job_fails(
        broker_behind_proxy: tuple[dramatiq.Broker, TcpProxy]) -> None:
    broker, proxy = broker_behind_proxy
    runs: list[int] = []
    retried = threading.Event()

    @dramatiq.actor(broker=broker, queue_name=f"outage-{uuid.uuid4().hex[:8]}", max_retries=3)
    def flaky() -> None:
        runs.append(len(runs) + 1)
        if len(runs) == 1:
            _take_the_broker_down(proxy)
            raise dramatiq.Retry(delay=100)  # as the runner raises for a transient EWS error
        retried.set()

    # RabbitMQ also redelivers the unacknowledged original when the connection drops, so the job
    # may run a third time: at least once is the broker's promise, the runner's claims dedupe.
    assert _run_until(broker, retried, flaky.send), f"the retry never ran (runs: {runs})"


def test_a_worker_that_loses_redis_hands_back_what_it_held_by_exiting(request: pytest.FixtureRequest) -> None:
    # dramatiq's consumer drops the delayed copy it holds when its connection fails, while Redis
    # still counts it as the worker's. The worker says so (ews-pipeline worker then exits 75), and
    # once it is gone a fresh worker gets the message back: here it is due during the outage.
    namespace = f"outage-{uuid.uuid4().hex[:8]}"
    options = f"namespace={namespace}&heartbeat_timeout=1000&maintenance_chance=1000000"
    url = f"{request.getfixturevalue('redis_url')}?{options}"
    proxy = TcpProxy(upstream_port=_upstream_port(url)).start()
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    runs: list[int] = []
    retried = threading.Event()

    def declare(broker: dramatiq.Broker) -> dramatiq.Actor[Any, Any]:
        @dramatiq.actor(broker=broker, queue_name=queue, actor_name="flaky", max_retries=3)
        def flaky() -> None:
            runs.append(len(runs) + 1)
            if len(runs) == 1:
                _take_the_broker_down(proxy, after_s=0.5)
                raise dramatiq.Retry(delay=1_000)
            retried.set()
        return flaky

    first = build_broker(_through_proxy(url, proxy.port), make_global=False, for_worker=True)
    flaky = declare(first)
    worker = dramatiq.Worker(first, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        flaky.send()
        lost: threading.Event = first.connection_lost  # type: ignore[attr-defined]
        assert lost.wait(WAIT_FOR_SUCCESSOR_S), "the worker never noticed it lost Redis"
        assert wait_until_stopped(threading.Event(), lost, poll_seconds=0.01) == EXIT_BROKER_CONNECTION_LOST
    finally:
        if not proxy.up:
            proxy.start()
        worker.stop(timeout=5_000)
        first.close()
    # As its supervisor would: a fresh worker, with a fresh worker id.
    second = build_broker(url, make_global=False, for_worker=True)
    declare(second)
    replacement = dramatiq.Worker(second, worker_threads=1, worker_timeout=100)
    replacement.start()
    try:
        assert retried.wait(WAIT_FOR_SUCCESSOR_S), f"the delayed retry never came back (runs: {runs})"
    finally:
        replacement.stop(timeout=5_000)
        second.close()
        proxy.stop()


@pytest.mark.parametrize("broker_behind_proxy", ["redis_url", "amqp_url", "sqs_url"], indirect=True)
def test_the_next_pipeline_step_outlives_an_outage_that_starts_as_the_step_before_ends(
        broker_behind_proxy: tuple[dramatiq.Broker, TcpProxy]) -> None:
    broker, proxy = broker_behind_proxy
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    invited = threading.Event()
    created: list[str] = []

    # create_event | send_invite, as PipelineClient.book sends a booking.
    @dramatiq.actor(broker=broker, queue_name=queue)
    def create() -> None:
        if not created:
            _take_the_broker_down(proxy)
        created.append("created")

    @dramatiq.actor(broker=broker, queue_name=queue)
    def invite() -> None:
        invited.set()

    pipeline = dramatiq.pipeline([create.message(), invite.message_with_options(pipe_ignore=True)],
                                 broker=broker)
    assert _run_until(broker, invited, pipeline.run), f"the next step never ran (created: {created})"
