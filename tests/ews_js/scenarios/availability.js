"use strict";
// GetUserAvailability from a client in a time zone of its own: the library sends the service's zone
// as TimeZoneContext in the SOAP header, never as t:TimeZone in the body (its port leaves the 2007 SP1
// body zone as a todo), and the window as wall-clock times without an offset.

const { ews, service, items, enumName, iso, attempt, wallClock } = require("../lib/client.js");

function event(e) {
  return {
    start: iso(e.StartTime),
    end: iso(e.EndTime),
    // The client's reading in its own zone (offset included), to show what a user would be shown.
    start_local: e.StartTime.MomentDate.format(),
    status: enumName(ews.LegacyFreeBusyStatus, e.FreeBusyStatus),
    subject: e.Details ? e.Details.Subject : null,
  };
}

// args: login, mailboxes [smtp], start/end (wall clock), timeZone (Windows id), version, view, interval.
async function lookup(args) {
  const user = args.users[args.login || "svc"];
  const svc = service({
    url: args.ews_url, login: user.smtp, password: user.password,
    version: args.version || "Exchange2013", timeZone: args.timeZone || "UTC",
  });
  const options = new ews.AvailabilityOptions();
  options.RequestedFreeBusyView = ews.FreeBusyViewType[args.view || "DetailedMerged"];
  options.MergedFreeBusyInterval = args.interval || 60;
  const attendees = args.mailboxes.map((m) => new ews.AttendeeInfo(m, ews.MeetingAttendeeType.Required, false));
  const window = new ews.TimeWindow(wallClock(args.start), wallClock(args.end));
  const answer = await attempt(() => svc.GetUserAvailability(attendees, window, ews.AvailabilityData.FreeBusy, options));
  const [sent] = svc.wire.sent("GetUserAvailabilityRequest");
  const request = {
    time_zone_context: /<t:TimeZoneContext>/.test(sent),
    body_time_zone: /<t:TimeZone>/.test(sent),
    window: [...sent.matchAll(/<t:(?:StartTime|EndTime)>([^<]*)</g)].map((m) => m[1]),
  };
  if (!answer.ok) return { request, error: answer.error };
  const responses = items(answer.value.AttendeesAvailability).map((r, index) => ({
    mailbox: args.mailboxes[index],
    code: enumName(ews.ServiceError, r.ErrorCode),
    view: enumName(ews.FreeBusyViewType, r.ViewType),
    merged: r.MergedFreeBusyStatus ? r.MergedFreeBusyStatus.map((s) => enumName(ews.LegacyFreeBusyStatus, s)) : null,
    events: (r.CalendarEvents || []).map(event),
  }));
  return { request, responses };
}

module.exports = { lookup };
