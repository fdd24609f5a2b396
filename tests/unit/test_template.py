"""template.yaml: cfn-lint clean, and in step with the code it deploys where cfn-lint cannot see.

cfn-lint does not flag a misspelt ReportBatchItemFailures, an invalid runtime, a FIFO batch size
above 10 or an unknown HTTP method (../shared/FACTS.md), nor does it know what the code expects:
handlers, environment variables, the table's shape, retry counts and timeouts. These tests do.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.shared import constants as powertools_constants
from boto3.dynamodb.types import TypeSerializer
from cfnlint.decode.cfn_yaml import load as load_cfn_yaml
from moto import mock_aws
from moto.events.models import EventPattern

import pipeline.runtimes.lambda_runtime
from handlers import callbacks
from infra.lambda_http import LocalLambdaContext, http_api_event
from pipeline.callback_check import check_url
from pipeline.config import ENVIRONMENT_VARIABLES, PipelineConfig
from pipeline.errors import ErrorCode
from pipeline.events.models import JobFailedData, make_event
from pipeline.events.sinks import PUT_EVENTS_MAX_ENTRIES
from pipeline.observability import NAMESPACE, SERVICE
from pipeline.runtimes.lambda_runtime import DEFAULT_MAX_RECEIVE_COUNT
from pipeline.runtimes.sqs.connection import parse_sqs_url
from pipeline.runtimes.sqs.queue import dead_letter_queue_name, fifo_queue_name
from pipeline.store.dynamodb.events import event_items, pending_event_from_image
from pipeline.store.dynamodb.keys import PENDING_EVENTS_INDEX, create_table, job_key
from pipeline.store.records import IntegrationRecord
from pipeline.subscriptions import callback_url, graph_lifecycle_url, graph_notification_url

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FUNCTION = "AWS::Serverless::Function"
# Lambda's Python runtimes that are not deprecated (November 2026), at or above requires-python.
PYTHON_RUNTIMES = {"python3.11", "python3.12", "python3.13"}
FIFO_MAX_BATCH_SIZE = 10
# AWS: a queue's visibility timeout at least six times the function's timeout for SQS sources.
VISIBILITY_FACTOR = 6
EWS_MAX_CONCURRENCY = 27
EXPECTED_HANDLERS = {
    "JobsFunction": "handlers.jobs.lambda_handler",
    "CallbacksFunction": "handlers.callbacks.lambda_handler",
    "RenewalsFunction": "handlers.renewals.lambda_handler",
    "EventsFunction": "handlers.events.lambda_handler",
}
# The functions that put jobs on the jobs queue (the events function only publishes events).
ENQUEUEING_FUNCTIONS = ("JobsFunction", "CallbacksFunction", "RenewalsFunction")
# Values of pseudo parameters when resolving the template by hand.
PSEUDO = {
    "AWS::StackName": "ews",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}


@cache
def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_cfn_yaml(str(TEMPLATE))
    return loaded


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """The template's resources by logical id, optionally only those of one type."""
    found: dict[str, dict[str, Any]] = _template()["Resources"]
    return {name: r for name, r in found.items() if kind is None or r["Type"] == kind}


def properties(logical_id: str) -> dict[str, Any]:
    """A resource's Properties."""
    props: dict[str, Any] = _template()["Resources"][logical_id]["Properties"]
    return props


def parameter(name: str) -> dict[str, Any]:
    """A parameter's declaration."""
    declared: dict[str, Any] = _template()["Parameters"][name]
    return declared


def default(name: str) -> int | str:
    """A parameter's default, as a number for Number parameters."""
    declared = parameter(name)
    value = declared["Default"]
    return int(value) if declared["Type"] == "Number" else str(value)


def function_setting(logical_id: str, key: str) -> Any:
    """A function property, falling back to Globals.Function (as SAM does)."""
    own = properties(logical_id)
    return own[key] if key in own else _template()["Globals"]["Function"][key]


