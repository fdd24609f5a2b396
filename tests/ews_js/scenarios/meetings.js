"use strict";
// The meeting lifecycle with a room, as a desktop client drives it: the organiser invites (CreateItem,
// SendToAllAndSaveCopy), attendees read the meeting request with all its properties and answer it,
// the organiser reads the answers, moves the meeting (read, then update) and cancels it.

const { ews, as, when, iso, items, enumName, loaded, attempt, address, responseCodes } = require("../lib/client.js");

const FIRST_CLASS = () => new ews.PropertySet(ews.BasePropertySet.FirstClassProperties);

function attendees(collection) {
  return items(collection).map((a) => ({
    address: a.Address,
    response: enumName(ews.MeetingResponseType, a.ResponseType),
    answered: a.LastResponseTime ? iso(a.LastResponseTime) : null,
  }));
}

// What a calendar item or a meeting request says, with `null` for what the server did not send.
function calendarView(item) {
  const schema = item instanceof ews.MeetingRequest ? ews.MeetingRequestSchema : ews.AppointmentSchema;
  const view = {
    class: loaded(item, ews.ItemSchema.ItemClass),
    subject: loaded(item, ews.ItemSchema.Subject),
    start: loaded(item, schema.Start, iso),
    end: loaded(item, schema.End, iso),
    organizer: loaded(item, schema.Organizer, address),
    required: loaded(item, schema.RequiredAttendees, attendees),
    optional: loaded(item, schema.OptionalAttendees, attendees),
    resources: loaded(item, schema.Resources, attendees),
    my_response: loaded(item, schema.MyResponseType, (v) => enumName(ews.MeetingResponseType, v)),
    free_busy: loaded(item, schema.LegacyFreeBusyStatus, (v) => enumName(ews.LegacyFreeBusyStatus, v)),
    is_meeting: loaded(item, schema.IsMeeting),
    is_cancelled: loaded(item, schema.IsCancelled),
    request_was_sent: loaded(item, schema.MeetingRequestWasSent),
    calendar_item_type: loaded(item, schema.AppointmentType, (v) => enumName(ews.AppointmentType, v)),
    appointment_state: loaded(item, schema.AppointmentState),
    time_zone: loaded(item, schema.TimeZone),
    start_time_zone: loaded(item, schema.StartTimeZone, (z) => z.Id),
    end_time_zone: loaded(item, schema.EndTimeZone, (z) => z.Id),
    display_to: loaded(item, ews.ItemSchema.DisplayTo),
    last_modified_name: loaded(item, ews.ItemSchema.LastModifiedName),
  };
  if (item instanceof ews.MeetingMessage) {
    view.is_out_of_date = loaded(item, ews.MeetingMessageSchema.IsOutOfDate);
    view.has_been_processed = loaded(item, ews.MeetingMessageSchema.HasBeenProcessed);
    view.is_delegated = loaded(item, ews.MeetingMessageSchema.IsDelegated);
    view.response_type = loaded(item, ews.MeetingMessageSchema.ResponseType, (v) => enumName(ews.MeetingResponseType, v));
    view.sender = loaded(item, ews.EmailMessageSchema.Sender, address);
    view.from = loaded(item, ews.EmailMessageSchema.From, address);
  }
  return view;
}

async function folder(svc, name, mailbox) {
  const id = mailbox ? new ews.FolderId(ews.WellKnownFolderName[name], new ews.Mailbox(mailbox)) : new ews.FolderId(ews.WellKnownFolderName[name]);
  const found = await svc.FindItems(id, new ews.ItemView(50));
  return found.Items;
}

async function listing(svc, name, mailbox) {
  const found = await attempt(() => folder(svc, name, mailbox));
  if (!found.ok) return found.error;
  return found.value.map((i) => ({ class: i.ItemClass, subject: i.Subject }));
}

async function meetingRequest(svc) {
  const requests = (await folder(svc, "Inbox")).filter((i) => i instanceof ews.MeetingRequest);
  if (!requests.length) return null;
  return ews.MeetingRequest.Bind(svc, requests[requests.length - 1].Id, FIRST_CLASS());
}

