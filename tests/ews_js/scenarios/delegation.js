"use strict";
// Access to another's mailbox: delegate access to a shared calendar (FolderId with a Mailbox), each
// permission level's view of it, and impersonation (the ExchangeImpersonation SOAP header).

const { ews, as, utc, iso, attempt, address, responseCodes } = require("../lib/client.js");
const { calendarView, FIRST_CLASS } = require("./meetings.js");

function calendarOf(smtp) {
  return new ews.FolderId(ews.WellKnownFolderName.Calendar, new ews.Mailbox(smtp));
}

async function book(svc, folder, subject, start, end, attendees = []) {
  const item = new ews.Appointment(svc);
  item.Subject = subject;
  item.Location = "Room 1";
  item.Start = utc(start);
  item.End = utc(end);
  for (const who of attendees) item.RequiredAttendees.Add(who);
  const mode = attendees.length ? ews.SendInvitationsMode.SendToAllAndSaveCopy : ews.SendInvitationsMode.SendToNone;
  await item.Save(folder, mode);
  return item;
}

// CalendarView of a calendar (FindItem): what a caller with this level sees of each item.
async function view(svc, folder, start, end) {
  const found = await attempt(async () => {
    const window = new ews.CalendarView(utc(start), utc(end));
    window.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [
      ews.AppointmentSchema.Start, ews.AppointmentSchema.End, ews.AppointmentSchema.LegacyFreeBusyStatus,
      ews.ItemSchema.Subject,
    ]);
    return (await svc.FindAppointments(folder, window)).Items;
  });
  if (!found.ok) return { error: found.error };
  return {
    items: found.value.map((i) => ({
      subject: i.Subject === undefined ? null : i.Subject,
      start: iso(i.Start),
      end: iso(i.End),
    })),
  };
}

// args: day (YYYY-MM-DD). svc is alice's Delegate, carol's Reviewer, bob's FreeBusyTimeOnly;
// alice holds no grant on carol's calendar (the Default entry decides).
async function shared(args) {
  const day = args.day || "2030-01-08";
  const [start, end] = [`${day}T00:00:00Z`, `${day}T23:59:00Z`];
  const owners = {};
  for (const who of ["alice", "bob", "carol"]) {
    const own = as(args, who);
    await book(own, ews.WellKnownFolderName.Calendar, `${who}'s plans`, `${day}T09:00:00Z`, `${day}T10:00:00Z`);
    owners[who] = own;
  }
  const svc = as(args, "svc");
  const result = { views: {}, create: {} };
  for (const owner of ["alice", "carol", "bob"]) {
    result.views[owner] = await view(svc, calendarOf(args.users[owner].smtp), start, end);
    const made = await attempt(() => book(svc, calendarOf(args.users[owner].smtp), "by svc", `${day}T12:00:00Z`, `${day}T13:00:00Z`));
    result.create[owner] = made.ok ? { ok: true } : made.error;
  }
  result.default_view = await view(as(args, "alice"), calendarOf(args.users.carol.smtp), start, end);

  // The delegate books a meeting in alice's calendar, inviting bob: sent on her behalf.
  const meeting = await attempt(() => book(svc, calendarOf(args.users.alice.smtp), "Booked by svc",
    `${day}T15:00:00Z`, `${day}T16:00:00Z`, [args.users.bob.smtp]));
  result.on_behalf = meeting.ok ? { ok: true } : meeting.error;
  if (meeting.ok) {
    const bob = owners.bob;
    const requests = (await bob.FindItems(ews.WellKnownFolderName.Inbox, new ews.ItemView(10))).Items;
    const request = requests.find((r) => r instanceof ews.MeetingRequest);
    result.request = request ? calendarView(await ews.MeetingRequest.Bind(bob, request.Id, FIRST_CLASS())) : null;
    const organiserCopy = await ews.Appointment.Bind(owners.alice, meeting.value.Id, FIRST_CLASS());
    result.alice_copy = calendarView(organiserCopy);
  }
  return result;
}

// args: caller (login), target (the login impersonated). What the impersonating caller can do as that user.
async function impersonation(args) {
  const target = args.users[args.target].smtp;
  const svc = as(args, args.caller, { impersonate: target, version: args.version });
  const result = {};
  const made = await attempt(() => book(svc, ews.WellKnownFolderName.Calendar, "Booked as the user",
    "2030-01-09T09:00:00Z", "2030-01-09T10:00:00Z"));
  result.create = made.ok ? { ok: true } : made.error;
  result.view = await view(svc, ews.WellKnownFolderName.Calendar, "2030-01-09T00:00:00Z", "2030-01-10T00:00:00Z");
  if (made.ok) {
    const read = await ews.Appointment.Bind(svc, made.value.Id, FIRST_CLASS());
    result.read = { organizer: address(read.Organizer), last_modified_name: read.LastModifiedName };
  }
  const [sent] = svc.wire.sent("CreateItem");
  result.header = (sent.match(/<t:ExchangeImpersonation>.*?<\/t:ExchangeImpersonation>/) || [null])[0];
  result.codes = responseCodes(svc);
  return result;
}

module.exports = { shared, impersonation };
