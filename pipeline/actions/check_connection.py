"""check_connection: the operators' "load resources" step, reported step by step.

The job is a diagnostic: a step that fails for good (wrong password, no rights, unknown mailbox)
is reported in the result with its error code, the later steps are skipped, and the job itself
succeeds. A transient failure (server busy, dropped connection) says nothing about the
integration, so it is raised and the job retries like any other.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.actions.context import ActionContext
from pipeline.contract.check_connection import (
    CheckConnectionKwargs,
    CheckConnectionResult,
    ConnectionStep,
    StepName,
)
from pipeline.errors import PermanentError
from pipeline.exchange.base import ExchangeGateway

__all__ = ["check_connection"]


def check_connection(context: ActionContext, kwargs: CheckConnectionKwargs) -> CheckConnectionResult:
    """Resolve the endpoint, authenticate, prove the connection method on `mailbox`, list room lists.

    EWS requests: none to resolve a configured URL (autodiscover otherwise), then ConvertId,
    GetFolder on the mailbox's calendar as the integration would act, and GetRoomLists.
    """
    gateway = context.gateway(kwargs.mailbox)
    checks: list[tuple[StepName, Callable[[ExchangeGateway], str]]] = [
        ("resolve_endpoint", lambda g: g.probe_endpoint()),
        ("authenticate", lambda g: f"Exchange build {g.authenticate()}"),
        ("connection_method", _prove_connection_method),
        ("room_lists", _count_room_lists),
    ]
    steps: list[ConnectionStep] = []
    for name, check in checks:
        try:
            detail = check(gateway)
        except PermanentError as failure:
            steps.append(ConnectionStep(name=name, ok=False, detail=failure.message, error_code=failure.code))
            return CheckConnectionResult(ok=False, steps=steps)
        steps.append(ConnectionStep(name=name, ok=True, detail=detail))
    return CheckConnectionResult(ok=True, steps=steps)


def _prove_connection_method(gateway: ExchangeGateway) -> str:
    gateway.probe_mailbox()
    target = gateway.target
    return (
        f"{target.connection_method}: {target.acting_as} can create events in the calendar of "
        f"{target.mailbox}"
    )


def _count_room_lists(gateway: ExchangeGateway) -> str:
    names = [room_list.name or room_list.email for room_list in gateway.list_room_lists()]
    return f"{len(names)} room list(s)" + (f": {', '.join(names)}" if names else "")
