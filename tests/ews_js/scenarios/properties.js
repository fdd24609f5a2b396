"use strict";
// Extended properties: the pipeline's BookingKey (a named string in PublicStrings) written with an
// item and found again with FindItem restrictions on it; and what a malformed item id gets.

const { ews, as, utc, attempt, responseCodes } = require("../lib/client.js");

const BOOKING_KEY = () => new ews.ExtendedPropertyDefinition(
  ews.DefaultExtendedPropertySet.PublicStrings, "BookingKey", ews.MapiPropertyType.String);

function keyOf(item) {
  const holder = { outValue: null };
  return item.TryGetExtendedProperty && item.TryGetExtendedProperty(BOOKING_KEY(), holder) ? holder.outValue : null;
}

async function find(svc, filter) {
  const view = new ews.ItemView(20);
  view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject, BOOKING_KEY()]);
  const found = await attempt(() => svc.FindItems(ews.WellKnownFolderName.Calendar, filter, view));
  if (!found.ok) return { error: found.error };
  return found.value.Items.map((i) => ({ subject: i.Subject, key: keyOf(i) })).sort((a, b) => a.subject.localeCompare(b.subject));
}

// args: login, keys ({subject: key or null}).
async function filters(args) {
  const svc = as(args, args.login || "alice");
  let hour = 8;
  for (const [subject, key] of Object.entries(args.keys)) {
    const item = new ews.Appointment(svc);
    item.Subject = subject;
    item.Start = utc(`2030-01-11T${String(hour).padStart(2, "0")}:00:00Z`);
    item.End = utc(`2030-01-11T${String(hour + 1).padStart(2, "0")}:00:00Z`);
    hour += 1;
    if (key !== null) item.SetExtendedProperty(BOOKING_KEY(), key);
    await item.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
  }
  const [first] = Object.values(args.keys).filter((k) => k !== null);
  return {
    equal: await find(svc, new ews.SearchFilter.IsEqualTo(BOOKING_KEY(), first)),
    exists: await find(svc, new ews.SearchFilter.Exists(BOOKING_KEY())),
    missing: await find(svc, new ews.SearchFilter.Not(new ews.SearchFilter.Exists(BOOKING_KEY()))),
    starts_with: await find(svc, new ews.SearchFilter.ContainsSubstring(BOOKING_KEY(), first.slice(0, 4), ews.ContainmentMode.Prefixed, ews.ComparisonMode.IgnoreCase)),
    and_subject: await find(svc, new ews.SearchFilter.SearchFilterCollection(ews.LogicalOperator.And, [
      new ews.SearchFilter.Exists(BOOKING_KEY()),
      new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, Object.keys(args.keys)[0]),
    ])),
    restriction: (svc.wire.sent("FindItem")[0].match(/<m:Restriction>.*?<\/m:Restriction>/) || [null])[0],
  };
}

// GetItem with an id that is not one (args.malformed), and with the id of an item deleted since.
async function badIds(args) {
  const svc = as(args, args.login || "alice");
  const gone = new ews.Appointment(svc);
  gone.Subject = "Soon gone";
  gone.Start = utc("2030-01-11T15:00:00Z");
  gone.End = utc("2030-01-11T16:00:00Z");
  await gone.Save(ews.WellKnownFolderName.Calendar, ews.SendInvitationsMode.SendToNone);
  const deletedId = gone.Id.UniqueId;
  await gone.Delete(ews.DeleteMode.HardDelete, ews.SendCancellationsMode.SendToNone);
  const out = {};
  for (const [name, id] of [["malformed", args.malformed], ["deleted", deletedId]]) {
    const found = await attempt(() => ews.Item.Bind(svc, new ews.ItemId(id)));
    out[name] = found.ok ? { ok: true } : found.error;
  }
  out.codes = responseCodes(svc, "GetItem");
  return out;
}

module.exports = { filters, badIds };
