"""EWS operations: GetUserAvailability and GetServerTimeZones (parse, call the model, render)."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from xml.sax.saxutils import escape

from infra.ewssim.errors import EwsError, RequestFault
from infra.ewssim.models.availability import (
    BusyEvent,
    Detail,
    FreeBusy,
    check_request,
    free_busy,
    merged_free_busy,
)
from infra.ewssim.models.directory import WorkingHours
from infra.ewssim.models.timezones import (
    LAST,
    SERVER_TIME_ZONES,
    WEEKDAYS,
    RuleTimeZone,
    ServerTimeZone,
    TransitionRule,
    rule_for,
    server_time_zone,
)
from infra.ewssim.namespaces import Element, add, child_text, m, new, t
from infra.ewssim.raw_xml import add_raw
from infra.ewssim.responses import operation
from infra.ewssim.responses.common import error, operation_response, success
from infra.ewssim.responses.context import RequestContext

_UTC_RULE = RuleTimeZone(bias=0)
_VIEWS = {"MergedOnly", "FreeBusy", "FreeBusyMerged", "Detailed", "DetailedMerged"}


# GetUserAvailability ---------------------------------------------------------------------------


# exchangelib (and Exchange's WSDL) name the body element GetUserAvailabilityRequest; the plain
# operation name is registered too so that per-operation tooling can find it either way.
@operation("GetUserAvailabilityRequest")
@operation("GetUserAvailability")
def get_user_availability(ctx: RequestContext, body: Element) -> Element:
    """Free/busy of up to 100 mailboxes over a window of at most 42 days, in the request's time zone."""
    zone_el = body.find(t("TimeZone"))
    zone = _parse_serializable_zone(zone_el) if zone_el is not None else _context_zone(ctx, body)
    addresses = [
        (data.findtext(f"{t('Email')}/{t('Address')}") or "").strip()
        for data in body.iterfind(f"{m('MailboxDataArray')}/{t('MailboxData')}")
    ]
    options = body.find(t("FreeBusyViewOptions"))
    if options is None:
        raise RequestFault("ErrorInvalidRequest", "ewssim answers FreeBusyViewOptions only, not suggestions.")
    start = _parse_time(options.findtext(f"{t('TimeWindow')}/{t('StartTime')}"), zone)
    end = _parse_time(options.findtext(f"{t('TimeWindow')}/{t('EndTime')}"), zone)
    interval = timedelta(minutes=int(child_text(options, t("MergedFreeBusyIntervalInMinutes"), "30") or 30))
    requested = child_text(options, t("RequestedView"), "DetailedMerged") or "DetailedMerged"
    if requested not in _VIEWS:
        raise RequestFault("ErrorInvalidRequest", f"Unknown RequestedView {requested}.")
    check_request(len(addresses), start, end)

    requester = ctx.acting_as
    full_access = ctx.app_only and ctx.impersonated is None
    want_details = requested.startswith("Detailed")
    root = new(m("GetUserAvailabilityResponse"))
    array = add(root, m("FreeBusyResponseArray"))
    for address in addresses:
        response = add(array, m("FreeBusyResponse"))
        try:
            result = free_busy(ctx.backend, requester, address, start, end, want_details, full_access)
        except EwsError as failure:
            error(response, "ResponseMessage", failure)
            add(add(response, m("FreeBusyView")), t("FreeBusyViewType"), "None")
            continue
        success(response, "ResponseMessage")
        _render_view(add(response, m("FreeBusyView")), result, requested, zone, start, end, interval)
    return root


def _render_view(
    view: Element,
    result: FreeBusy,
    requested: str,
    zone: RuleTimeZone,
    start: datetime,
    end: datetime,
    interval: timedelta,
) -> None:
    # Exchange reports the view it actually served: without detail rights, Detailed becomes FreeBusy.
    served = requested
    if requested.startswith("Detailed") and result.detail is Detail.TIMES:
        served = requested.replace("Detailed", "FreeBusy")
    add(view, t("FreeBusyViewType"), served)
    if served.endswith("Merged") or served == "MergedOnly":
        add(view, t("MergedFreeBusy"), merged_free_busy(result.events, start, end, interval))
    if served == "MergedOnly":
        return
    _render_events(view, result.events, zone, served.startswith("Detailed"))
    view.append(_working_hours(result.principal.time_zone, result.working_hours))


@lru_cache(maxsize=256)
def _working_hours_template(time_zone: str, working: WorkingHours) -> Element:
    hours = new(t("WorkingHours"))
    _render_serializable_zone(add(hours, t("TimeZone")), rule_for(time_zone))
    period = add(add(hours, t("WorkingPeriodArray")), t("WorkingPeriod"))
    add(period, t("DayOfWeek"), " ".join(working.days))
    add(period, t("StartTimeInMinutes"), str(working.start.hour * 60 + working.start.minute))
    add(period, t("EndTimeInMinutes"), str(working.end.hour * 60 + working.end.minute))
    return hours


