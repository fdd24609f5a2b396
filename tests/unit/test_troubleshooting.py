"""The troubleshooting table: one entry per error code, the page generated from it, the fixes used."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import ErrorCode
from pipeline.troubleshooting import FIXES, SYMPTOMS, fix_for, render_markdown

PAGE = Path(__file__).parents[2] / "docs" / "troubleshooting.md"


def test_every_error_code_has_a_cause_and_a_fix() -> None:
    missing = [code for code in ErrorCode if code not in FIXES]
    assert not missing, f"add these codes to pipeline/troubleshooting.py FIXES: {missing}"
    assert all(entry.cause and entry.fix for entry in FIXES.values())


def test_the_committed_page_is_generated_from_the_table() -> None:
    assert PAGE.read_text() == render_markdown(), (
        "docs/troubleshooting.md is stale: python -m pipeline.troubleshooting > docs/troubleshooting.md"
    )


def test_the_situations_operators_meet_are_covered() -> None:
    situations = " ".join(symptom.situation.lower() for symptom in SYMPTOMS)
    for needed in ("ews disabled", "firewall", "tls", "version", "impersonation", "delegate",
                   "throttling", "blocked callback"):
        assert needed in situations
    # Each fix for impersonation names the script for its side (on premises, Exchange Online).
    impersonation = FIXES[ErrorCode.IMPERSONATION_DENIED].fix
    assert "Grant-EwsImpersonation.ps1" in impersonation and "Grant-EwsAppAccess.ps1" in impersonation


def test_codes_are_looked_up_as_text() -> None:
    assert fix_for("SERVER_BUSY") is FIXES[ErrorCode.SERVER_BUSY]
    assert fix_for("NOT_A_CODE") is None
