"""Properties of running any job message: a record with a stable code, or the dead-letter queue.

The Lambda handler's processor gets SQS records whose bodies are any JSON (dramatiq envelopes with
fields of any type, missing or extra, cut short, or no envelope at all), and run_job gets jobs
with any message id, action name and kwargs; the results table and SQS are moto's, in process.
Nothing escapes but a PipelineError: each message ends as a job record with an error code that a
redelivery does not change, or as an INVALID_MESSAGE record under its SQS id with a copy in the
dead-letter queue.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from pipeline.config import PipelineConfig
from pipeline.contract import JobStatus
from pipeline.errors import ErrorCode, PipelineError
from pipeline.exchange.ews import EwsConnector
from pipeline.runtimes.actors import JOBS_QUEUE
from pipeline.runtimes.lambda_jobs import SqsJobProcessor
from pipeline.runtimes.runner import Job, UnrecordableMessage, run_job
from pipeline.runtimes.runtime import Runtime
from pipeline.runtimes.sqs import SqsFifoBroker
from pipeline.secrets import SecretSource
from pipeline.store.dynamodb import DynamoDbStore
from pipeline.store.dynamodb.keys import create_table
from pipeline.store.records import JobRecord
from tests.unit.test_properties_jobs import actor_names, bodies, json_values, kwargs_objects, texts

PROPERTIES = settings(max_examples=40, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# What a job that names no installed integration can fail with.
REFUSALS = {ErrorCode.INVALID_MESSAGE, ErrorCode.UNKNOWN_ACTOR, ErrorCode.INVALID_KWARGS,
            ErrorCode.UNKNOWN_INTEGRATION}
REGION = "us-east-1"


@dataclass
class Rig:
    runtime: Runtime
    processor: SqsJobProcessor
    sqs: Any

    def record(self, message_id: str) -> JobRecord | None:
        return self.runtime.store.get_job(message_id)

    def dead_letters(self) -> int:
        url = self.processor.broker.queue.dead_letter_url
        counts = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(counts["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def rig() -> Iterator[Rig]:
    """The Lambda jobs processor on a table and a FIFO queue (with its dead-letter queue) on moto."""
    with mock_aws():
        config = PipelineConfig(table_name="properties-run-job", worker_concurrency=2)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, config.table_name)
        secrets = SecretSource(boto3_client=boto3.client("secretsmanager", region_name=REGION))
        connector = EwsConnector(secrets, concurrency=2)
        runtime = Runtime(config=config, store=DynamoDbStore(dynamodb, config.table_name), gateways=connector)
        sqs = boto3.client("sqs", region_name=REGION)
        broker = SqsFifoBroker(f"jobs-{uuid.uuid4().hex[:10]}", sqs_client=sqs, create_queues=True,
                               max_receive_count=3, wait_time_seconds=0)
        broker.declare_queue(JOBS_QUEUE)
        yield Rig(runtime, SqsJobProcessor(runtime, broker, max_receive_count=3), sqs)
        connector.close_all()


def sqs_record(body: str) -> SQSRecord:
    return SQSRecord({
        "messageId": str(uuid.uuid4()), "receiptHandle": "unused", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "properties"},
        "messageAttributes": {}, "eventSource": "aws:sqs",
    })


def claimed_id(body: str) -> Any:
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    return envelope.get("message_id") if isinstance(envelope, dict) else None


@PROPERTIES
@given(bodies)
def test_any_sqs_record_ends_as_a_record_with_a_stable_code_or_a_dead_letter(rig: Rig, body: str) -> None:
    record = sqs_record(body)
    dead_letters = rig.dead_letters()

    rig.processor.handle(record)  # anything but a return (or a retry) fails the property

    rejected = rig.record(f"sqs:{record.message_id}")
    if rejected is not None:
        assert (rejected.status, rejected.error_code) == (JobStatus.FAILED, ErrorCode.INVALID_MESSAGE)
        assert rig.dead_letters() == dead_letters + 1
        return
    job = rig.record(claimed_id(body))
    assert job is not None and job.status is JobStatus.FAILED and job.error_code in REFUSALS
    # Delivered again (SQS may), it keeps its code
    rig.processor.handle(sqs_record(body))
    again = rig.record(claimed_id(body))
    assert again is not None and again.error_code is job.error_code
    assert rig.dead_letters() == dead_letters


message_ids = st.uuids().map(str) | texts | st.text(min_size=120, max_size=140)


@PROPERTIES
@given(message_ids, actor_names, kwargs_objects, st.just(()) | st.lists(json_values, max_size=2).map(tuple))
def test_run_job_records_any_job_with_a_code_or_calls_it_unrecordable(
    rig: Rig, message_id: str, actor_name: str, kwargs: dict[str, Any], args: tuple[Any, ...]
) -> None:
    try:
        run_job(rig.runtime, Job(message_id, actor_name, kwargs, args=args))
    except UnrecordableMessage:
        return  # the runtime puts it in the dead-letter queue (the test above)
    except PipelineError as failure:
        # Recorded with its code; a message id seen before keeps the first delivery's record.
        job = rig.record(message_id)
        assert job is not None and job.error_code in REFUSALS
        assert failure.code in (job.error_code, ErrorCode.DUPLICATE_DELIVERY)
        return
    pytest.fail("a job with no integration installed succeeded")