async function calendarCopy(svc, subject) {
  const copies = (await folder(svc, "Calendar")).filter((i) => i.Subject === subject);
  return copies.length ? ews.Appointment.Bind(svc, copies[0].Id, FIRST_CLASS()) : null;
}

async function step(log, name, action) {
  const outcome = await attempt(action);
  log[name] = outcome.ok ? (outcome.value === undefined ? { ok: true } : outcome.value) : { error: outcome.error };
  return outcome.ok ? outcome.value : null;
}

// args: start, end (UTC ISO), attendees {required: [login], optional: [login]}, room (smtp),
// answers {login: "accept" | "tentative" | "decline"}, move_hours, cancel (bool), version.
async function lifecycle(args) {
  const version = args.version || "Exchange2013";
  const zone = { version, timeZone: args.timeZone };
  const organiser = as(args, args.organiser || "alice", zone);
  const log = {};
  const meeting = new ews.Appointment(organiser);
  meeting.Subject = args.subject || "Planning";
  meeting.Start = when(args.start);
  meeting.End = when(args.end);
  for (const who of args.required || []) meeting.RequiredAttendees.Add(args.users[who].smtp);
  for (const who of args.optional || []) meeting.OptionalAttendees.Add(args.users[who].smtp);
  if (args.room) meeting.Resources.Add(args.room);
  await step(log, "create", () => meeting.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToAllAndSaveCopy));
  const id = meeting.Id;
  log.organiser_sent_items = await listing(organiser, "SentItems");

  log.attendees = {};
  for (const [who, answer] of Object.entries(args.answers || {})) {
    const svc = as(args, who, zone);
    const entry = (log.attendees[who] = { inbox: await listing(svc, "Inbox") });
    const request = await step(entry, "request", async () => calendarView(await meetingRequest(svc)));
    if (!request) continue;
    // From the meeting request, or ("*_calendar") from the attendee's calendar copy.
    const bound = answer.endsWith("_calendar") ? await calendarCopy(svc, meeting.Subject) : await meetingRequest(svc);
    const act = {
      accept: () => bound.Accept(true), tentative: () => bound.AcceptTentatively(true), decline: () => bound.Decline(true),
    }[answer.replace("_calendar", "")];
    await step(entry, "answer", async () => {
      await act();
      return { ok: true, codes: responseCodes(svc, "CreateItem").slice(-1) };
    });
    entry.sent_items = await listing(svc, "SentItems");
    entry.inbox_after = await listing(svc, "Inbox");
    await step(entry, "calendar_copy", async () => {
      const copy = await calendarCopy(svc, meeting.Subject);
      return copy ? calendarView(copy) : null;
    });
  }
  log.organiser_inbox = await listing(organiser, "Inbox");
  await step(log, "organiser_read", async () => calendarView(await ews.Appointment.Bind(organiser, id, FIRST_CLASS())));

  if (args.move_hours) {
    // Read, then move: what a client does when a user drags the meeting to another time.
    await step(log, "move", async () => {
      const read = await ews.Appointment.Bind(organiser, id, FIRST_CLASS());
      read.Start = read.Start.AddHours(args.move_hours);
      read.End = read.End.AddHours(args.move_hours);
      await read.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToAllAndSaveCopy);
      return { ok: true };
    });
    // Where that fails, the same move without reading first (only the new times are sent).
    if (log.move.error) await step(log, "move_unread", async () => {
      const bare = await ews.Appointment.Bind(organiser, id, new ews.PropertySet(ews.BasePropertySet.IdOnly));
      bare.Start = when(args.start).AddHours(args.move_hours);
      bare.End = when(args.end).AddHours(args.move_hours);
      await bare.Update(ews.ConflictResolutionMode.AlwaysOverwrite, ews.SendInvitationsOrCancellationsMode.SendToAllAndSaveCopy);
      return { ok: true };
    });
    log.after_move = {};
    for (const who of Object.keys(args.answers || {})) {
      const svc = as(args, who, zone);
      const entry = (log.after_move[who] = { inbox: await listing(svc, "Inbox") });
      await step(entry, "calendar_copy", async () => {
        const copy = await calendarCopy(svc, meeting.Subject);
        return copy ? calendarView(copy) : null;
      });
    }
    await step(log, "organiser_reread", async () => calendarView(await ews.Appointment.Bind(organiser, id, FIRST_CLASS())));
  }

  if (args.cancel) {
    // Appointment.Delete with cancellations (DeleteItem, SendMeetingCancellations), or
    // Appointment.CancelMeeting (CreateItem with a CancelCalendarItem response object).
    await step(log, "cancel", async () => {
      const read = await ews.Appointment.Bind(organiser, id, FIRST_CLASS());
      if (args.cancel === "CancelMeeting") await read.CancelMeeting("Sorry, cancelled.");
      else await read.Delete(ews.DeleteMode.MoveToDeletedItems, ews.SendCancellationsMode.SendToAllAndSaveCopy);
      return { ok: true };
    });
    log.after_cancel = {};
    for (const who of Object.keys(args.answers || {})) {
      const svc = as(args, who, zone);
      const entry = (log.after_cancel[who] = { inbox: await listing(svc, "Inbox") });
      const cancellations = (await folder(svc, "Inbox")).filter((i) => i instanceof ews.MeetingCancellation);
      entry.cancellation = cancellations.length ? { subject: cancellations[0].Subject, class: cancellations[0].ItemClass } : null;
      await step(entry, "calendar_copy", async () => {
        const copies = (await folder(svc, "Calendar")).filter((i) => i.Subject.endsWith(meeting.Subject));
        return copies.length ? calendarView(await ews.Appointment.Bind(svc, copies[0].Id, FIRST_CLASS())) : null;
      });
    }
    log.organiser_calendar_after_cancel = await listing(organiser, "Calendar");
    log.organiser_sent_after_cancel = await listing(organiser, "SentItems");
  }
  return log;
}

