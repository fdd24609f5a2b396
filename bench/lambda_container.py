"""A warm Lambda container for the chaos benchmark: handlers.jobs.lambda_handler behind SQS pollers.

    PIPELINE_BROKER=sqs://... PIPELINE_TABLE=... AWS_ENDPOINT_URL=... \
        python bench/lambda_container.py --pollers 8

Runs until SIGTERM; a SIGKILL is a container dying mid-batch (its records come back after the
queue's visibility timeout, as in Lambda). Each poller is one concurrent invocation
(bench_support.SqsEventSourcePoller, Lambda's event source mapping for a FIFO queue).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_support import SqsEventSourcePoller


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pollers", type=int, default=8, help="concurrent invocations")
    parser.add_argument("--wait-seconds", type=int, default=0,
                        help="long-poll this long (needs the harness's moto, infra.moto_sqs); 0: short polls")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)

    import boto3
    from botocore.config import Config

    from handlers import jobs
    from pipeline.runtimes.sqs.connection import parse_sqs_url

    processor = jobs._processor()  # the container's init phase: runtime, broker, actors
    endpoint = parse_sqs_url(os.environ["PIPELINE_BROKER"])[1].get("endpoint_url")
    # The event source mapping's own client (not the function's), one connection per poller.
    client = boto3.session.Session().client(
        "sqs", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
        config=Config(max_pool_connections=args.pollers + 4, retries={"mode": "standard"}),
    )
    pollers = SqsEventSourcePoller(client, processor.broker.queue.url, jobs.lambda_handler,
                                   concurrency=args.pollers, wait_seconds=args.wait_seconds)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pollers.start()
    print(f"lambda container ready: {args.pollers} pollers", flush=True)
    stopping.wait()
    pollers.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
