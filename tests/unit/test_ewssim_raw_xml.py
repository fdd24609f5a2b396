"""raw_xml: XML written as text is spliced into the answer as the parsed elements would be written,
and the schema check sees it as elements."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from infra.ewssim.namespaces import TYPES_NS, Element, add, m, new, t
from infra.ewssim.raw_xml import add_raw, expanded, splice
from infra.ewssim.schema import SchemaValidator, schema_dir_from_env
from infra.ewssim.soap import render_response, render_streamed

# EWS_SCHEMA_DIR as .ci/run sets it, else ../shared beside the checkout.
SCHEMA_DIR = schema_dir_from_env() or Path(__file__).resolve().parents[3] / "shared/ews-schema"
EVENTS = (
    "<t:CalendarEventArray><t:CalendarEvent><t:StartTime>2030-01-07T09:00:00</t:StartTime>"
    "<t:EndTime>2030-01-07T09:30:00</t:EndTime><t:BusyType>Busy</t:BusyType>"
    "<t:CalendarEventDetails><t:Subject>R&amp;D &lt;weekly&gt; ?&gt; caf\u00e9</t:Subject><t:Location/>"
    "<t:IsMeeting>true</t:IsMeeting><t:IsRecurring>false</t:IsRecurring><t:IsException>false</t:IsException>"
    "<t:IsReminderSet>false</t:IsReminderSet><t:IsPrivate>false</t:IsPrivate></t:CalendarEventDetails>"
    "</t:CalendarEvent></t:CalendarEventArray>"
)


def availability(events: str, *, raw: bool) -> Element:
    root = new(m("GetUserAvailabilityResponse"))
    array = add(root, m("FreeBusyResponseArray"))
    for _ in range(2):
        response = add(array, m("FreeBusyResponse"))
        message = add(response, m("ResponseMessage"), ResponseClass="Success")
        add(message, m("ResponseCode"), "NoError")
        view = add(response, m("FreeBusyView"))
        add(view, t("FreeBusyViewType"), "Detailed")
        if raw:
            add_raw(view, events)
        else:
            view.extend(etree.fromstring(f'<w xmlns:t="{TYPES_NS}">{events}</w>'))
    return root


@pytest.mark.parametrize("render", [render_response, render_streamed])
def test_spliced_answer_has_the_bytes_of_the_parsed_elements(render: Callable[[Element], bytes]) -> None:
    # Given the same answer with its events as text and as elements
    # When both are serialised
    # Then the bytes are the same, and no placeholder is left
    spliced = render(availability(EVENTS, raw=True))
    assert spliced == render(availability(EVENTS, raw=False))
    assert b"<?ewssim-raw" not in spliced


def test_expanded_holds_the_fragments_as_elements_and_leaves_the_answer_alone() -> None:
    answer = availability(EVENTS, raw=True)
    copy = expanded(answer)
    assert etree.tostring(copy) == etree.tostring(availability(EVENTS, raw=False))
    assert len(list(answer.iter(t("CalendarEvent")))) == 0
    assert len(list(copy.iter(t("CalendarEvent")))) == 2
    plain = availability(EVENTS, raw=False)
    assert expanded(plain) is plain


def test_fragment_with_a_pi_end_is_parsed_at_once() -> None:
    root = new(m("X"))
    add_raw(root, "<t:A/><?pi x?>")  # "?>" cannot sit inside a processing instruction
    assert [child.tag for child in root if isinstance(child.tag, str)] == [t("A")]
    assert splice(b"<a/>") == b"<a/>"


@pytest.mark.skipif(not (SCHEMA_DIR / "messages.xsd").is_file(), reason="no EWS schema folder")
def test_schema_check_sees_the_fragments() -> None:
    validator = SchemaValidator(SCHEMA_DIR)
    assert validator.errors(availability(EVENTS, raw=True)) == []
    broken = EVENTS.replace("<t:BusyType>Busy</t:BusyType>", "<t:Bogus/>")
    assert len(validator.errors(availability(broken, raw=True))) == 2  # one per FreeBusyView
    assert len(validator.errors(availability("<t:CalendarEventArray>", raw=True))) == 1
