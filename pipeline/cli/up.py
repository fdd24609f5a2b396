"""`ews-pipeline up`: the local stack, without the demo, for trying the CLI and apps against.

The EWS simulator (seeded from a file, or the demo's sample company with two integrations
installed), a moto server with the results table and the integrations' secrets, a worker on a
broker other processes can reach (PIPELINE_BROKER if set, else an SQS FIFO queue on the moto
server), and the push-callback bridge. Prints the environment to export in another shell and
stays up until Ctrl-C or SIGTERM.

The worker takes its settings from the environment, as `ews-pipeline worker` does (timeouts,
retry window, caches, job TTL, events sink, PIPELINE_CONCURRENCY unless --threads is given),
except what the stack itself provides: the table (--table), local AWS (the moto server's
endpoint, region us-east-1) and the callback URL (the bridge's). A bad value stops it before
anything starts, naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.output import EXIT_USAGE, CliError, Output, pipeline_command

if TYPE_CHECKING:
    from infra.ewssim.server import EwsSimulator
    from pipeline.config import PipelineConfig

__all__ = ["up"]

REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Sample company integrations: (id, connection method, service account).
SAMPLE_INTEGRATIONS = (("local-delegate", "delegate", "booking-svc"),
                       ("local-impersonation", "impersonation", "scheduler-imp"))
DEFAULT_THREADS = 4


@click.command()
@click.option("--config", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Simulator seed file (YAML or JSON) [default: the sample company].")
@click.option("--sim-port", type=click.IntRange(0, 65535), default=0, help="Simulator port [default: free].")
@click.option("--aws-port", type=click.IntRange(0, 65535), default=0,
              help="moto server port [default: free].")
@click.option("--table", default="ews-pipeline-local", show_default=True, help="Results table name.")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help=f"Worker threads  [default: PIPELINE_CONCURRENCY, else {DEFAULT_THREADS}].")
@pipeline_command
def up(output: Output, seed_file: Path | None, sim_port: int, aws_port: int, table: str,
       threads: int | None) -> None:
    """Run the simulator, local AWS, a worker and the callback bridge until Ctrl-C.

    The worker reads the PIPELINE_* settings from the environment, except PIPELINE_TABLE
    (--table), AWS_ENDPOINT_URL and AWS_REGION (the local moto server) and PIPELINE_CALLBACK_URL
    (the bridge); PIPELINE_BROKER picks a Redis or RabbitMQ broker instead of the SQS queue.
    """
    import logging
    import signal
    import threading

    from infra.ewssim.config import SeedFileError, load_seed

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # Checked before anything starts, with stand-ins for what only the started stack knows.
    stack_config(os.environ, table=table, aws="http://127.0.0.1:1", threads=threads,
                 callback_url="http://127.0.0.1:1")
    try:
        seed = load_seed(seed_file) if seed_file else None
    except SeedFileError as exc:
        raise CliError("INVALID_SEED", str(exc), EXIT_USAGE) from None
    for name, value in {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}.items():
        os.environ.setdefault(name, value)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with ExitStack() as stack:
        env, integrations = _start(stack, seed, sim_port, aws_port, table, threads)
        _announce(output, env, integrations)
        stopping.wait()


def stack_config(environ: Mapping[str, str], *, table: str, aws: str, threads: int | None,
                 callback_url: str) -> PipelineConfig:
    """The worker's configuration: `environ`'s settings, with the stack's own table, AWS, broker
    (PIPELINE_BROKER unless unset or stub://) and callback URL; a bad value is a usage error."""
    from pipeline.config import PipelineConfig

    broker_url = environ.get("PIPELINE_BROKER", "").strip()
    if not broker_url or broker_url.startswith("stub://"):
        broker_url = f"sqs://{table}-jobs?endpoint={aws}&region={REGION}&create=1&wait=1"
    concurrency = threads if threads is not None else (
        environ.get("PIPELINE_CONCURRENCY", "").strip() or DEFAULT_THREADS)
    own = {"PIPELINE_TABLE": table, "AWS_ENDPOINT_URL": aws, "AWS_REGION": REGION,
           "PIPELINE_BROKER": broker_url, "PIPELINE_CONCURRENCY": str(concurrency),
           "PIPELINE_CALLBACK_URL": callback_url}
    try:
        return PipelineConfig.from_env({**environ, **own})
    except ValueError as exc:
        raise CliError("INVALID_CONFIG", str(exc), EXIT_USAGE) from None


def _start(stack: ExitStack, seed: dict[str, Any] | None, sim_port: int, aws_port: int, table: str,
           threads: int | None) -> tuple[dict[str, str], list[str]]:
    # The simulator and its seed first: a bad seed stops `up` before the heavier parts load.
    simulator = _start_simulator(stack, seed, sim_port)
    from moto.server import ThreadedMotoServer

    from infra.demo.callback_server import CallbackServer
    from infra.moto_dynamodb import serialize_moto_dynamodb
    from pipeline.runtimes.broker_check import BrokerUnavailable, check_broker
    from pipeline.runtimes.worker import WorkerProcess
    from pipeline.store.dynamodb.keys import create_table

    serialize_moto_dynamodb()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    moto.start()
    stack.callback(moto.stop)
    host, port = moto.get_host_and_port()
    aws = f"http://{host}:{port}"
    callbacks = stack.enter_context(CallbackServer())
    config = stack_config(os.environ, table=table, aws=aws, threads=threads,
                          callback_url=callbacks.base_url)
    import boto3

    create_table(boto3.client("dynamodb", region_name=REGION, endpoint_url=aws), table)
    installed = [] if seed is not None else _install_sample(config, simulator.ews_url)
    process = WorkerProcess(config)
    try:
        check_broker(process.broker)
    except BrokerUnavailable as exc:
        raise CliError("BROKER_UNAVAILABLE", str(exc)) from None
    callbacks.attach(process.runtime(), process.broker)
    process.start()
    stack.callback(process.stop, 10_000)
    env = {**LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
           "AWS_ENDPOINT_URL": aws, "PIPELINE_TABLE": table, "PIPELINE_BROKER": config.broker_url,
           "PIPELINE_CALLBACK_URL": callbacks.base_url, "EWSSIM_URL": simulator.ews_url}
    return env, installed


def _start_simulator(stack: ExitStack, seed: dict[str, Any] | None, sim_port: int) -> EwsSimulator:
    """The EWS simulator, seeded from `seed` or with the sample company and its week of meetings."""
    from infra.demo import organisation
    from infra.ewssim.server import EwsSimulator
    from pipeline.cli.sim import SEED_DATA_ERRORS

    try:
        simulator = EwsSimulator(port=sim_port).start()
    except OSError as exc:
        raise CliError("CANNOT_LISTEN", f"simulator port {sim_port}: {exc.strerror or exc}") from None
    stack.callback(simulator.stop)
    try:
        simulator.seed(seed if seed is not None else organisation.organisation())
    except SEED_DATA_ERRORS as exc:
        raise CliError("INVALID_SEED", f"bad seed data: {exc!r}", EXIT_USAGE) from None
    if seed is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        organisation.fill_calendars(simulator.backend, today + timedelta(days=7 - today.weekday()))
    return simulator


def _install_sample(config: Any, ews_url: str) -> list[str]:
    """The sample company's integrations and their secrets (Basic, the demo password)."""
    import json

    from infra.demo import organisation
    from pipeline.secrets import secrets_client, store_secret
    from pipeline.store.factory import get_store

    secrets = secrets_client(config)
    store = get_store(config)
    for integration_id, method, account in SAMPLE_INTEGRATIONS:
        secret_name = f"local/{integration_id}"
        store_secret(secrets, secret_name, json.dumps(
            {"username": organisation.address(account), "password": organisation.PASSWORD}))
        store.put_integration(integration_id, {
            "integration_id": integration_id, "connection_method": method, "auth_type": "basic",
            "ews_url": ews_url, "secret_name": secret_name,
            "service_mailbox": organisation.address(account),
        }, datetime.now(UTC))
    return [integration_id for integration_id, _, _ in SAMPLE_INTEGRATIONS]


def _announce(output: Output, env: dict[str, str], integrations: list[str]) -> None:
    if output.as_json:
        import json

        click.echo(json.dumps({"env": env, "integrations": integrations}))
        return
    click.echo("# The local stack is up; in another shell:")
    for name, value in env.items():
        click.echo(f"export {name}='{value}'")
    if integrations:
        click.echo(f"# integrations: {', '.join(integrations)} (try: ews-pipeline integration test "
                   f"{integrations[0]} --mailbox ada@contoso.test)")
    click.echo("# Ctrl-C stops it.")
