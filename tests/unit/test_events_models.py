"""Event models, their published schemas and their outbox items agree: what is stored is what is
published, each type's schema accepts its events and rejects another type's data, ids are stable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest
from boto3.dynamodb.types import TypeSerializer
from pydantic import ValidationError

from pipeline.contract.schema_export import EVENTS_FOLDER, event_schema_file, render_schemas
from pipeline.errors import ErrorCode
from pipeline.events.models import (
    EVENT_DATA_MODELS,
    AttendeeClass,
    AttendeeRespondedData,
    BookingCancelledData,
    BookingCreatedData,
    BookingDeletedInExchangeData,
    BookingInvitationsSentData,
    BookingMovedInExchangeData,
    BookingRestoredData,
    BookingUpdatedData,
    CalendarAttendee,
    CalendarEventChangedData,
    CalendarEventDeletedData,
    EventData,
    EventType,
    JobFailedData,
    PipelineEvent,
    SubscriptionLostData,
    SubscriptionRenewedData,
    make_event,
    typed_event,
)
from pipeline.exchange.calendar_items import ResponseType
from pipeline.store.dynamodb.events import event_from_item, event_items, pending_event_from_image

T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
ALICE, BOB = "alice@example.com", "bob@example.com"

SAMPLES: dict[EventType, EventData] = {
    sample.event_type: sample
    for sample in (
        BookingCreatedData(mailbox=ALICE, calendar_mailbox=ALICE, item_id="AAMk1", start=T0, end=T1),
        BookingInvitationsSentData(recipients=[BOB]),
        BookingUpdatedData(start=T0, end=T1, notified=True),
        BookingCancelledData(notified=False),
        BookingMovedInExchangeData(old_start=T0, old_end=T1, new_start=T1, new_end=T1 + timedelta(hours=1),
                                   auto_confirmed=False),
        BookingRestoredData(moved_start=T1, moved_end=T1 + timedelta(hours=1), start=T0, end=T1),
        BookingDeletedInExchangeData(item_id="AAMk1", locked=True),
        AttendeeRespondedData(attendee=BOB, attendee_class=AttendeeClass.EXTERNAL,
                              response=ResponseType.ACCEPTED, responded_at=T0),
        CalendarEventChangedData(mailbox=ALICE, item_id="AAMk2", start=T0, end=T1, free_busy_status="Busy",
                                 is_private=False, subject="1:1",
                                 attendees=[CalendarAttendee(email=BOB, response=ResponseType.TENTATIVE)]),
        CalendarEventDeletedData(mailbox=ALICE, item_id="AAMk2"),
        SubscriptionLostData(subscription_record_id="sub-1", mailbox=ALICE, reason="renewal_failed"),
        SubscriptionRenewedData(subscription_record_id="sub-2", previous_record_id="sub-1", mailbox=ALICE),
        JobFailedData(message_id="m-1", actor_name="create_event", mailbox=ALICE,
                      error_code=ErrorCode.ACCESS_DENIED, error_message="denied"),
    )
}


def sample_event(event_type: EventType, cause: str = "m-1") -> PipelineEvent:
    return make_event(SAMPLES[event_type], integration_id="acme", occurred_at=T0, cause=cause,
                      booking_key="interview-1:slot-1")


def schema(file_name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_schemas()[file_name])
    return loaded


def test_every_event_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(EVENT_DATA_MODELS) == set(EventType)


@pytest.mark.parametrize("event_type", list(EventType), ids=str)
def test_each_types_schema_accepts_its_events_as_published(event_type: EventType) -> None:
    published = json.loads(sample_event(event_type).model_dump_json())
    typed = schema(event_schema_file(event_type.value, EVENT_DATA_MODELS[event_type].version))

    jsonschema.Draft202012Validator.check_schema(typed)
    jsonschema.validate(published, typed)
    jsonschema.validate(published, schema(f"{EVENTS_FOLDER}/envelope.schema.json"))
    assert typed_event(published).model_dump(mode="json") == published


def test_a_type_with_another_types_data_is_rejected_by_schema_and_model() -> None:
    created = json.loads(sample_event(EventType.BOOKING_CREATED).model_dump_json())
    wrong = {**created, "data": SAMPLES[EventType.BOOKING_CANCELLED].model_dump(mode="json")}
    typed = schema(event_schema_file("booking.created", 1))

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, typed)
    with pytest.raises(ValidationError):
        typed_event(wrong)


def test_the_outbox_item_holds_exactly_the_published_envelope() -> None:
    for event_type in EventType:
        event = sample_event(event_type)
        [item] = event_items([event])

        assert event_from_item(item) == event
        assert item["pk"] == f"EVENT#{event.event_id}" and item["pending_partition"] == "PENDING"


def test_a_stream_image_yields_the_event_only_while_it_is_pending() -> None:
    event = sample_event(EventType.JOB_FAILED)
    [item] = event_items([event])
    wire = {name: TypeSerializer().serialize(value) for name, value in item.items()}
    published = {name: value for name, value in wire.items() if name != "pending_partition"}

    assert pending_event_from_image(wire) == event
    assert pending_event_from_image(published) is None
    assert pending_event_from_image({**wire, "pk": {"S": "JOB#m-1"}}) is None


def test_event_ids_are_stable_per_cause() -> None:
    first, again = sample_event(EventType.BOOKING_UPDATED), sample_event(EventType.BOOKING_UPDATED)
    other = sample_event(EventType.BOOKING_UPDATED, cause="m-2")

    assert first.event_id == again.event_id != other.event_id
    assert first.event_id != sample_event(EventType.BOOKING_CANCELLED).event_id