// Two meetings in one room at overlapping times, by two organisers: what each organiser hears from
// the room, and what the room's free/busy says. args: room, first {start, end}, second {start, end}.
async function rooms(args) {
  const out = {};
  for (const [who, slot] of [["alice", args.first], ["bob", args.second]]) {
    const svc = as(args, who);
    const meeting = new ews.Appointment(svc);
    meeting.Subject = `${who} in the room`;
    meeting.Start = when(slot.start);
    meeting.End = when(slot.end);
    meeting.Resources.Add(args.room);
    await meeting.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToAllAndSaveCopy);
    out[who] = { id: meeting.Id.UniqueId };
  }
  for (const who of ["alice", "bob"]) {
    const svc = as(args, who);
    const read = calendarView(await ews.Appointment.Bind(svc, new ews.ItemId(out[who].id), FIRST_CLASS()));
    out[who].resources = read.resources;
    out[who].inbox = await listing(svc, "Inbox");
  }
  const svc = as(args, "svc");
  const options = new ews.AvailabilityOptions();
  options.RequestedFreeBusyView = ews.FreeBusyViewType.FreeBusy;
  const day = args.first.start.slice(0, 10);
  const window = new ews.TimeWindow(when(`${day}T00:00:00Z`), when(`${day}T00:00:00Z`).AddDays(1));
  const answer = await svc.GetUserAvailability([new ews.AttendeeInfo(args.room, ews.MeetingAttendeeType.Room, false)],
    window, ews.AvailabilityData.FreeBusy, options);
  out.room_free_busy = items(answer.AttendeesAvailability).flatMap((r) => (r.CalendarEvents || []).map((e) => ({
    start: iso(e.StartTime), end: iso(e.EndTime), status: enumName(ews.LegacyFreeBusyStatus, e.FreeBusyStatus),
  })));
  return out;
}

module.exports = { rooms, lifecycle, calendarView, listing, folder, FIRST_CLASS };
