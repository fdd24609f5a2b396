"""Low-level access to one DynamoDB table: item (de)serialisation and the storage error boundary.

Every boto3 call goes through TableClient, so a storage failure always becomes
RetryableError(STORE_UNAVAILABLE) here, a request DynamoDB rejects as malformed becomes
PermanentError(INTERNAL), and a failed condition becomes ConditionFailed, which the store turns
into a domain answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from pipeline.errors import ErrorCode, PermanentError, RetryableError

__all__ = ["ConditionFailed", "Item", "TableClient"]

Item = dict[str, Any]
T = TypeVar("T")

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ConditionFailed(Exception):
    """A conditional write's condition did not hold (internal to the store)."""


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
                 values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A write's condition and expression placeholders, as the DynamoDB API names them."""
    kwargs: dict[str, Any] = {}
    if condition:
        kwargs["ConditionExpression"] = condition
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)
    if values:
        kwargs["ExpressionAttributeValues"] = _to_wire(values)
    return kwargs


class TableClient:
    """A thread-safe boto3 DynamoDB client bound to one table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self.client = client
        self.table_name = table_name

    def _call(self, operation: str, call: Callable[..., T], **kwargs: Any) -> T:
        try:
            return call(TableName=self.table_name, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed from None
            if code == "TransactionCanceledException" and any(
                reason.get("Code") == "ConditionalCheckFailed"
                for reason in exc.response.get("CancellationReasons", [])
            ):
                raise ConditionFailed from None
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
            names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> None:
        """Write a whole item, if condition holds (else ConditionFailed)."""
        kwargs = {"Item": _to_wire(item), **_expressions(condition, names, values)}
        self._call("PutItem", self.client.put_item, **kwargs)

    def update(self, key: Mapping[str, str], expression: str, *, condition: str | None = None,
               names: Mapping[str, str] | None = None, values: Mapping[str, Any] | None = None) -> Item:
        """Apply an update expression, if condition holds (else ConditionFailed); the new item."""
        kwargs = {"Key": _to_wire(key), "UpdateExpression": expression, "ReturnValues": "ALL_NEW",
                  **_expressions(condition, names, values)}
        reply = self._call("UpdateItem", self.client.update_item, **kwargs)
        return _from_wire(reply.get("Attributes", {}))

    def update_and_put(self, key: Mapping[str, str], expression: str, puts: Sequence[Mapping[str, Any]],
                       *, condition: str | None = None, names: Mapping[str, str] | None = None,
                       values: Mapping[str, Any] | None = None) -> None:
        """Apply an update and write whole items in one transaction: all or nothing.

        The outbox's shape: a state change and the events reporting it are written together, so
        an event exists exactly when its change does. ConditionFailed when the update's condition
        does not hold (nothing is written then). Without puts, a plain UpdateItem.
        """
        if not puts:
            self.update(key, expression, condition=condition, names=names, values=values)
            return
        update = {"TableName": self.table_name, "Key": _to_wire(key), "UpdateExpression": expression,
                  **_expressions(condition, names, values)}
        operations: list[dict[str, Any]] = [{"Update": update}]
        operations += [{"Put": {"TableName": self.table_name, "Item": _to_wire(item)}} for item in puts]
        self._call_untargeted("TransactWriteItems", self.client.transact_write_items,
                              TransactItems=operations)

    def _call_untargeted(self, operation: str, call: Callable[..., T], **kwargs: Any) -> T:
        """_call for the operations that name their tables inside the request (transactions)."""
        return self._call(operation, lambda TableName, **rest: call(**rest), **kwargs)

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
