"""moto's DynamoDB, one request at a time: each request atomic, as DynamoDB guarantees.

moto checks a conditional write's condition and applies the write in separate steps with no lock
(moto/dynamodb/models/table.py), so two racing `attribute_not_exists` puts can both succeed, which
DynamoDB never allows; and TransactWriteItems deep-copies the tables for its rollback while other
threads write to them ("dictionary changed size during iteration"). A duplicate or a failure
seen locally must mean one in the pipeline, so every local run (tests, demo, benchmarks) that
uses moto in this process serialises its DynamoDB requests here. Requests still interleave
between one another, which is all the pipeline may rely on.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from moto.dynamodb.responses import DynamoHandler

__all__ = ["serialize_moto_dynamodb"]

_LOCK = threading.RLock()
_MARK = "_ews_pipeline_serialized"


def serialize_moto_dynamodb() -> None:
    """Make every moto DynamoDB request in this process run alone (idempotent)."""
    if getattr(DynamoHandler.call_action, _MARK, False):
        return
    original = DynamoHandler.call_action

    @functools.wraps(original)
    def one_at_a_time(self: DynamoHandler) -> Any:
        with _LOCK:
            return original(self)

    setattr(one_at_a_time, _MARK, True)
    DynamoHandler.call_action = one_at_a_time  # type: ignore[method-assign]
