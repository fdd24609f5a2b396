"""`ews-pipeline demo`: a realistic batch of jobs through the whole pipeline, on one machine.

Starts the EWS simulator with a sample company, local AWS (moto server), and an in-process
dramatiq broker and worker; seeds one integration per connection method; enqueues free/busy
lookups, bookings (create_event piped to send_invite), room listings, connection checks and a
push subscription; prints each job's outcome and each calendar's resulting events; exits 0 when
every job succeeded.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq

from infra.demo import organisation as org
from infra.demo.callback_server import CallbackServer
from infra.demo.local_stack import create_results_table, local_aws, put_secret
from infra.demo.report import print_calendars, print_outcomes
from infra.ewssim import EwsSimulator
from pipeline.actors import JOBS_QUEUE
from pipeline.config import PipelineConfig
from pipeline.worker import WorkerProcess

TABLE = "ews-pipeline-demo"


@dataclass(frozen=True)
class DemoIntegration:
    integration_id: str
    method: str
    auth: str
    label: str


INTEGRATIONS = (
    DemoIntegration("contoso-personal", "personal", "basic", "personal credentials, Basic"),
    DemoIntegration("contoso-dedicated", "dedicated", "ntlm", "dedicated mailbox, NTLM"),
    DemoIntegration("contoso-delegate", "delegate", "basic", "delegate access, Basic"),
    DemoIntegration("contoso-impersonation", "impersonation", "oauth2", "impersonation, OAuth 2.0 app-only"),
)


def run_demo(verbose: bool = False) -> int:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s %(message)s")
    # moto's server logs every AWS call it answers; the demo's own report is what matters here.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The simulator's token endpoint is plain HTTP on loopback; oauthlib refuses that by default.
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    week_start = _next_monday()
    with local_aws() as aws_endpoint, EwsSimulator() as sim, CallbackServer() as callbacks:
        sim.seed(org.organisation())
        seeded = org.fill_calendars(sim.backend, week_start)
        config = PipelineConfig(
            table_name=TABLE, aws_endpoint_url=aws_endpoint, broker_url="stub://",
            worker_concurrency=8, callback_base_url=callbacks.base_url,
        )
        create_results_table(aws_endpoint, TABLE)
        for integration in INTEGRATIONS:
            _install(sim, aws_endpoint, config, integration)
        print(f"simulator {sim.ews_url}  local AWS {aws_endpoint}  "
              f"{len(sim.backend.directory.principals)} mailboxes, {seeded} meetings seeded")

        process = WorkerProcess(config)
        callbacks.attach(process.runtime(), process.broker)
        # What an Exchange admin sees when checking that the Exchange server reaches the callbacks.
        check_path = f"/check/{INTEGRATIONS[0].integration_id}"
        status, _, answer = callbacks.get(check_path)
        print(f"connectivity check GET {callbacks.base_url}{check_path}: {status} {answer.decode()}")
        process.start()
        try:
            jobs = _enqueue_batch(process, week_start)
            process.broker.join(JOBS_QUEUE, timeout=120_000)
            # The booking in the subscribed mailbox makes Exchange push a notification, which
            # enqueues process_change jobs; let them finish too.
            callbacks.wait_idle(sim)
            process.broker.join(JOBS_QUEUE, timeout=60_000)
            process.worker.join()
            jobs += callbacks.enqueued_jobs()
        finally:
            process.stop(timeout_ms=10_000)
        succeeded = print_outcomes(process.runtime().store, jobs)
        print_calendars(sim, [org.address(name) for name in (*org.INTERVIEWERS, *org.RECRUITERS)]
                        + [org.address("booking-svc")])
        print(f"EWS requests by operation: {dict(sorted(sim.request_counts().items()))}")
    return 0 if succeeded else 1


def _install(sim: EwsSimulator, aws_endpoint: str, config: PipelineConfig, demo: DemoIntegration) -> None:
    settings: dict[str, Any] = {
        "integration_id": demo.integration_id,
        "connection_method": demo.method,
        "auth_type": demo.auth,
        "ews_url": sim.ews_url,
        "show_event_titles": True,
        "subject_template": "{{ subject }}{% if candidate %} with {{ candidate }}{% endif %}",
        "internal_domains": [org.DOMAIN],
    }
    if demo.auth == "oauth2":
        settings |= {"oauth_authority": sim.base_url, "oauth_tenant_id": org.APP["tenant_id"],
                     "secret_name": f"demo/{demo.integration_id}/app",
                     "service_mailbox": org.address("scheduler-imp")}
        put_secret(aws_endpoint, settings["secret_name"], dict(org.APP))
    elif demo.method == "personal":
        settings["personal_secret_template"] = "demo/{integration_id}/users/{mailbox}"
        for name in (*org.INTERVIEWERS, *org.RECRUITERS):
            put_secret(aws_endpoint, f"demo/{demo.integration_id}/users/{org.address(name)}",
                       {"username": org.address(name), "password": org.PASSWORD})
    else:
        service = "scheduler-imp" if demo.method == "impersonation" else "booking-svc"
        settings |= {"secret_name": f"demo/{demo.integration_id}/service",
                     "service_mailbox": org.address(service)}
        put_secret(aws_endpoint, settings["secret_name"],
                   {"username": org.address(service), "password": org.PASSWORD, "domain": "CONTOSO"})
    store = _store(config)
    store.put_integration(demo.integration_id, settings, datetime.now(UTC))


def _store(config: PipelineConfig) -> Any:
    from pipeline.store.factory import get_store

    return get_store(config)


def _enqueue_batch(process: WorkerProcess, week_start: datetime) -> list[tuple[str, str, str]]:
    """Send the demo's jobs; returns (message_id, action, integration) for the report."""
    actors = process.actors
    sent: list[tuple[str, str, str]] = []

    def send(message: dramatiq.Message[Any]) -> None:
        sent.append((message.message_id, message.actor_name, str(message.kwargs.get("integration_id"))))

    interviewers = [org.address(name) for name in org.INTERVIEWERS]
    for number, demo in enumerate(INTEGRATIONS):
        send(actors["check_connection"].send(integration_id=demo.integration_id,
                                             mailbox=interviewers[number]))
    send(actors["list_rooms"].send(integration_id="contoso-delegate"))
    # Free/busy across the whole company for the week: 146 mailboxes, two GetUserAvailability.
    send(actors["fetch_free_busy"].send(
        integration_id="contoso-delegate", mailboxes=interviewers + org.staff(),
        start=week_start.isoformat(), end=(week_start + timedelta(days=5)).isoformat(), view="detailed",
    ))
    send(actors["subscribe_mailbox"].send(integration_id="contoso-delegate", mailbox=interviewers[1],
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
