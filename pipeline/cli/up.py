"""`ews-pipeline up`: the local stack, without the demo, for trying the CLI and apps against.

The EWS simulator (seeded from a file, or the demo's sample company with two integrations
installed), a moto server with the results table and the integrations' secrets, a worker on a
broker other processes can reach (PIPELINE_BROKER if set, else an SQS FIFO queue on the moto
server), and the push-callback bridge. Prints the environment to export in another shell and
stays up until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from pipeline.cli.output import EXIT_USAGE, CliError, Output, pipeline_command

__all__ = ["up"]

REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# Sample company integrations: (id, connection method, service account).
SAMPLE_INTEGRATIONS = (("local-delegate", "delegate", "booking-svc"),
                       ("local-impersonation", "impersonation", "scheduler-imp"))


@click.command()
@click.option("--config", "seed_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Simulator seed file (YAML or JSON) [default: the sample company].")
@click.option("--sim-port", type=click.IntRange(0, 65535), default=0, help="Simulator port [default: free].")
@click.option("--aws-port", type=click.IntRange(0, 65535), default=0,
              help="moto server port [default: free].")
@click.option("--table", default="ews-pipeline-local", show_default=True, help="Results table name.")
@click.option("--threads", type=click.IntRange(1, 64), default=4, show_default=True, help="Worker threads.")
@pipeline_command
def up(output: Output, seed_file: Path | None, sim_port: int, aws_port: int, table: str,
       threads: int) -> None:
    """Run the simulator, local AWS, a worker and the callback bridge until Ctrl-C."""
    import logging
    import signal
    import threading

    from infra.ewssim.config import SeedFileError, load_seed

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
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


def _start(stack: ExitStack, seed: dict[str, Any] | None, sim_port: int, aws_port: int, table: str,
           threads: int) -> tuple[dict[str, str], list[str]]:
    from moto.server import ThreadedMotoServer

    from infra.demo import organisation
    from infra.demo.callback_server import CallbackServer
    from infra.ewssim.server import EwsSimulator
    from infra.moto_dynamodb import serialize_moto_dynamodb
    from pipeline.config import PipelineConfig
    from pipeline.runtimes.broker_check import BrokerUnavailable, check_broker
    from pipeline.runtimes.worker import WorkerProcess
    from pipeline.store.dynamodb.keys import create_table

    serialize_moto_dynamodb()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    moto.start()
    stack.callback(moto.stop)
    host, port = moto.get_host_and_port()
    aws = f"http://{host}:{port}"
    try:
        simulator = EwsSimulator(port=sim_port).start()
    except OSError as exc:
        raise CliError("CANNOT_LISTEN", f"simulator port {sim_port}: {exc.strerror or exc}") from None
    stack.callback(simulator.stop)
    simulator.seed(seed if seed is not None else organisation.organisation())
    if seed is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        organisation.fill_calendars(simulator.backend, today + timedelta(days=7 - today.weekday()))
    callbacks = stack.enter_context(CallbackServer())
    broker_url = os.environ.get("PIPELINE_BROKER", "").strip()
    if not broker_url or broker_url.startswith("stub://"):
        broker_url = f"sqs://{table}-jobs?endpoint={aws}&region={REGION}&create=1&wait=1"
    config = PipelineConfig(table_name=table, aws_endpoint_url=aws, aws_region=REGION, broker_url=broker_url,
                            worker_concurrency=threads, callback_base_url=callbacks.base_url)
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
           "AWS_ENDPOINT_URL": aws, "PIPELINE_TABLE": table, "PIPELINE_BROKER": broker_url,
           "PIPELINE_CALLBACK_URL": callbacks.base_url, "EWSSIM_URL": simulator.ews_url}
    return env, installed


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
