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
