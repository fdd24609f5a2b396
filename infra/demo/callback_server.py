"""The push-callback function on a local port for the demo, enqueueing onto the demo's broker.

The simulator POSTs SendNotification requests here, exactly as Exchange would to the deployed
function URL; the same handlers.callbacks.lambda_handler answers them (see infra.lambda_http).
"""

from __future__ import annotations

from typing import Any

import dramatiq

from handlers import callbacks
from infra.ewssim import EwsSimulator
from infra.ewssim.push import attach as attach_push
from infra.lambda_http import LambdaHttpBridge
from pipeline.enqueue import broker_enqueue
from pipeline.runtime import Runtime


class CallbackServer(LambdaHttpBridge):
    """Serves handlers.callbacks on 127.0.0.1 and records the jobs it enqueued."""

    def __init__(self) -> None:
        super().__init__(callbacks.lambda_handler)
        self._enqueued: list[tuple[str, str, str]] = []

    def attach(self, runtime: Runtime, broker: dramatiq.Broker) -> None:
        """Route callbacks to this runtime's store and enqueue onto `broker`."""
        send = broker_enqueue(broker)

        def enqueue(actor_name: str, kwargs: dict[str, Any], *, message_id: str | None = None) -> str:
            sent = send(actor_name, kwargs, message_id=message_id)
            self._enqueued.append((sent, actor_name, str(kwargs.get("integration_id"))))
            return sent

        callbacks.use_dependencies(
            callbacks.CallbackDependencies(store=runtime.store, enqueue=enqueue, clock=runtime.clock)
        )

    def enqueued_jobs(self) -> list[tuple[str, str, str]]:
        return list(self._enqueued)

    @staticmethod
    def wait_idle(sim: EwsSimulator, timeout: float = 10.0) -> None:
        """Wait until the simulator has delivered every pending push notification."""
        attach_push(sim.backend).wait_idle(timeout)

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        callbacks.use_dependencies(None)
        self.close()
