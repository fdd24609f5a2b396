"""The push callback Lambda behind a real HTTP server, so the simulator can POST to it.

Each POST becomes an HTTP API (payload format 2.0) event for handlers.callbacks.lambda_handler,
run on the test's store, an in-memory queue and the simulator's clock.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from handlers import callbacks
from infra.ewssim.push import PushService, attach
from infra.lambda_http import LambdaHttpBridge
from tests.integration.pipeline_support import PipelineHarness


@dataclass
class QueuedJob:
    actor_name: str
    kwargs: dict[str, Any]
    message_id: str


@dataclass
class MemoryQueue:
    """An Enqueue that keeps the jobs in a list (thread-safe enough: list.append is atomic)."""

    jobs: list[QueuedJob] = field(default_factory=list)

    def __call__(self, actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
        job = QueuedJob(actor_name, json.loads(json.dumps(kwargs)), message_id or str(uuid.uuid4()))
        self.jobs.append(job)
        return job.message_id

    def take(self, actor_name: str | None = None) -> list[QueuedJob]:
        taken = [j for j in self.jobs if actor_name is None or j.actor_name == actor_name]
        self.jobs = [j for j in self.jobs if j not in taken]
        return taken


class CallbackServer(LambdaHttpBridge):
    """The callback Lambda served locally (see infra.lambda_http)."""

    def __init__(self) -> None:
        super().__init__(callbacks.lambda_handler)


@dataclass
class PushRig:
    pipeline: PipelineHarness
    server: CallbackServer
    queue: MemoryQueue
    push: PushService


@pytest.fixture
def rig(pipeline: PipelineHarness) -> Iterator[PushRig]:
    """The pipeline with a callback URL, the callback Lambda served locally, one clock for all."""
    server = CallbackServer()
    queue = MemoryQueue()
    runtime = pipeline.runtime
    runtime.config = runtime.config.model_copy(update={"callback_base_url": server.base_url})
    # The pipeline runs on the simulator's clock, so advancing it moves Exchange's timers and
    # the pipeline's notion of "stale" together.
    runtime.clock = pipeline.sim.backend.clock.now
    pipeline.enqueue = queue  # the jobs actions enqueue (a calendar sync) land beside the callback's
    callbacks.use_dependencies(
        callbacks.CallbackDependencies(store=runtime.store, enqueue=queue, clock=runtime.clock)
    )
    try:
        yield PushRig(pipeline, server, queue, attach(pipeline.sim.backend))
    finally:
        callbacks.use_dependencies(None)
        server.close()
