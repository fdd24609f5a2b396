"""IntegrationSettings validation: what each connection method and auth type needs."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.errors import ErrorCode, PermanentError
from pipeline.integrations import (
    AuthType,
    ConnectionMethod,
    DeleteType,
    IntegrationSettings,
    load_integration,
)


def raw(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "integration_id": "acme-1",
        "connection_method": "delegate",
        "auth_type": "basic",
        "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
        "secret_name": "ews/acme-1/service",
        "service_mailbox": "svc@example.com",
    }
    settings.update(overrides)
    return {k: v for k, v in settings.items() if v is not None}


def problem(**overrides: Any) -> str:
    with pytest.raises(PermanentError) as caught:
        load_integration(raw(**overrides))
    assert caught.value.code is ErrorCode.INVALID_INTEGRATION
    return caught.value.message


def test_defaults() -> None:
    settings = load_integration(raw())
    assert settings.connection_method is ConnectionMethod.DELEGATE
    assert settings.auth_type is AuthType.BASIC
    assert settings.verify_tls is True
    assert settings.delete_type is DeleteType.SOFT
    assert settings.oauth_authority == "https://login.microsoftonline.com"
    assert settings.server_version is None


def test_frozen_and_no_unknown_fields() -> None:
    settings = load_integration(raw())
    with pytest.raises(ValueError):
        settings.verify_tls = False
    assert "password" in problem(password="hunter2-Secret")


def test_errors_name_fields_not_values() -> None:
    message = problem(password="hunter2-Secret", verify_tls="sometimes")
    assert "hunter2-Secret" not in message and "sometimes" not in message
    assert "verify_tls" in message and "password" in message
    assert "acme-1" in message


def test_an_endpoint_is_required() -> None:
    assert "ews_url" in problem(ews_url=None)
    assert load_integration(raw(ews_url=None, autodiscover_email="svc@example.com")).autodiscover_email
    assert load_integration(
        raw(ews_url=None, autodiscover_url="https://ad.example.com/autodiscover/autodiscover.svc")
    )


def test_personal_needs_a_secret_template_with_the_mailbox() -> None:
    assert "personal_secret_template" in problem(connection_method="personal", secret_name=None)
    assert "{mailbox}" in problem(connection_method="personal", personal_secret_template="ews/users")
    settings = load_integration(
        raw(
            connection_method="personal",
            secret_name=None,
            service_mailbox=None,
            personal_secret_template="ews/{integration_id}/users/{mailbox}",
        )
    )
    assert settings.secret_name_for("Alice@Example.com") == "ews/acme-1/users/alice@example.com"


def test_personal_secret_needs_the_jobs_mailbox() -> None:
    settings = load_integration(raw(connection_method="personal", personal_secret_template="u/{mailbox}"))
    with pytest.raises(PermanentError) as caught:
        settings.secret_name_for(None)
    assert caught.value.code is ErrorCode.INVALID_KWARGS


@pytest.mark.parametrize("method", ["dedicated", "delegate", "impersonation"])
def test_service_methods_need_secret_and_mailbox(method: str) -> None:
    assert "secret_name" in problem(connection_method=method, secret_name=None)
    assert "service_mailbox" in problem(connection_method=method, service_mailbox=None)
    assert (
        load_integration(raw(connection_method=method)).secret_name_for("alice@example.com")
        == "ews/acme-1/service"
    )


def test_oauth2_needs_a_tenant_and_is_app_only() -> None:
    assert "oauth_tenant_id" in problem(auth_type="oauth2")
    assert "personal" in problem(
        auth_type="oauth2",
        oauth_tenant_id="t",
        connection_method="personal",
        personal_secret_template="u/{mailbox}",
    )
    settings = load_integration(
        raw(auth_type="oauth2", oauth_tenant_id="t", oauth_authority="http://127.0.0.1:1")
    )
    assert settings.oauth_authority == "http://127.0.0.1:1"


@pytest.mark.parametrize("version", ["15.2.1118", "15.2.1118.7", "15.1", "Exchange2016", "Exchange2013_SP1"])
def test_server_version_forms(version: str) -> None:
    assert load_integration(raw(server_version=version)).server_version == version


@pytest.mark.parametrize("version", ["2019", "latest", "15.x", "Exchange"])
def test_bad_server_version(version: str) -> None:
    assert "server_version" in problem(server_version=version)


def test_bad_urls_and_ids() -> None:
    assert "ews_url" in problem(ews_url="mail.example.com")
    assert "integration_id" in problem(integration_id="has space")


def test_behaviour_settings_round_trip() -> None:
    settings = load_integration(
        raw(
            delete_type="hard",
            lock_appointments=True,
            show_event_titles=True,
            internal_domains=["example.com"],
            subject_template="Interview: {{ candidate }}",
            busy_calendars=["Calendar/Interviews"],
            booking_calendar="Calendar/Bookings",
        )
    )
    assert settings.delete_type is DeleteType.HARD
    assert settings.internal_domains == ("example.com",)
    assert IntegrationSettings.model_validate(settings.model_dump()) == settings


def test_oauth2_delegated_is_for_personal_connections_with_an_app_registration() -> None:
    personal = {"connection_method": "personal", "personal_secret_template": "ews/{mailbox}",
                "auth_type": "oauth2_delegated", "oauth_tenant_id": "t", "service_mailbox": None}
    settings = load_integration(raw(**personal, secret_name="ews/acme-1/app"))
    assert settings.auth_type is AuthType.OAUTH2_DELEGATED
    assert settings.secret_name_for("Alice@Example.com") == "ews/alice@example.com"
    assert "secret_name" in problem(**personal, secret_name=None)
    assert "oauth_tenant_id" in problem(**{**personal, "oauth_tenant_id": None}, secret_name="ews/app")
    # A delegated token acts as its own user: service connections use app-only oauth2.
    for method in ("dedicated", "delegate", "impersonation"):
        assert "personal" in problem(
            connection_method=method, auth_type="oauth2_delegated", oauth_tenant_id="t"
        )
    # And app-only oauth2 with personal points at the delegated kind.
    assert "oauth2_delegated" in problem(
        connection_method="personal", personal_secret_template="u/{mailbox}", auth_type="oauth2",
        oauth_tenant_id="t",
    )