def environment(logical_id: str) -> dict[str, Any]:
    """A function's environment variables: Globals' merged with its own (as SAM does)."""
    merged = dict(_template()["Globals"]["Function"].get("Environment", {}).get("Variables", {}))
    merged.update(properties(logical_id).get("Environment", {}).get("Variables", {}))
    return merged


def resolve(value: Any, overrides: Mapping[str, int | str] | None = None) -> Any:
    """Evaluate the intrinsic functions in `value` with parameter defaults (or `overrides`).

    A Ref to a resource becomes its logical id and a GetAtt `Logical.Attribute`: placeholders good
    enough for checking values' shapes.
    """
    overrides = overrides or {}

    def ref(name: str) -> str:
        if name in overrides:
            return str(overrides[name])
        if name in PSEUDO:
            return PSEUDO[name]
        if name in _template()["Parameters"]:
            return str(default(name))
        return name

    if isinstance(value, list):
        return [resolve(item, overrides) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return ref(value["Ref"])
    if set(value) == {"Fn::If"}:
        condition, if_true, if_false = value["Fn::If"]
        chosen = if_true if resolve(_template()["Conditions"][condition], overrides) else if_false
        return resolve(chosen, overrides)
    if set(value) == {"Fn::Equals"}:
        left, right = (resolve(part, overrides) for part in value["Fn::Equals"])
        return str(left) == str(right)
    if set(value) == {"Fn::Not"}:
        return not resolve(value["Fn::Not"][0], overrides)
    if set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        return ".".join(target) if isinstance(target, list) else str(target)
    if set(value) == {"Fn::FindInMap"}:
        mapping, top, second = (str(resolve(part, overrides)) for part in value["Fn::FindInMap"])
        return _template()["Mappings"][mapping][top][second]
    if set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        assert isinstance(text, str), "only the one-argument form of Fn::Sub is used"
        return re.sub(r"\$\{([^}!]+)\}", lambda m: ref(m.group(1)), text)
    return {key: resolve(item, overrides) for key, item in value.items()}


def events(logical_id: str, kind: str) -> list[dict[str, Any]]:
    """A function's event sources of one type (SQS, HttpApi, Schedule), their Properties."""
    found = properties(logical_id).get("Events", {}).values()
    return [event["Properties"] for event in found if event["Type"] == kind]


def policy_statements(logical_id: str) -> Iterator[dict[str, Any]]:
    """The inline statements of a function's Policies (not SAM policy templates)."""
    for policy in properties(logical_id).get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- cfn-lint ----------------------------------------------------------------------------------


def _lint(path: Path) -> list[str]:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(path, config=ManualArgs(regions=["us-east-1"]))
    return [f"{m.rule.id} {m.rule.severity} line {m.linenumber}: {m.message}" for m in matches
            if m.rule.severity in ("error", "warning")]


def test_cfn_lint_finds_no_error_or_warning() -> None:
    assert _lint(TEMPLATE) == []


def test_cfn_lint_as_called_here_does_report_problems(tmp_path: Path) -> None:
    # Guards the test above against a lint call that silently checks nothing.
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
        "    Properties:\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt Missing.Arn\n"
    )

    assert any(" error " in problem for problem in _lint(broken))


# -- functions ---------------------------------------------------------------------------------


def test_the_functions_point_at_real_handlers() -> None:
    functions = resources(FUNCTION)
    handlers = {name: properties(name)["Handler"] for name in functions}

    assert handlers == EXPECTED_HANDLERS
    for handler in handlers.values():
        module_name, _, attribute = handler.rpartition(".")
        entry_point = getattr(importlib.import_module(module_name), attribute)
        assert callable(entry_point)
        assert list(inspect.signature(entry_point).parameters) == ["event", "context"]


def test_functions_run_on_a_current_python_runtime() -> None:
    for name in resources(FUNCTION):
        assert function_setting(name, "Runtime") in PYTHON_RUNTIMES


