"""Changes made in Outlook reach the booking and the app: lock, auto-confirm, neither, responses,
deletion, and other people's events. End to end: the simulator pushes real SendNotification
POSTs to the callback function over HTTP, and the queued process_change jobs run on moto.

The core of it runs on both backends (any_rig): on Graph the local Graph's webhooks POST change
notifications to the same callback function (/graph/notifications), and the people change the
booking the way Outlook on the web does, through Graph; the app gets the same events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

from handlers import callbacks
from infra.graphsim.models.ids import rest_id
from infra.graphsim.responses.subscriptions import plugin_of
from pipeline.contract import JobOutcome, JobStatus
from pipeline.contract.booking import BookingState, ResponseType
from pipeline.errors import ErrorCode
from pipeline.events.models import EventType, PipelineEvent
from pipeline.exchange.types import EventChanges, EventDraft, NotifyAttendees
from tests.integration.callback_support import CallbackServer, MemoryQueue, PushRig, rig
from tests.integration.event_support import (
    ALICE,
    BOB,
    CAROL,
    MEETING_REQUEST,
    ROOM_A,
    abandon_attempt,
    booking,
    claim,
    follow_up,
    gateway,
    messages,
    recorded_ref,
)
from tests.integration.graph_support import GraphClient, app_token, graph_sim, graph_simulator
from tests.integration.pipeline_support import PipelineHarness, any_pipeline, graph_pipeline, pipeline

# The fixtures, re-exported for pytest.
__all__ = ["any_pipeline", "graph_pipeline", "graph_sim", "graph_simulator", "pipeline", "rig"]

KEY = "interview-1:slot-1"
BOOKED_START = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
BOOKED_END = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)
EWS_UTC = EWSTimeZone("UTC")


def drain(rig: PushRig) -> list[JobOutcome]:
    """Wait for the simulator's pushes, then run every queued job (and the jobs those enqueue)."""
    outcomes = []
    for _ in range(10):
        assert rig.push.wait_idle()
        queued = rig.queue.take()
        if not queued:
            return outcomes
        for job in queued:
            outcome = rig.pipeline.run(job.actor_name, message_id=job.message_id, **job.kwargs)
            assert outcome.status is JobStatus.SUCCEEDED, outcome.error
            outcomes.append(outcome)
    raise AssertionError("jobs kept coming")


def booked(rig: PushRig, **settings: Any) -> str:
    """A subscribed calendar and an invited booking in it, with the pushes for our own writes done."""
    integration_id = rig.pipeline.install("impersonation", **settings)
    subscribed = rig.pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=ALICE,
                                  status_frequency_minutes=5)
    assert subscribed.status is JobStatus.SUCCEEDED, subscribed.error
    steps = (("create_event", booking(integration_id)), ("send_invite", follow_up(integration_id)))
    for action, kwargs in steps:
        outcome = rig.pipeline.run(action, **kwargs)
        assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    drain(rig)
    return integration_id


def events_of(rig: PushRig, integration_id: str, *types: EventType) -> list[PipelineEvent]:
    """The integration's events in the outbox (pending: no sink in these tests), of these types."""
    pending = rig.pipeline.store.list_pending_events(limit=1000)
    return [e for e in pending if e.integration_id == integration_id and (not types or e.type in types)]


def organiser_item(rig: PushRig, account: Any, integration_id: str) -> CalendarItem:
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    alice = account("alice")
    item: CalendarItem = alice.calendar.get(id=record.item_id)
    return item


def move_in_outlook(item: CalendarItem, hours: int = 2) -> None:
    item.start = item.start + timedelta(hours=hours)
    item.end = item.end + timedelta(hours=hours)
    item.save(update_fields=["start", "end"], send_meeting_invitations="SendToNone")


