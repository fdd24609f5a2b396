"""Finding an integration's EWS URL: SOAP autodiscover at a configured URL, or DNS-driven discovery.

The connector caches the answer per integration; this module makes one discovery.
"""

from __future__ import annotations

from exchangelib import Configuration, FailFast
from exchangelib.autodiscover import Autodiscovery
from exchangelib.credentials import BaseCredentials

from pipeline.exchange.ews.protocol import (
    HttpTimeout,
    autodiscover_protocol_class,
    exchangelib_auth_type,
    forget_protocol,
)
from pipeline.integrations import IntegrationSettings

__all__ = ["discover_ews_url"]


def discover_ews_url(
    settings: IntegrationSettings,
    credentials: BaseCredentials,
    email: str,
    *,
    timeout: HttpTimeout | None = None,
) -> str | None:
    """The EWS URL autodiscover gives for `email` (None when it names none); exchangelib errors pass.

    `timeout` (requests' form) applies to a configured autodiscover URL; DNS-driven discovery keeps
    exchangelib's own."""
    if settings.autodiscover_url:
        protocol = autodiscover_protocol_class(settings)(
            config=Configuration(
                service_endpoint=settings.autodiscover_url,
                credentials=credentials,
                auth_type=exchangelib_auth_type(settings.auth_type),
                retry_policy=FailFast(),
            )
        )
        if timeout is not None:
            protocol.TIMEOUT = timeout
        try:
            answer = protocol.get_user_settings(user=email)
        finally:
            protocol.close()
        answer.raise_errors()
        url = answer.ews_url or answer.user_settings.get("internal_ews_url")
        return str(url) if url else None
    # DNS-driven discovery (https only); exchangelib's own TLS settings apply to this step.
    found_answer, found = Autodiscovery(email=email, credentials=credentials).discover()
    forget_protocol(found.config, found)
    return str(found_answer.ews_url) if found_answer.ews_url else None
