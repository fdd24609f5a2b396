"""The simulator as a command: `python -m infra.ewssim --config FILE --port N`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from exchangelib import Account, Configuration, Credentials, FailFast

from infra.ewssim.cli import main
from infra.ewssim.config import SeedFileError, load_seed
from tests.conftest import EXCHANGE_2019
from tests.seed import PASSWORDS, smtp, standard_org

ROOT = Path(__file__).resolve().parents[3]


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.ewssim", *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, line


@pytest.fixture
def stop_later() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_command_serves_a_seeded_org(
    tmp_path: Path, suffix: str, stop_later: list[subprocess.Popen[str]]
) -> None:
    seed = tmp_path / f"org{suffix}"
    seed.write_text(yaml.safe_dump(standard_org()) if suffix == ".yaml" else json.dumps(standard_org()))
    process, line = start("--config", str(seed), "--port", "0")
    stop_later.append(process)
    assert line.startswith("ewssim listening"), line
    ews_url = line.split("ews_url=")[1].split()[0]
    config = Configuration(
        service_endpoint=ews_url,
        credentials=Credentials(smtp("bob"), PASSWORDS["bob"]),
        auth_type="basic",
        version=EXCHANGE_2019,
        retry_policy=FailFast(),
    )
    account = Account(smtp("bob"), config=config, autodiscover=False)
    assert account.protocol.resolve_names(["alice"])[0].email_address == smtp("alice")


def test_command_with_tls_reports_its_ca(stop_later: list[subprocess.Popen[str]]) -> None:
    process, line = start("--port", "0", "--tls")
    stop_later.append(process)
    assert "ews_url=https://" in line
    assert line.split("graph_url=")[1].split()[0].startswith("https://127.0.0.1:")
    assert Path(line.split("ca_file=")[1].strip()).is_file()


def test_bad_seed_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "list.yaml").write_text("- just\n- a list\n")
    assert main(["--config", str(tmp_path / "list.yaml"), "--port", "0"]) == 2
    assert main(["--config", str(tmp_path / "missing.yaml"), "--port", "0"]) == 2
    assert "cannot read seed file" in capsys.readouterr().err


def test_load_seed_formats(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"users": []}')
    (tmp_path / "b.yml").write_text("users: []\n")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "bad.json").write_text("{")
    assert load_seed(tmp_path / "a.json") == {"users": []}
    assert load_seed(tmp_path / "b.yml") == {"users": []}
    assert load_seed(tmp_path / "empty.yaml") == {}
    with pytest.raises(SeedFileError):
        load_seed(tmp_path / "bad.json")


UNKNOWN_NAMES = {
    "owner": {"users": [{"smtp": "ana@example.test", "name": "Ana"}],
              "permissions": [{"owner": "nobody@example.test", "grantee": "ana@example.test",
                               "level": "Reviewer"}]},
    "folder": {"folders": [{"owner": "nobody@example.test", "path": "Calendar/Interviews"}]},
    "room": {"users": [{"smtp": "ana@example.test", "name": "Ana"}],
             "room_lists": [{"smtp": "hq@example.test", "name": "HQ", "rooms": ["ana@example.test"]}]},
}


@pytest.mark.parametrize("case", sorted(UNKNOWN_NAMES))
def test_a_seed_naming_unknown_principals_is_refused(tmp_path: Path, case: str) -> None:
    # An unknown owner of grants or folders, or a room list naming what is not a seeded room: a one-line
    # INVALID_SEED and exit 2 from `ews-pipeline sim`, exit 2 from `python -m infra.ewssim`, nothing seeded.
    from click.testing import CliRunner

    from pipeline.cli import cli as cli_group

    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump(UNKNOWN_NAMES[case]))
    result = CliRunner().invoke(cli_group, ["sim", "--config", str(seed), "--port", "0"])

    assert result.exit_code == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("INVALID_SEED: ") and "is not a" in line and "Traceback" not in result.output
    assert main(["--config", str(seed), "--port", "0"]) == 2
