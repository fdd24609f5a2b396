"""Local stand-ins for the cloud: moto in server mode, the results table and the secrets."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from infra.moto_dynamodb import serialize_moto_dynamodb
from pipeline.store.dynamodb.keys import create_table

REGION = "us-east-1"


@contextmanager
def local_aws() -> Iterator[str]:
    """A moto server on a free port; yields its endpoint URL, with fake credentials in the env."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    serialize_moto_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_results_table(endpoint: str, table_name: str) -> None:
    create_table(boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint), table_name)


def put_secret(endpoint: str, name: str, value: dict[str, Any]) -> None:
    client = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)
    client.create_secret(Name=name, SecretString=json.dumps(value))
