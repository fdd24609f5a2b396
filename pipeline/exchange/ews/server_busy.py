"""BackOffMilliseconds from an ErrorServerBusy inside a ResponseMessage, for every EWS operation.

Exchange throttles in two forms: an HTTP 500 SOAP fault whose detail carries BackOffMilliseconds,
and an HTTP 200 whose ResponseMessage has ResponseClass="Error", ResponseCode ErrorServerBusy
and `MessageXml/Value[@Name="BackOffMilliseconds"]`. exchangelib 5.6 reads the value only from
the fault (`EWSService._raise_soap_errors`). Every response message of every service goes through
the staticmethod `EWSService._get_exception(code, text, msg_xml, rule_errors)`, which builds the
ErrorServerBusy without a back-off; then `_get_elements` fills in its own RETRY_WAIT (10 s), or,
where a service returns errors instead of raising them (GetUserAvailability per mailbox), the
exception has none at all, and errors.py (which maps `exc.back_off` to `delay_ms`) saw 10 s or
nothing instead of the server's value.

One wrapper around that staticmethod, installed once on the base class, covers every service
(no service overrides it) and both ways an error leaves a service: raised (exchangelib's
`_handle_backoff` then honours the value under FaultTolerance, and FailFast re-raises it with the
value) or returned in the results. It only adds `back_off` to an ErrorServerBusy that has none;
every other exception is exchangelib's, unchanged. Subclassing the services instead would need
one subclass per operation and would miss those exchangelib calls internally (GetFolder for
distinguished folders, ConvertId for version guessing).

The same throttling also shrinks exchangelib's session pool (BaseProtocol.decrease_poolsize), which
in 5.6 deadlocks the process when every session is in use: it holds the pool's lock and takes a
session through get_session, whose increase_poolsize takes that lock again. Its replacement below
closes an idle session if there is one, and otherwise leaves the pool as it is.
"""

from __future__ import annotations

import threading
from typing import Any

from exchangelib.errors import ErrorServerBusy
from exchangelib.services.common import EWSService
from exchangelib.util import TNS

__all__ = ["back_off_seconds", "install_server_busy_back_off"]

_VALUE = f"{{{TNS}}}Value"
_LOCK = threading.Lock()


def back_off_seconds(message_xml: Any) -> float | None:
    """BackOffMilliseconds in a MessageXml element, in seconds (as exchangelib's `back_off`); None
    without a usable value."""
    if message_xml is None:
        return None
    for value in message_xml.iterfind(_VALUE):
        if value.get("Name") != "BackOffMilliseconds":
            continue
        try:
            milliseconds = int((value.text or "").strip())
        except ValueError:
            return None
        return milliseconds / 1000.0 if milliseconds > 0 else None
    return None


def install_server_busy_back_off() -> None:
    """Make EWSService._get_exception give an ErrorServerBusy its BackOffMilliseconds (idempotent)."""
    with _LOCK:
        current = EWSService.__dict__["_get_exception"].__func__
        if getattr(current, "reads_back_off", False):
            return

        def get_exception(
            code: Any, text: Any, msg_xml: Any = None, rule_errors: Any = None
        ) -> Exception:
            exc: Exception = current(code, text, msg_xml=msg_xml, rule_errors=rule_errors)
            if isinstance(exc, ErrorServerBusy) and not exc.back_off:
                exc.back_off = back_off_seconds(msg_xml)
            return exc

        get_exception.reads_back_off = True  # type: ignore[attr-defined]
        get_exception.__doc__ = current.__doc__
        EWSService._get_exception = staticmethod(get_exception)


install_server_busy_back_off()


def _decrease_poolsize_without_waiting(self: Any) -> None:
    """exchangelib 5.6's BaseProtocol.decrease_poolsize, without its self-deadlock: it holds
    `_session_pool_lock` and takes a session with `get_session`, which, when every session is in
    use, calls `increase_poolsize`, which takes the same (non-reentrant) lock. Here a session is
    taken only if one is idle; if none is, the pool stays as it is."""
    from queue import Empty

    from exchangelib.errors import SessionPoolMinSizeReached

    if self._session_pool_size <= 1:
        raise SessionPoolMinSizeReached("Session pool size cannot be decreased further")
    with self._session_pool_lock:
        if self._session_pool_size <= 1:
            return
        try:
            session = self._session_pool.get(block=False)
        except Empty:
            return
        self.close_session(session)
        self._session_pool_size -= 1


def _install_pool_fix() -> None:
    from exchangelib.protocol import BaseProtocol

    BaseProtocol.decrease_poolsize = _decrease_poolsize_without_waiting


_install_pool_fix()
