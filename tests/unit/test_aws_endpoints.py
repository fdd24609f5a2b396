"""The pipeline's botocore sessions keep endpoints.json for its own services only (issue 11, peak
RSS), and every client still resolves as botocore's own resolver resolves it."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.loaders import create_loader

from pipeline.aws_endpoints import (
    PIPELINE_SERVICES,
    PipelineEndpointResolver,
    install_pipeline_endpoints,
    kept_endpoints,
)

REGIONS = ("us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "ap-southeast-7")


def endpoints_text() -> tuple[str, dict[str, Any]]:
    loader = create_loader()
    path = next(p for p in (f"{s}/endpoints" for s in loader.search_paths) if loader.file_loader.exists(p))
    with open(f"{path}.json", "rb") as data:
        text = data.read().decode("utf-8")
    return text, json.loads(text, object_pairs_hook=OrderedDict)


def narrowed(whole: dict[str, Any], services: frozenset[str]) -> dict[str, Any]:
    """What kept_endpoints must equal: the whole data, each partition's services filtered."""
    def services_kept(entries: dict[str, Any]) -> dict[str, Any]:
        return OrderedDict((service, entry) for service, entry in entries.items() if service in services)

    def partition_kept(partition: dict[str, Any]) -> dict[str, Any]:
        return OrderedDict((name, services_kept(value) if name == "services" else value)
                           for name, value in partition.items())

    return OrderedDict((key, [partition_kept(p) for p in value] if key == "partitions" else value)
                       for key, value in whole.items())


def test_the_kept_data_is_botocores_data_with_only_the_pipelines_services() -> None:
    text, whole = endpoints_text()

    kept = kept_endpoints(text, PIPELINE_SERVICES)

    assert kept == narrowed(whole, PIPELINE_SERVICES)
    assert json.dumps(kept) == json.dumps(narrowed(whole, PIPELINE_SERVICES))  # the same order too
    assert {name for partition in kept["partitions"] for name in partition["services"]} == PIPELINE_SERVICES
    assert all(isinstance(partition["services"], OrderedDict) for partition in kept["partitions"])


@pytest.mark.parametrize("text", [
    '{"partitions": [], "version": 3}',
    '{"partitions": [{"partition": "p", "services": {}}], "version": 3}',
    ' { "version" : 3 , "partitions" : [ { "services" : { "sqs" : {"a": [1, {"b": null}]}, "s3" : {} },'
    ' "partition" : "aws" } , { } ] } ',
    '{"partitions": [{"services": {"sqs": {"x": 1}, "sqs": {"x": 2}, "s3": {"x": 3}}}]}',
    '{"partitions": [{"services": []}], "other": {"services": {"s3": {}}}}',
])
def test_any_document_is_narrowed_as_json_parses_it(text: str) -> None:
    whole = json.loads(text)
    for partition in whole.get("partitions", []):
        if isinstance(partition.get("services"), dict):
            partition["services"] = {name: entry for name, entry in partition["services"].items()
                                     if name == "sqs"}

    assert kept_endpoints(text, frozenset({"sqs"})) == whole


@pytest.mark.parametrize("text", ['{"partitions": [', '{"partitions": [{"services": {"s3": }}]}', "{} {}",
                                  ""])
def test_a_malformed_document_fails_as_json_fails(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        kept_endpoints(text, PIPELINE_SERVICES)


def sessions() -> tuple[boto3.session.Session, boto3.session.Session]:
    core = botocore.session.get_session()
    assert install_pipeline_endpoints(core)
    return boto3.session.Session(botocore_session=core), boto3.session.Session()


def resolved(client: Any) -> tuple[Any, ...]:
    signer = client._request_signer
    return (client.meta.endpoint_url, client.meta.region_name, signer.signing_name, signer.region_name,
            client.meta.config.signature_version)


@pytest.mark.parametrize("region", REGIONS)
def test_every_client_resolves_as_with_botocores_own_resolver(region: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    pipeline_session, plain_session = sessions()

    for service in (*sorted(PIPELINE_SERVICES), "s3", "sts", "iam"):
        assert resolved(pipeline_session.client(service, region_name=region)) == \
            resolved(plain_session.client(service, region_name=region)), service
    for service in ("dynamodb", "s3"):
        assert pipeline_session.get_available_regions(service) == plain_session.get_available_regions(service)
    assert pipeline_session.get_available_partitions() == plain_session.get_available_partitions()


def test_only_another_services_client_reads_the_whole_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    pipeline_session, _ = sessions()

    for service in sorted(PIPELINE_SERVICES):
        pipeline_session.client(service, region_name="eu-west-1")
    resolver = pipeline_session._session._get_internal_component("endpoint_resolver")
    assert isinstance(resolver, PipelineEndpointResolver)
    assert resolver._whole is None
    assert sum(len(partition["services"]) for partition in resolver._endpoint_data["partitions"]) <= \
        len(PIPELINE_SERVICES) * len(resolver._endpoint_data["partitions"])

    pipeline_session.client("s3", region_name="eu-west-1")

    assert resolver._whole is not None


def test_the_pipelines_clients_come_from_sessions_with_the_kept_data() -> None:
    from pipeline import aws_clients

    aws_clients.new_client("sqs", region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing")

    assert aws_clients._sessions
    for session in aws_clients._sessions.values():
        resolver = session._session._get_internal_component("endpoint_resolver")
        assert isinstance(resolver, PipelineEndpointResolver)
