"""No mailbox, attendee or subject appears in botocore's DEBUG records of DynamoDB, SQS or EventBridge.

At DEBUG botocore logs every call's parameters ("Making request for OperationModel(...) with
params: {... 'body': b'{...}'}") and every response body it parses ("Response body: b'...'"):
job kwargs and results, booking records, SQS message bodies and EventBridge entries, with the
addresses and subjects they hold. Real jobs run with the root logger at DEBUG, through the
pipeline harness (moto in-process, the EWS simulator) and through handlers.jobs.lambda_handler (the
session's moto server, clients built from the environment as deployed), and every record is read
whole. Records of the harness's own loggers (the simulator, moto and its HTTP pass-through, the
moto server's werkzeug) are the far side of the wire and left out. exchangelib's are searched too
(log_privacy.ews_payloads withholds their SOAP bodies and addresses).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import dramatiq
import pytest

from infra.ewssim import EwsSimulator
from pipeline.client import PipelineClient
from pipeline.contract import JobStatus
from pipeline.events.publisher import EventPublisher
from pipeline.events.sinks import EventBridgeSink
from pipeline.log_privacy.aws_payloads import AwsPayloadFilter
from pipeline.runtimes.actors import JOBS_QUEUE
from tests.integration.event_support import ALICE, BOB, CAROL, ROOM_A, booking, follow_up
from tests.integration.moto_server import moto_endpoint
from tests.integration.pipeline_support import PipelineHarness, pipeline
from tests.integration.runtime_support import (
    AwsTestAccount,
    LambdaQueue,
    aws_credentials,
    deliver,
    install_integration,
    lambda_job_handler,
)

__all__ = ["aws_credentials", "moto_endpoint", "pipeline"]  # fixtures, re-exported for pytest

# Far side of the wire: the simulator, moto (in-process and its server).
NOT_OURS = ("infra.", "responses", "moto", "werkzeug")
PEOPLE = {"alice": ALICE, "bob": BOB, "carol": CAROL, "room A": ROOM_A}
# booking()'s subject (its template, and the value filled in) and an attendee's display name.
WORDS = {"subject template": "Interview: {{ candidate }}", "subject": "Dana Diaz",
         "attendee name": "Bob Baker"}
FREE_BUSY: dict[str, Any] = {"mailboxes": [ALICE, BOB, CAROL], "start": "2026-11-03T00:00:00Z",
                             "end": "2026-11-04T00:00:00Z"}


def personal_data() -> dict[str, str]:
    """Each seeded address in the spellings a body or URL may use, and the subject, by name."""
    needles = {f"{name} ({how})": spelled for name, address in PEOPLE.items()
               for how, spelled in (("plain", address), ("url-encoded", address.replace("@", "%40")))}
    return {**needles, **WORDS}


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler could print of a record: the formatted line (traceback included), the
    arguments and every attribute."""
    return f"{logging.Formatter().format(record)}\n{record.args!r}\n{record.__dict__!r}"


def leaks(records: list[logging.LogRecord]) -> list[str]:
    """The names (never the values) of the personal data any of our records shows, case-insensitively."""
    texts = [record_text(r).lower() for r in records if not r.name.startswith(NOT_OURS)]
    return sorted({name for name, value in personal_data().items() if any(value.lower() in t for t in texts)})


def botocore_lines(records: list[logging.LogRecord], start: str) -> list[str]:
    return [r.getMessage() for r in records
            if r.name.startswith("botocore") and r.getMessage().startswith(start)]


def assert_operations_still_named(records: list[logging.LogRecord], *operations: str) -> None:
    """What was called, and the answer's request id, stay in the lines; only the payloads go."""
    requests = botocore_lines(records, "Making request for")
    for operation in operations:
        assert any(f"OperationModel(name={operation})" in line for line in requests), operation
    assert requests and all("'body': '<withheld" in line for line in requests)
    assert any("x-amzn-requestid" in line.lower() for line in botocore_lines(records, "Response headers"))
    assert any("<withheld" in line for line in botocore_lines(records, "Response body"))


# Through the pipeline harness: clients injected into the store, the secrets source and the sink ------

