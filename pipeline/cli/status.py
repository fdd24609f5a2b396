"""`ews-pipeline status JOB_ID` and `ews-pipeline booking INTEGRATION KEY`: read results back."""

from __future__ import annotations

import click

from pipeline.cli.output import CliError, Output, pipeline_command

__all__ = ["booking", "status"]


@click.command()
@click.argument("job_id")
@pipeline_command
def status(output: Output, job_id: str) -> None:
    """A job's outcome: status, attempts, result or error (exit 1 when no worker has seen it)."""
    from pipeline.cli.environment import load_config, open_store
    from pipeline.client import ResultsReader

    outcome = ResultsReader(open_store(load_config())).job(job_id)
    if outcome is None:
        raise CliError("JOB_NOT_FOUND", f"no job {job_id!r} in the results table (not run yet, or expired)")
    data = outcome.model_dump(mode="json")

    def text() -> None:
        output.fields({key: value for key, value in data.items() if value is not None})
        if outcome.error is not None:
            from pipeline.troubleshooting import fix_for

            entry = fix_for(outcome.error.code)
            if entry is not None:
                output.line(f"fix: {entry.fix}")

    output.emit(data, text)


@click.command()
@click.argument("integration_id")
@click.argument("booking_key")
@pipeline_command
def booking(output: Output, integration_id: str, booking_key: str) -> None:
    """A booking's state: booked, invited, moved, ...; its times and attendees' responses."""
    from pipeline.cli.environment import load_config, open_store
    from pipeline.client import ResultsReader

    item = ResultsReader(open_store(load_config())).booking(integration_id, booking_key)
    if item is None:
        raise CliError("BOOKING_NOT_FOUND", f"no booking {booking_key!r} for integration {integration_id!r}")
    data = item.model_dump(mode="json")
    shown = ("state", "booked_start", "booked_end", "start", "end", "time_confirmed", "calendar_mailbox",
             "attendees", "invites_sent_to", "responses")
    output.emit(data, lambda: output.fields({key: data.get(key) for key in shown if key in data}))
