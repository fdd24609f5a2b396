"""EWS operations on the directory: ResolveNames, GetRoomLists, GetRooms."""

from __future__ import annotations

from dataclasses import dataclass

from infra.ewssim.models.directory import Directory, Principal, PrincipalKind, RoomList
from infra.ewssim.namespaces import Element, add, m, new, t
from infra.ewssim.responses import operation
from infra.ewssim.responses.common import operation_response
from infra.ewssim.responses.context import RequestContext

# Exchange returns at most 100 candidates per ResolveNames lookup.
MAX_CANDIDATES = 100


@dataclass(frozen=True, slots=True)
class _Entry:
    """A directory entry as name resolution sees it: a mailbox or a room list (a distribution list)."""

    smtp: str
    name: str
    mailbox_type: str  # Mailbox, or PublicDL for room lists


def _entries(directory: Directory) -> list[_Entry]:
    entries = [_Entry(p.smtp, p.display_name, "Mailbox") for p in directory.principals.values()]
    entries += [_Entry(r.smtp, r.display_name, "PublicDL") for r in directory.room_lists.values()]
    return entries


def _matches(entry: _Entry, wanted: str) -> bool:
    """Ambiguous name resolution, simplified: a prefix of the address, its alias, the name or a word of it."""
    if entry.smtp == wanted or entry.smtp.startswith(wanted):
        return True
    name = entry.name.lower()
    return name.startswith(wanted) or any(word.startswith(wanted) for word in name.split())


def resolve(directory: Directory, unresolved: str) -> list[_Entry]:
    """Candidates for one UnresolvedEntry; an exact SMTP match wins outright, as in Exchange."""
    wanted = unresolved.strip().lower().removeprefix("smtp:")
    if not wanted:
        return []
    entries = _entries(directory)
    exact = [entry for entry in entries if entry.smtp == wanted]
    if exact:
        return exact
    found = [entry for entry in entries if _matches(entry, wanted)]
    return sorted(found, key=lambda entry: (entry.name.lower(), entry.smtp))[:MAX_CANDIDATES]


@operation("ResolveNames")
def resolve_names(ctx: RequestContext, body: Element) -> Element:
    """Resolve partial names or addresses against the directory (one response message per entry)."""
    full_contact = (body.get("ReturnFullContactData") or "false").lower() in ("true", "1")
    root, messages = operation_response("ResolveNames")
    for entry_el in body.iterfind(m("UnresolvedEntry")):
        candidates = resolve(ctx.backend.directory, entry_el.text or "")
        if not candidates:
            message = add(messages, m("ResolveNamesResponseMessage"), ResponseClass="Error")
            add(message, m("MessageText"), "No results were found.")
            add(message, m("ResponseCode"), "ErrorNameResolutionNoResults")
            add(message, m("DescriptiveLinkKey"), "0")
            continue
        if len(candidates) == 1:
            message = add(messages, m("ResolveNamesResponseMessage"), ResponseClass="Success")
            add(message, m("ResponseCode"), "NoError")
        else:
            message = add(messages, m("ResolveNamesResponseMessage"), ResponseClass="Warning")
            add(message, m("MessageText"), "Multiple results were found.")
            add(message, m("ResponseCode"), "ErrorNameResolutionMultipleResults")
            add(message, m("DescriptiveLinkKey"), "0")
        resolution_set = add(
            message,
            m("ResolutionSet"),
            TotalItemsInView=str(len(candidates)),
            IncludesLastItemInRange="true",
        )
        for candidate in candidates:
            resolution = add(resolution_set, t("Resolution"))
            _render_address(
                add(resolution, t("Mailbox")), candidate.name, candidate.smtp, candidate.mailbox_type
            )
            if full_contact:
                _render_contact(
                    add(resolution, t("Contact")), candidate, ctx.backend.directory.find(candidate.smtp)
                )
    return root


def _render_contact(contact: Element, entry: _Entry, principal: Principal | None) -> None:
    # ContactItemType is a long xs:sequence: DisplayName, GivenName, EmailAddresses, ContactSource, Surname
    # must stay in this order.
    add(contact, t("DisplayName"), entry.name)
    words = entry.name.split()
    if principal is not None and principal.kind is PrincipalKind.USER and len(words) > 1:
        add(contact, t("GivenName"), words[0])
    addresses = add(contact, t("EmailAddresses"))
    add(addresses, t("Entry"), f"SMTP:{entry.smtp}", Key="EmailAddress1")
    add(contact, t("ContactSource"), "ActiveDirectory")
    if principal is not None and principal.kind is PrincipalKind.USER and len(words) > 1:
        add(contact, t("Surname"), " ".join(words[1:]))


def _render_address(element: Element, name: str, smtp: str, mailbox_type: str) -> None:
    add(element, t("Name"), name)
    add(element, t("EmailAddress"), smtp)
    add(element, t("RoutingType"), "SMTP")
    add(element, t("MailboxType"), mailbox_type)


def _bare_response(operation_name: str, code: str = "NoError", text: str = "") -> Element:
    """GetRoomLists and GetRooms answer with a single response message as the root, not ResponseMessages."""
    root = new(m(f"{operation_name}Response"), ResponseClass="Success" if code == "NoError" else "Error")
    if code != "NoError":
        add(root, m("MessageText"), text)
    add(root, m("ResponseCode"), code)
    if code != "NoError":
        add(root, m("DescriptiveLinkKey"), "0")
    return root


@operation("GetRoomLists")
def get_room_lists(ctx: RequestContext, body: Element) -> Element:
    """Every room list in the organisation."""
    root = _bare_response("GetRoomLists")
    container = add(root, m("RoomLists"))
    room_lists: list[RoomList] = sorted(
        ctx.backend.directory.room_lists.values(), key=lambda r: r.display_name
    )
    for room_list in room_lists:
        _render_address(add(container, t("Address")), room_list.display_name, room_list.smtp, "PublicDL")
    return root


@operation("GetRooms")
def get_rooms(ctx: RequestContext, body: Element) -> Element:
    """The rooms of one room list; an unknown list resolves to nothing, as in Exchange."""
    smtp = (body.findtext(f"{m('RoomList')}/{t('EmailAddress')}") or "").strip().lower()
    directory = ctx.backend.directory
    room_list = directory.room_lists.get(smtp)
    if room_list is None:
        return _bare_response("GetRooms", "ErrorNameResolutionNoResults", "No results were found.")
    root = _bare_response("GetRooms")
    container = add(root, m("Rooms"))  # present even when empty: exchangelib requires the element
    for room_smtp in room_list.rooms:
        room = directory.find(room_smtp)
        identity = add(add(container, t("Room")), t("Id"))
        _render_address(identity, room.display_name if room else room_smtp, room_smtp, "Mailbox")
    return root
