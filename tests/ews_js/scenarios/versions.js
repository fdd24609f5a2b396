"use strict";
// RequestServerVersion: the same calls at each version the library can ask for, and what the server
// answered to each (its ServerVersionInfo, the elements of a calendar item, refusals).

const { ews, as, utc, attempt, address } = require("../lib/client.js");

const ELEMENTS = ["IsOrganizer", "StartTimeZone", "EndTimeZone", "MeetingTimeZone", "TimeZone", "LastModifiedName",
  "MyResponseType", "CalendarItemType"];

// args: versions [ExchangeVersion names], login.
async function matrix(args) {
  const out = {};
  let hour = 8;
  for (const version of args.versions) {
    const svc = as(args, args.login || "alice", { version });
    const entry = (out[version] = {});
    const resolved = await attempt(() => svc.ResolveName("bob", ews.ResolveNameSearchLocation.DirectoryOnly, false));
    entry.resolve = resolved.ok ? resolved.value.Count : resolved.error;
    const info = svc.ServerInfo;
    entry.server = info ? { major: info.MajorVersion, minor: info.MinorVersion, build: info.MajorBuildNumber, version: info.VersionString } : null;
    entry.header = ((svc.wire.sent()[0] || "").match(/<t:RequestServerVersion Version="([^"]*)"/) || [null, null])[1];
    const meeting = new ews.Appointment(svc);
    meeting.Subject = `At ${version}`;
    meeting.Start = utc(`2030-01-14T${String(hour).padStart(2, "0")}:00:00Z`);
    meeting.End = utc(`2030-01-14T${String(hour + 1).padStart(2, "0")}:00:00Z`);
    hour += 1;
    // At 2007 SP1 the library insists on a zone for the times (it sends it as MeetingTimeZone).
    if (version === "Exchange2007_SP1") meeting.StartTimeZone = svc.TimeZone;
    meeting.RequiredAttendees.Add(args.users.bob.smtp);
    const made = await attempt(() => meeting.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToAllAndSaveCopy));
    entry.create = made.ok ? { ok: true } : made.error;
    if (made.ok) {
      const read = await attempt(() => ews.Appointment.Bind(svc, meeting.Id, new ews.PropertySet(ews.BasePropertySet.FirstClassProperties)));
      entry.read = read.ok ? { subject: read.value.Subject, organizer: address(read.value.Organizer) } : read.error;
      const body = svc.wire.exchanges[svc.wire.exchanges.length - 1].response || "";
      const item = (body.match(/<t:CalendarItem>.*<\/t:CalendarItem>/s) || [""])[0];
      entry.elements = ELEMENTS.filter((name) => new RegExp(`<t:${name}[ >/]`).test(item));
    }
    const lists = await attempt(() => svc.GetRoomLists());
    entry.room_lists = lists.ok ? lists.value.Count : lists.error;
  }
  return out;
}

module.exports = { matrix };
