"""subscribe_mailbox: a push subscription on a mailbox's calendar."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from pipeline.contract.common import ContractModel, EmailAddress, MailboxJobKwargs

__all__ = ["SubscribeMailboxKwargs", "SubscribeMailboxResult"]


class SubscribeMailboxKwargs(MailboxJobKwargs):
    """Subscribe to changes in a mailbox's calendar."""

    status_frequency_minutes: int = Field(
        default=30,
        ge=1,
        le=1440,
        description="How often Exchange sends a keep-alive when nothing changes; the subscription "
        "counts as stale after twice this without a notification.",
    )


class SubscribeMailboxResult(ContractModel):
    """The new subscription."""

    subscription_id: str = Field(
        description="Our record id for the subscription; renew_subscription takes this."
    )
    ews_subscription_id: str = Field(description="The subscription id Exchange gave.")
    mailbox: EmailAddress
    watermark: str = Field(description="Exchange watermark the subscription starts from.")
    stale_after: AwareDatetime = Field(
        description="When the subscription counts as stale if nothing has been heard by then."
    )
