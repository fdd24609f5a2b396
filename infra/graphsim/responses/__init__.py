"""One module per Graph resource; importing this package registers every route (routes.py).

Modules another helper owns are imported when present: a missing one is skipped.
"""

from __future__ import annotations

import importlib

from infra.graphsim.responses import (  # noqa: F401
    batch,
    calendar_delta,
    calendars,
    event_actions,
    events,
    places,
    schedule,
    translate_ids,
    users,
)

for _optional in ("subscriptions",):
    try:
        importlib.import_module(f"infra.graphsim.responses.{_optional}")
    except ModuleNotFoundError as missing:
        if missing.name != f"infra.graphsim.responses.{_optional}":
            raise
