"""Every command's --help and --json; `sim`, `worker` and `up` as the processes operators run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from pipeline.cli import COMMANDS
from tests.integration.cli_support import (
    CliInvoker,
    LocalStack,
    as_json,
    assert_one_line_error,
    cli,
    closed_port,
    run_cli,
    stack,
)
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
    (tmp_path / "a-file").write_text("")
    assert_one_line_error(cli("schema", "--out", str(tmp_path / "a-file" / "schemas")), "CANNOT_WRITE")


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


def test_seed_data_of_the_wrong_shape_is_a_usage_error(cli: CliInvoker, tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("users: 3\n")

    assert_one_line_error(cli("sim", "--config", str(seed), "--port", "0"), "INVALID_SEED", exit_code=2)
    up = run_cli("up", "--config", str(seed), env={"PIPELINE_BROKER": ""})
    assert up.returncode == 2 and up.stderr.startswith("INVALID_SEED: "), up.stderr
    assert len(up.stderr.splitlines()) == 1


def test_worker_fails_fast_with_a_clear_message(cli: CliInvoker, stack: LocalStack) -> None:
    no_broker = cli("worker")
    bad_url = cli("worker", env={"PIPELINE_BROKER": "kafka://x"})
    missing_queue = run_cli("worker", env={**stack.env, "PIPELINE_BROKER": f"sqs://absent?endpoint={stack.aws}"})
    no_rabbitmq = run_cli("worker", env={"PIPELINE_BROKER": f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"})

    assert no_broker.exit_code == 2
    assert no_broker.stderr.startswith("INVALID_CONFIG: PIPELINE_BROKER is not set")
    assert bad_url.exit_code == 2 and bad_url.stderr.startswith("INVALID_CONFIG: ")
    assert missing_queue.returncode == 1
    assert "BROKER_UNAVAILABLE: SQS queue absent.fifo does not exist" in missing_queue.stderr
    assert "Traceback" not in missing_queue.stderr + no_broker.stderr + bad_url.stderr
    # pika logs a traceback for each failed connection: none of it comes before the one line.
    assert no_rabbitmq.returncode == 1
    assert no_rabbitmq.stderr.splitlines() == [
        "BROKER_UNAVAILABLE: cannot reach RabbitMQ at PIPELINE_BROKER (AMQPConnectionError); check the "
        "host, port and credentials"], no_rabbitmq.stderr


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
    # Given settings in the environment: the worker's own are honoured, the stack's are its own
    process = spawn("up", "--json", env={"PIPELINE_JOB_TTL_DAYS": "2", "PIPELINE_TABLE": "elsewhere",
                                         "AWS_ENDPOINT_URL": "http://127.0.0.1:1"})
    try:
        assert process.stdout is not None
        announced = json.loads(process.stdout.readline())
        env = announced["env"]
        listed = cli("integration", "list", "--json", env=env)
        checked = cli("integration", "test", "local-delegate", "--mailbox", "ada@contoso.test", env=env)
        waited = cli("submit", "list_rooms", "--kwargs", '{"integration_id": "local-impersonation"}',
                     "--wait", "--json", env=env)
        job_id = as_json(waited)["jobs"][0]["message_id"]
        item = boto3.client("dynamodb", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL"],
                            aws_access_key_id="local", aws_secret_access_key="local").get_item(
            TableName=env["PIPELINE_TABLE"], Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "JOB"}})["Item"]
    finally:
        code, _, err = stop(process)
    assert [row["integration_id"] for row in as_json(listed)["integrations"]] == announced["integrations"]
    assert checked.exit_code == 0, checked.stdout
    assert waited.exit_code == 0 and as_json(waited)["jobs"][0]["status"] == "succeeded"
    assert set(env) >= {"AWS_ENDPOINT_URL", "PIPELINE_TABLE", "PIPELINE_BROKER", "PIPELINE_CALLBACK_URL"}
    assert env["PIPELINE_TABLE"] == "ews-pipeline-local" and env["AWS_ENDPOINT_URL"] != "http://127.0.0.1:1"
    # The job record expires after PIPELINE_JOB_TTL_DAYS (2), not the default 30 days.
    days = (int(item["expires_at"]["N"]) - time.time()) / 86400
    assert 1 < days < 3, days
    assert code == 0, err


@pytest.mark.parametrize("variable, value", [
    ("PIPELINE_JOB_TIMEOUT", "5"),  # below the EWS timeouts
    ("PIPELINE_EVENTS_SINK", "dramatiq://app-events"),  # not on the stack's SQS queue
    ("PIPELINE_CONCURRENCY", "many"),
])
@pytest.mark.timeout(60)
def test_up_refuses_a_bad_setting_before_starting(cli: CliInvoker, variable: str, value: str) -> None:
    refused = cli("up", env={variable: value, "PIPELINE_BROKER": None})

    assert refused.exit_code == 2, refused.stdout + refused.stderr
    [line] = refused.stderr.splitlines()
    assert line.startswith("INVALID_CONFIG: invalid pipeline configuration: ") and variable in line
    assert refused.stdout == ""
