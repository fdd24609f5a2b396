"""check_connection: the operators' "load resources" step, reported step by step."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.contract.common import ContractModel, MailboxJobKwargs
from pipeline.errors import ErrorCode

__all__ = ["CheckConnectionKwargs", "CheckConnectionResult", "ConnectionStep", "StepName"]

StepName = Literal["resolve_endpoint", "authenticate", "connection_method", "room_lists"]


class CheckConnectionKwargs(MailboxJobKwargs):
    """Prove an integration works; `mailbox` is the person to prove the connection method on."""


class ConnectionStep(ContractModel):
    """The outcome of one step; later steps are skipped (not reported) after a failure."""

    name: StepName
    ok: bool
    detail: str = Field(default="", description="What was found, e.g. the EWS URL or server version.")
    error_code: ErrorCode | None = None


class CheckConnectionResult(ContractModel):
    """Every step's outcome, in order."""

    ok: bool = Field(description="True when every step succeeded.")
    steps: list[ConnectionStep]
