"""Logon name forms and how the one that worked is remembered (no I/O: a fake store)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.errors import ErrorCode, RetryableError
from pipeline.exchange.ews.logins import LoginForm, LoginFormMemory, login_forms, logon_name
from pipeline.secrets import ExchangeSecret
from pipeline.store.records import IntegrationRecord

USERNAME, DOMAIN = LoginForm.USERNAME, LoginForm.DOMAIN


@pytest.mark.parametrize(
    ("username", "domain", "forms", "names"),
    [
        ("alice@example.com", "EXAMPLE", (USERNAME, DOMAIN), ["alice@example.com", "EXAMPLE\\alice"]),
        ("alice", "EXAMPLE", (DOMAIN, USERNAME), ["EXAMPLE\\alice", "alice"]),
        ("alice@example.com", None, (USERNAME,), ["alice@example.com"]),
        ("CORP\\alice", "EXAMPLE", (USERNAME,), ["CORP\\alice"]),
    ],
)
def test_forms_and_names(
    username: str, domain: str | None, forms: tuple[LoginForm, ...], names: list[str]
) -> None:
    secret = ExchangeSecret(username=username, password="pw", domain=domain)
    assert login_forms(secret) == forms
    assert [logon_name(secret, form) for form in forms] == names


def test_the_preferred_form_goes_first() -> None:
    secret = ExchangeSecret(username="alice@example.com", password="pw", domain="EXAMPLE")
    assert login_forms(secret, DOMAIN) == (DOMAIN, USERNAME)
    assert login_forms(ExchangeSecret(username="a@b.c", password="pw"), DOMAIN) == (USERNAME,)


class FakeStore:
    def __init__(self, form: str | None = None, *, failing: bool = False) -> None:
        self.form = form
        self.failing = failing
        self.reads = 0
        self.writes: list[str] = []

    def get_integration_record(self, integration_id: str) -> IntegrationRecord | None:
        self.reads += 1
        if self.failing:
            raise RetryableError(ErrorCode.STORE_UNAVAILABLE, "down")
        return IntegrationRecord(integration_id, {}, None, self.form)

    def record_login_form(self, integration_id: str, form: str) -> None:
        if self.failing:
            raise RetryableError(ErrorCode.STORE_UNAVAILABLE, "down")
        self.writes.append(form)
        self.form = form


def memory(store: Any) -> LoginFormMemory:
    return LoginFormMemory(store)


def test_the_table_is_read_once_per_integration_and_written_only_on_news() -> None:
    store = FakeStore("domain")
    forms = memory(store)
    assert forms.preferred("acme", "s1") is DOMAIN
    assert forms.preferred("acme", "s2") is DOMAIN
    assert store.reads == 1
    forms.remember("acme", "s1", DOMAIN)
    assert store.writes == []  # the table already says so
    forms.remember("acme", "s2", USERNAME)
    assert store.writes == ["username"] and forms.preferred("acme", "s1") is DOMAIN


def test_users_of_one_integration_needing_different_forms_do_not_write_every_job() -> None:
    store = FakeStore()
    forms = memory(store)
    forms.preferred("acme", "a")
    for _ in range(3):
        forms.remember("acme", "a", DOMAIN)
        forms.remember("acme", "b", USERNAME)
    assert store.writes == ["domain", "username"]


def test_a_failing_store_never_fails_the_logon() -> None:
    forms = memory(FakeStore(failing=True))
    assert forms.preferred("acme", "s") is None
    forms.remember("acme", "s", DOMAIN)
    assert forms.preferred("acme", "s") is DOMAIN  # process memory still knows


def test_without_a_store_memory_is_per_process() -> None:
    forms = LoginFormMemory()
    assert forms.preferred("acme", "s") is None
    forms.remember("acme", "s", DOMAIN)
    assert forms.preferred("acme", "s") is DOMAIN and forms.preferred("acme", "other") is DOMAIN
