"""Integration records: an integration's non-secret settings, stored as JSON, and the copy of
them that a process's jobs use (re-read once it is a few seconds old)."""

from __future__ import annotations

import json
import threading
from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from pipeline.errors import ErrorCode, PermanentError
from pipeline.store.dynamodb.items import integration_from_item, iso
from pipeline.store.dynamodb.keys import INTEGRATION_PREFIX, integration_key
from pipeline.store.dynamodb.table import ConditionFailed, TableClient
from pipeline.store.records import IntegrationRecord

__all__ = ["IntegrationTable"]


class IntegrationTable:
    """The integration part of ResultsStore (see its docstrings for the contract).

    current_integration answers from a copy while it is younger than `cache_age`: a job costs no
    read of its integration then, and an edit made elsewhere (another worker, the CLI) is seen
    within `cache_age`. An edit made through this table drops the copy at once. Unknown
    integrations are not remembered (one added a moment later is found by the next job).
    """

    def __init__(self, table: TableClient, cache_age: timedelta = timedelta(0)) -> None:
        self.table = table
        self.cache_age = cache_age
        self._lock = threading.Lock()
        self._copies: dict[str, tuple[datetime, IntegrationRecord]] = {}
        # Edits made through this table, per integration: a read that began before one of them
        # must not store what it read (the copy would be older than the edit).
        self._edits: dict[str, int] = {}

    def put_integration(self, integration_id: str, settings: dict[str, Any], now: datetime) -> None:
        try:
            # JSON rather than a DynamoDB map: settings round-trip exactly (no Decimal for numbers).
            text = json.dumps(settings, sort_keys=True)
        except (TypeError, ValueError):
            raise PermanentError(ErrorCode.INVALID_INTEGRATION,
                                 f"settings of integration {integration_id!r} are not JSON") from None
        # One write that replaces the settings and counts the version on; the logon form learnt
        # for the old settings is forgotten, as a whole-item put would. The copy is dropped before
        # and after it: a read in flight across the write cannot keep what it read.
        self._edited(integration_id)
        self.table.update(
            integration_key(integration_id),
            "SET #id = :id, #settings = :settings, #updated = :now ADD #version :one REMOVE #form",
            names={"#id": "integration_id", "#settings": "settings", "#updated": "updated_at",
                   "#version": "version", "#form": "login_form"},
            values={":id": integration_id, ":settings": text, ":now": iso(now), ":one": 1},
        )
        self._edited(integration_id)

    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        item = self.table.get(integration_key(integration_id))
        return None if item is None else integration_from_item(item)

    def current_integration(self, integration_id: str, now: datetime) -> IntegrationRecord | None:
        with self._lock:
            copy = self._copies.get(integration_id)
            edits = self._edits.get(integration_id, 0)
        if copy is not None and timedelta(0) <= now - copy[0] < self.cache_age:
            return copy[1]
        record = self.get_integration_record(integration_id)
        with self._lock:
            if record is None:
                self._copies.pop(integration_id, None)
            elif self._edits.get(integration_id, 0) == edits and self.cache_age > timedelta(0):
                self._copies[integration_id] = (now, record)
        return record

    def _edited(self, integration_id: str) -> None:
        """Forget this process's copy: the next job reads the integration again."""
        with self._lock:
            self._copies.pop(integration_id, None)
            self._edits[integration_id] = self._edits.get(integration_id, 0) + 1

    def list_integrations(self) -> list[IntegrationRecord]:
        items = self.table.scan(prefix=INTEGRATION_PREFIX)
        return sorted((integration_from_item(item) for item in items), key=lambda r: r.integration_id)

    def delete_integration(self, integration_id: str) -> bool:
        self._edited(integration_id)
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
