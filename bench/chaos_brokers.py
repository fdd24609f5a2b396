"""The chaos benchmark's brokers: a private Redis and a private RabbitMQ node it may restart.

Restarting this machine's shared Redis (6379) or RabbitMQ (5672) would break whatever else uses
them, so the benchmark starts brokers of its own on free ports, with their data in a temporary
folder, and restarts those: a graceful stop (Redis writes its append-only file, RabbitMQ its
durable queues), a pause, and a start on the same data. Both keep what they were given: Redis
with `appendfsync always`, RabbitMQ with durable queues and persistent messages (dramatiq's own).

SharedBroker is the same interface over a broker that must not be restarted (the test suite's).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench_support import listening, process_cpu_seconds

__all__ = ["BrokerServer", "PrivateRabbitmq", "PrivateRedis", "SharedBroker", "free_port"]

START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 60.0
# Starts of a node whose name the stopped one still held (see RabbitmqNode._start).
START_ATTEMPTS = 3
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def group_cpu_seconds(group: int) -> float:
    """CPU of every live process in a process group (a server script and the VM it runs)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # after the name: state, ppid, pgrp
                total += process_cpu_seconds(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return total


def _group_alive(group: int) -> bool:
    """Whether any live process is still in this process group."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":  # state, ppid, pgrp; zombies are gone
                return True
        except (OSError, IndexError, ValueError):
            continue
    return False


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not listening("127.0.0.1", port):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {port} within {START_TIMEOUT_S:.0f} s")
        time.sleep(0.2)


class BrokerServer:
    """A broker the benchmark talks to; `restartable` says whether restart() may be called."""

    restartable = False
    url = ""

    def restart(self, down_seconds: float) -> None:
        """Stop the broker gracefully, stay down `down_seconds`, start it again on the same data."""
        raise NotImplementedError(f"{type(self).__name__} is not restarted by the benchmark")

    def close(self) -> None:
        """Stop the broker for good and remove its data (nothing for a shared broker)."""

    def cpu_seconds(self) -> float:
        """CPU the broker's processes have used so far (0 for a shared broker)."""
        return 0.0


class SharedBroker(BrokerServer):
    """A broker run by someone else (127.0.0.1:6379, :5672): used, never restarted."""

    def __init__(self, url: str) -> None:
        self.url = url


class PrivateRedis(BrokerServer):
    """`redis-server` on a free port, its append-only file in a temporary folder."""

    restartable = True

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="ews-chaos-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._cpu_before = 0.0
        self._process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"],
            stdout=(self.folder / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )
        _wait_listening(self.port, process, "redis-server")
        return process

    def cpu_seconds(self) -> float:
        return self._cpu_before + self._live_cpu()

    def _live_cpu(self) -> float:
        try:
            return process_cpu_seconds(self._process.pid)
        except (OSError, IndexError, ValueError):
            return 0.0

    def restart(self, down_seconds: float) -> None:
        self._cpu_before += self._live_cpu()
        self._process.terminate()  # SIGTERM: Redis's graceful shutdown, AOF flushed and synced
        self._process.wait(timeout=30)
        time.sleep(down_seconds)
        self._process = self._start()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRabbitmq(BrokerServer):
    """A RabbitMQ node of its own (name, AMQP port, distribution port, data, logs, no plugins).

    It takes several seconds to boot; the node shares this machine's epmd and Erlang cookie.
    """

    restartable = True

    def __init__(self) -> None:
        if not (RABBITMQ_SCRIPTS / "rabbitmq-server").exists():
            raise RuntimeError(f"no RabbitMQ server scripts in {RABBITMQ_SCRIPTS}")
        self.port = free_port()
        self.node = f"ews-chaos-{uuid.uuid4().hex[:8]}@localhost"
        self.folder = Path(tempfile.mkdtemp(prefix="ews-chaos-rabbitmq-"))
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.folder / "enabled_plugins").write_text("[].\n")
        # Not /etc/rabbitmq/rabbitmq-env.conf: it names the shared node.
        (self.folder / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        self._env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_DIST_PORT": str(free_port()),
            # Two schedulers: the node shares two cores with everything else the benchmark runs.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+S 2:2",
        }
        self._cpu_before = 0.0
        self._process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        # A node that exits at once without listening found its name still taken (the old VM or
        # epmd's registration of it not gone yet after a restart): start it again, a few times.
        for attempt in range(START_ATTEMPTS):
            process = subprocess.Popen(
                [str(RABBITMQ_SCRIPTS / "rabbitmq-server")], env=self._env, cwd=self.folder,
                stdout=(self.folder / "server.log").open("ab"), stderr=subprocess.STDOUT,
                start_new_session=True,  # the script runs beam as its child: stop them as one group
            )
            try:
                _wait_listening(self.port, process, f"RabbitMQ node {self.node}")
                return process
            except RuntimeError:
                if process.poll() is None or attempt == START_ATTEMPTS - 1:
                    raise
                time.sleep(1.0)
        raise AssertionError("unreachable")

    def _stop(self) -> None:
        # SIGTERM to the server script, which passes it to the Erlang VM: RabbitMQ's graceful stop
        # (durable queues and persistent messages written), without booting a second VM for
        # `rabbitmqctl stop`, which took over a minute on a loaded machine.
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        # The script can end before the VM it ran: wait for the whole group, or the next start
        # finds the node's name still taken.
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _group_alive(self._process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        return self._cpu_before + group_cpu_seconds(self._process.pid)

    def restart(self, down_seconds: float) -> None:
        self._cpu_before += group_cpu_seconds(self._process.pid)
        self._stop()
        time.sleep(down_seconds)
        self._process = self._start()

    def close(self) -> None:
        if self._process.poll() is None:
            self._stop()
        shutil.rmtree(self.folder, ignore_errors=True)
