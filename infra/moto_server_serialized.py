"""`python -m infra.moto_server_serialized -H HOST -p PORT`: moto's server as the local harness needs it.

The same command line and the same services as `python -m moto.server`, with four changes:
- infra.moto_dynamodb's serialisation, so that racing conditional writes behave as DynamoDB's do;
- infra.moto_attribute_values, which renders DynamoDB's attribute values in its answers directly;
- infra.moto_sqs's index, so that an SQS call costs what its batch costs, not what the queue holds;
- infra.moto_http's server, which keeps connections open, instead of werkzeug's development server
  (`--werkzeug` keeps werkzeug's).
A local run that serves DynamoDB and SQS from a moto process of its own (the chaos benchmark)
starts it through this module; a duplicate it then counts is the pipeline's, not moto's.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from infra.moto_attribute_values import speed_up_moto_attribute_values
from infra.moto_dynamodb import serialize_moto_dynamodb
from infra.moto_sqs import index_moto_sqs

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Serialise moto's DynamoDB and index its SQS in this process, then serve moto until stopped."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    parser.add_argument("--werkzeug", action="store_true", help="werkzeug's server, as moto.server runs it")
    args = parser.parse_args(argv)
    serialize_moto_dynamodb()
    speed_up_moto_attribute_values()
    index_moto_sqs()
    if args.werkzeug:
        from moto.server import main as moto_server_main

        moto_server_main(["-H", args.host, "-p", str(args.port)])
        return
    from infra.moto_http import serve

    os.environ.setdefault("MOTO_PORT", str(args.port))

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
