"""Counting what a chaos run left behind: in Exchange (the simulator), the results table, the DLQ.

Exchange is the ground truth for effects:
- events: organisers' calendar items stamped with a booking key (the BookingKey extended
  property); more than one per key is a duplicate event;
- invitations: meeting requests per attendee per booking (the subject names the booking key), in
  the Inbox or, once answered (a room answers at once), in Deleted Items; more than one is a
  duplicate invitation.
The table and the dead-letter queue are the truth for jobs:
- a job sent is every booking's first job (create_event), its next (send_invite, when the booking
  takes two jobs) once that succeeded (the pipeline enqueues the next step only then), and every
  free/busy lookup;
- a job without a record: sent, with no job record in the table and not in the dead-letter queue;
- a missing booking: neither an event nor a job of it failed for good; an uninvited one: an event
  whose invitations did not all arrive, with no job of it failed for good.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench_support import SimulatorProcess
from boto3.dynamodb.types import TypeDeserializer
from chaos_load import Load, Sent, sent_jobs

from pipeline.contract.message import JOBS_QUEUE
from pipeline.runtimes.broker import build_broker
from pipeline.runtimes.dead_letters import dead_letters_for

__all__ = ["ExchangeContents", "Figures", "JobRow", "count", "locate_in_redis", "read_dead_letters",
           "read_exchange", "read_failed_events", "read_jobs"]

MEETING_REQUEST = "IPM.Schedule.Meeting.Request"
# Where an attendee's meeting requests are: the Inbox, or Deleted Items once answered (a room's
# Resource Booking Attendant answers at once, and Exchange moves the request there).
INVITATION_FOLDERS = ("inbox", "deleteditems")
BOOKING_KEY_PROPERTY = "PropertyName=BookingKey"  # how the simulator names the stamp's property
_DESERIALIZE = TypeDeserializer().deserialize


@dataclass(frozen=True)
class ExchangeContents:
    events: Counter[str]  # booking key -> organiser calendar items stamped with it
    unsent_requests: Counter[str]  # booking key -> stamped items whose meeting request was not sent
    invitations: Counter[tuple[str, str]]  # (attendee, subject) -> meeting requests in the inbox


def read_exchange(sim: SimulatorProcess, organisers: Iterable[str],
                  attendees: Iterable[str]) -> ExchangeContents:
    events: Counter[str] = Counter()
    unsent: Counter[str] = Counter()
    for organiser in sorted(set(organisers)):
        for item in sim.folder_items(organiser, "calendar"):
            if str(item.get("organizer", "")).lower() != str(item.get("mailbox", "")).lower():
                continue  # an attendee's copy
            keys = [value for name, value in item.get("extended_properties", {}).items()
                    if BOOKING_KEY_PROPERTY in name.split("|")]
            events.update(keys)
            if not item.get("meeting_request_was_sent"):
                unsent.update(keys)
    invitations: Counter[tuple[str, str]] = Counter()
    for attendee in sorted(set(attendees)):
        for folder in INVITATION_FOLDERS:
            invitations.update((attendee, item["subject"]) for item in sim.folder_items(attendee, folder)
                               if item.get("item_class") == MEETING_REQUEST)
    return ExchangeContents(events, unsent, invitations)


@dataclass(frozen=True)
class JobRow:
    message_id: str
    actor_name: str
    status: str
    attempts: int
    error_code: str | None
    finished_at: datetime | None


def _scan(dynamodb: Any, table: str, prefix: str, projection: str, names: dict[str, str],
          extra_filter: str = "", values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, ConsistentRead=True,
        FilterExpression="begins_with(pk, :prefix)" + extra_filter,
        ProjectionExpression=projection, ExpressionAttributeNames=names,
        ExpressionAttributeValues={":prefix": {"S": prefix}, **(values or {})},
    )
    for page in pages:
        items += [{name: _DESERIALIZE(value) for name, value in item.items()} for item in page["Items"]]
    return items


def read_jobs(dynamodb: Any, table: str) -> dict[str, JobRow]:
    """Every job record of the table."""
    names = {"#m": "message_id", "#a": "actor_name", "#s": "status", "#n": "attempts", "#e": "error_code",
             "#f": "finished_at"}
    rows = {}
    for item in _scan(dynamodb, table, "JOB#", ", ".join(names), names):
        finished = item.get("finished_at")
        rows[item["message_id"]] = JobRow(
            item["message_id"], item.get("actor_name", ""), item["status"], int(item.get("attempts", 0)),
            item.get("error_code"), datetime.fromisoformat(finished) if finished else None,
        )
    return rows


def read_failed_events(dynamodb: Any, table: str) -> Counter[str]:
    """Message id -> job.failed events in the table's outbox."""
    names = {"#t": "type", "#d": "data"}
    items = _scan(dynamodb, table, "EVENT#", "#d", names, " AND #t = :failed",
                  {":failed": {"S": "job.failed"}})
    return Counter(str(item["data"].get("message_id")) for item in items)


