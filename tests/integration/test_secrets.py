"""SecretSource against Secrets Manager (moto): parsing, redaction, caching, forced refresh, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipeline.errors import ErrorCode, PermanentError
from pipeline.secrets import ExchangeSecret, SecretSource

PASSWORD = "pa55-Word-7"
CLIENT_SECRET = "cl1ent-Secret-8"


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def put(client: Any, name: str, value: dict[str, str]) -> None:
    try:
        client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=name, SecretString=json.dumps(value))


def test_reads_and_redacts(client: Any) -> None:
    put(client, "ews/i1/svc", {"username": "svc@example.com", "password": PASSWORD, "domain": "EXAMPLE"})
    secret = SecretSource(boto3_client=client).get("ews/i1/svc")
    assert (secret.username, secret.password, secret.domain) == ("svc@example.com", PASSWORD, "EXAMPLE")
    assert PASSWORD not in repr(secret) and PASSWORD not in str(secret) and PASSWORD not in f"{secret}"
    assert "svc@example.com" in repr(secret)


def test_oauth_secret_redacts_client_secret(client: Any) -> None:
    put(client, "ews/i1/app", {"client_id": "app-1", "client_secret": CLIENT_SECRET, "tenant_id": "t1"})
    secret = SecretSource(boto3_client=client).get("ews/i1/app")
    assert secret.client_secret == CLIENT_SECRET
    assert CLIENT_SECRET not in repr(secret)


def test_cached_until_refresh_is_forced(client: Any) -> None:
    put(client, "ews/i1/svc", {"username": "svc", "password": "old"})
    source = SecretSource(boto3_client=client, max_age_seconds=300)
    first = source.get("ews/i1/svc")
    put(client, "ews/i1/svc", {"username": "svc", "password": "new"})
    assert source.get("ews/i1/svc").password == "old"  # still cached
    refreshed = source.get("ews/i1/svc", refresh=True)
    assert refreshed.password == "new"
    assert refreshed.fingerprint != first.fingerprint
    assert source.get("ews/i1/svc").password == "new"  # the refresh re-filled the cache


def test_max_age_zero_always_fetches(client: Any) -> None:
    put(client, "s", {"username": "u", "password": "one"})
    source = SecretSource(boto3_client=client, max_age_seconds=0)
    source.get("s")
    put(client, "s", {"username": "u", "password": "two"})
    assert source.get("s").password == "two"


def test_missing_secret_names_the_id(client: Any) -> None:
    with pytest.raises(PermanentError) as caught:
        SecretSource(boto3_client=client).get("ews/nope/service")
    assert caught.value.code is ErrorCode.SECRET_NOT_FOUND
    assert "ews/nope/service" in caught.value.message


@pytest.mark.parametrize("text", ["not json", "[1, 2]", json.dumps({"password": 5})])
def test_malformed_secret_is_invalid_integration_without_its_value(client: Any, text: str) -> None:
    client.create_secret(Name="bad", SecretString=text)
    with pytest.raises(PermanentError) as caught:
        SecretSource(boto3_client=client).get("bad")
    assert caught.value.code is ErrorCode.INVALID_INTEGRATION
    assert text not in str(caught.value)


def test_fingerprint_is_stable_and_not_the_secret() -> None:
    one = ExchangeSecret(username="u", password=PASSWORD)
    assert one.fingerprint == ExchangeSecret(username="u", password=PASSWORD).fingerprint
    assert PASSWORD not in one.fingerprint
    assert one.fingerprint != ExchangeSecret(username="u", password=PASSWORD + "x").fingerprint


REFRESH_TOKEN = "r3fresh-Token-9"


def test_a_refresh_token_is_redacted_and_its_rotation_keeps_the_fingerprint() -> None:
    one = ExchangeSecret(refresh_token=REFRESH_TOKEN)
    assert REFRESH_TOKEN not in repr(one) and REFRESH_TOKEN not in str(one)
    # A refresh token rotated on use is the same identity: pooled connections built on it stay.
    assert one.fingerprint == ExchangeSecret(refresh_token=REFRESH_TOKEN + "x").fingerprint


def test_update_writes_a_new_version_keeping_the_other_keys_and_refreshes_the_cache(client: Any) -> None:
    put(client, "ews/i1/users/alice", {"refresh_token": "old", "note": "kept"})
    source = SecretSource(boto3_client=client, max_age_seconds=300)
    assert source.get("ews/i1/users/alice").refresh_token == "old"
    updated = source.update("ews/i1/users/alice", {"refresh_token": "new"})
    assert updated.refresh_token == "new"
    stored = json.loads(client.get_secret_value(SecretId="ews/i1/users/alice")["SecretString"])
    assert stored == {"refresh_token": "new", "note": "kept"}  # keys the pipeline does not know survive
    assert source.get("ews/i1/users/alice").refresh_token == "new"  # the cache holds the new version
    versions = client.list_secret_version_ids(SecretId="ews/i1/users/alice")["Versions"]
    assert len(versions) == 2


def test_update_of_a_missing_secret_names_it_and_creates_nothing(client: Any) -> None:
    with pytest.raises(PermanentError) as caught:
        SecretSource(boto3_client=client).update("ews/nope/users/x", {"refresh_token": REFRESH_TOKEN})
    assert caught.value.code is ErrorCode.SECRET_NOT_FOUND
    assert "ews/nope/users/x" in caught.value.message and REFRESH_TOKEN not in str(caught.value)
    assert client.list_secrets()["SecretList"] == []
