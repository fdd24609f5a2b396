"""The commands of every page under docs/, run as written, and what they claim.

One local stack serves every doc: app-developers.md starts `ews-pipeline up` in the background as
its first command block, operators.md and then the other pages run in the same shell session
after it, and the stack is stopped by the block marked `run: last`. The blocks run as separate
bash processes that share the exported environment, functions and working directory
(tests/integration/doc_blocks.py says how, and which HTML comments mark a block as not run, an
expected failure, or a file). docs/deploying.md is the exception: it builds and deploys with the
SAM CLI, which tests/integration/test_deploying_doc.py does in `.ci/run`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import ENVIRONMENT_VARIABLES, PipelineConfig
from pipeline.errors import PipelineError
from pipeline.integrations import AuthType, ConnectionMethod, IntegrationSettings, load_integration
from pipeline.secrets import ExchangeSecret
from tests.integration.brokers import AMQP_URL, REDIS_URL, listening, require_broker
from tests.integration.doc_blocks import ELSEWHERE, DocBlock, DocError, parse_blocks, run_docs, unrun_commands

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = ROOT / "docs"
APP_DEVELOPERS = DOCS_DIR / "app-developers.md"
OPERATORS = DOCS_DIR / "operators.md"
# Docs whose commands another test runs, and which one.
RUN_ELSEWHERE = {DOCS_DIR / "deploying.md": "tests/integration/test_deploying_doc.py"}


def docs_to_run() -> tuple[Path, ...]:
    """Every page of docs/ but those run elsewhere: app-developers.md first (it starts the local
    stack), operators.md next, then the others by name."""
    first = (APP_DEVELOPERS, OPERATORS)
    rest = sorted(doc for doc in DOCS_DIR.glob("*.md") if doc not in first and doc not in RUN_ELSEWHERE)
    return (*first, *rest)


DOCS = docs_to_run()
# What the credentials of each auth type must hold (docs/logins.md).
SERVICE_SECRET_KEYS = {AuthType.BASIC: {"username", "password"}, AuthType.NTLM: {"username", "password"},
                       AuthType.OAUTH2: {"client_id", "client_secret"},
                       AuthType.OAUTH2_DELEGATED: {"client_id", "client_secret"}}
USER_SECRET_KEYS = {AuthType.BASIC: {"username", "password"}, AuthType.NTLM: {"username", "password"},
                    AuthType.OAUTH2_DELEGATED: {"refresh_token"}}


def block_environment() -> dict[str, str]:
    """This machine's environment without AWS or pipeline settings, this interpreter's tools first."""
    bin_dir = str(Path(sys.executable).parent)
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "PIPELINE_", "EWSSIM_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.mark.timeout(300)
def test_every_command_in_the_docs_runs_as_written(tmp_path: Path) -> None:
    env = block_environment()
    assert shutil.which("ews-pipeline", path=env["PATH"]), "install the project: pip install -e '.[dev]'"
    available = frozenset({"rabbitmq"}) if listening("127.0.0.1", 5672) else frozenset()

    run = run_docs(DOCS, tmp_path, env, available=available,
                   require_all=os.environ.get("PIPELINE_REQUIRE_BROKERS") == "1")

    print(run.summary())
    for result in sorted(run.results, key=lambda result: -result.seconds)[:5]:
        print(f"{result.seconds:5.1f} s  {result.block.where}")
    for block, reason in run.skipped:
        print(f"skipped {block.where}: {reason}")
    if run.failures:
        pytest.fail(run.failures[0].describe(), pytrace=False)
    blocks = [block for doc in DOCS for block in parse_blocks(doc)]
    # Every command block ran, or is marked: not run (with its reason), or needing a missing broker.
    assert len(run.results) + len(run.skipped) == sum(block.runs for block in blocks)
    assert run.not_run == [block for block in blocks if block.is_command and block.not_run]
    assert all(block.not_run for block in run.not_run)
    assert {result.block.doc for result in run.results} == {
        block.doc for block in blocks if block.runs and not block.needs - available}
    # What the docs show a command printing is what it printed.
    shown = {(before.doc, before.line): after.text for before, after in itertools.pairwise(blocks)
             if after.language == "text" and before.runs}
    for result in run.results:
        text = shown.get((result.block.doc, result.block.line), "")
        if result.block.exit_code and re.match(r"[A-Z_]+: ", text):
            # An expected failure shown with its error line prints that one line (the CLI's promise).
            assert result.stderr.strip() == text.strip(), result.describe()
        if text.startswith(("ok    ", "FAIL  ")):
            assert check_lines(result.stdout) == check_lines(text), result.describe()


def check_lines(text: str) -> list[str]:
    """What `ews-pipeline integration test` printed: each step and fix, with the local stack's
    ports as PORT; of a failed step only its name and code (how a name fails to resolve differs
    between machines)."""
    lines = []
    for line in re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text).splitlines():
        if line.startswith("FAIL  "):
            lines.append(":".join(line.split(":", 2)[:2]))
        elif line.startswith(("ok    ", "skip  ", "      fix: ", "connection ")):
            lines.append(line)
    return lines


def test_every_command_block_of_every_doc_is_run_or_marked() -> None:
    """A doc gaining a command block that no test runs, and that no marker excuses, fails here."""
    every = sorted(DOCS_DIR.glob("*.md"))
    for doc, runner in RUN_ELSEWHERE.items():
        assert doc.name in (ROOT / runner).read_text(), f"{runner} does not run {doc.name}"

    assert set(DOCS) | set(RUN_ELSEWHERE) == set(every) and len(DOCS) == len(set(DOCS))
    assert unrun_commands(every, [*DOCS, *RUN_ELSEWHERE]) == []
    for doc in DOCS:
        for block in parse_blocks(doc):
            assert block.language not in ELSEWHERE or block.not_run, block.where


def test_a_command_block_nothing_runs_is_found(tmp_path: Path) -> None:
    run, elsewhere = tmp_path / "run.md", tmp_path / "new.md"
    run.write_text("```bash\necho run\n```\n")
    elsewhere.write_text("\n".join([
        "<!-- not run: needs AWS -->", "```bash", "aws sts get-caller-identity", "```",
        "<!-- file: a.py -->", "```python", "print(1)", "```",
        "```json", "{}", "```",
        "```python", "print('nobody runs me')", "```", ""]))

    assert [block.where for block in unrun_commands([run, elsewhere], [run])] == ["new.md:12"]
    assert unrun_commands([run, elsewhere], [run, elsewhere]) == []
    for empty, message in (("```console\nls\n```\n", r"runs its `\$ ` lines"),
                           ("```bash\n\n```\n", "runs nothing")):
        elsewhere.write_text(empty)
        with pytest.raises(DocError, match=message):
            unrun_commands([elsewhere], [run])


def _files(doc: Path) -> dict[str, DocBlock]:
    return {block.file: block for block in parse_blocks(doc) if block.file}


def _commands(doc: Path) -> list[tuple[DocBlock, list[str]]]:
    """Each shell command of the doc's bash blocks, as words (continuation lines joined)."""
    commands = []
    for block in parse_blocks(doc):
        if block.language != "bash":
            continue
        for line in block.text.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append((block, shlex.split(line, comments=True)))
    return commands