def read_dead_letters(broker_url: str) -> set[str]:
    """Message ids in the jobs queue's dead-letter queue."""
    broker = build_broker(broker_url, make_global=False)
    try:
        return {letter.message_id for letter in dead_letters_for(broker, JOBS_QUEUE).peek()}
    finally:
        broker.close()


def locate_in_redis(broker_url: str, message_ids: Iterable[str]) -> dict[str, list[str]]:
    """Which keys of the runtime's Redis namespace hold each job's message (queues, delay queues,
    dead letters, the `__acks__` sets of the workers that fetched it): where a job got stuck.

    dramatiq keys a message in Redis by its own `redis_message_id`, so the bodies (the `.msgs`
    hashes) are read first to map job message ids to it."""
    import redis
    from dramatiq.brokers.redis import RedisBroker

    wanted = set(message_ids)
    broker = build_broker(broker_url, make_global=False)
    assert isinstance(broker, RedisBroker)
    client: Any = broker.client
    found: dict[str, list[str]] = {m: [] for m in wanted}
    try:
        keys = [raw.decode() for raw in client.scan_iter(f"{broker.namespace}:*")]
        redis_ids: dict[str, str] = {}  # redis_message_id -> job message id
        for key in keys:
            if key.endswith(".msgs"):
                for redis_id, body in client.hgetall(key).items():
                    message_id = json.loads(body).get("message_id")
                    if message_id in wanted:
                        redis_ids[redis_id.decode()] = message_id
                        found[message_id].append(key)
        for key in keys:
            kind = client.type(key).decode()
            members: list[bytes] = (
                list(client.smembers(key)) if kind == "set" else client.zrange(key, 0, -1)
                if kind == "zset" else client.lrange(key, 0, -1) if kind == "list" else [])
            for member in {m.decode() for m in members} & set(redis_ids):
                found[redis_ids[member]].append(key)
    except redis.RedisError as error:
        return {m: [f"(Redis unreadable: {error})"] for m in found}
    finally:
        broker.close()
    return found


@dataclass
class Figures:
    """One runtime's counts; `problems` lists every way it missed the target."""

    runtime: str
    bookings: int = 0
    invalid_bookings: int = 0
    jobs_per_booking: int = 0
    jobs_sent: int = 0
    succeeded: int = 0
    failed: int = 0
    failed_codes: dict[str, int] = field(default_factory=dict)
    failed_without_event: int = 0
    failed_without_code: int = 0
    failed_valid_bookings: int = 0
    dead_lettered: int = 0
    dead_lettered_unrecorded: int = 0
    without_record: int = 0
    unfinished: dict[str, int] = field(default_factory=dict)
    duplicate_events: int = 0
    duplicate_invitations: int = 0
    missing_bookings: int = 0
    uninvited_bookings: int = 0
    booked_but_failed: int = 0
    attempts: dict[int, int] = field(default_factory=dict)
    drain_seconds: float | None = None
    kills: int = 0
    restarts_after_exit: int = 0
    broker_restarts: int = 0
    resends: int = 0
    problems: list[str] = field(default_factory=list)
    # Up to a few unfinished or unrecorded jobs (message id, actor, status, booking key).
    stragglers: list[str] = field(default_factory=list)


