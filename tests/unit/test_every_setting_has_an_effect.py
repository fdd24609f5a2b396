"""No setting without an effect: every field of IntegrationSettings names the tests that show what
it does, and those tests exist and set it.

A setting that nothing reads tells an operator something false. Adding a field without adding it
here fails; so does naming a test that is gone, or one that never mentions the field (directly,
or through the test helpers it imports, which build integrations for it).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from pipeline.config import ENVIRONMENT_VARIABLES, PipelineConfig
from pipeline.integrations import IntegrationSettings

ROOT = Path(__file__).resolve().parents[2]

# Field -> the tests that show its effect (path::test function).
EFFECTS: dict[str, tuple[str, ...]] = {
    "integration_id": ("tests/integration/test_job_errors.py::test_unknown_integration",),
    "connection_method": ("tests/integration/test_connection.py::test_connection_methods_and_auth_types",),
    "auth_type": (
        "tests/integration/test_connection.py::test_connection_methods_and_auth_types",
        "tests/integration/test_delegated_oauth.py::test_a_personal_connection_acts_as_the_user_and_stores_the_rotated_refresh_token",
    ),
    "backend": (
        "tests/integration/test_graph_actions.py::test_a_booking_made_on_ews_is_updated_and_cancelled_on_graph",
    ),
    "graph_url": ("tests/integration/test_graph_actions.py::test_check_connection_passes_every_step",),
    "ews_url": (
        "tests/integration/test_action_check_connection.py::"
        "test_every_connection_method_and_auth_type_passes_every_step",
    ),
    "autodiscover_email": (
        "tests/integration/test_connection.py::test_autodiscover_of_an_unknown_address_fails",
    ),
    "autodiscover_url": ("tests/integration/test_connection.py::test_autodiscover_url",),
    "server_version": (
        "tests/integration/test_versions.py::test_room_lists_follow_the_pin_even_on_a_newer_server",
    ),
    "verify_tls": ("tests/integration/test_connection.py::test_verify_off_is_per_integration",),
    "secret_name": (
        "tests/integration/test_job_errors.py::test_wrong_credentials_fail_after_exactly_one_refresh",
    ),
    "personal_secret_template": (
        "tests/integration/test_connection.py::test_connection_methods_and_auth_types",
    ),
    "service_mailbox": ("tests/integration/test_connection.py::test_connection_methods_and_auth_types",),
    "oauth_authority": ("tests/integration/test_connection.py::test_connection_methods_and_auth_types",),
    "oauth_tenant_id": ("tests/integration/test_connection.py::test_connection_methods_and_auth_types",),
    "delete_type": (
        "tests/integration/test_action_events_changes.py::test_cancel_deletes_the_way_the_integration_says",
    ),
    "lock_appointments": (
        "tests/integration/test_bookings_changed_in_exchange.py::"
        "test_a_locked_booking_moved_in_outlook_is_moved_back_once",
    ),
    "auto_confirm": (
        "tests/integration/test_bookings_changed_in_exchange.py::"
        "test_auto_confirm_records_the_new_time_as_the_bookings",
    ),
    "show_event_titles": (
        "tests/integration/test_action_sync_calendar.py::"
        "test_titles_are_left_out_unless_shown_and_never_for_a_private_event",
        "tests/integration/test_action_free_busy.py::"
        "test_titles_shown_only_where_the_integration_and_the_permission_allow",
    ),
    "post_as_scheduler": (
        "tests/integration/test_post_as_scheduler.py::"
        "test_the_event_is_the_schedulers_own_and_the_invitations_come_from_them",
    ),
    "subject_template": (
        "tests/integration/test_action_events.py::test_the_event_carries_every_field_and_the_integration_templates",
    ),
    "body_template": (
        "tests/integration/test_action_events.py::test_the_event_carries_every_field_and_the_integration_templates",
    ),
    "internal_domains": (
        "tests/integration/test_bookings_changed_in_exchange.py::"
        "test_each_change_of_response_is_recorded_and_told_once",
        "tests/unit/test_attendee_class.py::test_attendees_are_classed_by_the_integrations_domains",
    ),
    "busy_calendars": ("tests/integration/test_calendars.py::test_busy_time_from_a_secondary_calendar",),
    "booking_calendar": (
        "tests/integration/test_calendars_bookings.py::test_a_booking_in_a_secondary_calendar_and_its_follow_ups",
    ),
    "additional_booking_calendars": (
        "tests/integration/test_calendars_bookings.py::"
        "test_copies_are_created_kept_in_step_and_cancelled_with_one_request_each",
    ),
    "calendar_overrides": ("tests/integration/test_calendars.py::test_the_override_of_a_mailbox_wins",),
}


# Worker settings (PipelineConfig, docs/operators.md) and the tests that show their effect. Those
# older than this list are documented there and not listed yet; any worker setting added now
# must be listed here.
WORKER_SETTING_EFFECTS: dict[str, tuple[str, ...]] = {
    "settings_cache_seconds": (
        "tests/integration/test_table_calls.py::test_pipeline_settings_cache_seconds_sets_how_long_a_copy_serves",
        "tests/integration/test_table_calls.py::"
        "test_settings_are_read_once_per_cache_age_and_an_edit_elsewhere_shows_after_it",
    ),
}
WORKER_SETTINGS_NOT_LISTED_YET = frozenset({
    "table_name", "aws_region", "aws_endpoint_url", "broker_url", "worker_concurrency", "job_ttl_days",
    "job_timeout_seconds", "secret_cache_seconds", "ews_timeout_seconds", "ews_connect_timeout_seconds",
    "retry_window_seconds", "max_retry_wait_seconds", "callback_base_url", "events_sink",
    "events_sweep_interval_seconds", "events_sweep_age_seconds",
})


@cache
def _module(path: str) -> tuple[str, ast.Module]:
    source = (ROOT / path).read_text(encoding="utf-8")
    return source, ast.parse(source)


def _test_source(path: str, name: str) -> str | None:
    source, tree = _module(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node)
    return None


def _helper_sources(path: str) -> list[str]:
    """The sources of the tests.* modules a test file imports (where integrations are built)."""
    _, tree = _module(path)
    helpers = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
            helper = node.module.replace(".", "/") + ".py"
            if (ROOT / helper).exists():
                helpers.append(_module(helper)[0])
    return [_module(path)[0], *helpers]


def test_every_setting_names_the_tests_that_show_its_effect() -> None:
    assert set(IntegrationSettings.model_fields) == set(EFFECTS), (
        "a field of IntegrationSettings without its effect's tests (or a stale entry): "
        f"{sorted(set(IntegrationSettings.model_fields) ^ set(EFFECTS))}"
    )


@pytest.mark.parametrize("field", sorted(EFFECTS))
def test_the_named_tests_exist_and_set_the_field(field: str) -> None:
    assert EFFECTS[field], f"{field} names no test"
    for reference in EFFECTS[field]:
        path, _, name = reference.partition("::")
        assert (ROOT / path).exists(), f"{reference}: no such file"
        body = _test_source(path, name)
        assert body is not None, f"{reference}: no such test"
        assert field in body or any(field in source for source in _helper_sources(path)), (
            f"{reference} never mentions {field}"
        )


def test_every_new_worker_setting_names_the_tests_that_show_its_effect() -> None:
    unlisted = set(PipelineConfig.model_fields) - set(WORKER_SETTING_EFFECTS) - WORKER_SETTINGS_NOT_LISTED_YET
    assert not unlisted, f"worker settings without their effect's tests: {sorted(unlisted)}"


@pytest.mark.parametrize("field", sorted(WORKER_SETTING_EFFECTS))
def test_the_named_tests_exist_and_set_the_worker_setting(field: str) -> None:
    names = (field, *ENVIRONMENT_VARIABLES[field])
    for reference in WORKER_SETTING_EFFECTS[field]:
        path, _, name = reference.partition("::")
        assert (ROOT / path).exists(), f"{reference}: no such file"
        body = _test_source(path, name)
        assert body is not None, f"{reference}: no such test"
        assert any(wanted in body for wanted in names), f"{reference} never mentions {field}"
