"""dynalite (npm), a Node.js implementation of DynamoDB's API, as the benchmark's other local table.

moto costs about 10 to 13 ms of CPU per DynamoDB call in Python, so locally the table caps the
pipeline; dynalite answers the same calls from Node.js for about half of that or less. Benchmark only: it
is installed on first use under ~/.cache/ews-pipeline/dynalite (`npm install --prefix`), never
committed, never a test dependency.

dynalite 4 implements neither TransactWriteItems, UpdateTimeToLive nor
ReturnValuesOnConditionCheckFailure; bench/dynalite_front.js serves those in front of it (see that
file for how, and what is not the same as DynamoDB) and passes every other call through. It
keeps no streams: the table is created with its StreamSpecification as the pipeline creates it
(pipeline.store.dynamodb.create_table), and dynalite ignores it. Nothing on the job path reads
the stream (the events function on AWS does).

    with DynaliteProcess.start() as dynalite:
        create_table(boto3.client("dynamodb", endpoint_url=dynalite.endpoint, ...), "table")
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

__all__ = ["CACHE_DIR", "DYNALITE_VERSION", "DynaliteProcess", "DynaliteUnavailable", "install"]

DYNALITE_VERSION = "4.0.0"
CACHE_DIR = Path(os.environ.get("EWS_PIPELINE_CACHE", Path.home() / ".cache" / "ews-pipeline")) / "dynalite"
FRONT = Path(__file__).with_name("dynalite_front.js")


class DynaliteUnavailable(RuntimeError):
    """Node.js or npm is missing, or dynalite could not be installed or started."""


def install(cache_dir: Path = CACHE_DIR) -> Path:
    """dynalite under cache_dir (installed with npm the first time); returns its node_modules."""
    modules = cache_dir / "node_modules"
    if (modules / "dynalite" / "package.json").exists():
        return modules
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise DynaliteUnavailable("dynalite needs Node.js and npm on PATH")
    cache_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--prefix", str(cache_dir), "--no-audit", "--no-fund",
                           f"dynalite@{DYNALITE_VERSION}"], capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not (modules / "dynalite").exists():
        raise DynaliteUnavailable(f"npm install dynalite failed: {done.stderr.strip()[-500:]}")
    return modules


class DynaliteProcess:
    """dynalite behind bench/dynalite_front.js, in memory, on a free port of 127.0.0.1."""

    def __init__(self, process: subprocess.Popen[str], endpoint: str) -> None:
        self._process = process
        self.pid = process.pid
        self.endpoint = endpoint

    @classmethod
    def start(cls, cache_dir: Path = CACHE_DIR) -> DynaliteProcess:
        modules = install(cache_dir)
        node = shutil.which("node")
        if node is None:
            raise DynaliteUnavailable("dynalite needs Node.js on PATH")
        process = subprocess.Popen([node, str(FRONT), "0"], stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "NODE_PATH": str(modules)})
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the port is open
        if "listening at " not in line:
            process.kill()
            raise DynaliteUnavailable(f"dynalite did not start: {line!r}")
        return cls(process, line.split("listening at ")[1].strip())

    def close(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()

    def __enter__(self) -> DynaliteProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
