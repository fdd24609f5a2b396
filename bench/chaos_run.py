"""One chaos run: the runtimes side by side against one simulator, faults on a schedule, a census.

Timeline (seconds from the start of the chaos phase):
  0 .. send      the upstream app sends each runtime's load at an even pace
  0 .. chaos     Exchange faults (chaos_faults), SIGKILLs of consumer processes and broker
                 restarts at random moments, one storm of 100% ErrorServerBusy
  chaos          every fault stops
  chaos .. end   the drain: until every job sent has finished (or the drain timeout)
Then each runtime is counted (chaos_census). The runtimes share the simulator, so its faults and
the storm hit all of them at once; each has its own moto, table, queue and consumers.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from bench_support import SimulatorProcess, process_cpu_seconds
from chaos_brokers import BrokerServer, PrivateRabbitmq, PrivateRedis, SharedBroker
from chaos_census import (
    Figures,
    count,
    locate_in_redis,
    read_dead_letters,
    read_exchange,
    read_failed_events,
    read_jobs,
)
from chaos_faults import FaultController, FaultTally
from chaos_load import Load, Sender, make_load
from chaos_progress import Progress, ProgressWatcher
from chaos_runtimes import RuntimeStack, Timeouts, build_stack

from infra.demo import organisation as org
from infra.demo.local_stack import REGION
from pipeline.runtimes.broker import build_broker

__all__ = ["Action", "ChaosOptions", "RunReport", "plan_actions", "run_chaos"]

log = logging.getLogger(__name__)

SHARED_BROKER_URLS = {"redis": "redis://127.0.0.1:6379/15", "amqp": "amqp://guest:guest@127.0.0.1:5672/%2F"}
TICK_S = 0.2  # how often the fault schedule and the supervisor look at the clock
READY_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ChaosOptions:
    runtimes: tuple[str, ...]
    bookings: int = 1000
    mailboxes: int = 50
    invalid_bookings: int = 10
    free_busy: int = 100
    kills: int = 5
    storm_seconds: float = 30.0
    fault_rate: float = 0.2
    chaos_seconds: float = 240.0
    send_seconds: float = 150.0
    drain_timeout: float = 240.0
    workers: int = 2
    threads: int = 8
    broker_restarts: bool = True
    shared_brokers: bool = False
    broker_down_seconds: float = 3.0
    seed: int | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    two_jobs: bool = False  # each booking as create_event | send_invite instead of one job


@dataclass(frozen=True, order=True)
class Action:
    at: float  # seconds into the chaos phase
    kind: str  # kill, broker_restart, storm
    runtime: str = ""


def plan_actions(options: ChaosOptions, rng: random.Random) -> list[Action]:
    """When each process fault and the storm happen: random moments within the chaos phase."""
    span = options.chaos_seconds
    actions = [Action(rng.uniform(0.05, 0.9) * span, "kill", runtime)
               for runtime in options.runtimes for _ in range(options.kills)]
    if options.broker_restarts and not options.shared_brokers:
        actions += [Action(rng.uniform(0.1, 0.8) * span, "broker_restart", runtime)
                    for runtime in options.runtimes if runtime in SHARED_BROKER_URLS]
    if options.storm_seconds > 0:
        # Within the sending, so that the storm meets requests however fast the jobs run.
        latest = max(0.1 * span, min(span - options.storm_seconds - 0.1 * span,
                                     options.send_seconds - options.storm_seconds))
        actions.append(Action(rng.uniform(0.1 * span, latest), "storm"))
    return sorted(actions)


@dataclass
class RunReport:
    options: ChaosOptions
    figures: list[Figures]
    faults: FaultTally
    timeline: list[str]
    seconds: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    cpu_seconds: dict[str, float]
    schema_violations: list[str]
    logs: Path

    @property
    def ok(self) -> bool:
        return not self.schema_violations and all(not f.problems for f in self.figures)


def _brokers(options: ChaosOptions) -> dict[str, BrokerServer]:
    brokers: dict[str, BrokerServer] = {}
    for runtime in options.runtimes:
        if runtime not in SHARED_BROKER_URLS:
            continue
        if options.shared_brokers:
            brokers[runtime] = SharedBroker(SHARED_BROKER_URLS[runtime])
        else:
            brokers[runtime] = PrivateRedis() if runtime == "redis" else PrivateRabbitmq()
    return brokers


def run_chaos(options: ChaosOptions, say: Callable[[str], None] = print) -> RunReport:
    rng = random.Random(options.seed)
    started = time.monotonic()
    load_before = os.getloadavg()
    logs = Path(tempfile.mkdtemp(prefix="ews-chaos-logs-"))
    seed_file = logs / "seed.json"
    seed_file.write_text(json.dumps(org.organisation()))
    sim = SimulatorProcess(seed_file)
    brokers: dict[str, BrokerServer] = {}
    stacks: list[RuntimeStack] = []
    timeline: list[str] = []
    try:
        brokers = _brokers(options)
        for runtime in options.runtimes:
            stacks.append(build_stack(runtime, brokers.get(runtime), sim.ews_url, workers=options.workers,
                                      threads=options.threads, timeouts=options.timeouts, logs=logs))
        if options.shared_brokers and "amqp" in brokers:
            # The shared RabbitMQ's jobs queue is shared by name: drop an interrupted run's leftovers.
            stale = build_broker(brokers["amqp"].url, make_global=False)
            stale.flush_all()
            stale.close()
        loads = {stack.name: make_load(f"chaos-{stack.name}-{stack.tag}", stack.integration_id,
                                       bookings=options.bookings, mailboxes=options.mailboxes,
                                       invalid=options.invalid_bookings, free_busy=options.free_busy)
                 for stack in stacks}
        senders = {stack.name: Sender(stack.name, stack.broker_url, loads[stack.name], options.send_seconds,
                                      two_jobs=options.two_jobs)
                   for stack in stacks}
        for stack in stacks:
            stack.pool.start()
        _wait_until_consuming(stacks, timeline, say)
        faults = FaultController(sim, rate=options.fault_rate, slow_ms=(options.timeouts.ews_s + 1) * 1000,
                                 rng=rng)
        progress = {stack.name: Progress(stack, senders[stack.name]) for stack in stacks}
        begun = time.monotonic()
        watcher = ProgressWatcher(progress, begun, say)
        watcher.start()
        try:
            _chaos_phase(options, rng, stacks, senders, faults, begun, timeline, say)
            _drain(options, stacks, senders, watcher, timeline, say)
        finally:
            watcher.stop()
        faults.close()
        cpu = {"simulator": process_cpu_seconds(sim.pid),
               **{f"moto-{stack.name}": process_cpu_seconds(stack.aws.pid) for stack in stacks},
               **{f"consumers-{stack.name}": stack.pool.live_cpu_seconds() for stack in stacks},
               **{f"broker-{name}": broker.cpu_seconds() for name, broker in brokers.items()},
               "benchmark": time.process_time()}
        stopping = time.monotonic()
        for stack in stacks:  # all at once: each consumer's graceful stop takes seconds
            stack.pool.terminate()
        for stack in stacks:
            stack.pool.wait()
        counting = time.monotonic()
        figures = _census(sim, stacks, loads, senders, faults.tally.stopped_at)
        timeline.append(f"consumers stopped in {counting - stopping:.0f} s, counted in "
                        f"{time.monotonic() - counting:.0f} s")
        violations: list[str] = sim.control("GET", "schema/violations")
        return RunReport(options, figures, faults.tally, timeline, time.monotonic() - started, load_before,
                         os.getloadavg(), cpu, violations, logs)
    finally:
        for stack in stacks:
            stack.close()
        for broker in brokers.values():
            broker.close()
        sim.close()


def _wait_until_consuming(stacks: list[RuntimeStack], timeline: list[str],
                          say: Callable[[str], None]) -> None:
    """The chaos phase starts once every consumer consumes (imports take seconds on a loaded machine)."""
    begun = time.monotonic()
    while not all(stack.pool.ready() for stack in stacks):
        if time.monotonic() - begun > READY_TIMEOUT_S:
            raise RuntimeError(f"consumers not ready within {READY_TIMEOUT_S:.0f} s: "
                               f"{[stack.name for stack in stacks if not stack.pool.ready()]}")
        for stack in stacks:
            stack.pool.revive()
        time.sleep(TICK_S)
    line = f"consumers ready after {time.monotonic() - begun:.1f} s"
    timeline.append(line)
    say(line)


def _chaos_phase(options: ChaosOptions, rng: random.Random, stacks: list[RuntimeStack],
                 senders: dict[str, Sender], faults: FaultController, begun: float,
                 timeline: list[str], say: Callable[[str], None]) -> None:
    by_name = {stack.name: stack for stack in stacks}
    actions = plan_actions(options, rng)
    background: list[threading.Thread] = []
    faults.start()

    def note(text: str) -> None:
        line = f"{time.monotonic() - begun:7.1f} s  {text}"
        timeline.append(line)
        say(line)

    def restart_broker(stack: RuntimeStack) -> None:
        assert stack.broker is not None
        note(f"{stack.name}: broker restart begins")
        stack.broker.restart(options.broker_down_seconds)
        stack.broker_restarts.append(time.time())
        note(f"{stack.name}: broker back")

    def storm() -> None:
        note(f"storm: 100% ErrorServerBusy for {options.storm_seconds:.0f} s")
        faults.storm(options.storm_seconds)
        note("storm over")

    for sender in senders.values():
        sender.start()
    while (elapsed := time.monotonic() - begun) < options.chaos_seconds:
        while actions and actions[0].at <= elapsed:
            action = actions.pop(0)
            if action.kind == "kill":
                pid = by_name[action.runtime].pool.kill_one(rng)
                note(f"{action.runtime}: SIGKILL pid {pid}, replaced")
            else:
                target: Callable[..., None] = storm if action.kind == "storm" else restart_broker
                args = () if action.kind == "storm" else (by_name[action.runtime],)
                thread = threading.Thread(target=target, args=args, daemon=True)
                thread.start()
                background.append(thread)
        for stack in stacks:
            stack.pool.revive()
        time.sleep(TICK_S)
    for thread in background:
        thread.join()
    faults.stop()
    note("faults stop")


def _drain(options: ChaosOptions, stacks: list[RuntimeStack], senders: dict[str, Sender],
           watcher: ProgressWatcher, timeline: list[str], say: Callable[[str], None]) -> None:
    """Wait until every runtime's jobs have finished (the watcher's last poll), or the timeout;
    the supervisor keeps restarting consumers that exit meanwhile."""
    begun = time.monotonic()
    waiting = {stack.name for stack in stacks}
    while waiting and time.monotonic() - begun < options.drain_timeout:
        for stack in stacks:
            stack.pool.revive()
        for name in sorted(waiting):
            if watcher.done(name):
                waiting.discard(name)
                note = f"{name}: drained after {time.monotonic() - begun:.0f} s"
                timeline.append(note)
                say(note)
        time.sleep(TICK_S)
    for sender in senders.values():
        sender.stop()
    line = f"drained after {time.monotonic() - begun:.0f} s"
    if waiting:
        say(watcher.line())
        line += f"; still running: {sorted(waiting)}"
    timeline.append(line)
    say(line)


def _census(sim: SimulatorProcess, stacks: list[RuntimeStack], loads: dict[str, Load],
            senders: dict[str, Sender], faults_stopped: float | None) -> list[Figures]:
    organisers = {o for load in loads.values() for o in load.organisers}
    attendees = {a for load in loads.values() for a in load.attendees}
    exchange = read_exchange(sim, organisers, attendees)
    figures = []
    for stack in stacks:
        dynamodb = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint, region_name=REGION)
        sender = senders[stack.name]
        result = count(stack.name, loads[stack.name], sender.sent, read_jobs(dynamodb, stack.table),
                       read_failed_events(dynamodb, stack.table), read_dead_letters(stack.broker_url),
                       exchange, faults_stopped)
        result.kills = len(stack.pool.kills)
        result.restarts_after_exit = len(stack.pool.exits)
        result.broker_restarts = len(stack.broker_restarts)
        result.resends = sender.sent.resends
        if sender.error is not None:
            result.problems.append(f"the sender failed: {sender.error!r}")
        jobs = [line for line in result.stragglers if not line.startswith("booking ")]
        if stack.name == "redis" and jobs:
            where = locate_in_redis(stack.broker_url, [line.split()[0] for line in jobs])
            result.stragglers = [f"{line}; in Redis: {where.get(line.split()[0]) or 'nowhere'}"
                                 if line in jobs else line for line in result.stragglers]
        figures.append(result)
    return figures