def _working_hours(time_zone: str, working: WorkingHours) -> Element:
    """A WorkingHours element; built once per (zone, hours) and copied, since it rarely differs."""
    return deepcopy(_working_hours_template(time_zone, working))


# The hot path of the availability benchmark (100 calendars of ~30 events per request): the
# CalendarEventArray is written as text (lxml's per-element calls, a dozen per detailed event,
# cost about 25 us an event) and spliced into the answer as it is serialised (raw_xml.py), so it
# is neither parsed nor written again; the schema check still sees it as elements.
_EVENTS_OPEN, _EVENTS_CLOSE = "<t:CalendarEventArray>", "</t:CalendarEventArray>"
_FLAGS_CLOSE = "<t:IsRecurring>false</t:IsRecurring><t:IsException>false</t:IsException>" \
    "<t:IsReminderSet>false</t:IsReminderSet>"


def _render_events(view: Element, events: list[BusyEvent], zone: RuleTimeZone, with_details: bool) -> None:
    local = _local_times(zone)
    parts = [_EVENTS_OPEN]
    parts.extend(_event_xml(event, local, zone, with_details) for event in events)
    parts.append(_EVENTS_CLOSE)
    add_raw(view, "".join(parts))


# Times are local to the request's TimeZone and carry no offset, as Exchange sends them. One
# table per zone: the events of a hundred calendars share most of their start and end times.
_LOCAL_TIMES_KEPT = 1 << 16


@lru_cache(maxsize=64)
def _local_times(zone: RuleTimeZone) -> dict[datetime, str]:
    return {}


def _local_time(local: dict[datetime, str], zone: RuleTimeZone, moment: datetime) -> str:
    text = local.get(moment)
    if text is None:
        if len(local) >= _LOCAL_TIMES_KEPT:
            local.clear()
        text = local[moment] = zone.to_local(moment).isoformat(timespec="seconds")
    return text


def _event_xml(event: BusyEvent, local: dict[datetime, str], zone: RuleTimeZone, with_details: bool) -> str:
    head = (f"<t:CalendarEvent><t:StartTime>{_local_time(local, zone, event.start)}</t:StartTime>"
            f"<t:EndTime>{_local_time(local, zone, event.end)}</t:EndTime>"
            f"<t:BusyType>{event.busy_type}</t:BusyType>")
    details = event.details
    if not with_details or details is None:
        return head + "</t:CalendarEvent>"
    parts = [head, "<t:CalendarEventDetails>"]
    for tag, text in (("ID", details.item_id), ("Subject", details.subject), ("Location", details.location)):
        if text:
            parts.append(f"<t:{tag}>{escape(text)}</t:{tag}>")
        elif text is not None:
            parts.append(f"<t:{tag}/>")  # as lxml writes an empty element
    parts.append(f"<t:IsMeeting>{_bool(details.is_meeting)}</t:IsMeeting>{_FLAGS_CLOSE}"
                 f"<t:IsPrivate>{_bool(details.is_private)}</t:IsPrivate></t:CalendarEventDetails>"
                 "</t:CalendarEvent>")
    return "".join(parts)


def _context_zone(ctx: RequestContext, body: Element) -> RuleTimeZone:
    """Without a t:TimeZone in the body, the SOAP header's TimeZoneContext (the EWS Managed API's way
    from Exchange 2010 on), with the rules of the window's year; else UTC."""
    if not ctx.time_zone:
        return _UTC_RULE
    start = body.findtext(f"{t('FreeBusyViewOptions')}/{t('TimeWindow')}/{t('StartTime')}") or ""
    return rule_for(ctx.time_zone, int(start[:4]) if start[:4].isdigit() else None)


def _parse_time(text: str | None, zone: RuleTimeZone) -> datetime:
    if not text:
        raise RequestFault("ErrorInvalidRequest", "The TimeWindow needs a StartTime and an EndTime.")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise RequestFault("ErrorInvalidRequest", f"Invalid dateTime {text!r}.") from exc
    if parsed.tzinfo is None:  # naive times are in the request's TimeZone
        return zone.to_utc(parsed)
    return parsed.astimezone(UTC)


def _parse_serializable_zone(element: Element) -> RuleTimeZone:
    bias = int(child_text(element, t("Bias"), "0") or 0)
    standard_el = element.find(t("StandardTime"))
    daylight_el = element.find(t("DaylightTime"))
    if standard_el is None or daylight_el is None:
        return RuleTimeZone(bias=bias)
    standard_bias, standard = _parse_zone_time(standard_el)
    daylight_bias, daylight = _parse_zone_time(daylight_el)
    if standard is None or daylight is None or daylight_bias == standard_bias:
        return RuleTimeZone(bias=bias + standard_bias)
    return RuleTimeZone(bias + standard_bias, daylight_bias - standard_bias, standard, daylight)


