"""`ews-pipeline integration ...` against moto (table, Secrets Manager) and the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from infra.ewssim import EwsSimulator, FaultKind
from tests.integration.cli_support import (
    CliInvoker,
    LocalStack,
    as_json,
    assert_one_line_error,
    cli,
    closed_port,
    stack,
)
from tests.integration.moto_server import moto_endpoint
from tests.seed import smtp

__all__ = ["cli", "moto_endpoint", "stack"]  # fixtures, re-exported for pytest


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_add_stores_settings_and_secret_and_never_prints_it(
    cli: CliInvoker, stack: LocalStack, tmp_path: Path
) -> None:
    settings = write(tmp_path, "acme.json", stack.settings("acme"))
    secret = write(tmp_path, "secret.json", stack.secret())

    added = cli("integration", "add", str(settings), "--secret", str(secret), "--json")

    assert added.exit_code == 0, added.stderr
    assert as_json(added) == {"integration_id": "acme", "secret_name": "cli/acme", "secret": "created"}
    stored = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=stack.aws)
    assert json.loads(stored.get_secret_value(SecretId="cli/acme")["SecretString"]) == stack.secret()
    listed = cli("integration", "list", "--json")
    assert [row["integration_id"] for row in as_json(listed)["integrations"]] == ["acme"]
    for shown in (cli("integration", "show", "acme"), cli("integration", "show", "acme", "--json"),
                  cli("integration", "list")):
        assert shown.exit_code == 0
        assert "cli/acme" in shown.stdout
        assert stack.secret()["password"] not in shown.stdout + shown.stderr
    assert as_json(cli("integration", "show", "acme", "--json"))["settings"]["service_mailbox"] == smtp("svc")
    # Adding again replaces the settings and adds a version of the secret.
    again = cli("integration", "add", str(settings), "--secret", str(secret), "--json")
    assert as_json(again)["secret"] == "updated"


def test_list_shows_each_integrations_backend_and_where_it_goes(
    cli: CliInvoker, stack: LocalStack, tmp_path: Path
) -> None:
    cloud = stack.settings("cloud", "impersonation", backend="graph", auth_type="oauth2",
                           oauth_tenant_id="tenant-1", ews_url=None, server_version=None)
    for settings in (stack.settings("onprem"), {k: v for k, v in cloud.items() if v is not None}):
        path = write(tmp_path, f"{settings['integration_id']}.json", settings)
        assert cli("integration", "add", str(path)).exit_code == 0
    listed = as_json(cli("integration", "list", "--json"))["integrations"]
    rows = {row["integration_id"]: row for row in listed}
    assert (rows["onprem"]["backend"], rows["onprem"]["endpoint"]) == ("ews", stack.sim.ews_url)
    assert (rows["cloud"]["backend"], rows["cloud"]["endpoint"]) == ("graph", "https://graph.microsoft.com/v1.0")
    assert "graph" in cli("integration", "list").stdout


def test_invalid_settings_are_refused_in_one_line(cli: CliInvoker, stack: LocalStack, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", stack.settings("bad", service_mailbox=None, secret_name=None))

    result = cli("integration", "add", str(bad))

    assert_one_line_error(result, "INVALID_INTEGRATION")
    assert "secret_name is required" in result.stderr
    # The validators' messages as they wrote them, without pydantic's "Value error, " before them.
    assert "settings: secret_name is required" in result.stderr and "Value error" not in result.stderr
    nested = write(tmp_path, "nested.json", stack.settings("nested", calendar_overrides={
        smtp("bob"): {"booking_calendar": {"path": "Calendar/A", "folder_id": "AAMk"}}}))
    refused = cli("integration", "add", str(nested))
    assert_one_line_error(refused, "INVALID_INTEGRATION")
    assert ("calendar_overrides: entry 0 (booking_calendar): a calendar has either a path or a folder_id"
            in refused.stderr), refused.stderr
    assert as_json(cli("integration", "list", "--json")) == {"integrations": []}
    as_data = cli("integration", "add", str(bad), "--json")
    assert as_data.exit_code == 1 and as_json(as_data)["error"]["code"] == "INVALID_INTEGRATION"


def test_test_prints_each_step_and_exits_1_with_the_fix(
    cli: CliInvoker, stack: LocalStack, tmp_path: Path
) -> None:
    cli("integration", "add", str(write(tmp_path, "d.json", stack.settings("d"))),
        "--secret", str(write(tmp_path, "s.json", stack.secret())))
    imp = stack.settings("imp-not-granted", method="impersonation", service_mailbox=smtp("svc"))
    cli("integration", "add", str(write(tmp_path, "i.json", imp)),
        "--secret", str(write(tmp_path, "si.json", stack.secret())))

    passed = cli("integration", "test", "d", "--mailbox", smtp("alice"))
    failed = cli("integration", "test", "imp-not-granted", "--mailbox", smtp("alice"), "--json")

    assert passed.exit_code == 0, passed.stdout + passed.stderr
    assert passed.stdout.count("ok    ") == 4 and "connection ok" in passed.stdout
    assert failed.exit_code == 1
    report = as_json(failed)
    assert report["ok"] is False
    last = report["steps"][-1]
    assert (last["ok"], last["error_code"]) == (False, "IMPERSONATION_DENIED")
    assert last["fix"].startswith("On premises: infra/exchange/Grant-EwsImpersonation.ps1")
    text = cli("integration", "test", "imp-not-granted", "--mailbox", smtp("alice"))
    assert "FAIL  connection_method: IMPERSONATION_DENIED" in text.stdout
    assert "fix: On premises: infra/exchange/Grant-EwsImpersonation.ps1" in text.stdout


def test_test_shows_the_steps_when_the_server_cannot_be_reached(
    cli: CliInvoker, stack: LocalStack, tmp_path: Path
) -> None:
    # Given an integration whose EWS URL is a port nothing listens on
    down = stack.settings("down", ews_url=f"http://127.0.0.1:{closed_port()}/EWS/Exchange.asmx")
    cli("integration", "add", str(write(tmp_path, "down.json", down)),
        "--secret", str(write(tmp_path, "s.json", stack.secret())))

    # When it is tested, as text and as JSON
    text = cli("integration", "test", "down", "--mailbox", smtp("alice"))
    data = cli("integration", "test", "down", "--mailbox", smtp("alice"), "--json")

    # Then the step that met the refused connection fails with its code and fix, the rest are skipped
    assert text.exit_code == 1, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith("ok    resolve_endpoint: http://127.0.0.1:")
    assert lines[1].startswith("FAIL  authenticate: CONNECTION_DROPPED: ")
    assert "Connection refused" in lines[1]
    assert lines[2] == "      fix: Allow outbound HTTPS to the EWS host and check the URL's host and port."
    assert lines[3:] == ["skip  connection_method", "skip  room_lists", "connection failed"]
    assert text.stderr == "" and "Traceback" not in text.stdout
    assert data.exit_code == 1
    report = as_json(data)
    assert [(step["name"], step["ok"], step["error_code"]) for step in report["steps"]] == [
        ("resolve_endpoint", True, None), ("authenticate", False, "CONNECTION_DROPPED")]
    assert report["steps"][1]["fix"] and report["skipped"] == ["connection_method", "room_lists"]


def test_test_shows_the_steps_when_the_server_fails(
    cli: CliInvoker, stack: LocalStack, sim: EwsSimulator, tmp_path: Path
) -> None:
    # Given a server that answers every GetRoomLists with 503, as IIS does when its queue is full
    cli("integration", "add", str(write(tmp_path, "d.json", stack.settings("busy"))),
        "--secret", str(write(tmp_path, "s.json", stack.secret())))
    sim.faults.fail(FaultKind.HTTP_503, operation="GetRoomLists")
    try:
        result = cli("integration", "test", "busy", "--mailbox", smtp("alice"), "--json")
    finally:
        sim.faults.reset()

    # Then the steps before it pass and the failed one carries its code and fix
    assert result.exit_code == 1, result.stdout + result.stderr
    report = as_json(result)
    assert [(step["name"], step["ok"]) for step in report["steps"]] == [
        ("resolve_endpoint", True), ("authenticate", True), ("connection_method", True),
        ("room_lists", False)]
    assert report["steps"][-1]["error_code"] == "EWS_UNAVAILABLE" and report["steps"][-1]["fix"]
    assert report["skipped"] == [] and report["ok"] is False


def test_remove_and_unknown_ids(cli: CliInvoker, stack: LocalStack, tmp_path: Path) -> None:
    cli("integration", "add", str(write(tmp_path, "gone.json", stack.settings("gone"))))

    assert cli("integration", "remove", "gone").exit_code == 0
    for args in (("remove", "gone"), ("show", "gone"), ("test", "gone")):
        assert_one_line_error(cli("integration", *args), "UNKNOWN_INTEGRATION")


def test_usage_and_environment_errors(cli: CliInvoker, stack: LocalStack, tmp_path: Path) -> None:
    settings = write(tmp_path, "x.json", stack.settings("x"))

    assert cli("integration", "add").exit_code == 2
    assert cli("integration", "frobnicate").exit_code == 2
    assert_one_line_error(cli("integration", "list", env={"PIPELINE_TABLE": "no-such-table"}),
                          "STORE_UNAVAILABLE")
    assert_one_line_error(cli("integration", "add", str(settings), env={"PIPELINE_JOB_TIMEOUT": "5"}),
                          "INVALID_CONFIG", exit_code=2)
    not_text = tmp_path / "latin1.yaml"
    not_text.write_bytes("integration_id: caf\xe9\n".encode("latin-1"))
    assert_one_line_error(cli("integration", "add", str(not_text)), "INVALID_INTEGRATION")
    assert_one_line_error(cli("integration", "add", str(settings), "--secret", str(not_text)),
                          "INVALID_INTEGRATION")
    for group in ("integration add", "integration list", "integration show", "integration remove",
                  "integration test"):
        shown = cli(*group.split(), "--help")
        assert shown.exit_code == 0 and "--json" in shown.stdout
