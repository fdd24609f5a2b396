"""template.yaml deployed: translated by aws-sam-translator, created by moto's CloudFormation.

moto skips the HTTP API, its stage and the CloudWatch alarms with a warning; everything the jobs
path needs (queues, table, roles, functions, the event source mapping, the schedule) is created,
and so is the events path (the bus, the table's stream and its mapping to the events function).
"""

from __future__ import annotations

import ast
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml
from moto import mock_aws
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from pipeline.config import PipelineConfig
from pipeline.runtimes.lambda_runtime import DEFAULT_MAX_RECEIVE_COUNT, build_job_processor
from pipeline.store.dynamodb.keys import create_table

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse .*:UserWarning")

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
REGION = "us-east-1"
STACK = "ews-test"
CODE_BUCKET, CODE_KEY = "ews-pipeline-code", "functions.zip"
HANDLERS = {
    "JobsFunction": "handlers.jobs.lambda_handler",
    "CallbacksFunction": "handlers.callbacks.lambda_handler",
    "RenewalsFunction": "handlers.renewals.lambda_handler",
    "EventsFunction": "handlers.events.lambda_handler",
}
# The bus the stack creates when EventBusName is left empty.
EVENT_BUS = f"{STACK}-events"


@dataclass(frozen=True)
class Deployed:
    """The created stack: its description and the physical ids of its resources."""

    stack: dict[str, Any]
    physical_ids: dict[str, str]

    @property
    def outputs(self) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in self.stack.get("Outputs", [])}

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)

    def function(self, logical_id: str) -> dict[str, Any]:
        configuration: dict[str, Any] = self.client("lambda").get_function(
            FunctionName=self.physical_ids[logical_id]
        )["Configuration"]
        return configuration

    def environment(self, logical_id: str) -> dict[str, str]:
        # moto keeps Number parameters as numbers; Lambda gives every variable as a string.
        variables = self.function(logical_id)["Environment"]["Variables"]
        return {name: str(value) for name, value in variables.items()}


def translated_template() -> dict[str, Any]:
    """template.yaml through the SAM transform, its code in S3 (translation needs an s3:// CodeUri)."""
    template = json.loads(json.dumps(load_cfn_yaml(str(TEMPLATE))))
    code_uri = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    template["Globals"]["Function"]["CodeUri"] = code_uri
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function" and "CodeUri" in resource["Properties"]:
            resource["Properties"]["CodeUri"] = code_uri
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = code_uri
    translated: dict[str, Any] = transform(template, {}, ManagedPolicyLoader(boto3.client("iam")))
    return translated