def requests_made(rig: PushRig, before: dict[str, int]) -> dict[str, int]:
    after = rig.pipeline.sim.request_counts()
    return {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


# Both backends ------------------------------------------------------------------------------------


@pytest.fixture
def any_rig(any_pipeline: PipelineHarness, request: pytest.FixtureRequest) -> Iterator[PushRig]:
    """`rig` on EWS; on Graph the same wiring with the local Graph's webhooks as the push side."""
    if not any_pipeline.on_graph:
        yield request.getfixturevalue("rig")
        return
    server = CallbackServer()
    queue = MemoryQueue()
    runtime = any_pipeline.runtime
    runtime.config = runtime.config.model_copy(update={"callback_base_url": server.base_url})
    runtime.clock = any_pipeline.sim.backend.clock.now
    any_pipeline.enqueue = queue
    callbacks.use_dependencies(
        callbacks.CallbackDependencies(store=runtime.store, enqueue=queue, clock=runtime.clock))
    try:
        yield PushRig(any_pipeline, server, queue, plugin_of(any_pipeline.sim.graph))  # type: ignore[arg-type]
    finally:
        callbacks.use_dependencies(None)
        server.close()


class Outlook:
    """The people's own mail clients: Outlook over EWS (exchangelib) against an EWS integration;
    on Graph, Outlook on the web's way, Graph requests with an app token (one company, two doors)."""

    def __init__(self, rig: PushRig, request: pytest.FixtureRequest) -> None:
        self.rig = rig
        sim = rig.pipeline.sim
        self.graph = GraphClient(sim, app_token(sim)) if rig.pipeline.on_graph else None
        self.account = None if self.graph else request.getfixturevalue("account")

    def _event(self, integration_id: str) -> str:
        record = self.rig.pipeline.store.get_booking(integration_id, KEY)
        return f"/users/{ALICE}/events/{record.item_id}"

    def _answered(self, answer: Any) -> None:
        assert answer.status_code in (200, 202, 204), answer.text

    def move(self, integration_id: str, hours: int = 2) -> None:
        """The organiser drags the booking `hours` later (Graph tells the attendees; EWS: SendToNone)."""
        if self.graph is None:
            move_in_outlook(organiser_item(self.rig, self.account, integration_id), hours)
            return
        record = self.rig.pipeline.store.get_booking(integration_id, KEY)
        times = {name: {"dateTime": (when + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S"),
                        "timeZone": "UTC"} for name, when in (("start", record.start), ("end", record.end))}
        self._answered(self.graph.patch(self._event(integration_id), json=times))

    def delete(self, integration_id: str) -> None:
        """A hard delete: nothing left to read."""
        if self.graph is None:
            organiser_item(self.rig, self.account, integration_id).delete()
            return
        self._answered(self.graph.post(f"{self._event(integration_id)}/permanentDelete"))

    def move_to_trash(self, integration_id: str) -> None:
        if self.graph is None:
            organiser_item(self.rig, self.account, integration_id).move_to_trash()
            return
        self._answered(self.graph.delete(self._event(integration_id)))

    def decline(self, person: str) -> None:
        """`person` declines the booking's meeting request."""
        if self.graph is None:
            assert self.account is not None
            inbox = self.account(person.partition("@")[0]).inbox
            [meeting] = [m for m in inbox.all() if m.item_class == MEETING_REQUEST]
            meeting.decline()
            return
        calendar = self.rig.pipeline.sim.calendar(person)
        [copy] = [i for i in calendar if str(i["subject"]).startswith("Interview")]
        self._answered(self.graph.post(f"/users/{person}/events/{rest_id(copy['item_id'])}/decline",
                                       json={"sendResponse": True}))

    def edit_subject(self, integration_id: str, subject: str) -> None:
        if self.graph is None:
            item = organiser_item(self.rig, self.account, integration_id)
            item.subject = subject
            item.save(update_fields=["subject"], send_meeting_invitations="SendToNone")
            return
        self._answered(self.graph.patch(self._event(integration_id), json={"subject": subject}))


@pytest.fixture
def outlook(any_rig: PushRig, request: pytest.FixtureRequest) -> Outlook:
    return Outlook(any_rig, request)


def requests_on(rig: PushRig, before: dict[str, int]) -> dict[str, int]:
    """requests_made on the rig's backend (Graph: sim.graph.request_counts())."""
    after = rig.pipeline.request_counts()
    return {op: n - before.get(op, 0) for op, n in after.items() if n != before.get(op, 0)}


# process_change's requests per backend. Graph reads the changed events in one $batch of GETs
# (pipeline/exchange/graph/changes.py) and moves a locked booking back with one PATCH.
CHANGE_REQUESTS = {
    "ews": {"restore": {"GetItem": 1, "UpdateItem": 1}, "read": {"GetItem": 1}},
    "graph": {"restore": {"batch": 1, "getEvent": 1, "updateEvent": 1}, "read": {"batch": 1, "getEvent": 1}},
}


# Lock appointments ----------------------------------------------------------------------------------


def test_a_locked_booking_moved_in_outlook_is_moved_back_once(any_rig: PushRig, outlook: Outlook) -> None:
    rig = any_rig
    integration_id = booked(rig, lock_appointments=True)
    bob_updates_before = len(messages(rig.pipeline.sim, BOB, MEETING_REQUEST))
    outlook.move(integration_id)
    assert rig.push.wait_idle()
    # On Graph the move also updates the attendees, and the room's new acceptance is a second
    # notification; it is run with our own write's below.
    change, *others = rig.queue.take("process_change")
    assert others == [] or rig.pipeline.on_graph
    rig.queue.jobs.extend(others)
    before = dict(rig.pipeline.request_counts())
    outcome = rig.pipeline.run(change.actor_name, message_id=change.message_id, **change.kwargs)

    assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    assert requests_on(rig, before) == CHANGE_REQUESTS[rig.pipeline.backend]["restore"]
    [event] = [i for i in rig.pipeline.sim.calendar(ALICE) if KEY in i["extended_properties"].values()]
    assert (event["start"][:19], event["end"][:19]) == ("2026-11-03T14:00:00", "2026-11-03T15:00:00")
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.RESTORED
    assert (record.start, record.end) == (BOOKED_START, BOOKED_END)
    # The attendees get the update that moves it back (on Graph, the move itself told them too).
    told = 2 if rig.pipeline.on_graph else 1
    assert len(messages(rig.pipeline.sim, BOB, MEETING_REQUEST)) == bob_updates_before + told
    [restored] = events_of(rig, integration_id, EventType.BOOKING_RESTORED)
    assert restored.booking_key == KEY
    assert restored.data["moved_start"].startswith("2026-11-03T16:00:00")
    assert restored.data["start"].startswith("2026-11-03T14:00:00")

    # The notification of our own write arrives: it finds the booked time and moves nothing.
    before = dict(rig.pipeline.request_counts())
    later = drain(rig)
    assert later, "the write that moved it back was notified"
    assert requests_on(rig, before).get("UpdateItem" if not rig.pipeline.on_graph else "updateEvent", 0) == 0
    assert len(events_of(rig, integration_id, EventType.BOOKING_RESTORED)) == 1


def test_a_locked_booking_deleted_in_outlook_is_reported_not_recreated(
    any_rig: PushRig, outlook: Outlook
) -> None:
    rig = any_rig
    integration_id = booked(rig, lock_appointments=True)
    outlook.move_to_trash(integration_id)
    drain(rig)

    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.DELETED_IN_EXCHANGE and record.cancelled
    [deleted] = events_of(rig, integration_id, EventType.BOOKING_DELETED_IN_EXCHANGE)
    assert deleted.data["locked"] is True
    alice_items = [i for i in rig.pipeline.sim.calendar(ALICE) if KEY in i["extended_properties"].values()]
    assert alice_items == []  # not recreated


# Auto-confirm, and neither ------------------------------------------------------------------------


def test_auto_confirm_records_the_new_time_as_the_bookings(any_rig: PushRig, outlook: Outlook) -> None:
    rig = any_rig
    integration_id = booked(rig, auto_confirm=True)
    outlook.move(integration_id, hours=3)
    before = dict(rig.pipeline.request_counts())
    changes = [o for o in drain(rig) if o.actor_name == "process_change"]

    # One read per notification. Graph also tells the attendees of the move, and the room's new
    # acceptance is a second notification.
    assert len(changes) == (2 if rig.pipeline.on_graph else 1)
    read = CHANGE_REQUESTS[rig.pipeline.backend]["read"]
    assert requests_on(rig, before) == {op: n * len(changes) for op, n in read.items()}
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    new_start = BOOKED_START + timedelta(hours=3)
    assert record.state is BookingState.MOVED and record.time_confirmed
    assert (record.booked_start, record.start) == (new_start, new_start)
    [moved] = events_of(rig, integration_id, EventType.BOOKING_MOVED_IN_EXCHANGE)
    assert moved.data["auto_confirmed"] is True
    assert moved.data["old_start"].startswith("2026-11-03T14:00:00")
    assert moved.data["new_start"].startswith("2026-11-03T17:00:00")


def test_neither_records_the_new_time_unconfirmed_for_the_app_to_decide(
    any_rig: PushRig, outlook: Outlook
) -> None:
    rig = any_rig
    integration_id = booked(rig)
    outlook.move(integration_id)
    drain(rig)

    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.MOVED and not record.time_confirmed
    assert record.booked_start == BOOKED_START
    assert record.start == BOOKED_START + timedelta(hours=2)
    [moved] = events_of(rig, integration_id, EventType.BOOKING_MOVED_IN_EXCHANGE)
    assert moved.data["auto_confirmed"] is False
    [event] = [i for i in rig.pipeline.sim.calendar(ALICE) if KEY in i["extended_properties"].values()]
    assert event["start"].startswith("2026-11-03T16:00:00")  # left where it was moved


# Attendee responses -------------------------------------------------------------------------------


def test_each_change_of_response_is_recorded_and_told_once(any_rig: PushRig, outlook: Outlook) -> None:
    rig = any_rig
    integration_id = booked(rig, internal_domains=(ALICE.partition("@")[2],))
    outlook.decline(BOB)
    drain(rig)

    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.responses[BOB].response is ResponseType.DECLINED
    # The room answered too (a resource mailbox accepts a request at once when it is free).
    responded = events_of(rig, integration_id, EventType.ATTENDEE_RESPONDED)
    [declined] = [e for e in responded if e.data["attendee"] == BOB]
    assert declined.data["response"] == "declined"
    assert declined.data["attendee_class"] == "internal"
    assert declined.data["previous_response"] is None
    assert [e.data["response"] for e in responded if e.data["attendee"] != BOB] == ["accepted"]

    # Another change to the item (a subject edit) repeats the responses: not news.
    outlook.edit_subject(integration_id, "Interview (panel)")
    drain(rig)
    assert len(events_of(rig, integration_id, EventType.ATTENDEE_RESPONDED)) == len(responded)


# Deleted in Exchange ------------------------------------------------------------------------------


def test_a_booking_deleted_in_outlook_emits_its_event(any_rig: PushRig, outlook: Outlook) -> None:
    rig = any_rig
    integration_id = booked(rig)
    outlook.delete(integration_id)  # a hard delete: nothing left to read
    drain(rig)

    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.state is BookingState.DELETED_IN_EXCHANGE
    [deleted] = events_of(rig, integration_id, EventType.BOOKING_DELETED_IN_EXCHANGE)
    assert deleted.data["locked"] is False


def test_our_own_cancellation_is_not_reported_as_a_deletion(any_rig: PushRig) -> None:
    rig = any_rig
    integration_id = booked(rig)
    cancelled = rig.pipeline.run("cancel_event", **follow_up(integration_id, notify=True))
    assert cancelled.status is JobStatus.SUCCEEDED, cancelled.error
    drain(rig)

    assert rig.pipeline.store.get_booking(integration_id, KEY).state is BookingState.CANCELLED
    assert [e.type for e in events_of(rig, integration_id, EventType.BOOKING_CANCELLED,
                                      EventType.BOOKING_DELETED_IN_EXCHANGE)] == [EventType.BOOKING_CANCELLED]


# EWS only (exchangelib as Outlook) ------------------------------------------------------------------


def test_an_attendee_changing_their_mind_is_a_second_event(rig: PushRig, account: Any) -> None:
    integration_id = booked(rig)
    bob = account("bob")
    copy = next(i for i in bob.calendar.all() if i.subject and i.subject.startswith("Interview"))
    copy.tentatively_accept()
    drain(rig)
    bob.calendar.get(id=copy.id).accept()
    drain(rig)

    responded = events_of(rig, integration_id, EventType.ATTENDEE_RESPONDED)
    bob_responses = [(e.data["previous_response"], e.data["response"]) for e in responded
                     if e.data["attendee"] == BOB]
    assert bob_responses == [(None, "tentative"), ("tentative", "accepted")]
    assert responded[0].data["attendee_class"] == "external"  # no internal domains configured
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record.responses[BOB].response is ResponseType.ACCEPTED


# Deleted in Exchange, and others' events ------------------------------------------------------------


def test_a_burst_about_others_events_gives_one_calendar_sync(rig: PushRig, account: Any) -> None:
    integration_id = booked(rig)
    alice = account("alice")
    start = EWSDateTime(2026, 11, 4, 9, tzinfo=EWS_UTC)
    for hour in range(3):
        begins = start + timedelta(hours=hour)
        CalendarItem(account=alice, folder=alice.calendar, subject=f"Dentist {hour}",
                     start=begins, end=begins + timedelta(minutes=30)).save()
    assert rig.push.wait_idle()
    changes = rig.queue.take("process_change")
    for change in changes:
        outcome = rig.pipeline.run(change.actor_name, message_id=change.message_id, **change.kwargs)
        assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    syncs = rig.queue.take("sync_calendar")

    assert len(syncs) == 1, f"{len(changes)} notifications gave {len(syncs)} syncs"
    synced = rig.pipeline.run("sync_calendar", message_id=syncs[0].message_id, **syncs[0].kwargs)
    assert synced.status is JobStatus.SUCCEEDED, synced.error
    changed = events_of(rig, integration_id, EventType.CALENDAR_EVENT_CHANGED)
    assert len(changed) == 3 and all(e.data["subject"] is None for e in changed)  # titles not shown
    assert synced.result["bookings_skipped"] == 1  # the booking is reported by booking.* events

    # A change after that sync asks for the next one.
    CalendarItem(account=alice, folder=alice.calendar, subject="Gym", start=start + timedelta(days=1),
                 end=start + timedelta(days=1, hours=1)).save()
    assert rig.push.wait_idle()
    for change in rig.queue.take("process_change"):
        rig.pipeline.run(change.actor_name, message_id=change.message_id, **change.kwargs)
    assert len(rig.queue.take("sync_calendar")) == 1


@pytest.mark.parametrize("lock", [False, True])
def test_the_apps_own_update_is_never_taken_for_a_move_in_outlook(
    rig: PushRig, account: Any, lock: bool
) -> None:
    integration_id = booked(rig, lock_appointments=lock)
    later = BOOKED_START + timedelta(days=1)
    updated = rig.pipeline.run("update_event", **follow_up(
        integration_id, start=later.isoformat(), end=(later + timedelta(hours=1)).isoformat(), notify=True))
    assert updated.status is JobStatus.SUCCEEDED, updated.error
    drain(rig)

    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert (record.booked_start, record.start) == (later, later)
    assert organiser_item(rig, account, integration_id).start == later
    moves = events_of(rig, integration_id, EventType.BOOKING_MOVED_IN_EXCHANGE, EventType.BOOKING_RESTORED)
    assert moves == []
    updated_events = events_of(rig, integration_id, EventType.BOOKING_UPDATED)
    assert [e.type for e in updated_events] == [EventType.BOOKING_UPDATED]


def test_a_change_whose_update_event_job_has_not_recorded_it_yet_waits(
    rig: PushRig, account: Any
) -> None:
    # update_event's UpdateItem reaches Exchange (and the push) before its booking record is
    # written. Read in between, a locked booking would be moved back to the time the app just set.
    integration_id = booked(rig, lock_appointments=True)
    in_flight = "update-job-in-flight"
    now = rig.pipeline.runtime.clock()
    rig.pipeline.store.begin_job(in_flight, "update_event", integration_id, ALICE, now)
    later = BOOKED_START + timedelta(days=2)
    gateway(rig.pipeline, integration_id).update_event(
        recorded_ref(rig.pipeline, integration_id), EventChanges(start=later, end=later + timedelta(hours=1)),
        notify=NotifyAttendees.NONE, marker=in_flight,
    )
    assert rig.push.wait_idle()
    [change] = rig.queue.take("process_change")

    waiting = rig.pipeline.run(change.actor_name, message_id=change.message_id, **change.kwargs)

    assert waiting.status is JobStatus.RETRYING and waiting.error is not None
    assert waiting.error.code is ErrorCode.CONFLICT
    assert organiser_item(rig, account, integration_id).start == later  # not moved back
    assert events_of(rig, integration_id, EventType.BOOKING_RESTORED) == []


def test_a_booking_posted_as_its_scheduler_is_locked_and_hears_responses(
    rig: PushRig, account: Any
) -> None:
    # post_as_scheduler: the event is carol's (the scheduler's); her calendar is the one watched.
    integration_id = rig.pipeline.install("impersonation", lock_appointments=True, post_as_scheduler=True)
    subscribed = rig.pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=CAROL,
                                  status_frequency_minutes=5)
    assert subscribed.status is JobStatus.SUCCEEDED, subscribed.error
    kwargs = booking(integration_id, optional_attendees=[], rooms=[], scheduler=CAROL)
    for action, job in (("create_event", kwargs), ("send_invite", follow_up(integration_id))):
        outcome = rig.pipeline.run(action, **job)
        assert outcome.status is JobStatus.SUCCEEDED, outcome.error
    drain(rig)
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    carol = account("carol")

    item = carol.calendar.get(id=record.item_id)
    move_in_outlook(item)
    [request] = [m for m in account("bob").inbox.all() if m.item_class == MEETING_REQUEST]
    request.decline()
    drain(rig)

    assert carol.calendar.get(id=record.item_id).start == BOOKED_START  # moved back
    after = rig.pipeline.store.get_booking(integration_id, KEY)
    assert after.state is BookingState.RESTORED
    assert after.responses[BOB].response is ResponseType.DECLINED


def test_a_change_to_a_booking_still_being_created_waits_for_its_record(rig: PushRig) -> None:
    # A worker died between its CreateItem (which invited) and the booking record: the claim is
    # pending. The change notification for the new item must not fill in the record itself, or the
    # redelivered create_event would take the booking for done and skip its copies and events.
    integration_id = rig.pipeline.install("impersonation")
    subscribed = rig.pipeline.run("subscribe_mailbox", integration_id=integration_id, mailbox=ALICE,
                                  status_frequency_minutes=5)
    assert subscribed.status is JobStatus.SUCCEEDED, subscribed.error
    abandon_attempt(rig.pipeline, "create-1", "create_event", integration_id)
    claim(rig.pipeline, integration_id, "create-1")
    gateway(rig.pipeline, integration_id).create_event(EventDraft(
        subject="Interview", start=BOOKED_START, end=BOOKED_END, booking_key=KEY,
        required_attendees=(BOB,), optional_attendees=(CAROL,), rooms=(ROOM_A,),
    ), invite_marker="create-1")  # fmt: skip
    assert rig.push.wait_idle()
    changes = rig.queue.take("process_change")
    assert changes

    waiting = [rig.pipeline.run(c.actor_name, message_id=c.message_id, **c.kwargs) for c in changes]

    assert {outcome.status for outcome in waiting} == {JobStatus.RETRYING}
    assert {outcome.error.code for outcome in waiting if outcome.error} == {ErrorCode.CONFLICT}
    record = rig.pipeline.store.get_booking(integration_id, KEY)
    assert record is not None and record.pending

    # The create_event redelivery records the booking and its events; the change then applies.
    created = rig.pipeline.run("create_event", message_id="create-1",
                               **booking(integration_id, send_invitations=True))
    assert created.status is JobStatus.SUCCEEDED, created.error
    assert events_of(rig, integration_id, EventType.BOOKING_CREATED) != []
    for change in changes:
        outcome = rig.pipeline.run(change.actor_name, message_id=change.message_id, **change.kwargs)
        assert outcome.status is JobStatus.SUCCEEDED, outcome.error
