"""The push-callback function on a local port for the demo, enqueueing onto the demo's broker.

The simulator POSTs SendNotification requests here, exactly as Exchange would to the deployed
function URL; the same handlers.callbacks.lambda_handler answers them (see infra.lambda_http).
"""

from __future__ import annotations

import dramatiq

from handlers import callbacks
from infra.lambda_http import LambdaHttpBridge
from pipeline.runtimes.enqueue import broker_enqueue
from pipeline.runtimes.runtime import Runtime


class CallbackServer(LambdaHttpBridge):
    """Serves handlers.callbacks on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__(callbacks.lambda_handler)

    def attach(self, runtime: Runtime, broker: dramatiq.Broker) -> None:
        """Route callbacks to this runtime's store and enqueue onto `broker`."""
        callbacks.use_dependencies(
            callbacks.CallbackDependencies(store=runtime.store, enqueue=broker_enqueue(broker),
                                           clock=runtime.clock)
        )

    def __enter__(self) -> CallbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        callbacks.use_dependencies(None)
        self.close()
