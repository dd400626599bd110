"""Gmail through the Gmail v1 API: the mailbox half of the "google" provider.

Reading: a checkpoint holds the mailbox's history id (``users.getProfile``);
each cycle asks ``users.history.list`` what was added since, then fetches just
the headers the rules need (``messages.get`` with ``format=metadata``). When
the history id is too old (404) or there is none yet, a bounded re-list with
``messages.list`` and ``newer_than:`` the engine's lookback starts over.

Writing: ``users.drafts.create`` with the raw RFC 5322 message, which carries
the marker header, and the thank-you's ``threadId`` for a status check. No send
endpoint is ever called. Gmail stores the raw message of an API-created draft
as given, custom ``X-`` headers included (per the API documentation; the real
service cannot be checked from the test suite), but a draft edited or sent in
Gmail's own composer is re-composed and may lose them: :meth:`Gmail.find_marker`
then falls back to recipient, subject and creation time when it is told them.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import Parser
from email.policy import default as default_policy
from typing import Any

from .base import DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from .errors import ProviderUnavailable
from .google_api import GoogleApi
from .headers import MARKER_HEADER, prepared, to_mail_message
from .retry import ExpectedStatus

logger = logging.getLogger(__name__)

# Only these headers are fetched (format=metadata): what the reply and sent-note rules read.
METADATA_HEADERS = (
    "From", "To", "Cc", "Date", "Subject", "Message-ID", "In-Reply-To", "References",
    MARKER_HEADER, "Auto-Submitted", "X-Autoreply", "X-Autorespond", "Precedence",
    "X-Auto-Response-Suppress", "List-Id", "X-Failed-Recipients",
)
MESSAGES_PAGE = 500
SENT_LOOKBACK_DAYS = 60  # find_marker looks at sent mail this recent
SENT_LIMIT = 500  # ... and at no more than this many sent messages
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH", "CHAT"})
_CHECKPOINT_VERSION = 1


class Gmail(Mailbox):
    def __init__(self, api: GoogleApi) -> None:
        self.api = api

    def _users(self) -> Any:
        return self.api.gmail().users()

    # -- reading -------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        try:
            start = _history_id(checkpoint)
            if start:
                try:
                    return self._history(checkpoint or "", start)
                except ExpectedStatus:
                    logger.info("account %s: Gmail history %s is too old (404); reading the "
                                "mailbox since %s again", self.api.account, start,
                                not_before.date())
            return self._resync(not_before)
        finally:
            self.api.save()

    def _history(self, checkpoint: str, start: str) -> MessageBatch:
        history = self._users().history()
        ids: dict[str, None] = {}
        latest = ""
        pages = self.api.pages("history.list", lambda token: history.list(
            userId="me", startHistoryId=start, historyTypes=["messageAdded", "labelAdded"],
            maxResults=MESSAGES_PAGE, pageToken=token), expect=(404,))
        for page in pages:
            for record in page.get("history", []):
                for added in record.get("messagesAdded", []):
                    message = added.get("message", {})
                    if message.get("id") and not SKIPPED_LABELS & set(
                            message.get("labelIds") or ()):
                        ids.setdefault(str(message["id"]), None)
                # A sent draft may keep its message id and just gain the SENT label.
                for added in record.get("labelsAdded", []):
                    message = added.get("message", {})
                    if message.get("id") and "SENT" in (added.get("labelIds") or ()):
                        ids.setdefault(str(message["id"]), None)
            # The first page's id: what is added while later pages are read is read
            # again next cycle (twice is allowed, never skipped).
            latest = latest or str(page.get("historyId") or "")
        latest = latest or start
        if not ids and latest == start:
            return MessageBatch((), checkpoint)
        messages, problems = self._fetch(ids)
        return MessageBatch(tuple(messages), _history_checkpoint(latest), tuple(problems))

    def _resync(self, not_before: datetime) -> MessageBatch:
        users = self._users()
        # The history id comes first: whatever arrives during the listing is read again.
        profile = self.api.call("users.getProfile", lambda: users.getProfile(userId="me").execute())
        days = max(1, math.ceil((datetime.now(UTC) - not_before).total_seconds() / 86400))
        ids: dict[str, None] = {}
        for page in self.api.pages("messages.list", lambda token: users.messages().list(
                userId="me", q=f"newer_than:{days}d", maxResults=MESSAGES_PAGE,
                pageToken=token)):
            ids.update((str(item["id"]), None) for item in page.get("messages", [])
                       if item.get("id"))
        if not profile.get("historyId"):
            raise ProviderUnavailable(self.api.account, "users.getProfile: no historyId")
        messages, problems = self._fetch(ids, not_before)
        return MessageBatch(tuple(messages), _history_checkpoint(str(profile["historyId"])),
                            tuple(problems))

    def _fetch(self, ids: dict[str, None], not_before: datetime | None = None,
               ) -> tuple[list[MailMessage], list[str]]:
        messages: list[MailMessage] = []
        problems: list[str] = []
        for message_id in ids:
            raw = self._metadata(message_id)
            if raw is None or SKIPPED_LABELS & set(raw.get("labelIds") or ()):
                continue
            try:
                message = _to_message(raw)
            except Exception as exc:  # the email package raises assorted types on bad headers
                problems.append(f"message {message_id}: cannot parse headers: {exc}")
                continue
            if not_before is not None and _internal_date(raw) < not_before:
                continue
            messages.append(message)
        return messages, problems

    def _metadata(self, message_id: str) -> dict[str, Any] | None:
        """The message's labels and rule headers; None when it is gone (deleted since)."""
        messages = self._users().messages()
        try:
            result: dict[str, Any] = self.api.call("messages.get", lambda: messages.get(
                userId="me", id=message_id, format="metadata",
                metadataHeaders=list(METADATA_HEADERS)).execute(), expect=(404,))
        except ExpectedStatus:
            return None
        return result

    # -- drafts --------------------------------------------------------------
    def create_draft(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None,
                     ) -> DraftRef:
        try:
            return self._create(prepared(message, marker, reply_to), marker, reply_to)
        finally:
            self.api.save()

    def _create(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None) -> DraftRef:
        data = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(data).decode("ascii")}
        if reply_to is not None and reply_to.thread_id:
            body["threadId"] = reply_to.thread_id
        drafts = self._users().drafts()
        tried = False

        def create() -> Any:
            nonlocal tried
            if tried:
                # The failed attempt may have reached Gmail before the answer was lost.
                earlier = self._drafts_marked(marker)
                if earlier:
                    return earlier[0]
            tried = True
            return drafts.create(userId="me", body={"message": body}).execute()

        result = self.api.call("drafts.create", create)
        if isinstance(result, DraftRef):
            logger.info("account %s: draft %s had been created by an interrupted attempt",
                        self.api.account, result.id)
            return result
        logger.info("account %s: wrote Gmail draft %s", self.api.account, result.get("id"))
        return DraftRef(
            id=str(result.get("id") or ""), folder=Folder.DRAFTS,
            thread_id=str(result.get("message", {}).get("threadId") or ""),
            message_id=str(message.get("Message-ID", "")).strip(),
            created=datetime.now(UTC),
        )

    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        """Drafts and sent messages carrying ``marker``.

        Gmail keeps the headers of a raw message created through the API, but
        a draft edited or sent from Gmail's own composer may lose them. With
        ``subject`` (and optionally ``since``), a draft or sent message with no
        marker at all, the marker's recipient and that subject counts too.
        """
        try:
            fallback = (subject, since) if subject else None
            found = self._drafts_marked(marker, fallback)
            found += self._sent_marked(marker, fallback)
            return found
        finally:
            self.api.save()

    def _drafts_marked(self, marker: str, fallback: tuple[str, datetime | None] | None = None,
                       ) -> list[DraftRef]:
        drafts = self._users().drafts()
        found = []
        for page in self.api.pages("drafts.list", lambda token: drafts.list(
                userId="me", maxResults=MESSAGES_PAGE, pageToken=token)):
            for item in page.get("drafts", []):
                message_id = item.get("message", {}).get("id")
                raw = self._metadata(str(message_id)) if message_id else None
                ref = _marked(raw, marker, fallback, Folder.DRAFTS, str(item.get("id")))
                if ref is not None:
                    found.append(ref)
        return found

    def _sent_marked(self, marker: str, fallback: tuple[str, datetime | None] | None,
                     ) -> list[DraftRef]:
        messages = self._users().messages()
        recipient = marker.rsplit("/", 1)[-1]
        query = f"in:sent newer_than:{SENT_LOOKBACK_DAYS}d"
        if "@" in recipient:
            query += f" to:{recipient}"
        found: list[DraftRef] = []
        seen = 0
        for page in self.api.pages("messages.list", lambda token: messages.list(
                userId="me", q=query, maxResults=MESSAGES_PAGE, pageToken=token)):
            for item in page.get("messages", []):
                raw = self._metadata(str(item["id"])) if item.get("id") else None
                if raw is not None and "SENT" in (raw.get("labelIds") or ()):
                    ref = _marked(raw, marker, fallback, Folder.SENT, str(item["id"]))
                    if ref is not None:
                        found.append(ref)
                seen += 1
            if seen >= SENT_LIMIT:
                logger.info("account %s: looked for %s in the newest %d sent messages only",
                            self.api.account, marker, seen)
                break
        return found


