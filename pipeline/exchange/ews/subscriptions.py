"""Subscribe (push) on the target calendar, resuming from a watermark when asked.

exchangelib 5.6 writes the resume point as m:Watermark, but messages.xsd puts Watermark in the
types namespace (t:Watermark): a schema-checking server answers ErrorSchemaValidation, so a
renewal could never resume. SubscribeToPushAt writes the element the schema wants.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from exchangelib import errors as ews
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.services import SubscribeToPush
from exchangelib.services.common import add_xml_child
from exchangelib.util import create_element

from pipeline.errors import PermanentError, PipelineError, RetryableError
from pipeline.exchange.ews.connection import LiveConnection
from pipeline.exchange.ews.errors import to_pipeline_error
from pipeline.exchange.push import WatermarkRejected
from pipeline.exchange.types import CallbackTarget, PushSubscription
from pipeline.subscriptions import callback_url as ews_callback_url

__all__ = [
    "CALENDAR_EVENT_TYPES",
    "SubscribeToPushAt",
    "callback_url",
    "redact_callback_tokens",
    "subscribe_push",
]

# What changes a booking: its item created, changed, deleted or moved (declined, trashed, restored).
CALENDAR_EVENT_TYPES = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")

# Exchange's answers to a watermark it cannot resume from.
_WATERMARK_ERRORS = (ews.ErrorInvalidWatermark, ews.ErrorExpiredSubscription)

# The callback URL's last segment is the subscription's secret token (pipeline.notifications).
_CALLBACK_TOKEN = re.compile(r"(/notifications/)[A-Za-z0-9_\-]+")
# exchangelib logs whole requests at DEBUG; these are the loggers a Subscribe body can reach.
_REQUEST_LOGGERS = ("exchangelib.util", "exchangelib.util.xml", "exchangelib.services.common")


def callback_url(callback: CallbackTarget) -> str:
    """The URL Exchange POSTs the subscription's SendNotification requests to."""
    return ews_callback_url(callback.base_url, callback.token)


def redact_callback_tokens(text: str) -> str:
    """Text with every callback token replaced by ***."""
    return _CALLBACK_TOKEN.sub(r"\1***", text)


class _CallbackTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        record.msg = redact_callback_tokens(str(record.msg))
        return True


for _name in _REQUEST_LOGGERS:
    logging.getLogger(_name).addFilter(_CallbackTokenFilter())


class SubscribeToPushAt(SubscribeToPush):
    """SubscribeToPush writing t:Watermark (exchangelib writes m:Watermark, which the schema rejects)."""

    def get_payload(
        self, folders: Any, event_types: Any, watermark: str | None, status_frequency: int, url: str
    ) -> Any:
        payload = create_element(f"m:{self.SERVICE_NAME}")
        request = self._partial_payload(folders=folders, event_types=event_types)
        if watermark:
            add_xml_child(request, "t:Watermark", watermark)
        add_xml_child(request, "t:StatusFrequency", status_frequency)  # minutes
        add_xml_child(request, "t:URL", url)
        payload.append(request)
        return payload


def subscribe_push(
    live: LiveConnection, callback_url: str, status_frequency_minutes: int, watermark: str | None = None
) -> PushSubscription:
    """One Subscribe request for the target mailbox's calendar; WatermarkRejected if it cannot resume."""
    # Addressing the calendar by distinguished id (with its owner) needs no GetFolder first, and
    # works alike for the owner, a delegate and an impersonating account.
    calendar = DistinguishedFolderId(id="calendar", mailbox=Mailbox(email_address=live.target.mailbox))
    try:
        subscription_id, start_watermark = SubscribeToPushAt(account=live.account).get(
            folders=[calendar],
            event_types=CALENDAR_EVENT_TYPES,
            watermark=watermark,
            status_frequency=status_frequency_minutes,
            url=callback_url,
        )
    except _WATERMARK_ERRORS as exc:
        raise WatermarkRejected(f"Subscribe: {type(exc).__name__}: cannot resume from the watermark") from exc
    except Exception as exc:
        mapped = to_pipeline_error(exc, "Subscribe")
        if mapped is None:
            raise
        # Exchange may quote the callback URL (ErrorInvalidPushSubscriptionUrl); its token must
        # not reach the job record.
        raise _redacted(mapped) from exc
    return PushSubscription(subscription_id=subscription_id, watermark=start_watermark)


def _redacted(error: PipelineError) -> PipelineError:
    message = redact_callback_tokens(error.message)
    if isinstance(error, RetryableError):
        return RetryableError(error.code, message, error.delay_ms)
    return PermanentError(error.code, message)
