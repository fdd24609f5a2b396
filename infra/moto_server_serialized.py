"""`python -m infra.moto_server_serialized -H HOST -p PORT`: moto's server, DynamoDB one request at a time.

The same command line as `python -m moto.server`, with infra.moto_dynamodb's serialisation applied
first, so that racing conditional writes behave as DynamoDB's do. A local run that serves DynamoDB
from a moto process of its own (the chaos benchmark) starts it through this module; a duplicate it
then counts is the pipeline's, not moto's.
"""

from __future__ import annotations

from infra.moto_dynamodb import serialize_moto_dynamodb

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Serialise moto's DynamoDB in this process, then run moto's server until it is stopped."""
    serialize_moto_dynamodb()
    from moto.server import main as moto_server_main

    moto_server_main(argv)


if __name__ == "__main__":
    main()