def _upload_code() -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handlers/__init__.py", "")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=CODE_BUCKET)
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=archive.getvalue())


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            _upload_code()
            cloudformation = boto3.client("cloudformation", region_name=REGION)
            cloudformation.create_stack(
                StackName=STACK,
                TemplateBody=json.dumps(translated_template()),
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
            [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
            physical_ids = {
                r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cloudformation.describe_stack_resources(StackName=STACK)["StackResources"]
                if "PhysicalResourceId" in r  # moto lists the resources it skipped without one
            }
            yield Deployed(stack, physical_ids)


def test_stack_is_created(deployed: Deployed) -> None:
    assert deployed.stack["StackStatus"] == "CREATE_COMPLETE"
    assert {"JobsQueueUrl", "DeadLetterQueueUrl", "ResultsTableName", "CallbackBaseUrl"} <= set(
        deployed.outputs
    )


def test_jobs_queue_is_fifo_and_redrives_to_a_fifo_dead_letter_queue(deployed: Deployed) -> None:
    sqs = deployed.client("sqs")
    queue_url, dlq_url = deployed.outputs["JobsQueueUrl"], deployed.outputs["DeadLetterQueueUrl"]

    queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]

    assert queue_url.endswith(f"/{STACK}-jobs.fifo")
    assert dlq_url.endswith(f"/{STACK}-jobs-dlq.fifo")
    assert (queue["FifoQueue"], queue["ContentBasedDeduplication"]) == ("true", "false")
    assert dlq["FifoQueue"] == "true"
    redrive = json.loads(queue["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dlq["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == DEFAULT_MAX_RECEIVE_COUNT
    jobs_timeout = deployed.function("JobsFunction")["Timeout"]
    assert int(queue["VisibilityTimeout"]) >= 6 * int(jobs_timeout)


def test_table_has_the_keys_and_indexes_the_store_uses(deployed: Deployed) -> None:
    dynamodb = deployed.client("dynamodb")
    create_table(dynamodb, "reference")
    reference = dynamodb.describe_table(TableName="reference")["Table"]

    table = dynamodb.describe_table(TableName=deployed.outputs["ResultsTableName"])["Table"]

    def shape(t: dict[str, Any]) -> tuple[Any, ...]:
        indexes = {i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in t["GlobalSecondaryIndexes"]}
        attributes = sorted((a["AttributeName"], a["AttributeType"]) for a in t["AttributeDefinitions"])
        return t["KeySchema"], attributes, indexes, t["BillingModeSummary"]["BillingMode"]

    # moto's CloudFormation does not apply TimeToLiveSpecification; tests/unit compare it.
    assert shape(table) == shape(reference)


def test_functions_exist_with_their_handlers_and_a_valid_configuration(deployed: Deployed) -> None:
    table = deployed.outputs["ResultsTableName"]
    for logical_id, handler in HANDLERS.items():
        function = deployed.function(logical_id)
        env = deployed.environment(logical_id)

        config = PipelineConfig.from_env(env)

        assert function["Handler"] == handler
        assert function["Runtime"].startswith("python3.")
        assert config.table_name == table
        assert config.broker_url == f"sqs://{STACK}-jobs.fifo"
    jobs_env = deployed.environment("JobsFunction")
    assert int(jobs_env["PIPELINE_JOB_TIMEOUT"]) == int(deployed.function("JobsFunction")["Timeout"])
    assert int(jobs_env["PIPELINE_MAX_RECEIVE_COUNT"]) == DEFAULT_MAX_RECEIVE_COUNT
    assert jobs_env["PIPELINE_CALLBACK_URL"].startswith("https://")
    # Only the events function publishes; the others leave their events to the table's stream.
    sinks = {logical_id: PipelineConfig.from_env(deployed.environment(logical_id)).events_sink
             for logical_id in HANDLERS}
    assert sinks == {**dict.fromkeys(HANDLERS, "stream"), "EventsFunction": f"eventbridge://{EVENT_BUS}"}


def test_jobs_function_built_from_its_environment_finds_both_queues(deployed: Deployed) -> None:
    # What the jobs function does on a cold start, with the environment the stack gave it.
    processor = build_job_processor({**deployed.environment("JobsFunction"), "AWS_REGION": REGION})

    assert processor.broker.queue.url == deployed.outputs["JobsQueueUrl"]
    assert processor.broker.queue.dead_letter_url == deployed.outputs["DeadLetterQueueUrl"]
    assert processor.max_receive_count == DEFAULT_MAX_RECEIVE_COUNT


def test_jobs_queue_feeds_the_jobs_function_with_partial_batch_failures(deployed: Deployed) -> None:
    lambda_client = deployed.client("lambda")
    queue_arn = deployed.client("sqs").get_queue_attributes(
        QueueUrl=deployed.outputs["JobsQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    [mapping] = lambda_client.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]

    assert mapping["FunctionArn"] == deployed.function("JobsFunction")["FunctionArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= mapping["BatchSize"] <= 10
    assert 2 <= mapping["ScalingConfig"]["MaximumConcurrency"] < 27


def test_renewals_and_the_event_sweep_run_every_five_minutes(deployed: Deployed) -> None:
    events = deployed.client("events")
    expected = {deployed.function(name)["FunctionArn"] for name in ("RenewalsFunction", "EventsFunction")}

    schedules = sorted(
        (rule.get("ScheduleExpression"), target["Arn"])
        for rule in events.list_rules()["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    )

    assert schedules == sorted(("rate(5 minutes)", arn) for arn in expected)


def test_the_stack_creates_the_event_bus_the_events_function_publishes_on(deployed: Deployed) -> None:
    buses = {bus["Name"]: bus["Arn"] for bus in deployed.client("events").list_event_buses()["EventBuses"]}

    assert deployed.outputs["EventBusName"] == EVENT_BUS
    assert deployed.outputs["EventBusArn"] == buses[EVENT_BUS]
    assert _granted(deployed, "events:PutEvents") == {
        **{name: [] for name in HANDLERS}, "EventsFunction": [buses[EVENT_BUS]]}


def test_the_table_stream_feeds_new_events_to_the_events_function(deployed: Deployed) -> None:
    dynamodb = deployed.client("dynamodb")
    table = dynamodb.describe_table(TableName=deployed.outputs["ResultsTableName"])["Table"]
    failure_queue_arn = deployed.client("sqs").get_queue_attributes(
        QueueUrl=deployed.outputs["EventsFailureQueueUrl"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]

    [mapping] = deployed.client("lambda").list_event_source_mappings(
        EventSourceArn=table["LatestStreamArn"])["EventSourceMappings"]

    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert mapping["FunctionArn"] == deployed.function("EventsFunction")["FunctionArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 1 <= mapping["MaximumRetryAttempts"] <= 10
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == failure_queue_arn
    [pattern] = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern["dynamodb"]["Keys"] == {"pk": {"S": [{"prefix": "EVENT#"}]}}
    assert _granted(deployed, "sqs:SendMessage")["EventsFunction"] == [failure_queue_arn]


def _document(document: dict[str, Any] | str) -> dict[str, Any]:
    # boto3 decodes a JSON policy document to a dict; moto's CloudFormation stores some policies
    # as the repr of a Python dict, which boto3 leaves as text.
    if isinstance(document, str):
        decoded: dict[str, Any] = ast.literal_eval(unquote(document))
        return decoded
    return document


def _granted(deployed: Deployed, action: str) -> dict[str, list[Any]]:
    """Per function, the resources its inline policies grant `action` on."""
    iam = deployed.client("iam")
    granted: dict[str, list[Any]] = {}
    for logical_id in HANDLERS:
        role = deployed.function(logical_id)["Role"].rsplit("/", 1)[-1]
        documents = [_document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
                     for name in iam.list_role_policies(RoleName=role)["PolicyNames"]]
        granted[logical_id] = [
            statement["Resource"]
            for document in documents
            for statement in document["Statement"]
            if action in statement["Action"]
        ]
    return granted


@pytest.mark.parametrize("action", ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"])
def test_only_the_jobs_function_may_read_and_write_secrets_under_the_prefix(
    deployed: Deployed, action: str
) -> None:
    # Writing: a user's rotated refresh token (oauth2_delegated) goes back into their secret.
    assert _granted(deployed, action) == {
        "JobsFunction": [f"arn:aws:secretsmanager:{REGION}:123456789012:secret:ews-pipeline/*"],
        "CallbacksFunction": [],
        "RenewalsFunction": [],
        "EventsFunction": [],
    }
