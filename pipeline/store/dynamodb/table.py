"""Low-level access to one DynamoDB table: item (de)serialisation and the storage error boundary.

Every boto3 call goes through TableClient, so a storage failure always becomes
RetryableError(STORE_UNAVAILABLE) here, a request DynamoDB rejects as malformed becomes
PermanentError(INTERNAL), and a failed condition becomes ConditionFailed (carrying the item as it
was, when the write asked for it), which the store turns into a domain answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import ErrorCode, PermanentError, RetryableError

__all__ = ["ConditionFailed", "Item", "TableClient", "TransactUpdate"]

Item = dict[str, Any]
T = TypeVar("T")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ConditionFailed(Exception):
    """A conditional write's condition did not hold (internal to the store).

    `old` is the item as it was when the write asked for it (return_old) and the item exists, so
    that the caller can decide what to do next without reading it again.
    """

    def __init__(self, old: Item | None = None) -> None:
        super().__init__()
        self.old = old


@dataclass(frozen=True)
class TransactUpdate:
    """A conditional update of another item, written in the same transaction as a state change.

    `refused` turns the item as it was (None when absent) into the error to raise when this
    update's own condition fails: the transaction wrote nothing, and the caller hears why.
    """

    key: Mapping[str, str]
    expression: str
    condition: str
    refused: Callable[[Item | None], Exception]
    names: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


def _to_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _plain(value: Any) -> Any:
    # DynamoDB numbers come back as Decimal; every number the store writes is an integer.
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, set):
        return {_plain(v) for v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _from_wire(item: Mapping[str, Any]) -> Item:
    return {name: _plain(_deserializer.deserialize(value)) for name, value in item.items()}


def _expressions(condition: str | None, names: Mapping[str, str] | None,
                 values: Mapping[str, Any] | None, *, return_old: bool = False) -> dict[str, Any]:
    """A write's condition and expression placeholders, as the DynamoDB API names them; with
    return_old, a failed condition returns the item as it was (no extra read to learn why)."""
    kwargs: dict[str, Any] = {}
    if condition:
        kwargs["ConditionExpression"] = condition
        if return_old:
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)
    if values:
        kwargs["ExpressionAttributeValues"] = _to_wire(values)
    return kwargs


def _raise_for_failed_conditions(reasons: Sequence[Mapping[str, Any]],
                                 also: Sequence[TransactUpdate]) -> None:
    """For a cancelled transaction: the error of the first failed condition, if one failed.

    The operations are the state change's update first and `also` last (puts carry no condition);
    a failed `also` update wins, since the caller must not retry a write that it no longer owns.
    """
    failed = {index: reason.get("Item") for index, reason in enumerate(reasons)
              if reason.get("Code") == "ConditionalCheckFailed"}
    if not failed:
        return
    first_also = len(reasons) - len(also)
    for offset, other in enumerate(also):
        if first_also + offset in failed:
            item = failed[first_also + offset]
            raise other.refused(None if item is None else _from_wire(item)) from None
    item = failed.get(0)
    raise ConditionFailed(None if item is None else _from_wire(item)) from None


class TableClient:
    """A thread-safe boto3 DynamoDB client bound to one table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def _call(self, operation: str, call: Callable[..., T], *,
              also: Sequence[TransactUpdate] = (), **kwargs: Any) -> T:
        try:
            return call(TableName=self.table_name, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ConditionalCheckFailedException":
                item = exc.response.get("Item")
                raise ConditionFailed(None if item is None else _from_wire(item)) from None
            if code == "TransactionCanceledException":
                _raise_for_failed_conditions(exc.response.get("CancellationReasons", []), also)
            if code == "ValidationException":
                # Our request is malformed (a bug, or an item over 400 KB): retrying cannot help.
                raise PermanentError(
                    ErrorCode.INTERNAL, f"results table {self.table_name!r}: {operation} rejected ({code})"
                ) from None
            # The AWS error code only: messages can quote the attribute values we sent.
            raise RetryableError(
                ErrorCode.STORE_UNAVAILABLE,
                f"results table {self.table_name!r}: {operation} failed ({code})",
            ) from None
        except BotoCoreError as exc:  # EndpointConnectionError, timeouts, ...
            raise RetryableError(
                ErrorCode.STORE_UNAVAILABLE,
                f"results table {self.table_name!r}: {operation} failed ({type(exc).__name__})",
            ) from None

    def get(self, key: Mapping[str, str]) -> Item | None:
        """The item with this key (strongly consistent), or None."""
        reply = self._call("GetItem", self.client.get_item, Key=_to_wire(key), ConsistentRead=True)
        item = reply.get("Item")
        return None if item is None else _from_wire(item)

    def put(self, item: Mapping[str, Any], condition: str | None = None,
            names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None, *,
            return_old: bool = False) -> None:
        """Write a whole item, if condition holds (else ConditionFailed, with the item as it was
        when return_old)."""
        kwargs = {"Item": _to_wire(item), **_expressions(condition, names, values, return_old=return_old)}
        self._call("PutItem", self.client.put_item, **kwargs)

    def update(self, key: Mapping[str, str], expression: str, *, condition: str | None = None,
               names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None,
               return_old: bool = False) -> Item:
        """Apply an update expression, if condition holds (else ConditionFailed, with the item as it
        was when return_old); the new item."""
        kwargs = {"Key": _to_wire(key), "UpdateExpression": expression, "ReturnValues": "ALL_NEW",
                  **_expressions(condition, names, values, return_old=return_old)}
        reply = self._call("UpdateItem", self.client.update_item, **kwargs)
        return _from_wire(reply.get("Attributes", {}))

    def update_and_put(self, key: Mapping[str, str], expression: str, puts: Sequence[Mapping[str, Any]],
                       *, condition: str | None = None, names: Mapping[str, str] | None = None,
                       values: Mapping[str, Any] | None = None,
                       also: Sequence[TransactUpdate] = ()) -> None:
        """Apply an update and write whole items in one transaction: all or nothing.

        The outbox's shape: a state change and the events reporting it are written together, so
        an event exists exactly when its change does. `also` adds conditional updates of other
        items (a job's completion); when one of those fails, its own `refused` error is raised,
        else ConditionFailed (with the item as it was) when the update's condition does not hold.
        Nothing is written then. Without puts or `also`, a plain UpdateItem.
        """
        if not puts and not also:
            self.update(key, expression, condition=condition, names=names, values=values,
                        return_old=True)
            return
        update = {"TableName": self.table_name, "Key": _to_wire(key), "UpdateExpression": expression,
                  **_expressions(condition, names, values, return_old=True)}
        operations: list[dict[str, Any]] = [{"Update": update}]
        operations += [{"Put": {"TableName": self.table_name, "Item": _to_wire(item)}} for item in puts]
        operations += [{"Update": {"TableName": self.table_name, "Key": _to_wire(other.key),
                                   "UpdateExpression": other.expression,
                                   **_expressions(other.condition, other.names, other.values,
                                                  return_old=True)}}
                       for other in also]
        self._call_untargeted("TransactWriteItems", self.client.transact_write_items,
                              also=also, TransactItems=operations)

    def update_other(self, other: TransactUpdate) -> None:
        """Write a TransactUpdate on its own (when the write it was to join has nothing to do)."""
        try:
            self.update(other.key, other.expression, condition=other.condition, names=other.names,
                        values=other.values, return_old=True)
        except ConditionFailed as refused:
            raise other.refused(refused.old) from None

    def _call_untargeted(self, operation: str, call: Callable[..., T], *,
                         also: Sequence[TransactUpdate] = (), **kwargs: Any) -> T:
        """_call for the operations that name their tables inside the request (transactions)."""
        return self._call(operation, lambda TableName, **rest: call(**rest), also=also, **kwargs)

    def delete(self, key: Mapping[str, str], condition: str | None = None) -> None:
        """Delete one item, if condition holds (else ConditionFailed)."""
        self._call("DeleteItem", self.client.delete_item, Key=_to_wire(key),
                   **_expressions(condition, None, None))

    def scan(self, *, prefix: str) -> Iterator[Item]:
        """Every item whose pk starts with `prefix` (a full scan: for rare operator commands)."""
        kwargs: dict[str, Any] = {"FilterExpression": "begins_with(pk, :prefix)",
                                  "ExpressionAttributeValues": _to_wire({":prefix": prefix})}
        while True:
            reply = self._call("Scan", self.client.scan, **kwargs)
            for item in reply.get("Items", []):
                yield _from_wire(item)
            if "LastEvaluatedKey" not in reply:
                return
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]

    def query(self, index_name: str, key_attribute: str, key_value: str, *, limit: int | None = None,
              ) -> Iterator[Item]:
        """Every item of a secondary index with key_attribute = key_value, in sort-key order."""
        kwargs: dict[str, Any] = {
            "IndexName": index_name,
            "KeyConditionExpression": "#k = :v",
            "ExpressionAttributeNames": {"#k": key_attribute},
            "ExpressionAttributeValues": _to_wire({":v": key_value}),
        }
        while True:
            if limit is not None:
                kwargs["Limit"] = limit
            reply = self._call("Query", self.client.query, **kwargs)
            for item in reply.get("Items", []):
                yield _from_wire(item)
            if "LastEvaluatedKey" not in reply or limit is not None:
                return
            kwargs["ExclusiveStartKey"] = reply["LastEvaluatedKey"]
