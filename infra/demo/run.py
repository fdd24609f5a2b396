"""`ews-pipeline demo`: a realistic batch of jobs through the whole pipeline, on one machine.

Starts the EWS simulator with a sample company, local AWS (moto server), and an in-process
dramatiq broker and worker; seeds one integration per connection method, and one on Microsoft
Graph (the local Graph over the same company, on a second, TLS, server: msal needs an https
authority); enqueues free/busy lookups, bookings (create_event piped to send_invite), room
listings, connection checks and push subscriptions (the Graph integration gets the same checks,
bookings, room listing, free/busy and a subscription, whose change notifications come to the
callback function's Graph webhook). Then people change things in Outlook (infra.demo.changes):
a locked booking and an auto-confirmed one are moved, an attendee declines, someone sends a
meeting of their own, and a locked booking of the Graph integration is moved in Outlook on the
web; the pushes and change notifications come back through the callback function and their jobs
run on the same worker. Events go through the dramatiq sink to the app's own actor
(infra.demo.events). Prints each job's outcome, each calendar's events, the events and the
changed bookings; exits 0 when every job succeeded and the pipeline made of each change what it
should (infra.demo.checks).
"""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq

from infra.demo import organisation as org
from infra.demo.callback_server import CallbackServer
from infra.demo.changes import AUTO_CONFIRMED, CLOUD_LOCKED, DECLINED, LOCKED, change_in_outlook
from infra.demo.checks import check_changes
from infra.demo.events import AppEvents
from infra.demo.integrations import GRAPH_INTEGRATION, INTEGRATIONS, install
from infra.demo.job_gate import JobGate
from infra.demo.job_log import JobLog, LoggedJob
from infra.demo.local_stack import create_results_table, local_aws
from infra.demo.outlook_web import OUTLOOK_WEB_APP
from infra.demo.report import (
    print_bookings,
    print_calendars,
    print_changes,
    print_checks,
    print_events,
    print_outcomes,
)
from infra.demo.settle import settle
from infra.ewssim import EwsSimulator
from infra.graphsim.models.ids import rest_id
from infra.graphsim.responses.subscriptions import SubscriptionPlugin, plugin_of
from pipeline.client import ResultsReader
from pipeline.config import PipelineConfig
from pipeline.contract.booking import BookingItem
from pipeline.events.sinks import DEFAULT_EVENTS_QUEUE
from pipeline.runtimes.actors import JOBS_QUEUE
from pipeline.runtimes.worker import WorkerProcess

TABLE = "ews-pipeline-demo"
# How long to wait for the pushes and jobs of one phase to settle before giving up.
SETTLE_TIMEOUT_S = 120


