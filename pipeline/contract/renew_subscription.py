"""renew_subscription: re-subscribe a stale subscription from its last watermark."""

from __future__ import annotations

from pydantic import Field

from pipeline.contract.common import ContractModel, JobKwargs, SubscriptionRecordId

__all__ = ["RenewSubscriptionKwargs", "RenewSubscriptionResult"]

class RenewSubscriptionKwargs(JobKwargs):
    """Renew one subscription if it has gone stale."""

    subscription_id: SubscriptionRecordId
    force: bool = Field(default=False, description="Renew even when the subscription is not stale.")


class RenewSubscriptionResult(ContractModel):
    """What the renewal did."""

    old_subscription_id: str = Field(description="Record id of the subscription asked about.")
    new_subscription_id: str | None = Field(
        default=None, description="Record id of the replacement; null when not renewed."
    )
    renewed: bool = Field(description="False when the subscription was not stale (nothing done).")
    resumed_from_watermark: bool = Field(
        description="True when the new subscription resumed from the old one's last watermark."
    )
