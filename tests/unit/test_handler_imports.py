"""A handler imports at start only what every invocation uses (STYLE.md, 12; issue 11's cold start).

Each handler is imported in a fresh interpreter, and what its first invocation loads must not be
there yet: the processor or the dependencies it builds (pydantic's contracts, dramatiq, boto3),
exchangelib and lxml (the runtime's EWS connector, a known token's push notification), Liquid
and babel (the first text rendered), the X-Ray SDK (only while tracing is on), and nothing the
command line or the local stack uses. Sets of modules, never a time: bench/cold_start.py times
them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("handlers.jobs", "handlers.callbacks", "handlers.renewals", "handlers.events")
# Top-level packages no handler may import at start.
DEFERRED = {
    "exchangelib", "lxml", "dns", "pygments", "requests", "requests_ntlm", "spnego", "cryptography",
    "oauthlib", "liquid", "babel", "boto3", "s3transfer", "aws_xray_sdk", "pydantic", "pydantic_core",
    "dramatiq",
}
NEVER = {"click", "rich", "yaml", "moto", "infra", "pytest"}
# Outside Lambda, or in Lambda under POWERTOOLS_TRACE_DISABLED: tracing is off.
LAMBDA_VARIABLES = ("AWS_LAMBDA_FUNCTION_NAME", "LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL",
                    "POWERTOOLS_TRACE_DISABLED")


def loaded_after(code: str, **environment: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code`."""
    env = {name: value for name, value in os.environ.items() if name not in LAMBDA_VARIABLES}
    env.update(environment)
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return set(loaded)


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_imports_none_of_what_a_job_loads_on_demand(handler: str) -> None:
    loaded = loaded_after(f"import {handler}")

    assert packages(loaded) & (DEFERRED | NEVER) == set()
    assert not {name for name in loaded if name.startswith("pipeline.cli")}
    # Nor the pipeline's modules that import exchangelib, Liquid and boto3.
    assert not {"pipeline.exchange.ews.connection", "pipeline.exchange.ews.gateway",
                "pipeline.exchange.ews.notifications", "pipeline.templates.environment"} & loaded
    assert not {name for name in loaded if name.startswith("pipeline.store.dynamodb")}


@pytest.mark.parametrize("handler", HANDLERS)
def test_with_tracing_on_a_handler_imports_the_xray_sdk_at_start(handler: str, tmp_path: Path) -> None:
    # What Powertools takes for Lambda with tracing on; no daemon is needed to import and wrap.
    loaded = loaded_after(f"import {handler}", LAMBDA_TASK_ROOT=str(tmp_path),
                          AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR")

    assert "aws_xray_sdk.core" in loaded
    assert packages(loaded) & {"exchangelib", "lxml", "liquid", "babel"} == set()


def test_the_callbacks_connectivity_check_never_imports_exchangelib() -> None:
    # The GET route only reads the table: exchangelib waits for a POST with a known token.
    loaded = loaded_after("import handlers.callbacks, pipeline.callback_check, pipeline.notifications")

    assert "exchangelib" not in loaded


def test_liquid_loads_with_the_first_text_rendered() -> None:
    before = loaded_after("import pipeline.templates")
    after = loaded_after(
        "from pipeline.templates import TextKind, render\n"
        "text = render('Hello {{ who }}', TextKind.SUBJECT, {'who': 'Dana'}, what='a subject')\n"
        "assert text == 'Hello Dana'"
    )

    assert "liquid" not in before and "babel" not in before
    assert "liquid" in after


def test_the_processor_loads_exchangelib_and_boto3_when_it_is_built() -> None:
    # What the deferred imports wait for: building the runtime (the first invocation), no sooner.
    loaded = loaded_after(
        "import handlers.jobs\n"
        "from pipeline.config import PipelineConfig\n"
        "from pipeline.runtimes.runtime import Runtime\n"
        "Runtime.from_config(PipelineConfig(table_name='results', aws_region='us-east-1'))",
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
    )

    assert {"exchangelib", "lxml", "boto3"} <= packages(loaded)
    assert packages(loaded) & {"liquid", "aws_xray_sdk"} == set()


def test_texts_without_liquid_markup_render_without_liquid() -> None:
    # A job's own plain subject and body (no "{"): what Liquid would give, without loading it.
    loaded = loaded_after(
        "from pipeline.templates import TextKind, render_body, render_subject\n"
        "assert render_subject('Interview 3', None, {}, defaults=True) == 'Interview 3'\n"
        "assert render_body('Benchmark booking.', None, {}, html=True, defaults=True) == 'Benchmark booking.'"
    )

    assert packages(loaded) & {"liquid", "babel"} == set()
    assert "pipeline.templates.environment" not in loaded


def test_the_lambda_processor_never_builds_powertools_record_models() -> None:
    # Powertools' batch utility builds its pydantic record models only when pydantic is loaded
    # before it; lambda_runtime imports it first, and the processor never parses into them.
    loaded = loaded_after("import handlers.jobs\nimport pipeline.runtimes.lambda_runtime")

    assert "aws_lambda_powertools.utilities.batch" in loaded
    assert "pydantic" in packages(loaded)
    assert not {name for name in loaded if name.startswith("aws_lambda_powertools.utilities.parser")}


def test_a_job_builds_only_its_own_actions_contract_models() -> None:
    # The contract models are built on first use (defer_build): one booking builds CreateEvent's.
    loaded_after(
        "from pipeline.contract import ACTIONS, parse_kwargs\n"
        "built = lambda: {name for name, c in ACTIONS.items() if c.kwargs_model.__pydantic_complete__}\n"
        "assert built() == set(), built()\n"
        "try:\n"
        "    parse_kwargs('create_event', {})\n"
        "except Exception:\n"
        "    pass\n"
        "assert built() == {'create_event'}, built()"
    )


def test_the_lambda_processor_makes_no_sqs_client_until_a_job_sends() -> None:
    # The jobs queue's client is made on first use: a container whose jobs enqueue nothing never
    # makes one (nor reads the SQS service model).
    loaded_after(
        "import handlers.jobs\n"
        "from pipeline.runtimes.lambda_runtime import build_job_processor\n"
        "import pipeline.aws_clients as aws_clients\n"
        "made = []\n"
        "new_client = aws_clients.new_client\n"
        "aws_clients.new_client = lambda service, **kw: made.append(service) or new_client(service, **kw)\n"
        "processor = build_job_processor({'PIPELINE_TABLE': 'results', 'PIPELINE_BROKER': 'sqs://jobs',\n"
        "                                 'AWS_REGION': 'us-east-1'})\n"
        "assert 'sqs' not in made, made\n"
        "assert processor.broker.client is processor.broker.queue.client\n"
        "assert made.count('sqs') == 1, made",
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
    )
