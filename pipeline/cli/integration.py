"""`ews-pipeline integration add | list | show | remove | test`: customers' Exchange connections.

Settings live in the results table and are validated before they are stored; credentials live in
Secrets Manager, referenced by name (secret_name) and never printed.
"""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from pipeline.cli.output import EXIT_FAILED, EXIT_USAGE, CliError, Output, pipeline_command

if TYPE_CHECKING:
    from pipeline.actions.context import GatewayFactory
    from pipeline.exchange.base import ExchangeGateway
    from pipeline.integrations import IntegrationSettings

__all__ = ["integration"]


@click.group()
def integration() -> None:
    """Add, inspect, remove and test integrations (one customer's Exchange connection each)."""


@integration.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--secret", "secret_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON credentials to store as the integration's secret_name (never printed).")
@pipeline_command
def add(output: Output, file: Path, secret_file: Path | None) -> None:
    """Validate the settings in FILE (YAML or JSON; - for stdin) and store them."""
    from datetime import UTC, datetime

    from pipeline.cli.environment import load_config, open_store
    from pipeline.integrations import load_integration
    from pipeline.secrets import secrets_client, store_secret

    raw = _read_settings(file)
    settings = load_integration(raw)
    config = load_config()
    secret_state = None
    if secret_file is not None:
        if not settings.secret_name:
            raise CliError("USAGE", "--secret needs secret_name in the settings (personal connections "
                           "keep one secret per user: store those in Secrets Manager)", EXIT_USAGE)
        created = store_secret(secrets_client(config), settings.secret_name, _read_text(secret_file))
        secret_state = "created" if created else "updated"
    open_store(config).put_integration(settings.integration_id, settings.model_dump(mode="json"),
                                       datetime.now(UTC))
    result = {"integration_id": settings.integration_id, "secret_name": settings.secret_name,
              "secret": secret_state}
    stored = f"; secret {settings.secret_name} {secret_state}" if secret_state else ""
    output.emit(result, lambda: output.line(f"integration {settings.integration_id} stored{stored}"))


@integration.command("list")
@pipeline_command
def list_(output: Output) -> None:
    """Every integration in the results table."""
    from pipeline.cli.environment import load_config, open_store

    records = open_store(load_config()).list_integrations()
    rows = [_summary(record.integration_id, record.settings, record.updated_at) for record in records]

    def text() -> None:
        if not rows:
            output.line("no integrations")
            return
        columns = ("integration_id", "backend", "connection_method", "auth_type", "endpoint", "secret",
                   "updated_at")
        output.table(columns, [[row[column] for column in columns] for row in rows])

    output.emit({"integrations": rows}, text)


@integration.command()
@click.argument("integration_id")
@pipeline_command
def show(output: Output, integration_id: str) -> None:
    """One integration's settings (its secret by name only)."""
    from pipeline.cli.environment import load_config, open_store

    record = open_store(load_config()).get_integration_record(integration_id)
    if record is None:
        raise _unknown(integration_id)
    data = {"integration_id": record.integration_id, "updated_at": record.updated_at,
            "login_form": record.login_form, "settings": record.settings}
    output.emit(data, lambda: output.fields({**record.settings, "updated_at": str(record.updated_at)}))


@integration.command()
@click.argument("integration_id")
@pipeline_command
def remove(output: Output, integration_id: str) -> None:
    """Remove an integration's settings; its secret stays in Secrets Manager."""
    from pipeline.cli.environment import load_config, open_store

    if not open_store(load_config()).delete_integration(integration_id):
        raise _unknown(integration_id)
    output.emit({"integration_id": integration_id, "removed": True},
                lambda: output.line(f"integration {integration_id} removed (its secret is kept)"))