def test_the_integration_examples_are_valid_and_cover_every_method_and_auth_type() -> None:
    files = _files(OPERATORS)
    examples: dict[str, IntegrationSettings] = {}
    refused: set[str] = set()
    for block, words in _commands(OPERATORS):
        if words[:3] != ["ews-pipeline", "integration", "add"]:
            continue
        name = words[3]
        raw = yaml.safe_load(files[name].text)
        if block.exit_code:
            with pytest.raises(PipelineError):
                load_integration(raw)
            refused.add(name)
            continue
        settings = examples[name] = load_integration(raw)
        if "--secret" in words:
            secret = json.loads(files[words[words.index("--secret") + 1]].text)
            ExchangeSecret.from_json("doc", json.dumps(secret))
            assert SERVICE_SECRET_KEYS[settings.auth_type] <= set(secret), name
    # Each user's secret is stored under a name the integration's template gives, with its keys.
    for _, words in _commands(OPERATORS):
        if words[:3] != ["aws", "secretsmanager", "create-secret"]:
            continue
        name = words[words.index("--name") + 1]
        text = files[words[words.index("--secret-string") + 1].removeprefix("file://")].text
        [owner] = [s for s in examples.values() if s.personal_secret_template and re.fullmatch(
            re.escape(s.personal_secret_template).replace(re.escape("{mailbox}"), "[^/]+@[^/]+"), name)]
        ExchangeSecret.from_json(name, text)
        assert USER_SECRET_KEYS[owner.auth_type] <= set(json.loads(text)), name

    assert {s.connection_method for s in examples.values()} == set(ConnectionMethod)
    assert {s.auth_type for s in examples.values()} == set(AuthType)
    assert refused, "the doc shows what a refused settings file looks like"
    assert all(s.secret_name is None or s.secret_name.startswith("ews-pipeline/") for s in examples.values())


