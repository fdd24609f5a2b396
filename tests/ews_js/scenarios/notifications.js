"use strict";
// Notifications on a calendar: a pull subscription read with GetEvents, and a streaming subscription
// on a StreamingSubscriptionConnection (GetStreamingEvents) that stays open while events happen.

const { ews, as, utc, attempt, enumName } = require("../lib/client.js");

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function book(svc, subject, hour) {
  const item = new ews.Appointment(svc);
  item.Subject = subject;
  item.Start = utc(`2030-01-10T${String(hour).padStart(2, "0")}:00:00Z`);
  item.End = utc(`2030-01-10T${String(hour + 1).padStart(2, "0")}:00:00Z`);
  await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
  return item.Id.UniqueId;
}

function described(event) {
  return {
    type: enumName(ews.EventType, event.EventType),
    item_id: event.ItemId ? event.ItemId.UniqueId : null,
    folder_id: event.ParentFolderId ? event.ParentFolderId.UniqueId : null,
  };
}

// args: login. Subscribe to Created and Modified events, book two items, GetEvents twice.
async function pull(args) {
  const svc = as(args, args.login || "alice", { version: "Exchange2013" });
  const subscription = await svc.SubscribeToPullNotifications(
    [new ews.FolderId(ews.WellKnownFolderName.Calendar)], 10, null, ews.EventType.Created, ews.EventType.Modified);
  const booked = [await book(svc, "first", 9), await book(svc, "second", 11)];
  const first = await subscription.GetEvents();
  const second = await subscription.GetEvents();
  const unsubscribed = await attempt(() => subscription.Unsubscribe());
  const after = await attempt(() => subscription.GetEvents());
  return {
    booked,
    first: first.AllEvents.map(described),
    second: second.AllEvents.map(described),
    unsubscribe: unsubscribed.ok ? { ok: true } : unsubscribed.error,
    after_unsubscribe: after.ok ? { ok: true } : after.error,
  };
}

// args: login, lifetime (minutes), gap_ms (between the two bookings), wait_ms (for each event).
async function streaming(args) {
  const listener = as(args, args.login || "alice", { version: "Exchange2013" });
  const owner = as(args, args.login || "alice", { version: "Exchange2013" });
  const subscription = await listener.SubscribeToStreamingNotifications(
    [new ews.FolderId(ews.WellKnownFolderName.Calendar)], ews.EventType.Created);
  const connection = new ews.StreamingSubscriptionConnection(listener, args.lifetime || 1);
  const started = Date.now();
  const seen = [];
  const disconnects = [];
  const errors = [];
  connection.AddSubscription(subscription);
  connection.OnNotificationEvent.push((sender, event) => {
    seen.push({ at_ms: Date.now() - started, events: event.Events.map(described) });
  });
  connection.OnDisconnect.push((sender, event) => {
    disconnects.push({ at_ms: Date.now() - started, error: event && event.Exception ? String(event.Exception.message || event.Exception) : null });
  });
  connection.OnSubscriptionError.push((sender, event) => {
    errors.push(event && event.Exception ? String(event.Exception.message || event.Exception) : "error");
  });
  // Open() settles only when the connection fails: the library keeps reading the response stream.
  connection.Open().catch((error) => errors.push(String((error && error.message) || error)));
  await sleep(200);
  const booked = [await book(owner, "first", 9)];
  const waitFor = async (count) => {
    const until = Date.now() + (args.wait_ms || 1500);
    while (Date.now() < until && seen.flatMap((n) => n.events).length < count) await sleep(50);
  };
  await waitFor(1);
  await sleep(args.gap_ms || 500);
  const openBeforeSecond = connection.IsOpen;
  booked.push(await book(owner, "second", 11));
  await waitFor(2);
  const openAtEnd = connection.IsOpen;
  // Close() reports a (user-initiated) disconnect of its own: what came before it is the server's doing.
  const disconnectsBeforeClose = disconnects.slice();
  if (connection.IsOpen) connection.Close();
  await sleep(100);
  const bodies = listener.wire.exchanges.filter((e) => e.status === "stream").map((e) => e.response);
  return {
    booked,
    notifications: seen,
    created_ids: seen.flatMap((n) => n.events).filter((e) => e.type === "Created").map((e) => e.item_id),
    open_before_second: openBeforeSecond,
    open_at_end: openAtEnd,
    disconnects,
    disconnects_before_close: disconnectsBeforeClose,
    errors,
    // The raw stream of the first connection: how many envelopes, and how they were written.
    envelopes: bodies.length ? (bodies[0].match(/<(?:\w+:)?Envelope[ >]/g) || []).length : 0,
    stream_start: bodies.length ? bodies[0].slice(0, 300) : null,
    // The item ids the server wrote on the stream(s), whether or not the library could read them.
    streamed_ids: bodies.flatMap((b) => [...b.matchAll(/<(?:\w+:)?ItemId Id="([^"]+)"/g)].map((m) => m[1])),
    connections: bodies.length,
  };
}

module.exports = { pull, streaming };
