"""moto's DynamoDB, one request at a time: each request atomic, as DynamoDB guarantees.

moto checks a conditional write's condition and applies the write in separate steps with no lock
(moto/dynamodb/models/table.py), so two racing `attribute_not_exists` puts can both succeed, which
DynamoDB never allows; and TransactWriteItems deep-copies the tables for its rollback while other
threads write to them ("dictionary changed size during iteration"). A duplicate or a failure
seen locally must mean one in the pipeline, so every local run (tests, demo, benchmarks) that
uses moto in this process serialises its DynamoDB requests here. Requests still interleave
between one another, which is all the pipeline may rely on.

With requests serialised, TransactWriteItems needs no copy of whole tables either: moto's takes
one per transaction for its rollback, so a write costs time in proportion to the table's size
(about 60 ms at 10,000 items), and a long local run (bench/chaos.py) slows down as its table
fills until its workers time out against moto. `transact_write_items_without_copies` checks every condition
first, against the state before the transaction as DynamoDB does, writes only when all hold,
and undoes just the items it touched (and their stream records) if a write fails halfway.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler

__all__ = ["serialize_moto_dynamodb", "transact_write_items_without_copies"]

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
    DynamoDBBackend.transact_write_items = transact_write_items_without_copies  # type: ignore[method-assign]


_WRITE_OPERATIONS = ("ConditionCheck", "Put", "Delete", "Update")
_NO_ERROR: tuple[None, None, None] = (None, None, None)


def _key_of(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> tuple[Table, dict[str, Any]]:
    table = backend.get_table(op["TableName"])
    if op_type != "Put":
        return table, op["Key"]
    attributes = op["Item"]
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return table, key


def _condition_error(current: Item | None, op: dict[str, Any]) -> tuple[Any, Any, Any]:
    condition = op.get("ConditionExpression")
    if condition is None:
        return _NO_ERROR
    holds = get_filter_expression(condition, op.get("ExpressionAttributeNames"),
                                  op.get("ExpressionAttributeValues")).expr(current)
    if holds:
        return _NO_ERROR
    item = (current.to_json()["Attributes"]
            if current is not None and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
    return ("ConditionalCheckFailed", ConditionalCheckFailed().message, item)


def transact_write_items_without_copies(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems without a copy of each table (see the module's docstring)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    planned: list[tuple[str, dict[str, Any], Table, DynamoType, DynamoType | None, Item | None]] = []
    errors: list[tuple[Any, Any, Any]] = []
    seen: set[tuple[str, str]] = set()
    for transact_item in transact_items:
        if len(transact_item) > 1:
            raise TransactWriteSingleOpException()
        op_type, op = next(iter(transact_item.items()))
        if op_type not in _WRITE_OPERATIONS:
            raise MockValidationException("Unsupported transaction operation")
        table, key = _key_of(self, op_type, op)
        identity = (table.name, str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        hash_key, range_key = self.get_keys_value(table, key)
        current = table.get_item(hash_key, range_key)
        errors.append(_condition_error(current, op))
        planned.append((op_type, op, table, hash_key, range_key, current))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    stream_lengths = {id(table): len(table.stream_shard.items)
                      for _, _, table, _, _, _ in planned if table.stream_shard is not None}
    undo = [(table, hash_key, range_key, copy.deepcopy(current))
            for _, _, table, hash_key, range_key, current in planned]
    for index, (op_type, op, table, _, _, _) in enumerate(planned):
        try:
            _apply(self, op_type, op, table)
        except Exception as failure:
            _undo(undo, stream_lengths)
            if isinstance(failure, MockValidationException):
                raise
            errors = [_NO_ERROR] * len(planned)
            errors[index] = (type(failure).__name__, str(failure), None)
            raise TransactionCanceledException(errors) from failure


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], table: Table) -> None:
    # The conditions were checked for the whole transaction above; writing without them keeps a
    # later operation from seeing an earlier one's write.
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(table.name, op["Item"], expression_attribute_names=names,
                         expression_attribute_values=values)
    elif op_type == "Delete":
        backend.delete_item(table.name, op["Key"], expression_attribute_names=names,
                            expression_attribute_values=values)
    elif op_type == "Update":
        backend.update_item(table.name, op["Key"], update_expression=op["UpdateExpression"],
                            expression_attribute_names=names or {}, expression_attribute_values=values or {})


def _undo(undo: list[tuple[Table, DynamoType, DynamoType | None, Item | None]],
          stream_lengths: dict[int, int]) -> None:
    for table, hash_key, range_key, original in reversed(undo):
        if range_key is not None:
            if original is None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items[hash_key][range_key] = original
        elif original is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = original  # type: ignore[assignment]
        if table.stream_shard is not None and id(table) in stream_lengths:
            del table.stream_shard.items[stream_lengths[id(table)]:]
