"""The demo's integrations: one per connection method on EWS and one on Microsoft Graph, with
their settings and secrets stored as an operator's `integration add` would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from infra.demo import organisation as org
from infra.demo.local_stack import put_secret
from infra.ewssim import EwsSimulator
from pipeline.config import PipelineConfig

__all__ = ["GRAPH_INTEGRATION", "INTEGRATIONS", "DemoIntegration", "install"]


@dataclass(frozen=True)
class DemoIntegration:
    integration_id: str
    method: str
    auth: str
    label: str
    # The calendar (a person's name in the organisation) watched by a push subscription, if any.
    subscribed: str | None = None
    lock_appointments: bool = False
    auto_confirm: bool = False
    backend: str = "ews"


INTEGRATIONS = (
    # ada's calendar holds a booking of this one, which she moves and the pipeline moves back.
    DemoIntegration("contoso-personal", "personal", "basic", "personal credentials, Basic",
                    subscribed="ada", lock_appointments=True),
    # The service mailbox holds this one's bookings: one is moved and auto-confirmed, one declined.
    DemoIntegration("contoso-dedicated", "dedicated", "ntlm", "dedicated mailbox, NTLM",
                    subscribed="booking-svc", auto_confirm=True),
    DemoIntegration("contoso-delegate", "delegate", "basic", "delegate access, Basic", subscribed="grace"),
    DemoIntegration("contoso-impersonation", "impersonation", "oauth2", "impersonation, OAuth 2.0 app-only"),
    # Exchange Online without EWS: the same app, its application permissions, through Graph. ken's
    # calendar holds a booking of this one, which he moves in Outlook on the web and the pipeline
    # moves back.
    DemoIntegration("contoso-cloud", "impersonation", "oauth2", "Microsoft Graph, app-only", backend="graph",
                    subscribed="ken", lock_appointments=True),
)
GRAPH_INTEGRATION = INTEGRATIONS[-1].integration_id


def install(sim: EwsSimulator, aws_endpoint: str, config: PipelineConfig, demo: DemoIntegration) -> None:
    """Store the integration's settings and its secret; `sim` is the server it talks to."""
    settings: dict[str, Any] = {
        "integration_id": demo.integration_id,
        "connection_method": demo.method,
        "auth_type": demo.auth,
        **({"backend": "graph", "graph_url": sim.graph_url} if demo.backend == "graph"
           else {"ews_url": sim.ews_url}),
        "show_event_titles": True,
        "subject_template": "{{ subject }}{% if candidate %} with {{ candidate }}{% endif %}",
        "internal_domains": [org.DOMAIN],
        "lock_appointments": demo.lock_appointments,
        "auto_confirm": demo.auto_confirm,
    }
    if demo.auth == "oauth2":
        settings |= {"oauth_authority": sim.base_url, "oauth_tenant_id": org.APP["tenant_id"],
                     "secret_name": f"demo/{demo.integration_id}/app",
                     "service_mailbox": org.address("scheduler-imp")}
        put_secret(aws_endpoint, settings["secret_name"], dict(org.APP))
    elif demo.method == "personal":
        settings["personal_secret_template"] = "demo/{integration_id}/users/{mailbox}"
        for name in (*org.INTERVIEWERS, *org.RECRUITERS):
            put_secret(aws_endpoint, f"demo/{demo.integration_id}/users/{org.address(name)}",
                       {"username": org.address(name), "password": org.PASSWORD})
    else:
        service = "scheduler-imp" if demo.method == "impersonation" else "booking-svc"
        settings |= {"secret_name": f"demo/{demo.integration_id}/service",
                     "service_mailbox": org.address(service)}
        put_secret(aws_endpoint, settings["secret_name"],
                   {"username": org.address(service), "password": org.PASSWORD, "domain": "CONTOSO"})
    store = _store(config)
    store.put_integration(demo.integration_id, settings, datetime.now(UTC))


def _store(config: PipelineConfig) -> Any:
    from pipeline.store.factory import get_store

    return get_store(config)
