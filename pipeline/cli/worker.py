"""`ews-pipeline worker`: dramatiq workers on the broker in PIPELINE_BROKER."""

from __future__ import annotations

import click

from pipeline.cli.output import EXIT_USAGE, CliError, Output, pipeline_command

__all__ = ["worker"]


@click.command()
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (more than one run as child processes).")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Threads per process  [default: PIPELINE_CONCURRENCY, else 8].")
@pipeline_command
def worker(output: Output, processes: int, threads: int | None) -> int:
    """Run the pipeline's actors until SIGTERM or Ctrl-C (in-flight jobs finish first).

    Refuses to start without PIPELINE_BROKER (stub:// must be asked for explicitly), and fails
    fast when the broker cannot be reached or its SQS queue does not exist. Exits 75 when it
    loses its Redis connection, for its supervisor to start a fresh worker (the messages this one
    held in memory return to the queue once its heartbeat has lapsed).
    """
    from pipeline.cli.environment import load_config, open_broker, require_broker_url
    from pipeline.runtimes.broker_check import BrokerUnavailable
    from pipeline.runtimes.worker import run_worker

    config = load_config()
    if not require_broker_url(config, allow_stub=True).startswith("stub://"):
        # Reach the broker once before the worker sets up logging: a client library's own lines
        # about a failed connection (pika logs a traceback for each) would come before this
        # command's one-line error.
        open_broker(config).close()
    try:
        return run_worker(processes=processes, threads=threads, config=config)
    except BrokerUnavailable as exc:
        raise CliError("BROKER_UNAVAILABLE", str(exc)) from None
    except ValueError as exc:  # a broker URL the broker refuses (an unknown sqs:// option, say)
        raise CliError("INVALID_CONFIG", f"PIPELINE_BROKER: {exc}", EXIT_USAGE) from None
