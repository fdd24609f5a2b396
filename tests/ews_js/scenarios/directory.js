"use strict";
// The directory: ResolveNames (one, several, none, with contact data), GetRoomLists and GetRooms,
// with each logon the library offers (Basic, NTLM through @ewsjs/xhr, NTLM on the request itself).

const { ews, as, service, items, enumName, attempt, address, responseCodes } = require("../lib/client.js");

function resolution(r) {
  const contact = r.Contact;
  return {
    name: r.Mailbox.Name,
    address: r.Mailbox.Address,
    mailbox_type: enumName(ews.MailboxType, r.Mailbox.MailboxType),
    routing_type: r.Mailbox.RoutingType,
    contact: contact
      ? {
          display_name: contact.DisplayName,
          given_name: contact.GivenName,
          surname: contact.Surname,
          source: enumName(ews.ContactSource, contact.ContactSource),
          emails: contact.EmailAddresses ? [0, 1, 2].map((i) => {
            const key = ews.EmailAddressKey[`EmailAddress${i + 1}`];
            const holder = { outValue: null };
            return contact.EmailAddresses.TryGetValue(key, holder) && holder.outValue ? holder.outValue.Address : null;
          }).filter(Boolean) : [],
        }
      : null,
  };
}

async function resolve(svc, query, full = false) {
  const found = await attempt(() => svc.ResolveName(query, ews.ResolveNameSearchLocation.DirectoryOnly, full));
  if (!found.ok) return { error: found.error };
  return { resolutions: items(found.value).map(resolution), codes: responseCodes(svc, "ResolveNames").slice(-1) };
}

// ResolveNames and the room directory as one caller (args.login: "svc"; args.auth).
async function lookups(args) {
  const svc = as(args, args.login || "svc", { auth: args.auth || "basic", version: args.version });
  const lists = await attempt(() => svc.GetRoomLists());
  const roomLists = lists.ok ? items(lists.value).map((m) => ({ name: m.Name, address: m.Address })) : lists.error;
  const rooms = {};
  for (const list of lists.ok ? items(lists.value) : []) {
    const found = await attempt(() => svc.GetRooms(new ews.Mailbox(list.Address)));
    rooms[list.Address] = found.ok ? found.value.map((m) => address(m)) : found.error;
  }
  return {
    one: await resolve(svc, "bob"),
    many: await resolve(svc, "room"),
    lists: await resolve(svc, "build"),
    full: await resolve(svc, "alice", true),
    none: await resolve(svc, "zebra"),
    room_lists: roomLists,
    rooms,
  };
}

// One ResolveNames with the given logon: which auth schemes the client can complete.
async function logon(args) {
  const user = args.users[args.login];
  const svc = service({
    url: args.ews_url, login: args.username || user.smtp, password: user.password, auth: args.auth,
  });
  const found = await attempt(() => svc.ResolveName("carol", ews.ResolveNameSearchLocation.DirectoryOnly, false));
  return found.ok ? { ok: true, addresses: items(found.value).map((r) => r.Mailbox.Address) } : found.error;
}

module.exports = { lookups, logon };
