"""pipeline.templates: escaping per kind of text, the defaults, the booking variable, the limits.

No I/O; tests/integration/test_templates.py runs the same rules through the real pipeline.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.contract.booking import AttendeeClass
from pipeline.errors import ErrorCode, PermanentError
from pipeline.templates import (
    BookingFacts,
    TemplateLink,
    TemplatePerson,
    TextKind,
    booking_variable,
    format_when,
    render,
    render_body,
    render_subject,
)
from pipeline.templates.limits import (
    BODY_OUTPUT_LIMIT_BYTES,
    LOOP_ITERATION_BUDGET,
    LOOP_ITERATION_LIMIT,
    SUBJECT_MAX_LENGTH,
    SUBJECT_OUTPUT_LIMIT_BYTES,
)

START = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
END = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"
# Twenty items nested four deep, 64 characters each: 10,240,000 characters from a tiny job.
NESTED_LOOPS = (
    "{% for a in xs %}{% for b in xs %}{% for c in xs %}{% for d in xs %}"
    + "x" * 64 + "{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
)


def classify(email: str) -> AttendeeClass:
    return AttendeeClass.INTERNAL if email.endswith("@acme.example") else AttendeeClass.EXTERNAL


def facts(**overrides: Any) -> BookingFacts:
    values: dict[str, Any] = {
        "booking_key": "interview-1:slot-1",
        "mailbox": "alice@acme.example",
        "time_zone": "Europe/London",
        "start": START,
        "end": END,
        "location": "Room A",
        "attendees": (
            TemplatePerson("dana@mail.example", "Dana Diaz", "candidate", "America/New_York"),
            TemplatePerson("bob@acme.example", "Bob Baker", "interviewer"),
            TemplatePerson("erin@acme.example", None, "interviewer", "Asia/Kolkata", required=False),
        ),
        "rooms": ("room-a@acme.example",),
        "links": (TemplateLink("https://meet.example/abc", "Video call"),),
    }
    values.update(overrides)
    return BookingFacts(**values)


def variables(template_vars: dict[str, Any] | None = None, **fact_overrides: Any) -> dict[str, Any]:
    template_vars = template_vars or {}
    return {**template_vars, "booking": booking_variable(facts(**fact_overrides), classify, template_vars)}


def template_error(call: Any, *args: Any, **kwargs: Any) -> PermanentError:
    with pytest.raises(PermanentError) as caught:
        call(*args, **kwargs)
    assert caught.value.code is ErrorCode.TEMPLATE_ERROR
    assert caught.value.retryable is False
    return caught.value


# -- escaping ----------------------------------------------------------------------------------


def test_an_html_body_escapes_values_and_keeps_the_templates_own_markup() -> None:
    body = render_body("<p>Hi {{ name }}</p>", None, {"name": SCRIPT}, html=True, defaults=False)

    assert body == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"


def test_a_plain_text_body_stays_plain() -> None:
    body = render_body("Hi {{ name }} & co <3", None, {"name": "Dana & <Co>"}, html=False, defaults=False)

    assert body == "Hi Dana & <Co> & co <3"


def test_the_subject_is_plain_text_on_one_line() -> None:
    subject = render_subject("Interview:\r\n {{ name }}\t\x00(2)\u2028", None, {"name": "<Dana> & Co"},
                             defaults=False)

    assert subject == "Interview: <Dana> & Co (2)"


def test_a_template_marks_trusted_markup_safe() -> None:
    body = render_body("{{ signature | safe }}|{{ signature }}", None, {"signature": "<b>Acme</b>"},
                       html=True, defaults=False)

    assert body == "<b>Acme</b>|&lt;b&gt;Acme&lt;/b&gt;"


def test_the_integrations_html_template_wraps_the_job_body_without_escaping_it_twice() -> None:
    body = render_body("<p>{{ name }}</p>", "{{ body }}<p>-- {{ team }}</p>",
                       {"name": "A&B", "team": "<Acme>"}, html=True, defaults=False)

    assert body == "<p>A&amp;B</p><p>-- &lt;Acme&gt;</p>"


def test_the_integrations_text_template_wraps_the_job_body_as_is() -> None:
    body = render_body("{{ name }}", "{{ body }}\n-- Acme", {"name": "A&B"}, html=False, defaults=False)

    assert body == "A&B\n-- Acme"


# -- which text, and when the defaults apply ---------------------------------------------------


def test_the_jobs_text_wins_over_the_defaults() -> None:
    assert render_subject("Interview", None, variables(), defaults=True) == "Interview"
    assert render_body("", None, variables(), html=True, defaults=True) == ""  # "": an empty body


def test_without_defaults_a_missing_field_stays_missing() -> None:
    # update_event: a field the job leaves out is left as it is in Exchange.
    assert render_subject(None, "[Acme] {{ subject }}", variables(), defaults=False) is None
    assert render_body(None, "{{ body }}", variables(), html=True, defaults=False) is None


def test_the_integrations_template_wraps_the_default_when_the_job_gives_none() -> None:
    subject = render_subject(None, "[Acme] {{ subject }}", variables(), defaults=True)

    assert subject == "[Acme] Interview: Dana Diaz with Bob Baker, erin@acme.example"


def test_the_default_subject_names_the_candidate_and_the_interviewers() -> None:
    assert render_subject(None, None, variables(), defaults=True) == (
        "Interview: Dana Diaz with Bob Baker, erin@acme.example"
    )


def test_the_default_subject_for_a_customer_and_staff() -> None:
    people = (TemplatePerson("cy@mail.example", "Cy Cole", "customer"),
              *(TemplatePerson(f"s{n}@acme.example", f"Staff {n}", "staff") for n in range(5)))

    subject = render_subject(None, None, variables(attendees=people), defaults=True)

    assert subject == "Appointment: Cy Cole with Staff 0, Staff 1, Staff 2 and others"


def test_the_default_subject_without_roles() -> None:
    people = (TemplatePerson("bob@acme.example", "Bob Baker"), TemplatePerson("dana@mail.example", "Dana"))

    assert render_subject(None, None, variables(attendees=people), defaults=True) == "Meeting: Dana"
    assert render_subject(None, None, variables(attendees=()), defaults=True) == "Meeting"
    # A candidate named in template_vars (the contract before attendee roles) stands in.
    assert render_subject(None, None, variables({"candidate": "Dana Diaz"}, attendees=people),
                          defaults=True) == "Interview: Dana Diaz"


def test_the_default_subject_stays_within_exchanges_limit_for_any_names() -> None:
    people = (TemplatePerson("dana@mail.example", "D" * 256, "candidate"),
              *(TemplatePerson(f"i{n}@acme.example", "I" * 256, "interviewer") for n in range(500)))

    subject = render_subject(None, None, variables(attendees=people), defaults=True)

    assert subject is not None and len(subject) == SUBJECT_MAX_LENGTH and subject.endswith("...")


def test_the_default_text_body_shows_who_when_in_each_zone_where_and_links() -> None:
    body = render_body(None, None, variables(), html=False, defaults=True)

    assert body == (
        "Candidate: Dana Diaz\n"
        "Interviewers: Bob Baker, erin@acme.example\n"
        "When: Tuesday 3 November 2026, 14:00 \u2013 15:00 GMT (Europe/London)\n"
        "      Tuesday 3 November 2026, 09:00 \u2013 10:00 EST (America/New_York): Dana Diaz\n"
        "      Tuesday 3 November 2026, 19:30 \u2013 20:30 IST (Asia/Kolkata): erin@acme.example\n"
        "Where: Room A\n"
        "Video call: https://meet.example/abc\n"
    )


def test_the_default_html_body_escapes_every_value() -> None:
    people = (TemplatePerson("dana@mail.example", SCRIPT, "candidate"),)

    bold = variables(attendees=people, location="<b>HQ</b>")

    body = render_body(None, None, bold, html=True, defaults=True)

    assert body is not None and "<script>" not in body and "<b>HQ</b>" not in body
    assert body == (
        "<div><p>Candidate: &lt;script&gt;alert(1)&lt;/script&gt;</p>"
        "<p>When: Tuesday 3 November 2026, 14:00 \u2013 15:00 GMT (Europe/London)</p>"
        "<p>Where: &lt;b&gt;HQ&lt;/b&gt;</p>"
        '<ul><li><a href="https://meet.example/abc">Video call</a></li></ul></div>'
    )


def test_the_default_body_leaves_out_what_the_booking_lacks() -> None:
    bare = variables(attendees=(), location=None, links=(), start=None, end=None)

    assert render_body(None, None, bare, html=False, defaults=True) == ""
    assert render_body(None, None, bare, html=True, defaults=True) == "<div></div>"


# -- the booking variable ----------------------------------------------------------------------


def test_each_person_carries_their_class_role_and_local_time() -> None:
    booking = variables()["booking"]

    dana, bob, erin = booking["attendees"]
    assert (dana["class"], dana["internal"], dana["role"]) == ("external", False, "candidate")
    assert (bob["class"], bob["internal"], bob["time_zone"]) == ("internal", True, "Europe/London")
    assert dana["start"] == "2026-11-03T09:00:00-05:00" and dana["time_zone"] == "America/New_York"
    assert (erin["display"], erin["name"], erin["required"]) == ("erin@acme.example", "", False)
    assert booking["candidate"] is dana and booking["customer"] is None
    assert booking["interviewers"] == [bob, erin] and booking["staff"] == []
    assert booking["internal_attendees"] == [bob, erin] and booking["external_attendees"] == [dana]
    assert [zone["time_zone"] for zone in booking["times"]] == ["Europe/London", "America/New_York",
                                                                 "Asia/Kolkata"]
    assert booking["start"] == "2026-11-03T14:00:00+00:00" and booking["rooms"] == ["room-a@acme.example"]


def test_templates_can_sort_people_by_class() -> None:
    source = ("{% for a in booking.attendees %}{{ a.display }}={{ a.class }};{% endfor %}"
              "|{{ booking.external_attendees | map: 'email' | join: ',' }}")

    text = render(source, TextKind.TEXT, variables(), what="test")

    assert text == ("Dana Diaz=external;Bob Baker=internal;erin@acme.example=internal;"
                    "|dana@mail.example")


def test_times_read_as_people_read_them() -> None:
    late = datetime(2026, 11, 3, 23, 0, tzinfo=UTC)
    assert format_when(late, datetime(2026, 11, 4, 0, 30, tzinfo=UTC), "UTC") == (
        "Tuesday 3 November 2026, 23:00 \u2013 Wednesday 4 November 2026, 00:30 UTC"
    )
    # Across the change from summer time: each end in its own offset.
    overnight = format_when(datetime(2026, 10, 24, 23, 0, tzinfo=UTC),
                            datetime(2026, 10, 25, 2, 0, tzinfo=UTC), "Europe/London")
    assert overnight == "Sunday 25 October 2026, 00:00 BST \u2013 02:00 GMT (Europe/London)"


# -- failures ----------------------------------------------------------------------------------


def test_a_missing_variable_names_the_variable_and_the_place_but_no_value() -> None:
    error = template_error(render_subject, "Interview: {{ candidate }}", None, {"other": "Dana"},
                           defaults=False)

    assert error.message == (
        "the job's subject failed to render at line 1, column 14: UndefinedError ('candidate' is undefined)"
    )


def test_a_syntax_error_in_the_integrations_template_is_a_template_error() -> None:
    error = template_error(render_body, "Hi", "{% if %}", {}, html=True, defaults=False)

    assert error.message.startswith("the integration's body_template failed to render")


def test_a_subject_over_255_characters_fails_without_its_text() -> None:
    name = "Zelda" * 49  # "Interview: " + 245 characters = 256

    assert len(render_subject("Interview: {{ n }}", None, {"n": name[:-1]}, defaults=False) or "") == 255
    error = template_error(render_subject, "Interview: {{ n }}", None, {"n": name}, defaults=False)

    assert error.message == (
        "the rendered subject (job template) is 256 characters; Exchange takes at most 255"
    )
    assert "Zelda" not in str(error) and error.__cause__ is None and error.__context__ is None


def test_the_subject_is_measured_after_the_integrations_template() -> None:
    error = template_error(render_subject, "x" * 250, "[Acme] {{ subject }}", {}, defaults=False)

    assert "(job + integration template) is 257 characters" in error.message


def test_nine_million_characters_from_a_tiny_job_fail_fast() -> None:
    started = time.perf_counter()
    error = template_error(render_body, NESTED_LOOPS, None, {"xs": list(range(20))},
                           html=True, defaults=False)
    elapsed = time.perf_counter() - started

    assert error.message == (
        f"the job's body went over a limit: more than {LOOP_ITERATION_LIMIT} iterations of nested loops"
    )
    assert elapsed < 0.5


def test_output_beyond_the_body_limit_fails() -> None:
    # One loop, within the iteration limits, writing 1,000 bytes each time.
    error = template_error(render_body, "{% for i in (1..5000) %}{{ chunk }}{% endfor %}", None,
                           {"chunk": "y" * 1000}, html=False, defaults=False)

    assert error.message.endswith(f"more than {BODY_OUTPUT_LIMIT_BYTES} bytes of output")


def test_many_loops_one_after_another_fail_on_the_budget() -> None:
    # Each loop alone is within python-liquid's limit; together they are not.
    source = "{% for i in (1..9000) %}{% endfor %}" * 6

    started = time.perf_counter()
    error = template_error(render_body, source, None, {}, html=False, defaults=False)

    assert error.message.endswith(f"more than {LOOP_ITERATION_BUDGET} loop iterations in all")
    assert time.perf_counter() - started < 1.0


def test_doubling_a_string_fails_on_the_namespace_limit() -> None:
    source = "{% assign s = 'xxxxxxxx' %}" + "{% assign s = s | append: s %}" * 30 + "{{ s.size }}"

    error = template_error(render_body, source, None, {}, html=False, defaults=False)

    assert "bytes of assigned variables" in error.message


def test_deep_nesting_fails() -> None:
    deep_loops = "{% for x in xs %}" * 12 + "{% endfor %}" * 12
    deep_blocks = "{% if true %}" * 25 + "{% endif %}" * 25

    assert "scopes nested more than" in template_error(
        render_body, deep_loops, None, {"xs": [1]}, html=False, defaults=False).message
    assert "blocks nested more than" in template_error(
        render_body, deep_blocks, None, {}, html=False, defaults=False).message


def test_a_subject_template_stops_at_its_own_output_limit() -> None:
    error = template_error(render_subject, "{% for i in (1..9000) %}{{ s }}{% endfor %}", None,
                           {"s": "abcd"}, defaults=False)

    assert error.message.endswith("bytes of output")


# Texts with no Liquid markup render without Liquid (pipeline/templates/event_text.py): the same
# text, or the same error, as Liquid gives.
PLAIN_TEXTS = (
    "", "Interview 3", "Benchmark booking.", "<b>bold</b> & <i>raw</i>", "}} %} -%} #}", "a\nb\n\n  ",
    "a\r\nb", "a\rb", "\u00e9 \u6f22\u5b57 \u2028", "\x00\x85", "x" * SUBJECT_OUTPUT_LIMIT_BYTES,
    "x" * (SUBJECT_OUTPUT_LIMIT_BYTES + 1), "\u00e9" * (SUBJECT_OUTPUT_LIMIT_BYTES // 2 + 1),
    "x" * (BODY_OUTPUT_LIMIT_BYTES + 1), "Hello {{ who }}", "{% raw %}x{% endraw %}",
)


def _rendered(render_function: Any, text: str, kind: TextKind) -> Any:
    try:
        return render_function(text, kind, {"who": "Dana"}, what="the job's subject")
    except PermanentError as error:
        return (error.code, str(error))


@pytest.mark.parametrize("kind", list(TextKind))
@pytest.mark.parametrize("text", PLAIN_TEXTS, ids=range(len(PLAIN_TEXTS)))
def test_a_text_renders_as_liquid_renders_it(text: str, kind: TextKind) -> None:
    from pipeline.templates.environment import render as liquid_render

    assert _rendered(render, text, kind) == _rendered(liquid_render, text, kind)
