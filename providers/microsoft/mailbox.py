"""Outlook mail through Microsoft Graph: the mailbox half of the "microsoft" provider.

Reading: one listing of ``/me/messages`` (every folder at once) per cycle, newest
first, ``$select`` limited to the fields the rules read: an idle cycle is one
request, however many folders the user has. The first read takes what arrived
within the lookback (``receivedDateTime ge``); later reads what changed since the
checkpoint's point (``lastModifiedDateTime ge``): a new message, and one moved to
another folder, since a move stamps the message. Each message's
``parentFolderId`` says where it is now: an answer archived or filed by a rule
before the next cycle comes with its folder (:attr:`Folder.OTHER`, ``folder_name``
the folder's path of display names, "Archive", "Inbox/Acme"), one moved later
comes again. Drafts, Deleted Items, Junk Email and Outbox and every folder below
them are left out (rule 6). The folders are known by ``GET
/me/mailFolders/{well-known name}`` (their ids are kept in the checkpoint, so this
happens once) and ``GET /me/mailFolders/{id}`` for each other folder a message is
seen in, walking up ``parentFolderId`` (cached for the process). The point moves
to the newest change less :data:`OVERLAP` (a change stored a little late is not
missed); the versions (id and folder) already returned within the overlap are kept
in the checkpoint, so nothing comes twice unless it moved. A message read or
flagged later than the overlap comes again (harmless: the engine is idempotent; a
candidate's body is asked again, one request).
Before, one message delta per folder (Inbox, Sent Items) made an idle cycle 2 mail
requests and saw no other folder; a delta for every folder would cost one request
per folder per cycle.

``internetMessageHeaders`` carries Auto-Submitted, In-Reply-To, References and
Content-Type for received mail; Graph does not return it for sent mail, whose
marker comes from our extended property (``$expand``) instead. Bodies: only for
candidates (:meth:`Interest.matches`), one ``GET /me/messages/{id}?$select=body``
with ``Prefer: outlook.body-content-type="text"``, cut to the excerpt.

The final search before a status check (:meth:`OutlookMailbox.search_answers`):
``$search="participants:x OR ..."`` over the interest's addresses and domains
(KQL; Graph allows no ``$filter`` beside ``$search``, so the date and the folders
are checked here), one page of at most :data:`SEARCH_LIMIT`, plus one ``$filter``
on ``conversationId`` for the interest's threads.

Drafts: ``POST /me/messages`` (a text body, the marker both as the
``X-Interview-Followup`` Internet header and as a single-value extended
property). A status check answering a sent thank-you is ``createReply`` on it,
given our body, recipients and marker property in its ``message`` parameter,
so the reply exists whole or not at all; a ``PATCH`` of the body follows only
when the answer shows the quoted original kept under ours. The marker is the
extended property only there: Graph takes Internet headers when a message is
created from scratch, and Outlook keeps extended properties when the draft is
sent, while it drops Internet headers from sent items. ``find_marker`` is a
``$filter`` on that property in Drafts and Sent Items; a create whose answer
was lost is looked up that way before it is tried again. Nothing here sends,
marks read or touches a message that is not our own draft.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, TypeVar
from urllib.parse import quote

from .._shared.excerpt import text_from_html, tidy
from .._shared.headers import MARKER_HEADER, RULE_HEADERS, first_id, known_suffix
from .._shared.retry import ExpectedStatus
from ..base import Address, DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from .graph import GraphHttp, dump_state, graph_timestamp, iso, load_state

logger = logging.getLogger(__name__)

# Our named MAPI property: a GUID of this project's own, so no other app's data is read.
MARKER_GUID = "8d22a249-1428-4376-a8d4-d1b736d6b4c1"
MARKER_PROPERTY = f"String {{{MARKER_GUID}}} Name InterviewFollowupMarker"
# MAPI properties Outlook threads by, for a reply written without createReply.
IN_REPLY_TO_PROPERTY = "String 0x1042"  # PidTagInReplyToId
REFERENCES_PROPERTY = "String 0x1039"  # PidTagInternetReferences
MESSAGE_FIELDS = ("from", "toRecipients", "ccRecipients", "replyTo", "subject",
                  "receivedDateTime", "sentDateTime", "conversationId", "internetMessageId",
                  "internetMessageHeaders", "isDraft", "parentFolderId", "lastModifiedDateTime")
MESSAGES_PAGE = 200
OVERLAP = timedelta(minutes=10)  # how far back each poll looks again
SEARCH_LIMIT = 50  # search_answers reads at most this many hits
SEARCH_TERMS = 40  # addresses and domains in one $search
# Never read for answers (rule 6), nor any folder below them.
EXCLUDED = ("drafts", "deleteditems", "junkemail", "outbox")
ROLES = {"inbox": Folder.INBOX, "sentitems": Folder.SENT}
WELL_KNOWN = ("inbox", "sentitems", *EXCLUDED, "msgfolderroot")
MAX_DEPTH = 16  # folders nested deeper than this count as the user's own
_MSGID = re.compile(r"<[^<>\s]+>")
_T = TypeVar("_T")
_U = TypeVar("_U")


Registrable = Callable[[str], str]


@dataclass(frozen=True)
class _Place:
    """Where a folder is, for the rules: its role and the path the user sees."""

    folder: Folder | None  # None: a folder never read (Drafts, Deleted Items, ...)
    name: str


class OutlookMailbox(Mailbox):
    """``registrable`` maps a domain to its registrable part for :meth:`Interest.matches`
    (the engine's public-suffix function); by default the interest's own domains decide
    (:func:`providers._shared.headers.known_suffix`)."""

    def __init__(self, http: GraphHttp, registrable: Registrable | None = None) -> None:
        self.http = http
        self.registrable = registrable
        self._pool: ThreadPoolExecutor | None = None
        self._well_known: dict[str, list[str]] = {}  # name -> [id, displayName]
        self._places: dict[str, _Place] = {}  # folder id -> where it is

    # -- reading -------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        state = load_state(checkpoint, "messages") or {}
        since = graph_timestamp(state.get("since"))
        seen = {str(i) for i in state.get("seen") or ()}
        if isinstance(state.get("folders"), dict):
            self._remember_well_known(state["folders"])
        # The first read: what arrived within the lookback. Later: whatever changed since
        # (a new message, or one moved to another folder: a move stamps the message).
        field = "receivedDateTime" if since is None else "lastModifiedDateTime"
        # With no interest every message wants its excerpt: the bodies come in the listing.
        fields = MESSAGE_FIELDS if interest is not None else (*MESSAGE_FIELDS, "body")
        params = {
            "$select": ",".join(fields),
            "$filter": f"{field} ge {iso(since or not_before)}",
            "$orderby": f"{field} desc",  # newest first: an arrival mid-read is never skipped
            "$top": str(MESSAGES_PAGE),
            "$expand": f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY}')",
        }
        prefer = f"odata.maxpagesize={MESSAGES_PAGE}"
        if interest is None:
            prefer += ', outlook.body-content-type="text"'
        items: list[dict[str, Any]] = []
        for page in self.http.pages("messages.list", self.http.url("me/messages"),
                                    params=params, headers={"Prefer": prefer}):
            items.extend(item for item in page.get("value") or [] if item.get("id"))
        fresh = [item for item in items if _version(item) not in seen
                 and (_arrived(item) or not_before) >= not_before]
        messages, problems = self._messages(fresh, interest)
        stamps = [t for t in map(_modified, items) if t is not None]
        moved = max([since or not_before, *(t - OVERLAP for t in stamps)])
        kept = sorted(_version(item) for item in items
                      if (_modified(item) or moved) >= moved)
        new = dump_state("messages", since=iso(moved), seen=kept, folders=self._well_known)
        if checkpoint and not fresh and new == checkpoint:
            return MessageBatch((), checkpoint)
        return MessageBatch(tuple(messages), new, tuple(problems))

    def _messages(self, items: list[dict[str, Any]], interest: Interest | None,
                  ) -> tuple[list[MailMessage], list[str]]:
        """``items`` in a folder of rule 6 as messages, with an excerpt for the candidates of
        ``interest`` (every message when it is None)."""
        messages: list[MailMessage] = []
        problems: list[str] = []
        for item in items:
            if item.get("isDraft") or not _whole(item):
                continue
            place = self._place(str(item.get("parentFolderId") or ""))
            if place.folder is None:
                continue  # Drafts, Deleted Items, Junk Email, Outbox
            try:
                message = _to_message(item, place.folder, place.name)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                problems.append(f"message {item.get('id', '?')}: unreadable "
                                f"({type(exc).__name__}: {exc})")
                continue
            if isinstance(item.get("body"), dict):
                message = replace(message, excerpt=_body_excerpt(item["body"]))
            elif interest is None or self._matches(interest, message):
                message = replace(message, excerpt=self._excerpt(message.id))
            messages.append(message)
        return messages, problems

    def _matches(self, interest: Interest, message: MailMessage) -> bool:
        return interest.matches(message, self.registrable or known_suffix(interest.domains))

    def _excerpt(self, message_id: str) -> str:
        """The start of a candidate's body as text (Outlook converts HTML when asked)."""
        try:
            item = self.http.request(
                "message.body", "GET",
                self.http.url(f"me/messages/{quote(message_id, safe='')}"),
                params={"$select": "body"}, expect=(404,),
                headers={"Prefer": 'outlook.body-content-type="text"'})
        except ExpectedStatus:
            return ""  # deleted since the listing
        return _body_excerpt(item.get("body"))

    # -- folders ---------------------------------------------------------------
    def _remember_well_known(self, folders: dict[str, Any]) -> None:
        for name, value in folders.items():
            if (name in WELL_KNOWN and isinstance(value, list) and len(value) == 2
                    and name not in self._well_known):
                self._well_known[name] = [str(value[0]), str(value[1])]

    def _load_well_known(self) -> None:
        for name in WELL_KNOWN:
            if name not in self._well_known:
                info = self._folder(name)
                self._well_known[name] = [str(info.get("id") or name),
                                          str(info.get("displayName") or name)]

    def _folder(self, folder_id: str) -> dict[str, Any]:
        try:
            return self.http.request(
                "mailFolders.get", "GET",
                self.http.url(f"me/mailFolders/{quote(folder_id, safe='')}"),
                params={"$select": "id,displayName,parentFolderId"}, expect=(404,))
        except ExpectedStatus:
            return {}

    def _place(self, folder_id: str) -> _Place:
        """Where the folder ``folder_id`` is: walks up its parents to a well-known folder."""
        if folder_id in self._places:
            return self._places[folder_id]
        if not folder_id:
            return _Place(Folder.OTHER, "")
        self._load_well_known()
        by_id = {value[0]: name for name, value in self._well_known.items()}
        names: list[str] = []
        current = folder_id
        place = None
        for _ in range(MAX_DEPTH):
            known = by_id.get(current)
            if known is not None and known != "msgfolderroot":
                names.append(self._well_known[known][1])
            if known in EXCLUDED:
                place = _Place(None, "/".join(reversed(names)))
                break
            if known in ROLES and current == folder_id:
                place = _Place(ROLES[known], names[-1])
                break
            if known is not None:  # below Inbox or Sent Items, or at the top
                break
            info = self._folder(current)
            names.append(str(info.get("displayName") or ""))
            current = str(info.get("parentFolderId") or "")
            if not current:
                break
        if place is None:
            place = _Place(Folder.OTHER, "/".join(n for n in reversed(names) if n) or "Other")
        self._places[folder_id] = place
        return place

    # -- the final search ------------------------------------------------------
    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        items: dict[str, dict[str, Any]] = {}
        select = {"$select": ",".join(MESSAGE_FIELDS),
                  "$expand": f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY}')"}
        query = search_query(interest)
        if query:
            page = self.http.request("messages.search", "GET", self.http.url("me/messages"),
                                     params={**select, "$search": query,
                                             "$top": str(SEARCH_LIMIT)})
            items.update((str(i["id"]), i) for i in page.get("value") or [] if i.get("id"))
            if page.get("@odata.nextLink"):
                logger.info("account %s: the search for answers found more than %d messages; "
                            "%d are read", self.http.account, SEARCH_LIMIT, SEARCH_LIMIT)
        threads = sorted(interest.threads)[:SEARCH_LIMIT]
        if threads:
            either = " or ".join(f"conversationId eq '{t.replace(chr(39), chr(39) * 2)}'"
                                 for t in threads)
            page = self.http.request("messages.list", "GET", self.http.url("me/messages"),
                                     params={**select, "$filter": either,
                                             "$top": str(SEARCH_LIMIT)})
            items.update((str(i["id"]), i) for i in page.get("value") or [] if i.get("id"))
        # Arrived after ``since`` and dated after it (an old message filed today is old).
        recent = [item for item in items.values() if (_arrived(item) or since) >= since
                  and (graph_timestamp(item.get("sentDateTime")) or since) >= since]
        candidates: list[dict[str, Any]] = []
        for item in recent:
            try:
                probe = _to_message(item, Folder.OTHER, "")
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
            if probe.thread_id in interest.threads or self._matches(interest, probe):
                candidates.append(item)
        messages, problems = self._messages(candidates, None)
        for problem in problems:
            logger.warning("account %s: %s", self.http.account, problem)
        return sorted(messages, key=lambda m: (m.date or since, m.id))

    # -- drafts --------------------------------------------------------------
    def create_draft(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None,
                     ) -> DraftRef:
        current = message.get(MARKER_HEADER)
        if current is not None and str(current).strip() != marker:
            raise ValueError(f"draft carries {MARKER_HEADER}: {current!r}, not {marker!r}")
        if reply_to is not None and reply_to.provider_id:
            ref = self._reply(message, marker, reply_to)
            if ref is not None:
                return ref
            logger.info("account %s: the sent message to answer is gone; the draft %s is a "
                        "new message", self.http.account, marker)
        return self._new(message, marker, reply_to)

    def _new(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None) -> DraftRef:
        props = [{"id": MARKER_PROPERTY, "value": marker}]
        if reply_to is not None and reply_to.message_id:
            chain = [r for r in reply_to.references if r != reply_to.message_id]
            props.append({"id": IN_REPLY_TO_PROPERTY, "value": reply_to.message_id})
            props.append({"id": REFERENCES_PROPERTY,
                          "value": " ".join([*chain, reply_to.message_id])})
        body: dict[str, Any] = {
            "subject": str(message.get("Subject", "")),
            **_content(message),
            "internetMessageHeaders": [{"name": MARKER_HEADER, "value": marker}],
            "singleValueExtendedProperties": props,
        }
        message_id = str(message.get("Message-ID", "")).strip()
        if message_id:
            body["internetMessageId"] = message_id
        result = self.http.request("messages.create", "POST", self.http.url("me/messages"),
                                   json=body, before_retry=lambda: self._marked_draft(marker))
        logger.info("account %s: wrote Outlook draft %s", self.http.account, marker)
        return _ref(result, Folder.DRAFTS, message_id)

    def _reply(self, message: EmailMessage, marker: str, reply_to: ReplyTo) -> DraftRef | None:
        """createReply on the sent note, with our text, recipients and marker property in the
        same request (so the reply exists whole or not at all); None when the sent note no
        longer exists."""
        content = _content(message)
        extra = {**content,
                 "singleValueExtendedProperties": [{"id": MARKER_PROPERTY, "value": marker}]}
        try:
            reply = self.http.request(
                "messages.createReply", "POST",
                self.http.url(f"me/messages/{quote(reply_to.provider_id, safe='')}"
                              "/createReply"), json={"message": extra}, expect=(404,),
                headers={"Prefer": 'outlook.body-content-type="text"'},
                before_retry=lambda: self._marked_draft(marker))
        except ExpectedStatus:
            return None
        if _body_text(reply) != _body_text(content):
            # A service that added the quoted note to our body: the draft gets ours alone.
            reply = self.http.request(
                "messages.update", "PATCH",
                self.http.url(f"me/messages/{quote(str(reply['id']), safe='')}"),
                json={"body": content["body"]})
        logger.info("account %s: wrote Outlook reply draft %s", self.http.account, marker)
        return _ref(reply, Folder.DRAFTS, "")

    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        # Outlook keeps an item's extended properties when the draft is sent (the draft
        # itself moves to Sent Items), so the marker alone decides.
        drafts, sent = self._together(lambda: self._marked(marker, "drafts"),
                                      lambda: self._marked(marker, "sentitems"))
        return ([_ref(item, Folder.DRAFTS, "") for item in drafts]
                + [_ref(item, Folder.SENT, "") for item in sent])

    def _marked(self, marker: str, folder: str) -> list[dict[str, Any]]:
        value = marker.replace("'", "''")
        params = {
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARKER_PROPERTY}' "
                       f"and ep/value eq '{value}')",
            "$select": "id,internetMessageId,conversationId,createdDateTime,sentDateTime",
        }
        found: list[dict[str, Any]] = []
        for page in self.http.pages(f"{folder} messages.list",
                                    self.http.url(f"me/mailFolders/{folder}/messages"),
                                    params=params):
            found.extend(item for item in page.get("value") or [] if item.get("id"))
        return found

    def _marked_draft(self, marker: str) -> dict[str, Any] | None:
        """The draft an interrupted create may have made before its answer was lost."""
        found = self._marked(marker, "drafts")
        if found:
            logger.info("account %s: draft %s had been created by an interrupted attempt",
                        self.http.account, marker)
        return found[0] if found else None

    # -- helpers -------------------------------------------------------------
    def _together(self, first: Callable[[], _T], second: Callable[[], _U]) -> tuple[_T, _U]:
        """Both calls at once (two of the mailbox's four request slots); both have ended when
        this returns or raises, and the first one's error wins."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1,
                                            thread_name_prefix=f"graph-{self.http.account}")
        future = self._pool.submit(second)
        try:
            a = first()
        except BaseException:
            with contextlib.suppress(Exception):
                future.result()
            raise
        return a, future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _whole(item: dict[str, Any]) -> bool:
    # An update can carry only id, isRead and parentFolderId, whatever $select said.
    return any(key in item for key in ("from", "subject", "receivedDateTime",
                                       "internetMessageId"))


def _body_excerpt(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "").lower() == "html":  # the preference was ignored
        return text_from_html(content)
    return tidy(content)


def _arrived(item: dict[str, Any]) -> datetime | None:
    return graph_timestamp(item.get("receivedDateTime"))


def _modified(item: dict[str, Any]) -> datetime | None:
    return graph_timestamp(item.get("lastModifiedDateTime"))


def _version(item: dict[str, Any]) -> str:
    """A message where it is now: a move makes another version, a read or a flag does not."""
    return f"{item['id']} {item.get('parentFolderId') or ''}"


def search_query(interest: Interest) -> str:
    """KQL for ``$search``: any of the interest's addresses and registrable domains as a
    participant (sender, recipient, Cc); "" when the interest names nobody."""
    terms = sorted(interest.addresses) + sorted(interest.domains)
    terms = [t for t in terms if re.fullmatch(r"[\w.+@-]+", t)][:SEARCH_TERMS]
    if not terms:
        return ""
    return '"' + " OR ".join(f"participants:{t}" for t in terms) + '"'


def _to_message(item: dict[str, Any], folder: Folder, folder_name: str = "") -> MailMessage:
    headers: dict[str, str] = {}
    for header in item.get("internetMessageHeaders") or []:
        headers.setdefault(str(header.get("name", "")).lower(), str(header.get("value", "")))
    marker = headers.get(MARKER_HEADER.lower(), "").strip() or next(
        (str(p.get("value") or "").strip() for p in item.get("singleValueExtendedProperties")
         or [] if str(p.get("id", "")).lower() == MARKER_PROPERTY.lower()), "")
    sender = _address(item.get("from") or item.get("sender"))
    return MailMessage(
        id=str(item["id"]),
        folder=folder,
        sender=sender,
        to=tuple(a for a in map(_address, item.get("toRecipients") or []) if a),
        cc=tuple(a for a in map(_address, item.get("ccRecipients") or []) if a),
        # The Date header, as other providers give it (receivedDateTime is the arrival).
        date=graph_timestamp(item.get("sentDateTime") or item.get("receivedDateTime")),
        subject=str(item.get("subject") or ""),
        message_id=str(item.get("internetMessageId") or ""),
        in_reply_to=first_id(headers.get("in-reply-to", "")),
        references=tuple(_MSGID.findall(headers.get("references", ""))),
        thread_id=str(item.get("conversationId") or ""),
        marker=marker,
        headers={h: headers[h].strip() for h in RULE_HEADERS if h in headers},
        reply_to=tuple(a for a in map(_address, item.get("replyTo") or []) if a),
        folder_name=folder_name,
        content_type=" ".join(headers.get("content-type", "").split()).lower(),
    )


def _address(raw: Any) -> Address | None:
    if not isinstance(raw, dict):
        return None
    email = raw.get("emailAddress") or {}
    address = str(email.get("address") or "").strip().lower()
    return Address(address, str(email.get("name") or "").strip()) if address else None


def _content(message: EmailMessage) -> dict[str, Any]:
    """Body and recipients of the draft in Graph's JSON."""
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    result: dict[str, Any] = {"body": {"contentType": "text", "content": str(text)}}
    for header, key in (("To", "toRecipients"), ("Cc", "ccRecipients")):
        values = [str(v) for v in message.get_all(header) or []]
        result[key] = [{"emailAddress": {"address": addr, **({"name": name} if name else {})}}
                       for name, addr in getaddresses(values) if addr]
    return result


def _body_text(item: dict[str, Any]) -> str | None:
    """The body of a message in a Graph answer when it is plain text, else None."""
    body = item.get("body")
    if not isinstance(body, dict) or str(body.get("contentType", "")).lower() != "text":
        return None
    return str(body.get("content", "")).replace("\r\n", "\n").rstrip()


def _ref(item: dict[str, Any], folder: Folder, message_id: str) -> DraftRef:
    return DraftRef(
        id=str(item["id"]), folder=folder,
        thread_id=str(item.get("conversationId") or ""),
        message_id=str(item.get("internetMessageId") or message_id),
        created=graph_timestamp(item.get("createdDateTime") or item.get("sentDateTime"))
        or datetime.now(UTC),
    )


