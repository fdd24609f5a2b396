"""Subject and body templates through the real pipeline, against the simulator over HTTP: escaping,
the defaults, the limits, and a failed render that writes nothing (docs/templates.md)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from pipeline.contract import JobOutcome, JobStatus
from pipeline.errors import ErrorCode
from tests.integration.event_support import (
    ALICE,
    BOB,
    RequestCounter,
    booking,
    follow_up,
    recorded_ref,
    stamped,
)
from tests.integration.pipeline_support import PipelineHarness, pipeline

__all__ = ["pipeline"]  # the fixture, re-exported for pytest

KEY = "interview-1:slot-1"
DANA = "dana@mail.example"  # outside the integration's internal domains
SCRIPT = "<script>alert(1)</script>"
# 570 bytes of kwargs that rendered 9,000,000 characters before the limits: 20 items, four deep.
NESTED_LOOPS = (
    "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% for d in xs %}"
    + "x" * 64 + "{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
)
# "Interview: " and 245 characters: one more than Exchange takes.
LONG_NAME = "Zelda" * 49
LONG_SUBJECT = f"Interview: {LONG_NAME}"
LOGGERS = ("", "pipeline", "exchangelib", "urllib3", "requests", "dramatiq", "aws_lambda_powertools",
           "botocore")


def failed_for_good(outcome: JobOutcome) -> str:
    """The message of a permanent TEMPLATE_ERROR on the first attempt."""
    assert outcome.status is JobStatus.FAILED, outcome
    assert outcome.error is not None and outcome.error.code is ErrorCode.TEMPLATE_ERROR
    assert outcome.error.retryable is False
    assert outcome.attempts == 1
    return outcome.error.message


def candidate_booking(integration_id: str, **overrides: Any) -> dict[str, Any]:
    """A booking with people in roles and time zones, a link, and no text of its own."""
    kwargs = booking(
        integration_id,
        required_attendees=[
            {"email": DANA, "name": "Dana Diaz", "role": "candidate", "time_zone": "America/New_York"},
            {"email": BOB, "name": "Bob Baker", "role": "interviewer"},
        ],
        links=[{"url": "https://meet.example/abc", "label": "Video call"}],
        template_vars={},
        **overrides,
    )
    for field in ("subject", "body", "body_type"):
        if field not in overrides:
            kwargs.pop(field)
    return kwargs


# -- escaping ----------------------------------------------------------------------------------


def test_script_in_a_value_is_escaped_in_the_html_body_exchange_stores(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate", body_template="{{ body }}<p>-- {{ team }}</p>")

    outcome = pipeline.run("create_event", **booking(
        integration_id, template_vars={"candidate": SCRIPT, "team": "<b>Acme</b>"}))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["body_type"] == "HTML"
    assert event["body"] == (
        "<p>Panel interview with &lt;script&gt;alert(1)&lt;/script&gt;</p><p>-- &lt;b&gt;Acme&lt;/b&gt;</p>"
    )
    # The subject is plain text: shown as written, never HTML-escaped.
    assert event["subject"] == f"Interview: {SCRIPT}"


def test_a_plain_text_body_stays_plain(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")

    outcome = pipeline.run("create_event", **booking(
        integration_id, body="Hi {{ candidate }} & co <3", body_type="text",
        template_vars={"candidate": "Dana & <Co>"}))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert (event["body_type"], event["body"]) == ("Text", "Hi Dana & <Co> & co <3")


# -- defaults ----------------------------------------------------------------------------------


def test_the_default_templates_render_the_bookings_fields(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate", internal_domains=["example.com"])

    outcome = pipeline.run("create_event", **candidate_booking(integration_id))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["subject"] == "Interview: Dana Diaz with Bob Baker"
    assert event["body_type"] == "Text"
    assert event["body"] == (
        "Candidate: Dana Diaz\n"
        "Interviewers: Bob Baker\n"
        "When: Tuesday 3 November 2026, 14:00 \u2013 15:00 GMT (Europe/London)\n"
        "      Tuesday 3 November 2026, 09:00 \u2013 10:00 EST (America/New_York): Dana Diaz\n"
        "Where: Room A\n"
        "Video call: https://meet.example/abc\n"
    )


def test_the_integrations_templates_wrap_the_html_defaults(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install(
        "delegate", internal_domains=["example.com"], subject_template="[Acme] {{ subject }}",
        body_template="{{ body }}<p>{% for a in booking.external_attendees %}{{ a.display }} is external"
                      "{% endfor %}</p>",
    )

    outcome = pipeline.run("create_event", **candidate_booking(integration_id, body_type="html"))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["subject"] == "[Acme] Interview: Dana Diaz with Bob Baker"
    assert event["body"] == (
        "<div><p>Candidate: Dana Diaz</p><p>Interviewers: Bob Baker</p>"
        "<p>When: Tuesday 3 November 2026, 14:00 \u2013 15:00 GMT (Europe/London)"
        "<br>Tuesday 3 November 2026, 09:00 \u2013 10:00 EST (America/New_York): Dana Diaz</p>"
        '<p>Where: Room A</p><ul><li><a href="https://meet.example/abc">Video call</a></li></ul></div>'
        "<p>Dana Diaz is external</p>"
    )


# -- failures write nothing --------------------------------------------------------------------


def test_a_runaway_template_fails_fast_for_good_and_writes_nothing(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate")
    counter = RequestCounter(pipeline.sim)

    with counter.counting() as made:
        started = time.perf_counter()
        outcome = pipeline.run("create_event", **booking(
            integration_id, body=NESTED_LOOPS, template_vars={"candidate": "Dana", "xs": list(range(20))}))
        elapsed = time.perf_counter() - started

    assert failed_for_good(outcome) == (
        "the job's body went over a limit: more than 10000 iterations of nested loops"
    )
    assert elapsed < 1.0, elapsed  # the whole job, table writes included
    assert made == {}
    assert stamped(pipeline.sim, ALICE, KEY) == []
    assert pipeline.store.get_booking(integration_id, KEY) is None  # no claim left behind
    # Nothing blocks the booking: the corrected job creates it.
    assert pipeline.run("create_event", **booking(integration_id)).status is JobStatus.SUCCEEDED


def test_a_subject_over_255_characters_is_a_template_error_without_its_text(
    pipeline: PipelineHarness, caplog: pytest.LogCaptureFixture
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    integration_id = pipeline.install("delegate")
    counter = RequestCounter(pipeline.sim)

    with counter.counting() as made:
        outcome = pipeline.run(
            "create_event", **booking(integration_id, template_vars={"candidate": LONG_NAME}))

    message = failed_for_good(outcome)
    assert message == "the rendered subject (job template) is 256 characters; Exchange takes at most 255"
    assert made == {}
    assert pipeline.store.get_booking(integration_id, KEY) is None
    assert caplog.records  # DEBUG logs were captured
    logs = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert LONG_SUBJECT not in logs


# -- update_event ------------------------------------------------------------------------------


def test_update_event_escapes_html_and_changes_only_the_text_it_is_given(pipeline: PipelineHarness) -> None:
    integration_id = pipeline.install("delegate", subject_template="[Acme] {{ subject }}")
    assert pipeline.run("create_event", **booking(integration_id)).status is JobStatus.SUCCEEDED

    outcome = pipeline.run("update_event", **follow_up(
        integration_id, body="<p>Moved for {{ candidate }}</p>", body_type="html",
        template_vars={"candidate": SCRIPT}))

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["body"] == "<p>Moved for &lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert event["subject"] == "[Acme] Interview: Dana Diaz"  # not given: left as it was


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"subject": "Interview: {{ candidate }}", "template_vars": {"candidate": LONG_NAME}},
         "the rendered subject (job template) is 256 characters; Exchange takes at most 255"),
        ({"body": NESTED_LOOPS, "body_type": "html", "template_vars": {"xs": list(range(20))}},
         "the job's body went over a limit: more than 10000 iterations of nested loops"),
    ],
    ids=["long-subject", "runaway-body"],
)
def test_a_failed_update_render_changes_nothing(
    pipeline: PipelineHarness, caplog: pytest.LogCaptureFixture, change: dict[str, Any], expected: str
) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    integration_id = pipeline.install("delegate")
    assert pipeline.run("create_event", **booking(integration_id)).status is JobStatus.SUCCEEDED
    before = recorded_ref(pipeline, integration_id)
    counter = RequestCounter(pipeline.sim)

    with counter.counting() as made:
        started = time.perf_counter()
        outcome = pipeline.run("update_event", **follow_up(integration_id, **change))
        elapsed = time.perf_counter() - started

    assert failed_for_good(outcome) == expected
    assert elapsed < 1.0, elapsed
    assert made == {}
    [event] = stamped(pipeline.sim, ALICE, KEY)
    assert event["subject"] == "Interview: Dana Diaz"
    assert event["body"] == "<p>Panel interview with Dana Diaz</p>"
    assert recorded_ref(pipeline, integration_id) == before
    assert LONG_SUBJECT not in caplog.text