def _parse_zone_time(element: Element) -> tuple[int, TransitionRule | None]:
    bias = int(child_text(element, t("Bias"), "0") or 0)
    month = int(child_text(element, t("Month"), "0") or 0)
    day_name = child_text(element, t("DayOfWeek"), "Sunday") or "Sunday"
    if not 1 <= month <= 12 or day_name not in WEEKDAYS:
        return bias, None
    occurrence = int(child_text(element, t("DayOrder"), "1") or 1)
    at = datetime.strptime(child_text(element, t("Time"), "00:00:00") or "00:00:00", "%H:%M:%S").time()
    rule = TransitionRule(month, WEEKDAYS.index(day_name), LAST if occurrence in (-1, 5) else occurrence, at)
    return bias, rule


def _render_serializable_zone(element: Element, rule: RuleTimeZone) -> None:
    add(element, t("Bias"), str(rule.bias))
    for tag, transition, bias in (
        ("StandardTime", rule.standard, 0),
        ("DaylightTime", rule.daylight, rule.daylight_bias),
    ):
        part = add(element, t(tag))
        add(part, t("Bias"), str(bias if rule.has_dst else 0))
        if rule.has_dst and transition is not None:
            add(part, t("Time"), transition.at.strftime("%H:%M:%S"))
            add(part, t("DayOrder"), str(transition.occurrence))
            add(part, t("Month"), str(transition.month))
            add(part, t("DayOfWeek"), WEEKDAYS[transition.weekday])
        else:  # Exchange's way of saying "no daylight saving"
            add(part, t("Time"), "00:00:00")
            add(part, t("DayOrder"), "0")
            add(part, t("Month"), "0")
            add(part, t("DayOfWeek"), "Sunday")


def _bool(value: bool) -> str:
    return "true" if value else "false"


# GetServerTimeZones ----------------------------------------------------------------------------


@operation("GetServerTimeZones")
def get_server_time_zones(ctx: RequestContext, body: Element) -> Element:
    """Definitions of the requested Windows time zones, or of every zone the server knows."""
    full = (body.get("ReturnFullTimeZoneData") or "false").lower() in ("true", "1")
    ids = [(el.text or "").strip() for el in body.iterfind(f"{m('Ids')}/{t('Id')}")]
    known = [zone for zone in map(server_time_zone, ids or SERVER_TIME_ZONES) if zone is not None]
    root, messages = operation_response("GetServerTimeZones")
    if ids and not known:
        message = error(
            messages,
            "GetServerTimeZonesResponseMessage",
            EwsError("ErrorTimeZone", f"No time zone with id {', '.join(ids)} is known."),
        )
        add(message, m("TimeZoneDefinitions"))  # required by the schema even on error
        return root
    definitions = add(success(messages, "GetServerTimeZonesResponseMessage"), m("TimeZoneDefinitions"))
    for zone in known:
        _render_definition(definitions, zone, full)
    return root


def _render_definition(parent: Element, zone: ServerTimeZone, full: bool) -> None:
    definition = add(parent, t("TimeZoneDefinition"), Id=zone.ms_id, Name=zone.name)
    if not full:
        return
    rule = zone.rule
    year = datetime.now(UTC).year
    standard_id = f"trule:Microsoft/Registry/{zone.ms_id}/{year}-Standard"
    daylight_id = f"trule:Microsoft/Registry/{zone.ms_id}/{year}-Daylight"
    periods = add(definition, t("Periods"))
    add(periods, t("Period"), Bias=_duration(rule.bias), Name="Standard", Id=standard_id)
    if rule.has_dst:
        add(
            periods,
            t("Period"),
            Bias=_duration(rule.bias + rule.daylight_bias),
            Name="Daylight",
            Id=daylight_id,
        )
    group = add(add(definition, t("TransitionsGroups")), t("TransitionsGroup"), Id="0")
    if rule.has_dst and rule.daylight is not None and rule.standard is not None:
        _render_recurring(group, daylight_id, rule.daylight)
        _render_recurring(group, standard_id, rule.standard)
    else:
        add(add(group, t("Transition")), t("To"), standard_id, Kind="Period")
    add(add(add(definition, t("Transitions")), t("Transition")), t("To"), "0", Kind="Group")


def _render_recurring(group: Element, period_id: str, rule: TransitionRule) -> None:
    transition = add(group, t("RecurringDayTransition"))
    add(transition, t("To"), period_id, Kind="Period")
    add(transition, t("TimeOffset"), _duration(rule.at.hour * 60 + rule.at.minute))
    add(transition, t("Month"), str(rule.month))
    add(transition, t("DayOfWeek"), WEEKDAYS[rule.weekday])
    add(transition, t("Occurrence"), "-1" if rule.occurrence == LAST else str(rule.occurrence))


def _duration(minutes: int) -> str:
    """Minutes as xs:duration the way Exchange writes biases: -PT1H, PT5H30M, PT0H."""
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}PT{hours}H{rest}M" if rest else f"{sign}PT{hours}H"
