"""What the callback function receives: EWS push notifications (ews_push) and Microsoft Graph
webhooks (graph_webhooks), each turned into the same jobs: process_change per change, renewals,
calendar syncs.

The EWS names are re-exported here, where they always were; the Graph module is imported by the
route that needs it (handlers.callbacks), so an EWS callback never loads it.
"""

from __future__ import annotations

from pipeline.notifications.ews_push import MAX_BODY_BYTES, CallbackAnswer, receive_push

__all__ = ["MAX_BODY_BYTES", "CallbackAnswer", "receive_push"]