def run_demo(verbose: bool = False) -> int:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s %(message)s")
    # moto's server logs every AWS call it answers; the demo's own report is what matters here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The simulator's token endpoint is plain HTTP on loopback; oauthlib refuses that by default.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    week_start = _next_monday()
    with (
        local_aws() as aws_endpoint,
        EwsSimulator() as sim,
        # Graph, over the same mailboxes: a booking made through either is seen through both.
        EwsSimulator(sim.backend, tls=True) as cloud,
        CallbackServer() as callbacks,
    ):
        # The worker trusts the local Graph's private CA as an operator's would.
        assert cloud.ca_file is not None
        os.environ["REQUESTS_CA_BUNDLE"] = str(cloud.ca_file)
        sim.seed(org.organisation() | {"apps": [org.APP, {**OUTLOOK_WEB_APP, "graph_roles": []}]})
        graph = plugin_of(cloud.graph)
        seeded = org.fill_calendars(sim.backend, week_start)
        config = PipelineConfig(
            table_name=TABLE, aws_endpoint_url=aws_endpoint, broker_url="stub://",
            worker_concurrency=8, callback_base_url=callbacks.base_url,
            events_sink=f"dramatiq://{DEFAULT_EVENTS_QUEUE}",
        )
        create_results_table(aws_endpoint, TABLE)
        for integration in INTEGRATIONS:
            install(cloud if integration.backend == "graph" else sim, aws_endpoint, config, integration)
        print(f"simulator {sim.ews_url}  Graph {cloud.graph_url}  local AWS {aws_endpoint}  "
              f"{len(sim.backend.directory.principals)} mailboxes, {seeded} meetings seeded")

        # Its runtime publishes events onto the worker's own broker, where the app's actor reads.
        process = WorkerProcess(config)
        job_log, gate = JobLog(JOBS_QUEUE), JobGate()
        process.broker.add_middleware(job_log)
        process.broker.add_middleware(gate)
        app = AppEvents(process.broker, DEFAULT_EVENTS_QUEUE)
        results = ResultsReader(process.runtime().store)
        callbacks.attach(process.runtime(), process.broker)
        # What an Exchange admin sees when checking that the Exchange server reaches the callbacks.
        check_path = f"/check/{INTEGRATIONS[0].integration_id}"
        status, _, answer = callbacks.get(check_path)
        print(f"connectivity check GET {callbacks.base_url}{check_path}: {status} {answer.decode()}")
        process.start()
        app.start()
        try:
            sent = _enqueue_batch(process, week_start)
            # The bookings in the subscribed calendars make Exchange push notifications, which
            # enqueue process_change jobs; let them finish too.
            retried = _settle(sim, process, graph)
            phase_one = job_log.jobs()
            booking_jobs = _merged(sent, phase_one)
            booking_events = app.received()

            # People change things in Outlook. No job runs meanwhile, so that the EWS and Graph
            # requests counted now are their clients' alone; the pushes queue jobs for afterwards.
            with gate.shut():
                before, graph_before = sim.request_counts(), cloud.graph.request_counts()
                changes = change_in_outlook(sim.ews_url, cloud, results, week_start)
                outlook_requests = _difference(sim.request_counts(), before)
                web_requests = _difference(cloud.graph.request_counts(), graph_before)
            retried += _settle(sim, process, graph)
            process.worker.join()
        finally:
            process.stop(timeout_ms=10_000)
            app.stop()
        later_jobs = job_log.jobs()[len(phase_one):]
        after_events = app.received()[len(booking_events):]
        succeeded = print_outcomes(results.store, booking_jobs)
        print_changes(changes, outlook_requests, web_requests)
        succeeded &= print_outcomes(results.store, later_jobs, title="jobs the changes in Outlook caused:")
        print_events(booking_events, after_events, graph=GRAPH_INTEGRATION)
        bookings = {ref: results.booking(ref.integration_id, ref.booking_key)
                    for ref in (LOCKED, AUTO_CONFIRMED, DECLINED, CLOUD_LOCKED)}
        print_bookings(bookings)
        print_calendars(sim, [org.address(name) for name in (*org.INTERVIEWERS, *org.RECRUITERS)]
                        + [org.address("booking-svc")])
        pipeline_requests = _difference(sim.request_counts(), outlook_requests)
        print(f"EWS requests by operation (the pipeline's): {dict(sorted(pipeline_requests.items()))}")
        graph_requests = _difference(cloud.graph.request_counts(), web_requests)
        print(f"Graph requests by operation ({GRAPH_INTEGRATION}'s; a $batch and each request in it): "
              f"{dict(sorted(graph_requests.items()))}")
        if retried:
            print(f"push deliveries that failed and were retried, as Exchange does: {dict(retried)}")
        checks = check_changes(changes, after_events, bookings, _in_exchange(sim, bookings[LOCKED]),
                               _in_exchange(sim, bookings[CLOUD_LOCKED]))
        succeeded &= print_checks(checks)
    return 0 if succeeded else 1


def _settle(sim: EwsSimulator, process: WorkerProcess, graph: SubscriptionPlugin) -> Counter[str]:
    return settle(sim, process.broker, JOBS_QUEUE, DEFAULT_EVENTS_QUEUE, SETTLE_TIMEOUT_S, graph)


