"""Drive tests/ews_js/driver.js (ews-javascript-api in Node) from pytest: one process, one JSON line a call.

Where Node is absent (or npm cannot install the pinned client) the tests skip with the reason, and
fail instead under PIPELINE_REQUIRE_NODE=1 or PIPELINE_REQUIRE_BROKERS=1 (CI sets the latter), as
tests/integration/brokers.py does for brokers.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from collections.abc import Callable
from typing import IO, Any

import pytest

from tests.ews_js.install import HERE, NodeMissing, NpmFailed, ensure_installed, node_executable

__all__ = ["REQUIRED_BY", "NodeClient", "ScenarioFailed", "require_node"]

REQUIRED_BY = ("PIPELINE_REQUIRE_NODE", "PIPELINE_REQUIRE_BROKERS")


def require_node() -> str:
    """The node executable with the pinned client installed; skip (or fail, when required) otherwise."""
    try:
        node = node_executable()
        ensure_installed()
    except (NodeMissing, NpmFailed) as exc:
        required = [name for name in REQUIRED_BY if os.environ.get(name) == "1"]
        if required:
            pytest.fail(f"{exc}, and {required[0]}=1 requires the ews-javascript-api tests", pytrace=False)
        pytest.skip(f"ews-javascript-api tests need Node.js and the pinned client: {exc}")
    return node


class ScenarioFailed(RuntimeError):
    """The scenario threw in Node, or Node did not answer (what the server answered, errors included,
    scenarios return as data)."""


class NodeClient:
    """One `node driver.js` process; `run(scenario, **args)` returns the scenario's JSON result."""

    def __init__(self, node: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._next = 0
        self._stderr: list[str] = []
        self._process = subprocess.Popen(
            [node, str(HERE / "driver.js")], cwd=HERE, text=True, bufsize=1,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # TZ pinned: the library's "local" zone must not be this machine's.
            env={**os.environ, "TZ": "UTC", **(env or {})},
        )  # fmt: skip
        self._lines: queue.Queue[str | None] = queue.Queue()
        pipes = ((self._process.stdout, self._lines.put), (self._process.stderr, self._keep_stderr))
        for stream, sink in pipes:
            threading.Thread(target=_pump, args=(stream, sink), daemon=True).start()
        ready = self._receive(0, timeout=60.0)
        self.scenarios: list[str] = ready["ready"]

    def _keep_stderr(self, line: str | None) -> None:
        if line:
            self._stderr.append(line)

    def run(self, scenario: str, timeout: float | None = None, **args: Any) -> Any:
        """Run one scenario to its end; its result, or ScenarioFailed with Node's error and stderr."""
        self._next += 1
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"id": self._next, "scenario": scenario, "args": args}) + "\n")
        self._process.stdin.flush()
        return self._receive(self._next, timeout=timeout or self.timeout, scenario=scenario)

    def _receive(self, number: int, *, timeout: float, scenario: str = "startup") -> Any:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            message = f"{scenario}: no answer from node within {timeout:.0f} s"
            raise ScenarioFailed(message + self.stderr()) from None
        if line is None:
            raise ScenarioFailed(f"{scenario}: node exited ({self._process.poll()}){self.stderr()}")
        answer = json.loads(line)
        assert answer["id"] == number, (answer, number)
        if not answer["ok"]:
            error = answer["error"]
            raise ScenarioFailed(f"{scenario}: {error['message']}\n{error.get('stack') or ''}{self.stderr()}")
        return answer["result"]

    def stderr(self) -> str:
        text = "".join(line for line in self._stderr if line)[-4000:]
        return f"\n--- node stderr\n{text}" if text.strip() else ""

    def clear_stderr(self) -> None:
        self._stderr.clear()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _pump(stream: IO[str], sink: Callable[[str | None], None]) -> None:
    """Hand each line of a pipe to sink, then None at its end."""
    for line in stream:
        sink(line)
    sink(None)
