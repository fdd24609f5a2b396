"""Fixtures for the ews-javascript-api scenarios: one Node process and one schema-checked simulator for
the module, and `run_once`, which runs a scenario once on a freshly seeded simulator and keeps what
the server said for every test that asserts on it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from exchangelib import DELEGATE, IMPERSONATION, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib.protocol import close_connections

from infra.ewssim import EwsSimulator
from infra.ewssim.request_log import RequestRecord
from tests.integration.ews_js.node_client import REQUIRED_BY, NodeClient, require_node
from tests.seed import PASSWORDS, smtp, standard_org

SCHEMA_DIR = Path(
    os.environ.get("EWS_SCHEMA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "ews-schema"
)
EXCHANGE_2019 = Version(build=Build(15, 2, 1118, 7))

Setup = Callable[[EwsSimulator], None]
After = Callable[[EwsSimulator, Any], dict[str, Any]]


@dataclass(frozen=True)
class Run:
    """One scenario's run: its JSON result, the simulator's request log, and what `after` collected
    (exchangelib's view of the same state, typically)."""

    result: Any
    log: list[RequestRecord]
    extra: dict[str, Any] = field(default_factory=dict)

    def operations(self, caller: str | None = None) -> list[tuple[str, str, str | None]]:
        """(operation, code, impersonated) of each request, optionally of one caller."""
        return [(r.operation, r.code, r.impersonated) for r in self.log if caller in (None, r.caller)]


RunOnce = Callable[..., Run]


@pytest.fixture(scope="session")
def node_executable() -> str:
    """Node, with the pinned client installed (`npm ci` on first use); a skip, or under CI a failure,
    without them."""
    return require_node()


@pytest.fixture(scope="module")
def node(node_executable: str) -> Iterator[NodeClient]:
    client = NodeClient(node_executable)
    yield client
    client.close()


@pytest.fixture(scope="module")
def js_simulator(node: NodeClient) -> Iterator[EwsSimulator]:
    """This module's simulator, always with Microsoft's schema check on (requests and responses)."""
    if not (SCHEMA_DIR / "messages.xsd").is_file():
        reason = f"the EWS schema is not in {SCHEMA_DIR} (set EWS_SCHEMA_DIR)"
        if any(os.environ.get(name) == "1" for name in REQUIRED_BY):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    server = EwsSimulator(schema_dir=SCHEMA_DIR).start()
    yield server
    server.stop()


def scenario_args(sim: EwsSimulator) -> dict[str, Any]:
    """What every scenario is given: the simulator's URLs and the standard organisation's logons."""
    return {
        "ews_url": sim.ews_url,
        "autodiscover_url": sim.autodiscover_url,
        "users": {name: {"smtp": smtp(name), "password": password} for name, password in PASSWORDS.items()},
    }


@pytest.fixture(scope="module")
def run_once(node: NodeClient, js_simulator: EwsSimulator) -> RunOnce:
    """run_once(key, scenario, setup=..., after=..., **args): the scenario's Run, computed on first use.

    Each run starts from a reset simulator seeded with the standard organisation; `setup(sim)` adds
    to it, `after(sim, result)` reads the state the scenario left (with exchangelib, say). A response
    or request that fails Microsoft's schema fails every test that uses the run.
    """
    runs: dict[str, Run] = {}

    def run(key: str, scenario: str, *, setup: Setup | None = None, after: After | None = None,
            timeout: float | None = None, **args: Any) -> Run:
        if key in runs:
            return runs[key]
        js_simulator.reset()
        js_simulator.seed(standard_org())
        js_simulator.take_schema_violations()
        close_connections()
        if setup is not None:
            setup(js_simulator)
        result = node.run(scenario, timeout=timeout, **scenario_args(js_simulator), **args)
        extra = after(js_simulator, result) if after is not None else {}
        close_connections()
        violations = js_simulator.take_schema_violations()
        if violations:
            pytest.fail(f"{key}: the simulator broke the schema:\n" + "\n".join(violations), pytrace=False)
        runs[key] = Run(result, js_simulator.request_log(), extra)
        return runs[key]

    return run


def exchangelib_account(sim: EwsSimulator, login: str, *, mailbox: str | None = None,
                        impersonate: bool = False) -> Account:
    """exchangelib as `login` on `mailbox` (its own by default), Basic, pinned to Exchange 2019."""
    credentials = Credentials(smtp(login), PASSWORDS[login])
    config = Configuration(service_endpoint=sim.ews_url, credentials=credentials, auth_type="basic",
                           version=EXCHANGE_2019, retry_policy=FailFast())
    return Account(smtp(mailbox or login), config=config, autodiscover=False,
                   access_type=IMPERSONATION if impersonate else DELEGATE)