def test_functions_are_built_by_the_makefile() -> None:
    # BuildMethod makefile: `sam build` runs `make build-<LogicalId>` in the CodeUri folder.
    makefile = ROOT / "Makefile"
    assert makefile.is_file(), "template.yaml builds with Metadata BuildMethod makefile: add the Makefile"
    targets = set(re.findall(r"^([A-Za-z0-9_ -]+):", makefile.read_text(), re.MULTILINE))
    declared = {target for line in targets for target in line.split()}
    for name, resource in resources(FUNCTION).items():
        assert resource.get("Metadata", {}).get("BuildMethod") == "makefile"
        assert function_setting(name, "CodeUri") == "."
        assert f"build-{name}" in declared


def test_every_function_runs_on_the_one_dependencies_layer_the_makefile_builds() -> None:
    # One layer, built once (`make build-DependenciesLayer`), holds the dependencies; the functions
    # hold only the project's code (infra/deploy/lambda_package.py).
    [(name, layer)] = resources("AWS::Serverless::LayerVersion").items()
    targets = {target for line in re.findall(r"^([A-Za-z0-9_ -]+):", (ROOT / "Makefile").read_text(),
                                                    re.MULTILINE) for target in line.split()}

    assert layer.get("Metadata", {}).get("BuildMethod") == "makefile"
    assert f"build-{name}" in targets
    assert properties(name)["ContentUri"] == "."
    for function in resources(FUNCTION):
        assert function_setting(function, "Layers") == [{"Ref": name}]
        assert function_setting(function, "Runtime") in properties(name)["CompatibleRuntimes"]
        assert function_setting(function, "Architectures") == properties(name)["CompatibleArchitectures"]
    assert layer["Metadata"]["BuildArchitecture"] in properties(name)["CompatibleArchitectures"]


