"""Chaos benchmark (issue 9): bookings through every runtime while Exchange and the processes fail.

Load: --bookings bookings (one job each, create_event with send_invitations, PipelineClient.book;
with --two-jobs create_event | send_invite), a few of them for a mailbox that does not exist,
plus --free-busy lookups, over --mailboxes organisers, per runtime; the upstream app sends them
at an even pace over --send-seconds.

Runtimes, side by side against one EWS simulator: dramatiq workers (`python -m pipeline.cli
worker`) on Redis, on RabbitMQ and on SQS FIFO (moto), and the Lambda handler on moto SQS behind
emulated event-source pollers. Each runtime has its own moto process (DynamoDB serialised as
DynamoDB's conditional writes are atomic: infra.moto_server_serialized), table and queue.

Faults, for --chaos-seconds:
- Exchange (the simulator): about --fault-rate of requests fail, in equal shares: ErrorServerBusy
  as a SOAP fault, ErrorServerBusy in a ResponseMessage, HTTP 503, dropped connections, answers
  slower than the pipeline's EWS timeout; and one storm of 100% ErrorServerBusy, --storm-seconds.
- Processes: --kills SIGKILLs per runtime of a consumer process at random moments, each replaced
  at once; for Redis and RabbitMQ a broker restart (private brokers on free ports, never the
  machine's shared ones; --shared-brokers uses those and restarts nothing).
Then every fault stops and the run waits for the queues to drain.

Printed per runtime: jobs succeeded, failed (codes) and in the dead-letter queue; duplicate events,
duplicate invitations and missing bookings counted from the simulator's calendars and inboxes;
jobs without a record; attempts per job; seconds to drain after the faults stopped. Exits 1
unless there are 0 duplicates, 0 missing, 0 jobs without a record, and every failed job has its
code and a job.failed event.

    python bench/chaos.py [--runtimes redis,amqp,sqs,lambda] [--bookings 1000] [--mailboxes 50]
        [--kills 5] [--storm-seconds 30] [--fault-rate 0.2] [--chaos-seconds 240] [--json FILE]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_support import listening
from chaos_report import print_report, write_json
from chaos_run import SHARED_BROKER_URLS, ChaosOptions, run_chaos
from chaos_runtimes import RUNTIMES, Timeouts

from infra.demo import organisation as org


def parse_options(argv: list[str] | None) -> tuple[ChaosOptions, argparse.Namespace]:
    defaults = ChaosOptions(runtimes=RUNTIMES)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--runtimes", default=",".join(RUNTIMES), help="a list of " + ",".join(RUNTIMES))
    add("--bookings", type=int, default=defaults.bookings, help="bookings per runtime")
    add("--two-jobs", action="store_true",
        help="book with create_event | send_invite (2 jobs) instead of one create_event that invites")
    add("--mailboxes", type=int, default=defaults.mailboxes, help="organiser mailboxes")
    add("--invalid-bookings", type=int, default=defaults.invalid_bookings,
        help="of the bookings, how many name a mailbox that does not exist (must fail for good)")
    add("--free-busy", type=int, default=defaults.free_busy, help="free/busy jobs per runtime")
    add("--kills", type=int, default=defaults.kills, help="SIGKILLs of consumer processes per runtime")
    add("--storm-seconds", type=float, default=defaults.storm_seconds, help="100%% ErrorServerBusy stretch")
    add("--fault-rate", type=float, default=defaults.fault_rate, help="share of EWS requests that fail")
    add("--chaos-seconds", type=float, default=defaults.chaos_seconds, help="how long the faults last")
    add("--send-seconds", type=float, default=defaults.send_seconds, help="the load is sent over this long")
    add("--drain-timeout", type=float, default=defaults.drain_timeout,
        help="give up waiting for the queues to drain after this long")
    add("--workers", type=int, default=defaults.workers, help="consumer processes per runtime")
    add("--threads", type=int, default=defaults.threads, help="threads (pollers for Lambda) per process")
    add("--shared-brokers", action="store_true",
        help="use the machine's Redis (6379, db 15) and RabbitMQ (5672) and never restart them")
    add("--no-broker-restarts", action="store_true", help="keep the private brokers up")
    add("--retry-window", type=int, default=None,
        help="PIPELINE_RETRY_WINDOW (default: the pipeline's, 30 min)")
    add("--lease-margin", type=int, default=None,
        help="seconds a killed consumer's job stays leased past the job timeout "
             "(default: the pipeline's, 60 s; infra.short_lease)")
    add("--seed", type=int, default=None, help="seed for the random moments and fault draws")
    add("--json", type=Path, default=None, help="also write the figures to this file")
    add("--keep-logs", action="store_true", help="keep the consumers' logs even when the target is met")
    args = parser.parse_args(argv)
    runtimes = tuple(name.strip() for name in args.runtimes.split(",") if name.strip())
    if unknown := set(runtimes) - set(RUNTIMES):
        parser.error(f"unknown runtimes {sorted(unknown)}")
    if not 1 <= args.mailboxes <= org.STAFF_COUNT - 10:
        parser.error(f"--mailboxes must be between 1 and {org.STAFF_COUNT - 10}")
    if not 0 <= args.invalid_bookings <= args.bookings // 2:
        parser.error("--invalid-bookings must be between 0 and half the bookings")
    if args.storm_seconds >= 0.8 * args.chaos_seconds or args.send_seconds > args.chaos_seconds:
        parser.error("the storm must fit in 80% of --chaos-seconds, and the sending within it")
    if args.lease_margin is not None and args.lease_margin < 1:
        parser.error("--lease-margin must be at least 1")
    timeouts = Timeouts(retry_window_s=args.retry_window, lease_margin_s=args.lease_margin)
    if args.retry_window is not None and args.retry_window <= args.storm_seconds + args.drain_timeout:
        parser.error("--retry-window must outlast the storm and the drain, "
                     "or jobs would give up for the benchmark's sake")
    options = ChaosOptions(
        runtimes=runtimes, bookings=args.bookings, mailboxes=args.mailboxes,
        invalid_bookings=args.invalid_bookings, free_busy=args.free_busy, kills=args.kills,
        storm_seconds=args.storm_seconds, fault_rate=args.fault_rate, chaos_seconds=args.chaos_seconds,
        send_seconds=args.send_seconds, drain_timeout=args.drain_timeout, workers=args.workers,
        threads=args.threads, broker_restarts=not args.no_broker_restarts, shared_brokers=args.shared_brokers,
        seed=args.seed, timeouts=timeouts, two_jobs=args.two_jobs,
    )
    return options, args


def main(argv: list[str] | None = None) -> int:
    options, args = parse_options(argv)
    # A SIGTERM (a timeout, an operator's kill) unwinds like Ctrl-C, so the private brokers, moto
    # servers, the simulator and the consumers are all stopped instead of left running.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # pika logs every refused connection of a sender whose RabbitMQ is restarting; the sender counts them.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    for name, value in (("AWS_ACCESS_KEY_ID", "local"), ("AWS_SECRET_ACCESS_KEY", "local"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(name, value)
    if options.shared_brokers:
        for runtime, url in SHARED_BROKER_URLS.items():
            port = 6379 if runtime == "redis" else 5672
            if runtime in options.runtimes and not listening("127.0.0.1", port):
                print(f"{runtime}: no broker on 127.0.0.1:{port} ({url.split('@')[-1]})", file=sys.stderr)
                return 2
    report = run_chaos(options, say=lambda line: print(line, flush=True))
    print_report(report)
    if args.json is not None:
        write_json(report, args.json)
    if report.ok and not args.keep_logs:
        shutil.rmtree(report.logs, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
