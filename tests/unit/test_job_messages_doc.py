"""Every JSON example in docs/job-messages.md is a valid job message with valid kwargs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.contract import ACTIONS, JobMessage, parse_kwargs
from pipeline.runtimes.actors import JOBS_QUEUE

DOC = Path(__file__).resolve().parents[2] / "docs" / "job-messages.md"
EXAMPLES = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def _check(message: dict[str, Any]) -> None:
    JobMessage.model_validate(message)
    assert message["queue_name"] == JOBS_QUEUE
    parse_kwargs(message["actor_name"], message["kwargs"])
    target = message["options"].get("pipe_target")
    if target is not None:
        _check(target)


@pytest.mark.parametrize("message", EXAMPLES, ids=[m["actor_name"] for m in EXAMPLES])
def test_each_example_is_a_valid_job(message: dict[str, Any]) -> None:
    _check(message)


def test_every_action_an_app_sends_has_an_example() -> None:
    documented = {m["actor_name"] for m in EXAMPLES}
    assert documented == set(ACTIONS) - {"process_change"}