def test_functions_log_to_groups_that_expire() -> None:
    for name in resources(FUNCTION):
        group = properties(name)["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources()[group]["Type"] == "AWS::Logs::LogGroup"
        assert properties(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_jobs_function_takes_fifo_batches_and_reports_partial_failures() -> None:
    [sqs] = events("JobsFunction", "SQS")

    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert properties("JobsQueue")["FifoQueue"] is True
    assert sqs["BatchSize"] == {"Ref": "BatchSize"}
    assert 1 <= int(parameter("BatchSize")["MinValue"]) <= default("BatchSize")
    assert default("BatchSize") <= int(parameter("BatchSize")["MaxValue"]) <= FIFO_MAX_BATCH_SIZE
    # FIFO event sources take no batching window.
    assert "MaximumBatchingWindowInSeconds" not in sqs


def test_jobs_concurrency_is_capped_below_exchanges_limit_by_default() -> None:
    [sqs] = events("JobsFunction", "SQS")

    assert sqs["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}
    # SQS event sources accept 2 to 1000.
    assert int(parameter("MaximumConcurrency")["MinValue"]) >= 2
    assert int(parameter("MaximumConcurrency")["MaxValue"]) <= 1000
    assert 2 <= int(default("MaximumConcurrency")) < EWS_MAX_CONCURRENCY


def http_routes(logical_id: str) -> dict[str, dict[str, Any]]:
    """A function's HttpApi events by method, and by "METHOD path" for every route."""
    declared = events(logical_id, "HttpApi")
    routes = {f"{http['Method']} {http['Path']}": http for http in declared}
    assert len(routes) == len(declared), "one event per route"
    by_method: dict[str, list[dict[str, Any]]] = {}
    for http in declared:
        by_method.setdefault(str(http["Method"]), []).append(http)
    # The EWS callback is the POST route with a path parameter (Graph's have none).
    return routes | {method: next((h for h in found if "{" in str(h["Path"])), found[0])
                     for method, found in by_method.items()}


def test_callbacks_function_routes_the_notifications_and_the_connectivity_check_only() -> None:
    assert {name for name in http_routes("CallbacksFunction") if " " in name} == {
        "POST /notifications/{token}", "POST /graph/notifications", "POST /graph/lifecycle",
        "GET /check/{integration_id}"}


def test_callbacks_function_serves_graph_webhooks_on_the_urls_graph_is_given() -> None:
    routes = http_routes("CallbacksFunction")
    for url in (graph_notification_url("https://api.example"), graph_lifecycle_url("https://api.example")):
        http = routes["POST " + url.removeprefix("https://api.example")]
        assert http["PayloadFormatVersion"] == "2.0"


def test_callbacks_function_answers_post_on_the_path_exchange_is_given() -> None:
    http = http_routes("CallbacksFunction")["POST"]

    assert http["PayloadFormatVersion"] == "2.0"
    # The URL subscribe_mailbox hands Exchange, with the token as the path parameter.
    assert callback_url("https://api.example", "{token}") == "https://api.example" + http["Path"]
    # Below the HTTP API's 30 s integration timeout.
    assert int(properties("CallbacksFunction")["Timeout"]) < 30


class _Integrations:
    """Just enough of a store for the connectivity check."""

    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        return IntegrationRecord(integration_id) if integration_id == "acme" else None


def test_callbacks_function_answers_the_connectivity_check_on_the_routed_path() -> None:
    http = http_routes("CallbacksFunction")["GET"]
    assert http["PayloadFormatVersion"] == "2.0"
    # The URL an admin is given, with the integration id as the path parameter.
    assert check_url("https://api.example", "{integration_id}") == "https://api.example" + http["Path"]

    # The handler serves that very path (API Gateway passes the raw path on).
    callbacks.use_dependencies(callbacks.CallbackDependencies(store=_Integrations(), enqueue=None))  # type: ignore[arg-type]
    try:
        answers = {integration_id: callbacks.lambda_handler(
            http_api_event("GET", http["Path"].replace("{integration_id}", integration_id), {}, b""),
            LocalLambdaContext())  # type: ignore[arg-type]
            for integration_id in ("acme", "other")}
    finally:
        callbacks.use_dependencies(None)
    assert answers["acme"]["statusCode"] == 200
    assert answers["acme"]["body"] == "You have successfully reached ews-pipeline, integration is: acme"
    assert answers["other"]["statusCode"] == 404
    assert answers["acme"]["headers"] == answers["other"]["headers"]


def test_renewals_function_runs_on_a_schedule() -> None:
    [schedule] = events("RenewalsFunction", "Schedule")

    assert re.fullmatch(r"rate\(\d+ minutes?\)", schedule["Schedule"])
    assert not properties("RenewalsFunction").get("Events", {}).keys() - {"Renewals"}


# -- environment -------------------------------------------------------------------------------


def _variables_read_by_the_pipeline() -> set[str]:
    names = {name for names in ENVIRONMENT_VARIABLES.values() for name in names}
    # Read by pipeline.runtimes.lambda_runtime itself, beside PipelineConfig.
    assert '"PIPELINE_MAX_RECEIVE_COUNT"' in inspect.getsource(pipeline.runtimes.lambda_runtime)
    return names | {"PIPELINE_MAX_RECEIVE_COUNT"}


def _powertools_variables() -> set[str]:
    return {value for value in vars(powertools_constants).values()
            if isinstance(value, str) and re.fullmatch(r"POWERTOOLS_[A-Z_]+", value)}


def test_every_variable_set_is_one_the_code_reads() -> None:
    known = _variables_read_by_the_pipeline() | _powertools_variables()
    for name in resources(FUNCTION):
        assert set(environment(name)) <= known, name


def test_every_function_finds_the_table_and_the_jobs_queue() -> None:
    for name in resources(FUNCTION):
        env = environment(name)
        assert env["PIPELINE_TABLE"] == {"Ref": "ResultsTable"}
        assert env["PIPELINE_BROKER"] == {"Fn::Sub": "sqs://${JobsQueue.QueueName}"}
        assert env["POWERTOOLS_SERVICE_NAME"] == SERVICE
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE


def test_the_broker_url_names_the_jobs_queue() -> None:
    queue_name = resolve(properties("JobsQueue")["QueueName"])
    env = environment("JobsFunction")
    broker_url = str(resolve(env["PIPELINE_BROKER"])).replace("JobsQueue.QueueName", queue_name)

    assert parse_sqs_url(broker_url) == (queue_name, {})


def test_jobs_function_knows_its_timeout_receive_count_and_callback_url() -> None:
    env = environment("JobsFunction")

    assert properties("JobsFunction")["Timeout"] == {"Ref": "JobTimeoutSeconds"}
    assert env["PIPELINE_JOB_TIMEOUT"] == {"Ref": "JobTimeoutSeconds"}
    assert env["PIPELINE_MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    callback_base_url = resolve(env["PIPELINE_CALLBACK_URL"])
    assert callback_base_url == resolve(_template()["Outputs"]["CallbackBaseUrl"]["Value"])
    assert callback_base_url.startswith("https://ServerlessHttpApi.execute-api.")


def test_the_functions_configuration_validates_with_the_defaults() -> None:
    for name in resources(FUNCTION):
        env = {key: str(value) for key, value in resolve(environment(name)).items()}

        config = PipelineConfig.from_env(env)

        assert config.job_timeout_seconds == default("JobTimeoutSeconds")


@pytest.mark.parametrize("job_timeout", parameter("JobTimeoutSeconds")["AllowedValues"])
def test_every_allowed_job_timeout_gives_a_valid_configuration_and_queue(job_timeout: str) -> None:
    # Given the longest EWS timeout the template allows
    overrides = {"JobTimeoutSeconds": job_timeout,
                 "EwsTimeoutSeconds": parameter("EwsTimeoutSeconds")["MaxValue"]}

    # When the jobs function and its queue are resolved with this job timeout
    env = {key: str(value) for key, value in resolve(environment("JobsFunction"), overrides).items()}
    visibility_timeout = int(resolve(properties("JobsQueue")["VisibilityTimeout"], overrides))

    # Then the function's configuration holds and SQS hides a batch for six of its timeouts
    config = PipelineConfig.from_env(env)
    assert config.job_timeout_seconds == int(job_timeout) <= 900
    assert visibility_timeout >= VISIBILITY_FACTOR * int(job_timeout)
    assert visibility_timeout <= 43_200  # SQS's limit


def test_defaults_match_the_code() -> None:
    defaults = PipelineConfig()

    assert default("JobTimeoutSeconds") == defaults.job_timeout_seconds
    assert default("EwsTimeoutSeconds") == defaults.ews_timeout_seconds
    assert default("MaxReceiveCount") == DEFAULT_MAX_RECEIVE_COUNT


# -- queues ------------------------------------------------------------------------------------


def test_jobs_queue_is_fifo_with_a_fifo_dead_letter_queue() -> None:
    queue, dlq = properties("JobsQueue"), properties("JobsDeadLetterQueue")

    for props in (queue, dlq):
        assert props["FifoQueue"] is True
        assert props["ContentBasedDeduplication"] is False  # the broker sets MessageDeduplicationId
    queue_name, dlq_name = resolve(queue["QueueName"]), resolve(dlq["QueueName"])
    assert queue_name == fifo_queue_name(queue_name) == "ews-jobs.fifo"
    assert dlq_name == dead_letter_queue_name(queue_name)
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    # Dead letters outlive the jobs queue's messages, for operators to redrive them.
    assert int(dlq["MessageRetentionPeriod"]) > int(queue["MessageRetentionPeriod"])


# -- table -------------------------------------------------------------------------------------


def _table_shape(table: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "GlobalSecondaryIndexes": sorted(
            ({k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
             for index in table.get("GlobalSecondaryIndexes", [])),
            key=lambda index: index["IndexName"],
        ),
    }


def _created_table() -> tuple[dict[str, Any], dict[str, Any]]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "shape")
        return client.describe_table(TableName="shape")["Table"], client.describe_time_to_live(
            TableName="shape"
        )["TimeToLiveDescription"]


def test_table_has_the_shape_create_table_gives() -> None:
    created, ttl = _created_table()
    declared = resolve(properties("ResultsTable"))

    assert _table_shape(declared) == _table_shape(created)
    assert declared["BillingMode"] == created["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert declared["TimeToLiveSpecification"] == {"AttributeName": ttl["AttributeName"], "Enabled": True}
    assert declared["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert declared["SSESpecification"]["SSEEnabled"] is True
    assert resources()["ResultsTable"]["DeletionPolicy"] == "Retain"
    # The events function reads new event items from the stream.
    view_type = created["StreamSpecification"]["StreamViewType"]
    assert declared["StreamSpecification"] == {"StreamViewType": view_type}
    assert created["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}


# -- events ------------------------------------------------------------------------------------


def _stream_record(item: Mapping[str, Any], event_name: str = "INSERT") -> dict[str, Any]:
    """A DynamoDB Streams record of `item` as the event source mapping filters it."""
    serializer = TypeSerializer()
    image = {name: serializer.serialize(value) for name, value in item.items()}
    keys = {name: image[name] for name in ("pk", "sk")}
    return {"eventName": event_name, "eventSource": "aws:dynamodb",
            "dynamodb": {"Keys": keys, "NewImage": image, "StreamViewType": "NEW_IMAGE"}}


def test_events_function_reads_the_table_stream_with_partial_failures() -> None:
    [stream] = events("EventsFunction", "DynamoDB")

    assert stream["Stream"] == {"Fn::GetAtt": ["ResultsTable", "StreamArn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert 1 <= int(stream["MaximumRetryAttempts"]) <= 10  # then the scheduled sweep takes over
    assert stream["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS", "Destination": {"Fn::GetAtt": ["EventsFailureQueue", "Arn"]}}
    assert stream["StartingPosition"] == "TRIM_HORIZON"  # nothing written before the mapping is skipped
    assert PUT_EVENTS_MAX_ENTRIES <= int(stream["BatchSize"]) <= 10_000


def test_the_stream_filter_passes_pending_events_only_as_the_function_does() -> None:
    [stream] = events("EventsFunction", "DynamoDB")
    [pattern] = [EventPattern.load(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]]
    data = JobFailedData(message_id="m-1", actor_name="create_event", error_code=ErrorCode.ACCESS_DENIED,
                         error_message="denied")
    event = make_event(data, integration_id="acme", occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
                       cause="m-1")
    [pending] = event_items([event])
    published = {**{k: v for k, v in pending.items() if k != "pending_partition"},
                 "published_at": "2026-11-03T00:00:01Z"}
    job = {**job_key("m-1"), "status": "running", "pending_partition": "PENDING"}
    records = {"pending": _stream_record(pending), "published": _stream_record(published, "MODIFY"),
               "job": _stream_record(job)}

    passed = {name for name, record in records.items() if pattern.matches_event(record)}  # type: ignore[arg-type]
    checked = {name for name, record in records.items()
               if pending_event_from_image(record["dynamodb"]["NewImage"]) is not None}

    assert passed == checked == {"pending"}


def test_events_function_publishes_on_the_stack_bus_or_the_one_given() -> None:
    publish = [s for s in policy_statements("EventsFunction") if "events:PutEvents" in as_list(s["Action"])]
    [statement] = publish
    for overrides, bus, arn in (
        ({}, "EventBus.Name", "EventBus.Arn"),
        ({"EventBusName": "apps"}, "apps", "arn:aws:events:us-east-1:123456789012:event-bus/apps"),
    ):
        env = {key: str(value) for key, value in resolve(environment("EventsFunction"), overrides).items()}

        config = PipelineConfig.from_env(env)

        assert config.events_bus_name == bus
        assert resolve(_template()["Outputs"]["EventBusName"]["Value"], overrides) == bus
        assert resolve(statement["Resource"], overrides) == arn
        assert resolve(_template()["Outputs"]["EventBusArn"]["Value"], overrides) == arn
    for name in resources(FUNCTION):
        grants = [s for s in policy_statements(name) if "events:PutEvents" in as_list(s["Action"])]
        assert bool(grants) == (name == "EventsFunction"), name


def test_events_function_may_mark_and_sweep_the_outbox_only() -> None:
    granted = {str(action): resolve(s["Resource"]) for s in policy_statements("EventsFunction")
               for action in as_list(s["Action"]) if str(action).startswith("dynamodb:")}

    assert granted == {"dynamodb:UpdateItem": "ResultsTable.Arn",
                       "dynamodb:Query": f"ResultsTable.Arn/index/{PENDING_EVENTS_INDEX}"}


def test_other_functions_leave_their_events_to_the_stream() -> None:
    for name in resources(FUNCTION):
        sink = PipelineConfig.from_env(
            {key: str(value) for key, value in resolve(environment(name)).items()}).events_sink
        assert (sink == "stream") == (name != "EventsFunction"), name


def test_the_event_sweep_runs_on_a_schedule_for_what_the_stream_gave_up_on() -> None:
    [schedule] = events("EventsFunction", "Schedule")
    age = PipelineConfig.from_env(
        {key: str(value) for key, value in resolve(environment("EventsFunction")).items()}
    ).events_sweep_age_seconds

    assert re.fullmatch(r"rate\(\d+ minutes?\)", schedule["Schedule"])
    # Older than the stream's own deliveries take, so that the sweep rarely sends one twice.
    assert age >= 60


# -- permissions and alarms --------------------------------------------------------------------


def test_only_the_jobs_function_reads_secrets_and_only_under_the_prefix() -> None:
    for name in resources(FUNCTION):
        granted = [s for s in policy_statements(name)
                   if any(str(a).startswith("secretsmanager:") for a in as_list(s["Action"]))]
        if name != "JobsFunction":
            assert granted == [], name
            continue
        [statement] = granted
        # PutSecretValue: a personal connection's rotated OAuth refresh token is written back.
        assert as_list(statement["Action"]) == [
            "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
        assert resolve(statement["Resource"]) == (
            f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{default('SecretsPrefix')}*"
        )


def test_functions_that_enqueue_may_send_to_the_jobs_queue() -> None:
    assert set(ENQUEUEING_FUNCTIONS) == set(resources(FUNCTION)) - {"EventsFunction"}
    for name in ENQUEUEING_FUNCTIONS:
        sends = [s for s in policy_statements(name) if "sqs:SendMessage" in as_list(s["Action"])]
        assert {"Fn::GetAtt": ["JobsQueue", "Arn"]} in [s["Resource"] for s in sends], name
    jobs = {resolve(s["Resource"]): set(as_list(s["Action"])) for s in policy_statements("JobsFunction")
            if str(as_list(s["Action"])[0]).startswith("sqs:")}
    assert {"sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} <= jobs["JobsQueue.Arn"]
    assert "sqs:SendMessage" in jobs["JobsDeadLetterQueue.Arn"]


def test_alarms_watch_the_dead_letter_queue_and_the_jobs_function() -> None:
    alarms = {name: resolve(r["Properties"]) for name, r in resources("AWS::CloudWatch::Alarm").items()}
    watched = {(a["Namespace"], a["MetricName"], a["Dimensions"][0]["Value"]) for a in alarms.values()}

    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "JobsDeadLetterQueue.QueueName"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "EventsFailureQueue.QueueName"),
        ("AWS/Lambda", "Errors", "JobsFunction"),
    }
    for alarm in alarms.values():
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_outputs_name_what_operators_and_upstream_apps_need() -> None:
    outputs = _template()["Outputs"]

    assert {"CallbackBaseUrl", "JobsQueueUrl", "DeadLetterQueueUrl", "ResultsTableName",
            "EventBusName", "EventBusArn"} <= set(outputs)
    assert outputs["JobsQueueUrl"]["Value"] == {"Ref": "JobsQueue"}
    assert outputs["DeadLetterQueueUrl"]["Value"] == {"Ref": "JobsDeadLetterQueue"}
    assert outputs["ResultsTableName"]["Value"] == {"Ref": "ResultsTable"}
