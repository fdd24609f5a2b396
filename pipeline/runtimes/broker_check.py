"""Fail fast: is the broker a process is about to use there at all?

A worker that starts on an unreachable Redis, a RabbitMQ with wrong credentials or an SQS queue
that does not exist would otherwise log "worker started" and then fail every few seconds for
ever. `check_broker` makes one cheap call and raises BrokerUnavailable with what to fix.
"""

from __future__ import annotations

import dramatiq

__all__ = ["BrokerUnavailable", "check_broker"]


class BrokerUnavailable(Exception):
    """The broker cannot be used; the message says which one and why, never its password."""


def check_broker(broker: dramatiq.Broker) -> None:
    """One round trip to the broker (a no-op for the in-process stub broker)."""
    from dramatiq.brokers.stub import StubBroker

    if isinstance(broker, StubBroker):
        return
    from pipeline.runtimes.sqs import SqsFifoBroker

    if isinstance(broker, SqsFifoBroker):
        _check_sqs(broker)
        return
    kind = type(broker).__name__
    try:
        if kind == "RedisBroker":
            broker.client.ping()  # type: ignore[attr-defined]
        elif kind == "RabbitmqBroker":
            broker.connection  # type: ignore[attr-defined]  # noqa: B018 (opens the connection)
    except Exception as exc:
        name = "Redis" if kind == "RedisBroker" else "RabbitMQ"
        raise BrokerUnavailable(
            f"cannot reach {name} at PIPELINE_BROKER ({type(exc).__name__}); check the host, port "
            "and credentials"
        ) from None


def _check_sqs(broker: dramatiq.Broker) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    queue = broker.queue  # type: ignore[attr-defined]
    try:
        queue.url  # noqa: B018 (looks the queue up, or creates it with create=1)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if "NonExistentQueue" in code or code == "QueueDoesNotExist":
            raise BrokerUnavailable(
                f"SQS queue {queue.name} does not exist: deploy the stack (its JobsQueue output), "
                "fix the name in PIPELINE_BROKER, or add ?create=1 for a local queue"
            ) from None
        raise BrokerUnavailable(f"SQS refused looking up queue {queue.name} ({code})") from None
    except BotoCoreError as exc:
        raise BrokerUnavailable(f"cannot reach SQS for queue {queue.name} ({type(exc).__name__})") from None
