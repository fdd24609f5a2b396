"""One module per action, each with one public function `(context, kwargs) -> result`.

ACTION_FUNCTIONS is keyed by the contract's action names (pipeline.contract.ACTIONS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from pipeline.actions.cancel_event import cancel_event
from pipeline.actions.check_connection import check_connection
from pipeline.actions.context import ActionContext
from pipeline.actions.create_event import create_event
from pipeline.actions.fetch_free_busy import fetch_free_busy
from pipeline.actions.list_rooms import list_rooms
from pipeline.actions.process_change import process_change
from pipeline.actions.renew_subscription import renew_subscription
from pipeline.actions.send_invite import send_invite
from pipeline.actions.subscribe_mailbox import subscribe_mailbox
from pipeline.actions.sync_calendar import sync_calendar
from pipeline.actions.update_event import update_event
from pipeline.contract import ContractModel

Action = Callable[[ActionContext, Any], ContractModel]

# Each action takes its own kwargs model; the runner has validated kwargs against it already.
ACTION_FUNCTIONS: Mapping[str, Action] = MappingProxyType(
    {
        "fetch_free_busy": fetch_free_busy,
        "create_event": create_event,
        "send_invite": send_invite,
        "update_event": update_event,
        "cancel_event": cancel_event,
        "list_rooms": list_rooms,
        "subscribe_mailbox": subscribe_mailbox,
        "renew_subscription": renew_subscription,
        "process_change": process_change,
        "check_connection": check_connection,
        "sync_calendar": sync_calendar,
    }
)

__all__ = ["ACTION_FUNCTIONS", "Action", "ActionContext"]