def _table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and not line.startswith("|---")]


def test_every_worker_setting_is_documented_with_its_default() -> None:
    rows = _table_rows(OPERATORS.read_text(), "Worker settings")
    documented: dict[str, str] = {}
    for row in rows[1:]:
        for variable in re.findall(r"`([A-Z_]+)`", row[0]):
            documented[variable] = row[1].strip("`")
    defaults = PipelineConfig()
    for field, variables in ENVIRONMENT_VARIABLES.items():
        expected = getattr(defaults, field)
        for variable in variables:
            assert variable in documented, f"{variable} is not in operators.md's Worker settings"
            assert documented[variable] == ("none" if expected is None else str(expected)), variable


def test_every_alarm_in_the_template_is_explained() -> None:
    from cfnlint.decode.cfn_yaml import load as load_cfn_yaml

    template: dict[str, Any] = load_cfn_yaml(str(ROOT / "template.yaml"))
    alarms = {name for name, resource in template["Resources"].items()
              if resource["Type"] == "AWS::CloudWatch::Alarm"}
    explained = {row[0].strip("`") for row in _table_rows(OPERATORS.read_text(), "Alarms")[1:]}
    assert explained == alarms


@pytest.mark.broker
def test_the_documented_amqp_publish_is_what_dramatiq_sends() -> None:
    """docs/app-developers.md's RabbitMQ table: exchange, routing key, body, properties, queue."""
    require_broker("RabbitMQ", "127.0.0.1", 5672)
    import time

    import dramatiq
    import pika
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    queue = f"docs-{uuid.uuid4().hex[:8]}"
    broker = RabbitmqBroker(url=AMQP_URL)
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name="list_rooms", args=(), kwargs={"integration_id": "d"}, options={})
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    try:
        broker.enqueue(message)
        deadline = time.monotonic() + 10  # published without confirms: it may take a moment to route
        while (got := channel.basic_get(queue, auto_ack=True))[0] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        method, properties, body = got
        assert method is not None and (method.exchange, method.routing_key) == ("", queue)
        assert json.loads(body) == {**message.asdict(), "args": []}
        assert properties.delivery_mode == 2
        assert (properties.content_type, properties.content_encoding, properties.headers,
                properties.priority, properties.expiration) == (None, None, None, None, None)
        # The documented declaration matches dramatiq's exactly: RabbitMQ refuses (406) any other.
        channel.queue_declare(queue, durable=True, arguments={
            "x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{queue}.XQ"})
    finally:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(name)
        connection.close()
        broker.close()


