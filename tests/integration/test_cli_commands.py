"""Every command's --help and --json; `sim`, `worker` and `up` as the processes operators run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from pipeline.cli import COMMANDS
from tests.integration.cli_support import CliInvoker, LocalStack, as_json, cli, run_cli, stack
from tests.integration.moto_server import moto_endpoint

__all__ = ["cli", "moto_endpoint", "stack"]  # fixtures, re-exported for pytest

SUBCOMMANDS = {"integration": ("add", "list", "show", "remove", "test"), "dlq": ("list", "redrive"),
               "subscriptions": ("list", "renew")}


def test_every_command_has_help_and_json(cli: CliInvoker) -> None:
    top = cli("--help")
    assert top.exit_code == 0
    for name in COMMANDS:
        assert name in top.stdout
        for sub in SUBCOMMANDS.get(name, ("",)):
            shown = cli(*f"{name} {sub}".split(), "--help")
            assert shown.exit_code == 0, (name, sub)
            assert "--json" in shown.stdout, (name, sub)
    assert cli("no-such-command").exit_code == 2


def test_schema_writes_the_schemas(cli: CliInvoker, tmp_path: Path) -> None:
    written = cli("schema", "--out", str(tmp_path), "--json")
    assert written.exit_code == 0
    assert any(path.endswith("create_event.kwargs.schema.json") for path in as_json(written)["written"])
    assert cli("schema").exit_code == 2


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    return process.returncode, out, err


def test_sim_takes_its_options_and_port_0_prints_the_url(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"users": [{"smtp": "a@example.com", "name": "A", "password": "pw"}]}))
    process = spawn("sim", "--config", str(seed), "--port", "0", "--json")
    try:
        urls = json.loads(process.stdout.readline()) if process.stdout else {}
        with urllib.request.urlopen(urls["control"] + "mailboxes/a@example.com/calendar") as reply:  # seeded
            assert reply.status == 200
    finally:
        code, _, err = stop(process)
    assert code == 0, err
    assert urls["ews_url"].startswith("http://127.0.0.1:") and ":0/" not in urls["ews_url"]
    missing = run_cli("sim", "--config", str(tmp_path / "nope.yaml"), env={})
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_worker_fails_fast_with_a_clear_message(cli: CliInvoker, stack: LocalStack) -> None:
    no_broker = cli("worker")
    bad_url = cli("worker", env={"PIPELINE_BROKER": "kafka://x"})
    missing_queue = run_cli("worker", env={**stack.env, "PIPELINE_BROKER": f"sqs://absent?endpoint={stack.aws}"})

    assert no_broker.exit_code == 2
    assert no_broker.stderr.startswith("INVALID_CONFIG: PIPELINE_BROKER is not set")
    assert bad_url.exit_code == 2 and bad_url.stderr.startswith("INVALID_CONFIG: ")
    assert missing_queue.returncode == 1
    assert "BROKER_UNAVAILABLE: SQS queue absent.fifo does not exist" in missing_queue.stderr
    assert "Traceback" not in missing_queue.stderr + no_broker.stderr + bad_url.stderr


def test_worker_honours_its_concurrency(stack: LocalStack) -> None:
    process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **stack.env, "PIPELINE_BROKER": "stub://",
                                    "PIPELINE_CONCURRENCY": "3"})
    try:
        assert process.stdout is not None
        started = next(line for line in process.stdout if "worker started" in line)
    finally:
        code, _, _ = stop(process)
    assert "worker started: 3 threads on stub" in started
    assert code == 0


@pytest.mark.timeout(90)
def test_up_serves_the_local_stack_until_stopped(cli: CliInvoker) -> None:
    process = spawn("up", "--json")
    try:
        assert process.stdout is not None
        announced = json.loads(process.stdout.readline())
        env = announced["env"]
        listed = cli("integration", "list", "--json", env=env)
        checked = cli("integration", "test", "local-delegate", "--mailbox", "ada@contoso.test", env=env)
        waited = cli("submit", "list_rooms", "--kwargs", '{"integration_id": "local-impersonation"}',
                     "--wait", "--json", env=env)
    finally:
        code, _, err = stop(process)
    assert [row["integration_id"] for row in as_json(listed)["integrations"]] == announced["integrations"]
    assert checked.exit_code == 0, checked.stdout
    assert waited.exit_code == 0 and as_json(waited)["jobs"][0]["status"] == "succeeded"
    assert set(env) >= {"AWS_ENDPOINT_URL", "PIPELINE_TABLE", "PIPELINE_BROKER", "PIPELINE_CALLBACK_URL"}
    assert code == 0, err
