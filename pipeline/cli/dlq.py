"""`ews-pipeline dlq list | redrive`: dead-lettered jobs on SQS, Redis or RabbitMQ (PIPELINE_BROKER)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pipeline.cli.output import EXIT_USAGE, CliError, Output, pipeline_command

if TYPE_CHECKING:
    from pipeline.runtimes.dead_letters import DeadLetters

__all__ = ["dlq"]

_QUEUE_HELP = "The dramatiq queue (Redis, RabbitMQ)  [default: ews-jobs]; SQS uses its URL's queue."


@click.group()
def dlq() -> None:
    """Inspect and redrive dead-lettered jobs."""


@dlq.command("list")
@click.option("--queue", "queue_name", default=None, help=_QUEUE_HELP)
@pipeline_command
def list_(output: Output, queue_name: str | None) -> None:
    """Every dead-lettered job, oldest first (left where it is)."""
    letters = _dead_letters(queue_name).peek()
    rows = [{"message_id": d.message_id, "actor_name": d.actor_name, "integration_id": d.integration_id,
             "mailbox": d.mailbox,
             "dead_lettered_at": d.dead_lettered_at.isoformat() if d.dead_lettered_at else None}
            for d in letters]

    def text() -> None:
        if not rows:
            output.line("no dead-lettered jobs")
            return
        columns = ("message_id", "actor_name", "integration_id", "mailbox", "dead_lettered_at")
        output.table(columns, [[row[c] for c in columns] for row in rows])

    output.emit({"dead_letters": rows}, text)


@dlq.command()
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Redrive every dead-lettered job.")
@click.option("--queue", "queue_name", default=None, help=_QUEUE_HELP)
@pipeline_command
def redrive(output: Output, message_ids: tuple[str, ...], everything: bool, queue_name: str | None) -> int:
    """Move dead-lettered jobs (MESSAGE_IDS, or --all) back to the jobs queue, to run again.

    Exits 1 when a named job was not among the dead letters.
    """
    if everything == bool(message_ids):
        raise CliError("USAGE", "give MESSAGE_IDS or --all (not both)", EXIT_USAGE)
    moved = _dead_letters(queue_name).redrive(None if everything else set(message_ids))
    missing = sorted(set(message_ids) - set(moved))

    def text() -> None:
        output.line(f"redriven: {len(moved)}")
        for message_id in moved:
            output.line(f"  {message_id}")

    output.emit({"redriven": moved, "not_found": missing}, text)
    if missing:
        raise CliError("NOT_DEAD_LETTERED", f"not in the dead-letter queue: {', '.join(missing)}")
    return 0


def _dead_letters(queue_name: str | None) -> DeadLetters:
    from pipeline.cli.environment import load_config, open_broker
    from pipeline.contract.message import JOBS_QUEUE
    from pipeline.runtimes.broker_check import BrokerUnavailable
    from pipeline.runtimes.dead_letters import dead_letters_for

    try:
        return dead_letters_for(open_broker(load_config()), queue_name or JOBS_QUEUE)
    except BrokerUnavailable as exc:
        raise CliError("BROKER_UNAVAILABLE", str(exc)) from None
