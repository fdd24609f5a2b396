"""Mailboxes, attendees, subjects and SOAP bodies never reach a log from exchangelib's records.

At DEBUG exchangelib logs each SOAP request and response whole (exchangelib.util.xml), each POST
with its request and response headers (exchangelib.util's "Timeout: ... Request headers: ..."),
the Account it builds and acts for ("Added account: Account(...)", "Adding items for Account(...)":
the primary SMTP address), the credentials in a protocol cache key, the email it autodiscovers,
the folders it walks; and requests_oauthlib, under it, each request's headers and body ("Supplying
headers {'X-AnchorMailbox': ...} and data b'<s:Envelope ...'"). Personal data has no shape a
pattern could find, so the filter looks for none. It vouches for a record by what it knows:

- the message must be one of the logging module's own string literals (a template, not text made
  at run time such as `log.warning(str(error))`), else the record is withheld whole;
- each argument is shown as its template's rule says (_RULES: a service name, a server, a URL's
  host and path, header names, a SOAP body's operation and response codes and size); an argument
  no rule names is shown when it is a number, a flag or None, and replaced by a placeholder naming
  its type otherwise;
- an exception attached to the record keeps its type only (its text may quote a body).

What an operator needs stays: the EWS operation, the HTTP status, retries and back-off, session
ids, the API version. A record that cannot be checked is withheld whole; none is dropped. The
filter runs only on records a logger emits: with DEBUG off, `logger.debug` returns at its level
check before any record exists. Installed, ahead of the credential scrubbing, by
pipeline.exchange.ews.errors.install_log_scrubbing.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from types import CodeType

from pipeline.log_privacy import ews_values as show
from pipeline.log_privacy.ews_values import Show

__all__ = ["EWS_LOGGERS", "EwsPayloadFilter", "withhold_ews_payloads"]

# Filters do not inherit to child loggers: every module logger of exchangelib (a test keeps the list
# whole), and requests_oauthlib's session, which logs each EWS request it sends for OAuth.
EWS_LOGGERS = (
    "exchangelib.account", "exchangelib.attachments", "exchangelib.autodiscover.cache",
    "exchangelib.autodiscover.discovery", "exchangelib.configuration", "exchangelib.credentials",
    "exchangelib.ewsdatetime", "exchangelib.extended_properties", "exchangelib.fields",
    "exchangelib.folders.base", "exchangelib.folders.collections", "exchangelib.folders.queryset",
    "exchangelib.folders.roots", "exchangelib.indexed_properties", "exchangelib.items.base",
    "exchangelib.items.calendar_item", "exchangelib.items.contact", "exchangelib.items.item",
    "exchangelib.items.message", "exchangelib.items.post", "exchangelib.items.task",
    "exchangelib.properties", "exchangelib.protocol", "exchangelib.queryset", "exchangelib.recurrence",
    "exchangelib.restriction", "exchangelib.services.common", "exchangelib.services.find_people",
    "exchangelib.services.get_events", "exchangelib.services.get_streaming_events",
    "exchangelib.services.get_streaming_events.xml", "exchangelib.services.get_user_settings",
    "exchangelib.services.resolve_names", "exchangelib.services.sync_folder_hierarchy",
    "exchangelib.transport", "exchangelib.util", "exchangelib.util.xml", "exchangelib.version",
    "requests_oauthlib.oauth2_session",
)

_n, _url, _soap, _headers = show.number, show.url, show.soap, show.headers
_ACCOUNT = show.withheld_as("an Account")
_FOLDER = show.withheld_as("a folder")
_MAILBOX = show.withheld_as("a mailbox")
_CACHE_KEY = show.withheld_as("a cache key")
_SERVER = (show.keep,)  # exchangelib.protocol's "Server %s: ...": the EWS server's host and port
_POST = {"timeout": _n, "session_id": _n, "thread_id": _n, "auth": show.type_name, "url": _url,
         "adapter": show.type_name, "stream": _n, "response_time": _n, "status_code": _n,
         "request_headers": _headers, "response_headers": _headers}

# Per logging module: a template's start, and how each of its arguments (by position, or by key for
# one mapping argument) is shown. Arguments no rule names: numbers shown, the rest withheld.
_RULES: dict[str, tuple[tuple[str, tuple[Show, ...] | Mapping[str, Show]], ...]] = {
    "exchangelib.util": (
        ("Timeout: %(timeout)s", _POST),
        ("Request XML: %(xml_request)s", {"xml_request": _soap, "xml_response": _soap}),
        ("Session %s thread %s timeout %s: POST'ing to %s", (_n, _n, _n, _url, _n)),
        ("Session %s thread %s: ", (_n, _n, _url)),
        ("%s: %s\n%s\n%s", (show.keep,)),  # an exception's class; its text, the request and bodies go
        ("Server requested back off until %s", (show.keep, _n)),
    ),
    "exchangelib.services.common": (
        ("Calling service %s", (show.keep,)),
        ("Trying API version %s", (show.keep,)),
        ("API version %s was invalid", (show.keep,)),
        ("Found new version (%s -> %s)", (show.keep, show.keep)),
    ),
    "exchangelib.services.get_streaming_events": (
        ("Response XML (docs counter: %(i)s)", {"i": _n, "xml_response": _soap}),
        ("Connection status is: %s", (show.keep,)),
    ),
    "exchangelib.version": (
        ("API version \"%s\" worked but server reports version", (show.keep, show.keep, show.keep)),
        ("Asking server for version info using API version %s", (show.keep,)),
        ("Full name for API version %s build %s is unknown", (show.keep, show.keep)),
    ),
    "exchangelib.protocol": (
        ("Server %s: ", _SERVER),
        ("Protocol __call__ cache miss. Adding key", (_CACHE_KEY,)),
        ("Failed to create cached protocol with key", (_CACHE_KEY,)),
        ("Service endpoint '%s': Closing sessions", (_url,)),
        ("Redirect not allowed", (_url, _url)),
    ),
    "exchangelib.transport": (
        ("Requesting %s from %s", (_soap, _url)),
        ("Trying to get service auth type for %s", (_url,)),
        ("Trying to get response from %s", (_url,)),
        ("Connection error on URL %s", (_url,)),
        ("Unexpected response: %s %s", (_n, show.keep)),
        ("Auth type is %s", (show.keep,)),
        ("Request headers: %s", (_headers,)),
        ("Response headers: %s", (_headers,)),
    ),
    "exchangelib.account": (
        ("Added account: %s", (_ACCOUNT,)),
        ("Adding items for %s (folder %s,", (_ACCOUNT, _FOLDER, show.keep, show.keep)),
        ("Updating items for %s (conflict_resolution", (_ACCOUNT, show.keep, show.keep, show.keep)),
        ("Deleting items for %s (delete_type", (_ACCOUNT, show.keep, show.keep, show.keep)),
    ),
    "exchangelib.credentials": (
        ("%s auth token for %s", (show.keep, show.keep)),  # "Refreshing"/"Setting", the app's client id
    ),
    "exchangelib.autodiscover.discovery": (
        ("Step ", (_url, _MAILBOX)),
        ("Attempting to get a valid response from %s", (_url,)),
        ("Got a redirect URL: %s", (_url,)),
        ("Got a redirect address: %s", (_MAILBOX,)),
        ("Cache hit for key %s: %s", (_CACHE_KEY, _url)),
        ("Adding cache entry for key %s: %s", (_CACHE_KEY, _url)),
    ),
    "requests_oauthlib.oauth2_session": (
        ("Requesting url %s using method %s", (_url, show.keep)),
        ("Supplying headers %s and data %s", (_headers, _soap)),
        ("Passing through key word arguments %s", (show.keys,)),
        ("Request url was %s", (_url,)),
        ("Request headers were %s", (_headers,)),
        ("Response headers were %s and content %s", (_headers,)),
    ),
}
_UNCHECKED = "<withheld: a record of {} that could not be checked for personal data>"


class EwsPayloadFilter(logging.Filter):
    """Shows each argument of an EWS library's record as its rule says; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _withhold_personal_data(record)
        except Exception:  # a filter that raises would fail the EWS call, not just the log line
            _withhold_whole(record)
        return True