def _history_id(checkpoint: str | None) -> str:
    if not checkpoint:
        return ""
    try:
        state = json.loads(checkpoint)
        if state.get("v") != _CHECKPOINT_VERSION:
            raise ValueError("other version")
        return str(int(state["history"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        logger.warning("ignoring an unusable Gmail checkpoint; reading the mailbox again")
        return ""


def _history_checkpoint(history_id: str) -> str:
    return json.dumps({"v": _CHECKPOINT_VERSION, "history": history_id},
                      separators=(",", ":"))


def _headers(raw: dict[str, Any]) -> Any:
    """The metadata headers as an email.message, encoded words decoded."""
    lines = []
    for header in raw.get("payload", {}).get("headers", []):
        name, value = str(header.get("name", "")), str(header.get("value", ""))
        if re.fullmatch(r"[!-9;-~]+", name):
            lines.append(f"{name}: {' '.join(value.splitlines())}")
    return Parser(policy=default_policy).parsestr("\n".join(lines) + "\n\n", headersonly=True)


def _to_message(raw: dict[str, Any]) -> MailMessage:
    labels = set(raw.get("labelIds") or ())
    return to_mail_message(
        _headers(raw), id=str(raw["id"]),
        # Archived or filtered mail (no INBOX label) is still mail received.
        folder=Folder.SENT if "SENT" in labels else Folder.INBOX,
        thread_id=str(raw.get("threadId") or ""), date=_internal_date(raw),
    )


def _marked(raw: dict[str, Any] | None, marker: str,
            fallback: tuple[str, datetime | None] | None, folder: Folder, ref_id: str,
            ) -> DraftRef | None:
    """Where ``raw`` is, when it is the message ``marker`` names."""
    if raw is None:
        return None
    try:
        message = _to_message(raw)
    except Exception as exc:  # the email package raises assorted types on bad headers
        # Unparseable, so it cannot be shown to hold the marker; say so.
        logger.warning("message %s: cannot parse headers: %s", raw.get("id"), exc)
        return None
    if not _matches(message, raw, marker, fallback):
        return None
    return DraftRef(id=ref_id, folder=folder, thread_id=message.thread_id,
                    message_id=message.message_id, created=_internal_date(raw))


def _matches(message: MailMessage, raw: dict[str, Any], marker: str,
             fallback: tuple[str, datetime | None] | None) -> bool:
    if message.marker:
        return message.marker == marker
    if fallback is None:
        return False
    subject, since = fallback
    recipient = marker.rsplit("/", 1)[-1]
    to = {a.email for a in (*message.to, *message.cc)}
    # "nobody" is a draft with an empty To; "all" and hashed keys may go to anyone.
    addressed = (recipient in to if "@" in recipient
                 else not to if recipient == "nobody" else True)
    recent = since is None or _internal_date(raw) >= since - timedelta(minutes=5)
    return addressed and recent and " ".join(message.subject.split()) == " ".join(subject.split())


def _internal_date(raw: dict[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw["internalDate"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError, OverflowError):
        return datetime.now(UTC)










