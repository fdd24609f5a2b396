"""`ews-pipeline submit`: enqueue jobs from a JSON-lines file or one action, and optionally wait.

A file holds one job per line: the raw message of docs/job-messages.md (`actor_name`, `kwargs`,
`message_id`, `options`), or `{"action": ..., "kwargs": ...}`. The action `book` is a booking in
one job: create_event with send_invitations (PipelineClient.book). Every line is validated before
any is sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.output import EXIT_FAILED, EXIT_USAGE, CliError, Output, pipeline_command

if TYPE_CHECKING:
    from pipeline.client import PipelineClient

__all__ = ["submit"]

BOOK = "book"


@click.command()
@click.argument("target")
@click.option("--kwargs", "kwargs_json", help="The action's kwargs as a JSON object (with ACTION).")
@click.option("--message-id", help="The job's message id (with ACTION) [default: a new UUID].")
@click.option("--wait", is_flag=True, help="Follow the jobs to their outcomes; exit 1 if any failed.")
@click.option("--timeout", type=click.FloatRange(min=0), default=120.0, show_default=True,
              help="Seconds --wait waits before giving up.")
@pipeline_command
def submit(output: Output, target: str, kwargs_json: str | None, message_id: str | None, wait: bool,
           timeout: float) -> int:
    """Enqueue the jobs in TARGET (a .jsonl file), or the one ACTION given with --kwargs."""
    import dramatiq

    from pipeline.cli.environment import load_config, open_broker
    from pipeline.client import PipelineClient

    jobs = list(_jobs(target, kwargs_json, message_id))
    config = load_config()
    client = PipelineClient(open_broker(config))
    messages = [_build(client, number, job) for number, job in enumerate(jobs, 1)]
    sent: list[dict[str, str]] = []
    for item in _progress(output, messages, len(messages)):
        if isinstance(item, dramatiq.pipeline):
            item.run()
            members = item.messages
        else:
            members = [client.send(item)]
        sent += [{"message_id": m.message_id, "action": m.actor_name} for m in members]
    if not wait:
        def listing() -> None:
            for job in sent:
                output.line(f"{job['message_id']}  {job['action']}")

        output.emit({"jobs": sent}, listing)
        return 0
    from pipeline.cli.environment import open_store
    from pipeline.client import ResultsReader

    outcomes = _wait(ResultsReader(open_store(config)), sent, timeout)
    failed = [o for o in outcomes if o["status"] != "succeeded"]

    def text() -> None:
        for outcome in outcomes:
            error = outcome.get("error") or {}
            tail = f"  {error['code']}: {error['message']}" if error else ""
            output.line(f"{outcome['message_id']}  {outcome['action']}  {outcome['status']}{tail}")

    output.emit({"jobs": outcomes, "ok": not failed}, text)
    return EXIT_FAILED if failed else 0


def _jobs(target: str, kwargs_json: str | None, message_id: str | None) -> Iterator[dict[str, Any]]:
    path = Path(target)
    if kwargs_json is None and (target.endswith((".jsonl", ".json")) or path.is_file()):
        if not path.is_file():
            raise CliError("USAGE", f"no such file: {target}", EXIT_USAGE)
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                job = json.loads(line)
            except ValueError:
                raise CliError("INVALID_MESSAGE", f"{target} line {number} is not JSON") from None
            if not isinstance(job, dict):
                raise CliError("INVALID_MESSAGE", f"{target} line {number} is not a JSON object")
            yield {**job, "_line": f"{target} line {number}"}
        return
    if kwargs_json is None:
        raise CliError("USAGE", f"{target!r} is not a file: give an action's kwargs with --kwargs JSON",
                       EXIT_USAGE)
    try:
        kwargs = json.loads(kwargs_json)
    except ValueError:
        raise CliError("USAGE", "--kwargs is not JSON", EXIT_USAGE) from None
    yield {"action": target, "kwargs": kwargs, "message_id": message_id, "_line": "--kwargs"}


def _build(client: PipelineClient, number: int, job: dict[str, Any]) -> Any:
    """A message (or a pipeline of several); an invalid job names its line."""
    from pipeline.client import InvalidJob

    action = job.get("actor_name") or job.get("action")
    kwargs = job.get("kwargs")
    where = job["_line"]
    if not isinstance(action, str) or not isinstance(kwargs, dict):
        raise CliError("INVALID_MESSAGE", f"{where}: needs actor_name (or action) and a kwargs object")
    if job.get("args"):
        raise CliError("INVALID_KWARGS", f"{where}: args must be empty; pass kwargs by name")
    try:
        if action == BOOK:
            return client.book(kwargs, message_id=job.get("message_id"))
        return client.message(action, kwargs, message_id=job.get("message_id"), **(job.get("options") or {}))
    except InvalidJob as exc:
        raise CliError("INVALID_KWARGS", f"{where}: {exc}") from None


def _progress(output: Output, items: list[Any], total: int) -> Iterable[Any]:
    if not output.interactive or total < 2:
        return items
    from rich.progress import track

    return track(items, description="enqueueing", total=total, console=output.console)


def _wait(reader: Any, sent: list[dict[str, str]], timeout: float) -> list[dict[str, Any]]:
    """Poll the results table until every job is final (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    outcomes: dict[str, dict[str, Any]] = {}
    while True:
        for job in sent:
            if job["message_id"] in outcomes:
                continue
            outcome = reader.job(job["message_id"])
            if outcome is not None and outcome.status.is_final:
                outcomes[job["message_id"]] = {**job, **outcome.model_dump(mode="json")}
        if len(outcomes) == len(sent) or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return [outcomes.get(job["message_id"], {**job, "status": "timed_out"}) for job in sent]