@pytest.mark.broker
def test_a_json_body_pushed_onto_the_redis_list_never_runs(caplog: pytest.LogCaptureFixture) -> None:
    """docs/app-developers.md's Redis section: why other languages must not write to Redis."""
    require_broker("Redis", "127.0.0.1", 6379)
    import time

    import dramatiq
    import redis
    from dramatiq.brokers.redis import RedisBroker

    namespace = f"docs-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(url=REDIS_URL, namespace=namespace)
    ran: list[dict[str, Any]] = []

    @dramatiq.actor(broker=broker, actor_name="list_rooms", queue_name="ews-jobs")
    def list_rooms(**kwargs: Any) -> None:
        ran.append(kwargs)

    client = redis.Redis.from_url(REDIS_URL)
    job = {"queue_name": "ews-jobs", "actor_name": "list_rooms", "args": [], "options": {},
           "kwargs": {"integration_id": "d"}, "message_id": str(uuid.uuid4()), "message_timestamp": 0}
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    try:
        client.rpush(f"{namespace}:ews-jobs", json.dumps(job))
        worker.start()
        deadline = time.monotonic() + 10
        while client.llen(f"{namespace}:ews-jobs") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        worker.stop()
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        client.close()
    assert client.llen(f"{namespace}:ews-jobs") == 0 and ran == []
    assert "Found 'None' message in message cache" in caplog.text


# The runner itself: a broken doc must fail ----------------------------------------------------

def _doc(tmp_path: Path, text: str) -> Path:
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    (tmp_path / "work").mkdir(exist_ok=True)
    return doc


def test_the_runner_carries_the_session_and_checks_exit_codes(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "\n".join([
        "```bash", "export GREETING=hello", "shout() { echo \"$1!\"; }", "mkdir -p sub && cd sub", "```",
        "<!-- file: data.json -->", "```json", '{"n": 1}', "```",
        "```python", "import json, os", "assert json.load(open('data.json')) == {'n': 1}",
        "assert os.environ['GREETING'] == 'hello' and os.getcwd().endswith('sub')", "```",
        "<!-- exit: 3 -->", "```bash", "shout \"$GREETING\"", "exit 3", "```",
        "<!-- not run: needs AWS -->", "```bash", "aws cloudformation describe-stacks", "```",
        "<!-- needs: rabbitmq -->", "```bash", "false", "```",
        "```text", "some output", "```", ""]))

    run = run_docs([doc], tmp_path / "work", block_environment(), timeout=30)

    assert not run.failures, run.failures[0].describe()
    assert [result.returncode for result in run.results] == [0, 0, 3]
    assert run.results[2].stdout == "hello!\n"
    assert (len(run.not_run), len(run.skipped), len(run.files), len(run.data)) == (1, 1, 1, 1)
    with pytest.raises(DocError, match="needs rabbitmq"):
        run_docs([doc], tmp_path / "work", block_environment(), timeout=30, require_all=True)


@pytest.mark.parametrize("block, expected", [
    ("```bash\nls /no/such/dir\n```\n", 2),
    ("<!-- exit: 1 -->\n```bash\ntrue\n```\n", 0),
    ("```bash\nfalse | cat\n```\n", 1),
    ("```python\nraise SystemExit(4)\n```\n", 4),
])
def test_a_failing_block_fails_the_run(tmp_path: Path, block: str, expected: int) -> None:
    run = run_docs([_doc(tmp_path, block)], tmp_path / "work", block_environment(), timeout=30)

    assert [result.returncode for result in run.failures] == [expected]


@pytest.mark.parametrize("block, message", [
    ("```\necho hi\n```\n", "needs an info string"),
    ("```zsh\necho hi\n```\n", "unknown info string"),
    ("```powershell\nGet-Mailbox\n```\n", "cannot run here"),
    ("<!-- not run: -->\n```bash\necho hi\n```\n", "needs a reason"),
    ("<!-- skip -->\n```bash\necho hi\n```\n", "unknown marker"),
])
def test_an_unclassified_block_fails_the_run(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(DocError, match=message):
        run_docs([_doc(tmp_path, block)], tmp_path / "work", block_environment())