def _merged(sent: list[LoggedJob], logged: list[LoggedJob]) -> list[LoggedJob]:
    """The jobs the demo sent, in its order, then those the pipeline enqueued, in theirs."""
    ids = {job.message_id for job in sent}
    return sent + [job for job in logged if job.message_id not in ids]


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {op: count - before.get(op, 0) for op, count in after.items() if count != before.get(op, 0)}


def _in_exchange(sim: EwsSimulator, booking: BookingItem | None) -> tuple[datetime, datetime] | None:
    """The booking's time as its calendar holds it now (read from the simulator, not the table;
    a Graph booking's id is the item's REST id)."""
    if booking is None:
        return None
    for item in sim.calendar(booking.calendar_mailbox):
        ids = (item.get("item_id"), rest_id(str(item.get("item_id"))))
        if booking.item_id in ids and item.get("start") and item.get("end"):
            return datetime.fromisoformat(item["start"]), datetime.fromisoformat(item["end"])
    return None


def _enqueue_batch(process: WorkerProcess, week_start: datetime) -> list[LoggedJob]:
    """Send the demo's jobs; returns them, in the order the report lists them."""
    actors = process.actors
    sent: list[LoggedJob] = []

    def send(message: dramatiq.Message[Any]) -> None:
        integration_id = str(message.kwargs.get("integration_id"))
        sent.append(LoggedJob(message.message_id, message.actor_name, integration_id))

    interviewers = [org.address(name) for name in org.INTERVIEWERS]
    for number, demo in enumerate(INTEGRATIONS):
        send(actors["check_connection"].send(integration_id=demo.integration_id,
                                             mailbox=interviewers[number]))
    # Free/busy across the whole company for the week, 146 mailboxes: two GetUserAvailability on
    # EWS; eight getSchedule (20 mailboxes each) in one $batch on Graph.
    for integration_id in ("contoso-delegate", GRAPH_INTEGRATION):
        send(actors["list_rooms"].send(integration_id=integration_id))
        send(actors["fetch_free_busy"].send(
            integration_id=integration_id, mailboxes=interviewers + org.staff(),
            start=week_start.isoformat(), end=(week_start + timedelta(days=5)).isoformat(), view="detailed",
        ))
    for demo in INTEGRATIONS:
        if demo.subscribed is not None:
            send(actors["subscribe_mailbox"].send(integration_id=demo.integration_id,
                                                  mailbox=org.address(demo.subscribed),
                                                  status_frequency_minutes=30))
    rooms = [org.address(room) for building in org.ROOMS.values() for room in building]
    for number, demo in enumerate(INTEGRATIONS):
        for slot in range(2):
            organiser = interviewers[(number + slot) % len(interviewers)]
            start = week_start + timedelta(days=slot + 1, hours=11 + number)
            booking = {
                "integration_id": demo.integration_id, "mailbox": organiser,
                "booking_key": f"demo-{demo.integration_id}-{slot}",
            }
            create = actors["create_event"].message(
                **booking, subject="Interview", body="Technical interview, 45 minutes.",
                start=start.isoformat(), end=(start + timedelta(minutes=45)).isoformat(),
                time_zone="Europe/London",
                required_attendees=[{"email": interviewers[(number + slot + 1) % len(interviewers)]}],
                optional_attendees=[{"email": org.address("rita")}],
                rooms=[rooms[(number + slot) % len(rooms)]],
                template_vars={"candidate": f"Candidate {number}{slot}"},
            )
            invite = actors["send_invite"].message_with_options(kwargs=booking, pipe_ignore=True)
            dramatiq.pipeline([create, invite]).run()
            send(create)
            send(invite)
    return sent


def _next_monday() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=7 - today.weekday())


if __name__ == "__main__":
    sys.exit(run_demo())