def _withhold_personal_data(record: logging.LogRecord) -> None:
    module = _module_of(record)
    template = record.msg
    if module is None or not isinstance(template, str) or template not in _literals(module, record):
        _withhold_whole(record)
        return
    if record.exc_info and record.exc_info[1] is not None:
        record.msg = f"{template} ({type(record.exc_info[1]).__name__}: its text withheld)"
        record.exc_info, record.exc_text = None, None
    args = record.args
    if not args:
        return
    shows = next((rule for start, rule in _RULES.get(module, ()) if template.startswith(start)), ())
    if isinstance(args, Mapping):  # one mapping argument: the record holds it in place of a tuple
        if isinstance(shows, tuple) and shows:  # a "%s" template: its rule takes the mapping whole
            record.args = (shows[0](args),)
            return
        by_key = shows if isinstance(shows, Mapping) else {}
        record.args = {key: by_key.get(key, show.number)(value) for key, value in args.items()}
    elif isinstance(args, tuple):
        by_position = shows if isinstance(shows, tuple) else ()
        record.args = tuple((by_position[i] if i < len(by_position) else show.number)(arg)
                            for i, arg in enumerate(args))
    else:
        _withhold_whole(record)


def _withhold_whole(record: logging.LogRecord) -> None:
    record.msg, record.args = _UNCHECKED.format(record.name), None
    record.exc_info, record.exc_text = None, None


def _module_of(record: logging.LogRecord) -> str | None:
    """The module whose logger this is: the logger's name, or its parent's for an `.xml` logger."""
    for name in (record.name, record.name.rpartition(".")[0]):
        if name in sys.modules:
            return name
    return None


# A module's string literals, and the file its code came from, read once from its compiled code.
_LITERALS: dict[str, tuple[str, frozenset[str]]] = {}


def _literals(module: str, record: logging.LogRecord) -> frozenset[str]:
    """The string literals of the module that logged the record (none if another file logged it)."""
    found = _LITERALS.get(module)
    if found is None:
        loader = getattr(sys.modules[module].__spec__, "loader", None)
        code = loader.get_code(module) if isinstance(loader, importlib.abc.InspectLoader) else None
        if not isinstance(code, CodeType):
            return frozenset()
        found = _LITERALS[module] = (os.path.normcase(code.co_filename), frozenset(_strings(code)))
    filename, literals = found
    return literals if os.path.normcase(record.pathname) == filename else frozenset()


def _strings(code: CodeType) -> Iterator[str]:
    for constant in code.co_consts:
        if isinstance(constant, str):
            yield constant
        elif isinstance(constant, CodeType):
            yield from _strings(constant)


_INSTALLED: set[str] = set()


def withhold_ews_payloads(names: Iterable[str] = EWS_LOGGERS) -> None:
    """Put the filter on each named logger, ahead of its other filters (the credential scrubbing
    formats a record's arguments into its message); process-wide, idempotent."""
    for name in names:
        if name not in _INSTALLED:
            logging.getLogger(name).filters.insert(0, EwsPayloadFilter())
            _INSTALLED.add(name)