@pytest.fixture
def events_bus(pipeline: PipelineHarness) -> Iterator[str]:
    """An EventBridge bus on moto that the harness's runtime publishes each job's events to."""
    client = boto3.client("events", region_name=pipeline.runtime.config.aws_region)
    name = f"ews-events-{uuid.uuid4().hex[:8]}"
    client.create_event_bus(Name=name)
    pipeline.runtime.events = EventPublisher(pipeline.store, EventBridgeSink(name, client))
    yield name
    pipeline.runtime.events = None


def test_jobs_at_debug_log_no_address_or_subject_through_the_harness(
    pipeline: PipelineHarness, events_bus: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an integration, and a runtime that publishes its events to EventBridge
    integration_id = pipeline.install("delegate")
    caplog.set_level(logging.DEBUG)

    # When a booking with attendees and a subject, and a free/busy query, run
    booked = pipeline.run("create_event", **booking(integration_id))
    free_busy = pipeline.run("fetch_free_busy", integration_id=integration_id, **FREE_BUSY)

    # Then they succeeded, published their events, and botocore named every call it made...
    assert (booked.status, free_busy.status) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)
    assert_operations_still_named(caplog.records, "TransactWriteItems", "GetItem", "PutEvents")
    # ...without a payload: only names reach the assertion, so a failing run prints none of the data
    assert leaks(caplog.records) == []


# Through the Lambda handler: clients built from the environment, SQS in and out, EventBridge ----------

def test_jobs_at_debug_log_no_address_or_subject_through_the_lambda_handler(
    sim: EwsSimulator, moto_endpoint: str, aws_credentials: None,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    # Given the jobs function, publishing to an EventBridge bus, on the moto server
    aws = AwsTestAccount(moto_endpoint)
    bus = f"ews-events-{uuid.uuid4().hex[:8]}"
    aws.client("events").create_event_bus(Name=bus)
    queue = LambdaQueue.create(aws)
    environ = aws.environ(aws.new_table(), queue.broker_url, PIPELINE_EVENTS_SINK=f"eventbridge://{bus}")
    with lambda_job_handler(environ, monkeypatch) as handler:
        import handlers.jobs

        store = handlers.jobs._processor().runtime.store
        integration_id = install_integration(sim, aws, store)
        client = PipelineClient(queue.broker, queue_name=JOBS_QUEUE)
        caplog.set_level(logging.DEBUG)

        # When a booking pipeline (its second step sent on by the handler) and a free/busy query run
        create = client.message("create_event", booking(integration_id), message_id=str(uuid.uuid4()))
        invite: dramatiq.Message[Any] = client.message(
            "send_invite", follow_up(integration_id), message_id=str(uuid.uuid4()), pipe_ignore=True,
        )
        dramatiq.pipeline([create, invite], broker=queue.broker).run()
        free_busy = client.message("fetch_free_busy", {"integration_id": integration_id, **FREE_BUSY},
                                   message_id=str(uuid.uuid4()))
        queue.broker.enqueue(free_busy)
        for _ in range(2):  # the first batch, then the invite the handler sent on
            deliver(queue, handler)

        # Then every job succeeded, and botocore named its calls without their payloads
        jobs = [store.get_job(m.message_id) for m in (create, invite, free_busy)]
        assert [job.status if job else None for job in jobs] == [JobStatus.SUCCEEDED] * 3
        assert_operations_still_named(caplog.records, "SendMessage", "ReceiveMessage", "PutEvents",
                                      "TransactWriteItems")
        assert leaks(caplog.records) == []


def test_a_record_the_filter_cannot_read_is_withheld_not_dropped() -> None:
    class Exploding(tuple[object, ...]):
        def __iter__(self) -> Iterator[object]:
            raise RuntimeError("no")

    message = "Making request for %s with params: %s"
    record = logging.LogRecord("botocore.endpoint", logging.DEBUG, __file__, 1, message,
                               Exploding(("op", {"body": b"x"})), None)
    assert AwsPayloadFilter().filter(record)
    assert "could not be checked" in record.getMessage()
