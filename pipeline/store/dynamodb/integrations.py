"""Integration records: an integration's non-secret settings, stored as JSON."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import datetime
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.store.dynamodb.items import integration_from_item, iso
from pipeline.store.dynamodb.keys import INTEGRATION_PREFIX, integration_key
from pipeline.store.dynamodb.table import ConditionFailed, TableClient
from pipeline.store.records import IntegrationRecord

__all__ = ["IntegrationTable"]


class IntegrationTable:
    """The integration part of ResultsStore (see its docstrings for the contract)."""

    def __init__(self, table: TableClient) -> None:
        self.table = table

    def put_integration(self, integration_id: str, settings: dict[str, Any], now: datetime) -> None:
        try:
            # JSON rather than a DynamoDB map: settings round-trip exactly (no Decimal for numbers).
            text = json.dumps(settings, sort_keys=True)
        except (TypeError, ValueError):
            raise PermanentError(ErrorCode.INVALID_INTEGRATION,
                                 f"settings of integration {integration_id!r} are not JSON") from None
        self.table.put({**integration_key(integration_id), "integration_id": integration_id,
                        "settings": text, "updated_at": iso(now)})

    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        item = self.table.get(integration_key(integration_id))
        return None if item is None else integration_from_item(item)

    def list_integrations(self) -> list[IntegrationRecord]:
        items = self.table.scan(prefix=INTEGRATION_PREFIX)
        return sorted((integration_from_item(item) for item in items), key=lambda r: r.integration_id)

    def delete_integration(self, integration_id: str) -> bool:
        try:
            self.table.delete(integration_key(integration_id), condition="attribute_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def record_login_form(self, integration_id: str, form: str) -> None:
        # One attribute, so that settings written meanwhile by someone else stay as they are; an
        # integration removed meanwhile has nothing to remember it on.
        with suppress(ConditionFailed):
            self.table.update(integration_key(integration_id), "SET login_form = :form",
                              condition="attribute_exists(pk)", values={":form": form})
