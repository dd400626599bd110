"""Outlook mail through Microsoft Graph: the mailbox half of the "microsoft" provider.

Reading: one message delta per folder (Inbox, Sent Items), run side by side.
The first is bounded by ``receivedDateTime ge`` the engine's lookback, limited
by ``$select`` to the fields the rules read, and asks for created messages
only (``changeType=created``: a message read or flagged is no news here).
``internetMessageHeaders`` carries Auto-Submitted, In-Reply-To and References
for received mail; Graph does not return it for sent mail, whose marker comes
from our extended property (``$expand``) instead. The checkpoint holds both
delta links; one Graph no longer accepts means that folder is read again.

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
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any, TypeVar
from urllib.parse import quote

from .base import Address, DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from .graph_http import (
    DeltaExpired,
    GraphHttp,
    dump_state,
    graph_timestamp,
    iso,
    load_state,
)
from .headers import MARKER_HEADER, RULE_HEADERS, first_id
from .retry import ExpectedStatus

logger = logging.getLogger(__name__)

# Our named MAPI property: a GUID of this project's own, so no other app's data is read.
MARKER_GUID = "8d22a249-1428-4376-a8d4-d1b736d6b4c1"
MARKER_PROPERTY = f"String {{{MARKER_GUID}}} Name InterviewFollowupMarker"
# MAPI properties Outlook threads by, for a reply written without createReply.
IN_REPLY_TO_PROPERTY = "String 0x1042"  # PidTagInReplyToId
REFERENCES_PROPERTY = "String 0x1039"  # PidTagInternetReferences
MESSAGE_FIELDS = ("from", "toRecipients", "ccRecipients", "subject", "receivedDateTime",
                  "sentDateTime", "conversationId", "internetMessageId",
                  "internetMessageHeaders", "isDraft")
MESSAGES_PAGE = 200
_MSGID = re.compile(r"<[^<>\s]+>")
_T = TypeVar("_T")
_U = TypeVar("_U")


class OutlookMailbox(Mailbox):
    def __init__(self, http: GraphHttp) -> None:
        self.http = http
        self._pool: ThreadPoolExecutor | None = None

    # -- reading -------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        state = load_state(checkpoint, "mail") or {}
        (inbox, inbox_link), (sent, sent_link) = self._together(
            lambda: self._folder("inbox", Folder.INBOX, state.get("inbox"), not_before),
            lambda: self._folder("sentitems", Folder.SENT, state.get("sent"), not_before),
        )
        messages, problems = [*inbox[0], *sent[0]], [*inbox[1], *sent[1]]
        same = (inbox_link, sent_link) == (state.get("inbox"), state.get("sent"))
        if checkpoint and same and not messages and not problems:
            return MessageBatch((), checkpoint)
        return MessageBatch(tuple(messages), dump_state("mail", inbox=inbox_link, sent=sent_link),
                            tuple(problems))

    def _folder(self, name: str, folder: Folder, link: Any, not_before: datetime,
                ) -> tuple[tuple[list[MailMessage], list[str]], str | None]:
        if link:
            try:
                read, new_link = self._read(str(link), None, folder, None, delta=True)
                if new_link:
                    return read, new_link
                raise DeltaExpired("the round ended without a delta link")
            except DeltaExpired as exc:
                logger.info("account %s: %s delta link expired (%s); reading the folder since "
                            "%s again", self.http.account, name, exc, not_before.date())
        params = {
            "$select": ",".join(MESSAGE_FIELDS),
            "$filter": f"receivedDateTime ge {iso(not_before)}",
            "changeType": "created",  # a message read or flagged is no news to the rules
        }
        if folder is Folder.SENT:
            params["$expand"] = f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY}')"
        return self._read(self.http.url(f"me/mailFolders/{name}/messages/delta"), params,
                          folder, not_before, delta=False)

    def _read(self, url: str, params: dict[str, str] | None, folder: Folder,
              not_before: datetime | None, *, delta: bool,
              ) -> tuple[tuple[list[MailMessage], list[str]], str | None]:
        messages: list[MailMessage] = []
        problems: list[str] = []
        link = None
        headers = {"Prefer": f"odata.maxpagesize={MESSAGES_PAGE}"}
        for page in self.http.pages(f"{folder.value} messages.delta", url, params=params,
                                    headers=headers, delta=delta):
            for item in page.get("value") or []:
                if "@removed" in item or item.get("isDraft") or not _whole(item):
                    continue  # deleted, a draft, or only a flag or read state changed
                try:
                    message = _to_message(item, folder)
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    problems.append(f"message {item.get('id', '?')}: unreadable "
                                    f"({type(exc).__name__}: {exc})")
                    continue
                arrived = graph_timestamp(item.get("receivedDateTime"))
                if not_before is not None and arrived is not None and arrived < not_before:
                    continue
                messages.append(message)
            link = page.get("@odata.deltaLink") or link
        if not link and not delta:
            logger.warning("account %s: Graph gave no %s delta link; the folder will be read "
                           "again next cycle", self.http.account, folder.value)
        return (messages, problems), (str(link) if link else None)

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


def _to_message(item: dict[str, Any], folder: Folder) -> MailMessage:
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


