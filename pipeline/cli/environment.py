"""What the commands read from the environment: the configuration, the table and the broker."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pipeline.cli.output import EXIT_USAGE, CliError

if TYPE_CHECKING:
    import dramatiq

    from pipeline.config import PipelineConfig
    from pipeline.store.base import ResultsStore

__all__ = ["load_config", "open_broker", "open_store"]


def load_config() -> PipelineConfig:
    """PipelineConfig from the environment; a bad value is a usage error naming the variable."""
    from pipeline.config import PipelineConfig

    try:
        return PipelineConfig.from_env()
    except ValueError as exc:
        raise CliError("INVALID_CONFIG", str(exc), EXIT_USAGE) from None


def open_store(config: PipelineConfig) -> ResultsStore:
    from pipeline.store.factory import get_store

    return get_store(config)


def require_broker_url(config: PipelineConfig, *, allow_stub: bool = False) -> str:
    """PIPELINE_BROKER, which must be set; stub:// only where this process consumes it itself."""
    if not os.environ.get("PIPELINE_BROKER", "").strip():
        raise CliError("INVALID_CONFIG", "PIPELINE_BROKER is not set: use redis://HOST, "
                       "amqp://USER:PASS@HOST or sqs://QUEUE (stub:// runs jobs in this process only)",
                       EXIT_USAGE)
    if config.broker_url.startswith("stub://") and not allow_stub:
        raise CliError("INVALID_CONFIG", "PIPELINE_BROKER is stub://, which no worker outside this "
                       "process can read: use redis://, amqp:// or sqs://", EXIT_USAGE)
    return config.broker_url


def open_broker(config: PipelineConfig) -> dramatiq.Broker:
    """A client's broker for PIPELINE_BROKER (not made the global broker), checked to be reachable."""
    from pipeline.runtimes.broker import build_broker
    from pipeline.runtimes.broker_check import BrokerUnavailable, check_broker

    url = require_broker_url(config)
    try:
        broker = build_broker(url, make_global=False)
        check_broker(broker)
    except BrokerUnavailable as exc:
        raise CliError("BROKER_UNAVAILABLE", str(exc)) from None
    except ValueError as exc:
        raise CliError("INVALID_CONFIG", f"PIPELINE_BROKER: {exc}", EXIT_USAGE) from None
    return broker
