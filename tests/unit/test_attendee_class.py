"""internal_domains: which attendees an integration counts as internal (JRNI's domain whitelist)."""

from __future__ import annotations

import pytest

from pipeline.contract.booking import AttendeeClass
from pipeline.integrations import IntegrationSettings

INTERNAL, EXTERNAL = AttendeeClass.INTERNAL, AttendeeClass.EXTERNAL


def settings(*domains: str) -> IntegrationSettings:
    return IntegrationSettings(
        integration_id="acme", connection_method="impersonation", auth_type="basic",
        ews_url="https://mail.acme.example/EWS/Exchange.asmx", secret_name="ews/acme",
        service_mailbox="svc@acme.example", internal_domains=domains,
    )


@pytest.mark.parametrize(("domains", "email", "expected"), [
    (("acme.example",), "ann@acme.example", INTERNAL),
    (("acme.example",), "ann@eu.acme.example", EXTERNAL),  # an exact domain does not cover subdomains
    ((".acme.example",), "ann@eu.acme.example", INTERNAL),
    ((".acme.example",), "ann@acme.example", INTERNAL),  # as cookie domains: the domain and below
    ((".acme.example",), "ann@evilacme.example", EXTERNAL),  # a suffix is not a subdomain
    (("ACME.Example",), "Ann@acme.EXAMPLE", INTERNAL),  # case-insensitive
    (("bücher.example",), "ann@xn--bcher-kva.example", INTERNAL),  # IDNA: one domain, two spellings
    (("xn--bcher-kva.example",), "ann@BÜCHER.example", INTERNAL),
    ((), "ann@acme.example", EXTERNAL),  # no list: everyone is external
])
def test_attendees_are_classed_by_the_integrations_domains(
    domains: tuple[str, ...], email: str, expected: AttendeeClass
) -> None:
    assert settings(*domains).attendee_class(email) is expected
