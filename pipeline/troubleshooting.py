"""Troubleshooting: every error code's likely cause and its fix, in one place.

`FIXES` is the one source: `ews-pipeline integration test` prints a failed step's fix from it,
the CLI adds it to its one-line errors, and docs/troubleshooting.md is generated from it
(`render_markdown`; a test fails when the committed page drifts or a code has no entry).
`SYMPTOMS` names the situations operators meet, some of which have no code of their own (a
blocked callback only shows as subscriptions going stale), and the codes they show up as.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.errors import ErrorCode

__all__ = ["FIXES", "SYMPTOMS", "Fix", "Symptom", "fix_for", "render_markdown"]


@dataclass(frozen=True)
class Fix:
    """What an error code most likely means, and what to do about it."""

    cause: str
    fix: str


@dataclass(frozen=True)
class Symptom:
    """A situation operators meet, the codes it shows up as, and what to do."""

    situation: str
    codes: tuple[ErrorCode, ...]
    fix: str


_E = ErrorCode
FIXES: Mapping[ErrorCode, Fix] = {
    _E.INVALID_MESSAGE: Fix("The queue held something that is not a dramatiq message (JSON with "
                            "queue_name, actor_name, args, kwargs, options, message_id).",
                            "Send messages as docs/job-messages.md shows, or with pipeline.client."),
    _E.UNKNOWN_ACTOR: Fix("actor_name names no action.",
                          "Use one of the actions in schemas/ (e.g. create_event, check_connection)."),
    _E.INVALID_KWARGS: Fix("The job's kwargs fail the action's model (the message names the fields).",
                           "Fix the kwargs against schemas/<action>.kwargs.schema.json; pass kwargs by "
                           "name, never as positional args."),
    _E.DUPLICATE_DELIVERY: Fix("Another delivery of the same message_id holds the job, or it already "
                               "succeeded.",
                               "Nothing to do: exactly-once effects. Use a new message_id for a new job."),
    _E.UNKNOWN_INTEGRATION: Fix("No integration with this id is in the results table (or PIPELINE_TABLE "
                                "names another table).",
                                "Add it: `ews-pipeline integration add FILE`; check with "
                                "`ews-pipeline integration list`."),
    _E.INVALID_INTEGRATION: Fix("The stored settings or the secret's JSON are invalid (the message "
                                "names the fields).",
                                "Correct the settings file and run `ews-pipeline integration add FILE` "
                                "again; see docs/integration-settings.md and docs/logins.md."),
    _E.SECRET_NOT_FOUND: Fix("The secret named by secret_name (or personal_secret_template) does not "
                             "exist, or this role may not read it.",
                             "Create it (`ews-pipeline integration add FILE --secret SECRET.json`) and "
                             "grant secretsmanager:GetSecretValue on the prefix."),
    _E.UNKNOWN_MAILBOX: Fix("Exchange knows no mailbox with this address.",
                            "Check the address's spelling and domain; a mailbox must be licensed and "
                            "have an Exchange mailbox (not only a user account)."),
    _E.AUTH_FAILED: Fix("Exchange refused the credentials even after re-reading the secret: wrong "
                        "password, expired app secret, Basic/NTLM disabled, or a locked account.",
                        "Update the secret; for Exchange Online use auth_type oauth2 (Basic is off); "
                        "for on-premises check the EWS virtual directory's authentication methods."),
    _E.ACCESS_DENIED: Fix("The service account lacks rights on the mailbox (delegate access missing), "
                          "the account is disabled, or EWS is disabled for it "
                          "(EwsEnabled/EwsApplicationAccessPolicy).",
                          "Grant delegate access: Add-MailboxFolderPermission -Identity "
                          "user:\\Calendar -User svc -AccessRights Editor; check "
                          "Get-CASMailbox user | fl Ews* and Set-CASMailbox -EwsEnabled $true."),
    _E.IMPERSONATION_DENIED: Fix("The service account may not act as this mailbox: on premises it lacks "
                                 "ApplicationImpersonation over it (or the management scope leaves the "
                                 "mailbox out); on Exchange Online the app lacks EWS.AccessAsApp for it.",
                                 "On premises: infra/exchange/Grant-EwsImpersonation.ps1 (a role assignment "
                                 "limited by a management scope); on Exchange Online, where "
                                 "ApplicationImpersonation is retired: infra/exchange/Grant-EwsAppAccess.ps1 "
                                 "(RBAC for Applications)."),
    _E.AUTODISCOVER_FAILED: Fix("Autodiscover found no EWS endpoint for the address (DNS, SCP or the "
                                "autodiscover URL is wrong or blocked).",
                                "Set ews_url to https://mail.example.com/EWS/Exchange.asmx instead, or "
                                "fix the autodiscover DNS record."),
    _E.TLS_ERROR: Fix("The server's TLS certificate is not trusted (self-signed, internal CA, expired, "
                      "or the host name does not match).",
                      "Install the CA (REQUESTS_CA_BUNDLE) or fix the certificate; verify_tls false only "
                      "for a test server."),
    _E.VERSION_NOT_SUPPORTED: Fix("The server version does not support this operation, or "
                                  "server_version pins the wrong version.",
                                  "Remove server_version to detect it, or pin the right one "
                                  "(docs/exchange-versions.md)."),
    _E.ITEM_NOT_FOUND: Fix("The calendar item is gone (deleted in Outlook) or not visible to the "
                           "account.",
                           "Read the booking (`ews-pipeline booking INTEGRATION KEY`); create it again "
                           "if the app still wants it."),
    _E.CALENDAR_NOT_FOUND: Fix("A configured calendar (busy_calendars, booking_calendar, copies) is not "
                               "there or not shared with the account.",
                               "Fix the calendar names in the settings, or share the calendar "
                               "(docs/calendars.md)."),
    _E.BOOKING_NOT_FOUND: Fix("No booking with this key for the integration (never created, or its "
                              "create_event failed).",
                              "Check the key and the create_event job's outcome (`ews-pipeline status "
                              "JOB_ID`)."),
    _E.CONFLICT: Fix("The item changed in Exchange meanwhile (stale change key).",
                     "Retry the job; it re-reads the item."),
    _E.REQUEST_TOO_LARGE: Fix("Too many mailboxes or too long a time window for one request.",
                              "Split the free/busy lookup (at most 100 mailboxes, 42 days)."),
    _E.SUBSCRIPTION_NOT_FOUND: Fix("Exchange or the table no longer knows the push subscription "
                                   "(expired, or the mailbox moved).",
                                   "Subscribe the mailbox again (subscribe_mailbox), or `ews-pipeline "
                                   "subscriptions renew --stale`."),
    _E.TEMPLATE_ERROR: Fix("The integration's subject or body template does not render.",
                           "Fix the Liquid template (docs/templates.md)."),
    _E.FORGED_CALLBACK: Fix("A push callback carried a token that matches no subscription (an old "
                            "subscription, or someone probing the URL).",
                            "Nothing to do for an old one: it stops. Otherwise check who posts to the "
                            "callback URL."),
    _E.PAYLOAD_TOO_LARGE: Fix("A callback or job body exceeds the size limit.",
                              "Send smaller jobs (fewer mailboxes or attendees per job)."),
    _E.SYNC_STATE_INVALID: Fix("Exchange refused a calendar sync state.",
                               "Nothing to do: the next sync starts from scratch."),
    _E.SERVER_BUSY: Fix("Exchange is throttling the service account (ErrorServerBusy, EWSMaxConcurrency).",
                        "Retried automatically after BackOffMilliseconds; lower the worker concurrency "
                        "or MaximumConcurrency, or raise the throttling policy for the account."),
    _E.EWS_UNAVAILABLE: Fix("EWS answered HTTP 5xx or 503: the server is down, overloaded, or EWS is "
                            "disabled at the virtual directory or a proxy.",
                            "Retried automatically; if it persists, open the EWS URL in a browser from "
                            "the pipeline's network and check the server."),
    _E.TIMEOUT: Fix("EWS did not answer in time: a firewall dropping packets, or a slow server.",
                    "Allow outbound HTTPS (443) from the pipeline to the EWS host; raise "
                    "PIPELINE_EWS_TIMEOUT for a slow server."),
    _E.CONNECTION_DROPPED: Fix("The connection was refused or reset: a firewall, proxy or wrong host.",
                               "Allow outbound HTTPS to the EWS host and check the URL's host and port."),
    _E.STORE_UNAVAILABLE: Fix("DynamoDB or Secrets Manager failed or is unreachable, or PIPELINE_TABLE "
                              "names a table that does not exist (ResourceNotFoundException).",
                              "Check PIPELINE_TABLE (the stack's ResultsTableName), the region and "
                              "AWS_ENDPOINT_URL, and the role's permissions."),
    _E.EWS_ERROR: Fix("EWS reported an error the pipeline has no better code for (the message has "
                      "EWS's response code).",
                      "Look the response code up in Microsoft's EWS ResponseCode list."),
    _E.INTERNAL: Fix("A bug in the pipeline, or a request DynamoDB rejected.",
                     "Report it with the job's message_id and the worker's log lines."),
}

SYMPTOMS: tuple[Symptom, ...] = (
    Symptom("EWS disabled for the mailbox or organisation", (_E.ACCESS_DENIED, _E.EWS_UNAVAILABLE),
            "Set-CASMailbox -EwsEnabled $true (or Set-OrganizationConfig -EwsEnabled $true), and allow "
            "the app in EwsApplicationAccessPolicy."),
    Symptom("Firewall between the pipeline and Exchange", (_E.TIMEOUT, _E.CONNECTION_DROPPED),
            FIXES[_E.TIMEOUT].fix),
    Symptom("TLS certificate not trusted", (_E.TLS_ERROR,), FIXES[_E.TLS_ERROR].fix),
    Symptom("Wrong Exchange version pinned", (_E.VERSION_NOT_SUPPORTED,),
            FIXES[_E.VERSION_NOT_SUPPORTED].fix),
    Symptom("Impersonation not granted", (_E.IMPERSONATION_DENIED,), FIXES[_E.IMPERSONATION_DENIED].fix),
    Symptom("Delegate access missing", (_E.ACCESS_DENIED,), FIXES[_E.ACCESS_DENIED].fix),
    Symptom("Throttling", (_E.SERVER_BUSY,), FIXES[_E.SERVER_BUSY].fix),
    Symptom("Exchange Online refuses EWS (blocked by default since October 2026, off from April 2027)",
            (_E.ACCESS_DENIED, _E.AUTH_FAILED, _E.EWS_UNAVAILABLE),
            "Move the integration to Microsoft Graph: backend graph, auth_type oauth2, and an app "
            "registration with Graph application permissions (docs/graph.md); its bookings stay "
            "reachable."),
    Symptom("Graph app not consented, or the mailbox outside its scope", (_E.ACCESS_DENIED,),
            "Grant admin consent for the Graph application permissions (Calendars.ReadWrite, "
            "Place.Read.All, User.Read.All), and add the mailbox to the app's RBAC for Applications "
            "management scope or application access policy group; Test-ServicePrincipalAuthorization "
            "shows what the app may reach (docs/graph.md)."),
    Symptom("Graph subscriptions fail to start (the validation handshake)", (_E.EWS_ERROR,),
            "Graph POSTs a validationToken to <callback URL>/graph/notifications and "
            "/graph/lifecycle and must get it back within 10 seconds: the callback function must be "
            "reachable from the internet over HTTPS (docs/events.md, Graph webhooks)."),
    Symptom("Blocked callback: Exchange cannot reach the callback URL", (),
            "No error is reported: subscriptions go stale and the renewal schedule re-subscribes them "
            "every few minutes (`ews-pipeline subscriptions list` shows them stale). Open "
            "GET <callback URL>/check/<integration_id> in a browser on the Exchange server: it must "
            "answer 'You have successfully reached ews-pipeline'; if not, allow outbound HTTPS from "
            "Exchange to the callback host (proxy, firewall, TLS inspection)."),
)


def fix_for(code: str) -> Fix | None:
    """The entry for an error code given as text, or None for a code the pipeline does not have."""
    try:
        return FIXES[ErrorCode(code)]
    except ValueError:
        return None


def render_markdown() -> str:
    """docs/troubleshooting.md: the symptoms, then every code's cause and fix."""
    lines = [
        "# Troubleshooting",
        "",
        "Generated from `pipeline/troubleshooting.py` (`python -m pipeline.troubleshooting > "
        "docs/troubleshooting.md`);",
        "`ews-pipeline integration test` prints the same fixes. Codes are those of `pipeline/errors.py`.",
        "",
        "## Symptoms",
        "",
        "| Situation | Shows up as | Fix |",
        "|---|---|---|",
    ]
    for symptom in SYMPTOMS:
        codes = ", ".join(f"`{code}`" for code in symptom.codes) or "no error; stale subscriptions"
        lines.append(f"| {symptom.situation} | {codes} | {_cell(symptom.fix)} |")
    lines += ["", "## Error codes", "", "| Code | Likely cause | Fix |", "|---|---|---|"]
    for code in ErrorCode:
        entry = FIXES[code]
        lines.append(f"| `{code}` | {_cell(entry.cause)} | {_cell(entry.fix)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    print(render_markdown(), end="")
