"""How the store, the secrets source, the SQS broker and the EventBridge sink build their AWS
clients: one recipe, one boto3 session."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pipeline.config import PipelineConfig

if TYPE_CHECKING:
    import boto3
    from botocore.config import Config

__all__ = ["aws_client", "new_client"]

# What a session reads from the environment once, when it is made: its credentials and region.
_SESSION_ENVIRONMENT = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
_sessions: dict[tuple[str | None, ...], boto3.session.Session] = {}
_sessions_lock = threading.Lock()


def new_client(service_name: str, **arguments: Any) -> Any:
    """A boto3 client (`arguments` as boto3's Session.client takes them) from the process's session.

    One session for every client: each session loads botocore's endpoint rules and service models
    again (about 8 MiB each). The session keeps endpoints.json for the pipeline's services only
    (pipeline.aws_endpoints). A session is not safe to use from two threads at once, so clients are
    made under a lock; the clients themselves are thread-safe. A change of credentials or region in
    the environment (tests do it) gets a session of its own.
    """
    import boto3
    import botocore.session

    from pipeline.aws_endpoints import install_pipeline_endpoints

    key = tuple(os.environ.get(name) for name in _SESSION_ENVIRONMENT)
    with _sessions_lock:
        session = _sessions.get(key)
        if session is None:
            core = botocore.session.get_session()
            install_pipeline_endpoints(core)
            session = _sessions[key] = boto3.session.Session(botocore_session=core)
        return session.client(service_name, **arguments)


def aws_client(
    service_name: Literal["dynamodb", "secretsmanager", "events"], config: PipelineConfig,
    *, options: Config | Mapping[str, Any] | None = None,
) -> Any:
    """A client for the configured region and endpoint (a moto server when set).

    Each client gets a connection pool with a connection for every worker thread. `options`
    (timeouts, retries: a botocore Config, or its arguments) are merged over that. boto3 is
    imported here, on the first client: a handler's import does not pay for it (0.2 s).
    """
    from botocore.config import Config

    from pipeline.log_privacy.aws_credentials import withhold_aws_credentials
    from pipeline.log_privacy.aws_payloads import withhold_aws_payloads

    # botocore's DEBUG records of signed requests carry the session token.
    withhold_aws_credentials()
    withhold_aws_payloads()  # and of every call its payload: kwargs, records, events (personal data)
    botocore_config = Config(max_pool_connections=config.aws_pool_connections)
    if options is not None:
        botocore_config = botocore_config.merge(options if isinstance(options, Config) else Config(**options))
    return new_client(
        service_name,
        region_name=config.aws_region,
        endpoint_url=config.aws_endpoint_url,
        config=botocore_config,
    )