def count(runtime: str, load: Load, sent: Sent, jobs: dict[str, JobRow], failed_events: Counter[str],
          dead_letters: set[str], exchange: ExchangeContents, faults_stopped: float | None) -> Figures:
    """The figures of one runtime (the process faults are filled in by the caller)."""
    figures = Figures(runtime, bookings=len(load.bookings),
                      invalid_bookings=sum(not booking.valid for booking in load.bookings))
    expected = sent_jobs(sent, lambda m: m in jobs and jobs[m].status == "succeeded")
    figures.jobs_sent = len(expected)
    figures.jobs_per_booking = max((len(ids) for ids in sent.bookings.values()), default=0)
    rows = [jobs[message_id] for message_id in expected if message_id in jobs]
    figures.succeeded = sum(row.status == "succeeded" for row in rows)
    failed = [row for row in rows if row.status == "failed"]
    figures.failed = len(failed)
    figures.failed_codes = dict(Counter(row.error_code or "(none)" for row in failed).most_common())
    figures.failed_without_code = sum(not row.error_code for row in failed)
    figures.failed_without_event = sum(failed_events[row.message_id] == 0 for row in failed)
    figures.unfinished = dict(Counter(row.status for row in rows
                                      if row.status not in ("succeeded", "failed")))
    figures.dead_lettered = len(dead_letters)
    unrecorded = [message_id for message_id in expected if message_id not in jobs]
    figures.dead_lettered_unrecorded = sum(message_id in dead_letters for message_id in unrecorded)
    figures.without_record = sum(message_id not in dead_letters for message_id in unrecorded)
    figures.attempts = dict(sorted(Counter(row.attempts for row in rows).items()))
    keys = {m: key for key, ids in sent.bookings.items() for m in ids}
    stragglers = [m for m in unrecorded if m not in dead_letters]
    stragglers += [row.message_id for row in rows if row.status not in ("succeeded", "failed")]
    figures.stragglers = [
        f"{m} {jobs[m].actor_name if m in jobs else '?'} {jobs[m].status if m in jobs else 'no record'} "
        f"{keys.get(m, 'free/busy')}" for m in stragglers[:5]
    ]
    finished = [row.finished_at.timestamp() for row in rows if row.finished_at is not None]
    if finished and faults_stopped is not None:
        figures.drain_seconds = max(0.0, max(finished) - faults_stopped)
    _count_bookings(figures, load, sent, jobs, failed_events, exchange)
    _list_problems(figures, load, sent)
    return figures


def _count_bookings(figures: Figures, load: Load, sent: Sent, jobs: dict[str, JobRow],
                    failed_events: Counter[str], exchange: ExchangeContents) -> None:
    for booking in load.bookings:
        if booking.key not in sent.bookings:
            continue
        ids = sent.bookings[booking.key]
        failed_rows = [jobs[m] for m in ids if m in jobs and jobs[m].status == "failed"]
        failed_for_good = any(row.error_code and failed_events[row.message_id] for row in failed_rows)
        events = exchange.events[booking.key]
        requests = [exchange.invitations[attendee, booking.subject] for attendee in booking.attendees]
        figures.duplicate_events += max(0, events - 1)
        figures.duplicate_invitations += sum(max(0, n - 1) for n in requests)
        figures.failed_valid_bookings += bool(failed_rows) and booking.valid
        created = jobs.get(ids[0])
        if events and created is not None and created.status == "failed":
            figures.booked_but_failed += 1
        if failed_for_good:
            continue
        if not events:
            figures.missing_bookings += 1
        elif min(requests) == 0 or exchange.unsent_requests[booking.key]:
            figures.uninvited_bookings += 1
            if len(figures.stragglers) < 5:
                figures.stragglers.append(
                    f"booking {booking.key}: {events} event(s), meeting requests per attendee {requests}, "
                    f"{exchange.unsent_requests[booking.key]} item(s) whose requests were not sent")


def _list_problems(figures: Figures, load: Load, sent: Sent) -> None:
    checks = [
        (figures.duplicate_events, "duplicate event(s) in organisers' calendars"),
        (figures.duplicate_invitations, "duplicate invitation(s) in inboxes"),
        (figures.missing_bookings, "booking(s) missing: no event and no job failed for good"),
        (figures.uninvited_bookings, "booking(s) without all their invitations, and no job failed for good"),
        (figures.without_record, "job(s) sent without a record (and not in the dead-letter queue)"),
        (sum(figures.unfinished.values()), f"job(s) not finished: {figures.unfinished}"),
        (figures.failed_without_code, "failed job(s) without an error code"),
        (figures.failed_without_event, "failed job(s) without a job.failed event"),
        (figures.booked_but_failed, "booking(s) in a calendar whose create_event is recorded failed"),
        (len(load.bookings) - len(sent.bookings), "booking(s) never sent (the sender stopped)"),
    ]
    figures.problems += [f"{n} {what}" for n, what in checks if n]
