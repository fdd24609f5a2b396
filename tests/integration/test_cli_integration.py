"""`ews-pipeline integration ...` against moto (table, Secrets Manager) and the simulator."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from tests.integration.cli_support import CliInvoker, LocalStack, as_json, assert_one_line_error, cli, stack
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


def test_invalid_settings_are_refused_in_one_line(cli: CliInvoker, stack: LocalStack, tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.json", stack.settings("bad", service_mailbox=None, secret_name=None))

    result = cli("integration", "add", str(bad))

    assert_one_line_error(result, "INVALID_INTEGRATION")
    assert "secret_name is required" in result.stderr
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
    for group in ("integration add", "integration list", "integration show", "integration remove",
                  "integration test"):
        shown = cli(*group.split(), "--help")
        assert shown.exit_code == 0 and "--json" in shown.stdout
