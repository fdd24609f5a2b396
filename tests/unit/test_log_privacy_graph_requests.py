"""GraphRequestFilter: urllib3's records of Graph requests keep no mailbox and no query value."""

from __future__ import annotations

import logging

import pytest

from pipeline.log_privacy.graph_requests import GraphRequestFilter, redact_graph_url


@pytest.mark.parametrize(("url", "shown"), [
    ("/v1.0/users/alice%40contoso.com/calendar/events", "/v1.0/users/<mailbox>/calendar/events"),
    ("/v1.0/Users/Alice@contoso.com/events/AAMk=?%24select=id&%24filter=x+eq+%27k%27",
     "/v1.0/Users/<mailbox>/events/AAMk=?%24select=<withheld>&%24filter=<withheld>"),
    ("/v1.0/places/rooms%40contoso.com/microsoft.graph.roomList/rooms",
     "/v1.0/places/<mailbox>/microsoft.graph.roomList/rooms"),
    ("/v1.0/places/microsoft.graph.roomList?$top=100",
     "/v1.0/places/microsoft.graph.roomList?$top=<withheld>"),
    ("/graph/notifications?validationToken=Validation%3A+x",
     "/graph/notifications?validationToken=<withheld>"),
    ("/tenant-1/oauth2/v2.0/token", "/tenant-1/oauth2/v2.0/token"),
])
def test_urls_lose_their_mailboxes_and_query_values(url: str, shown: str) -> None:
    assert redact_graph_url(url) == shown


def test_a_request_line_record_keeps_method_status_and_size() -> None:
    args = ("https", "graph.microsoft.com", 443, "POST", "/v1.0/users/bob@contoso.com/calendar/getSchedule",
            "HTTP/1.1", 200, 812)
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1,
                               '%s://%s:%s "%s %s %s" %s %s', args, None)

    assert GraphRequestFilter().filter(record)

    assert record.getMessage() == ('https://graph.microsoft.com:443 "POST /v1.0/users/<mailbox>/calendar/'
                                   'getSchedule HTTP/1.1" 200 812')