@integration.command()
@click.argument("integration_id")
@click.option("--mailbox", help="Mailbox to prove the connection method on [default: service_mailbox].")
@pipeline_command
def test(output: Output, integration_id: str, mailbox: str | None) -> int:
    """Run check_connection from here and print each step, with the fix for a failed one.

    Exits 1 when a step failed. A server that cannot be reached, or answers with a transient
    error (503, busy, a dropped connection), fails its step here: there is no later delivery to
    retry it. (The check_connection job itself succeeds with the report either way; this exit
    code is what reports the failure.)
    """
    import dataclasses
    import typing

    from pipeline.cli.environment import load_config, open_store
    from pipeline.contract.check_connection import StepName
    from pipeline.runtimes.runner import Job, run_job
    from pipeline.runtimes.runtime import Runtime
    from pipeline.troubleshooting import fix_for

    config = load_config()
    record = open_store(config).get_integration_record(integration_id)
    if record is None:
        raise _unknown(integration_id)
    mailbox = mailbox or record.settings.get("service_mailbox")
    if not mailbox:
        raise CliError("USAGE", f"integration {integration_id} has no service_mailbox: pass --mailbox",
                       EXIT_USAGE)
    job = Job(message_id=f"cli-check-{uuid.uuid4()}", actor_name="check_connection",
              kwargs={"integration_id": integration_id, "mailbox": mailbox}, final_attempt=True)
    # The runner's "job failed (CODE)" line is for workers' logs; without logging configured
    # Python would print it on stderr beside this command's own one-line error.
    job_log, quiet = logging.getLogger("pipeline.observability"), logging.NullHandler()
    job_log.addHandler(quiet)
    runtime = Runtime.from_config(config)
    try:
        report = run_job(dataclasses.replace(runtime, gateways=_AnswerNow(runtime.gateways)), job)
    finally:
        job_log.removeHandler(quiet)
    steps = []
    for step in report["steps"]:
        entry = fix_for(step["error_code"]) if step.get("error_code") else None
        steps.append({**step, "fix": entry.fix if entry else None})
    reached = {step["name"] for step in steps}
    skipped = [name for name in typing.get_args(StepName) if name not in reached]
    result = {"integration_id": integration_id, "mailbox": mailbox, "ok": report["ok"],
              "message_id": job.message_id, "steps": steps, "skipped": skipped}

    def text() -> None:
        for step in steps:
            if step["ok"]:
                output.line(f"ok    {step['name']}: {step['detail']}")
            else:
                output.line(f"FAIL  {step['name']}: {step['error_code']}: {step['detail']}")
                if step["fix"]:
                    output.line(f"      fix: {step['fix']}")
        for name in skipped:
            output.line(f"skip  {name}")
        output.line("connection ok" if report["ok"] else "connection failed")

    output.emit(result, text)
    return 0 if report["ok"] else EXIT_FAILED


class _AnswerNow:
    """A gateway factory whose gateways make a transient failure the step's answer.

    A worker retries a check whose server is down or busy, and check_connection raises such a
    failure for that; from the command line this run is the only one, so the failure (with its
    code, and so its fix) is what the step found.
    """

    def __init__(self, gateways: GatewayFactory) -> None:
        self._gateways = gateways

    def gateway(self, settings: IntegrationSettings, mailbox: str | None = None) -> ExchangeGateway:
        return cast("ExchangeGateway", _FinalGateway(self._gateways.gateway(settings, mailbox)))


class _FinalGateway:
    """Forwards to a gateway; a RetryableError from a call leaves as a PermanentError."""

    def __init__(self, gateway: ExchangeGateway) -> None:
        self._gateway = gateway

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._gateway, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            from pipeline.errors import PermanentError, RetryableError

            try:
                return value(*args, **kwargs)
            except RetryableError as failure:
                raise PermanentError(failure.code, failure.message) from failure

        return call


def _read_settings(file: Path) -> dict[str, Any]:
    import yaml

    text = _read_text(file)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CliError("INVALID_INTEGRATION", f"{file} is not YAML or JSON ({type(exc).__name__})") from None
    if not isinstance(raw, dict):
        raise CliError("INVALID_INTEGRATION", f"{file} must hold one object of settings")
    return raw


def _read_text(file: Path) -> str:
    """A settings or secret file's text (- is stdin); one that is not UTF-8 is refused."""
    try:
        return sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError("INVALID_INTEGRATION", f"{file} is not UTF-8 text") from None


def _summary(integration_id: str, settings: dict[str, Any], updated_at: Any) -> dict[str, Any]:
    backend = settings.get("backend") or "ews"
    # Where its backend goes: Graph's URL (the default one unless another cloud's is set), or EWS's.
    keys = ("graph_url",) if backend == "graph" else ("ews_url", "autodiscover_url", "autodiscover_email")
    endpoint = next((settings[k] for k in keys if settings.get(k)), None)
    if backend == "graph" and endpoint is None:
        from pipeline.integrations import IntegrationSettings

        endpoint = IntegrationSettings.model_fields["graph_url"].default
    return {"integration_id": integration_id, "backend": backend,
            "connection_method": settings.get("connection_method"),
            "auth_type": settings.get("auth_type"), "endpoint": endpoint,
            "secret": settings.get("secret_name") or settings.get("personal_secret_template"),
            "updated_at": None if updated_at is None else str(updated_at)}


def _unknown(integration_id: str) -> CliError:
    return CliError("UNKNOWN_INTEGRATION", f"no integration {integration_id!r} in the results table")
