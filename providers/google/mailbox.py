"""Gmail through the Gmail v1 API: the mailbox half of the "google" provider.

Reading: a checkpoint holds the mailbox's history id (``users.getProfile``);
each cycle asks ``users.history.list`` what was added since, then fetches just
the headers the rules need (``messages.get`` with ``format=metadata``). When
the history id is too old (404) or there is none yet, a bounded re-list with
``messages.list`` and ``newer_than:`` the engine's lookback starts over.

Every label counts but DRAFT, SPAM, TRASH and CHAT (rule 6): a message with
INBOX is :attr:`Folder.INBOX`, with SENT :attr:`Folder.SENT`, anything else
(archived to All Mail, filed under a user label by a filter) :attr:`Folder.OTHER`,
its ``folder_name`` the user label's name (``labels.list``, once, cached) or
"Archive". History is read for ``messageAdded``, ``labelAdded`` and
``labelRemoved``: an answer archived before the next cycle is a ``messageAdded``
followed by a ``labelRemoved`` of INBOX, read once (``messages.get`` gives its
current labels); one archived after it was read comes again as OTHER. A change
is fetched only when it files or unfiles a message (INBOX, SENT, a user label;
out of SPAM or TRASH: the user took it back), never for UNREAD, STARRED,
IMPORTANT or a category, so reading mail costs nothing.

Bodies: only for candidates (:meth:`Interest.matches` on the headers, or a thread
the interest names, which skips the metadata step) a second ``messages.get`` with
``format=full``: the parts come decoded, attachments only as an ``attachmentId``
that is never fetched, and the first text part (else the HTML one) becomes the
bounded excerpt (:mod:`providers._shared.excerpt`). ``format=raw`` costs the same 5 units
but carries every attachment. A candidate costs 10 units, any other message 5.

The final search before a status check (:meth:`Gmail.search_answers`) is one
``messages.list`` with ``q=`` (``after:`` the epoch seconds, ``{from:x to:x ...}``
over the interest's addresses and registrable domains, ``-in:drafts -in:spam
-in:trash``), at most :data:`SEARCH_LIMIT` hits, plus one ``threads.get`` per
known thread (at most :data:`SEARCH_THREADS`), each hit read with ``format=full``.

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
import binascii
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.parser import Parser
from email.policy import default as default_policy
from typing import Any

from .._shared import checkpoint as checkpoints
from .._shared.excerpt import MAX_INPUT, text_from_html, tidy
from .._shared.headers import MARKER_HEADER, RULE_HEADERS, known_suffix, prepared, to_mail_message
from .._shared.retry import ExpectedStatus
from ..base import DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from ..errors import ProviderUnavailable
from .api import GoogleApi

logger = logging.getLogger(__name__)

# Only these headers are fetched (format=metadata): what the answer and sent-note rules
# read, and every header of providers._shared.headers.RULE_HEADERS (Gmail matches names in
# any case).
_NAMED = ("From", "To", "Cc", "Reply-To", "Date", "Subject", "Message-ID", "In-Reply-To",
          "References", "Content-Type", MARKER_HEADER, "Auto-Submitted", "X-Autoreply",
          "X-Autorespond", "Precedence", "X-Auto-Response-Suppress", "List-Id",
          "List-Unsubscribe", "X-Failed-Recipients")
METADATA_HEADERS = (*_NAMED, *(h for h in RULE_HEADERS
                               if h.lower() not in {n.lower() for n in _NAMED}))
MESSAGES_PAGE = 500
SENT_LOOKBACK_DAYS = 60  # find_marker looks at sent mail this recent
SENT_LIMIT = 500  # ... and at no more than this many sent messages
SEARCH_LIMIT = 50  # search_answers reads at most this many hits of its query
SEARCH_THREADS = 10  # ... and at most this many of the interest's threads
SEARCH_TERMS = 60  # addresses and domains in one query (Gmail's q has a length limit)
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH", "CHAT"})
RESCUED_LABELS = frozenset({"SPAM", "TRASH"})  # removed: the user took the message back
ARCHIVE = "Archive"  # folder_name of mail in All Mail only (Gmail's "Archive" button)

Registrable = Callable[[str], str]


class Gmail(Mailbox):
    """``registrable`` maps a domain to its registrable part for :meth:`Interest.matches`
    (the engine's public-suffix function); by default the interest's own domains decide
    (:func:`providers._shared.headers.known_suffix`), which needs no suffix list."""

    def __init__(self, api: GoogleApi, registrable: Registrable | None = None) -> None:
        self.api = api
        self.registrable = registrable
        self._labels: dict[str, str] | None = None  # user label id -> name (labels.list)

    def _users(self) -> Any:
        return self.api.gmail().users()

    # -- reading -------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        try:
            start = _history_id(checkpoint)
            if start:
                try:
                    return self._history(checkpoint or "", start, interest)
                except ExpectedStatus:
                    logger.info("account %s: Gmail history %s is too old (404); reading the "
                                "mailbox since %s again", self.api.account, start,
                                not_before.date())
            return self._resync(not_before, interest)
        finally:
            self.api.save()

    def _history(self, checkpoint: str, start: str, interest: Interest | None,
                 ) -> MessageBatch:
        history = self._users().history()
        ids: dict[str, str] = {}  # message id -> thread id
        latest = ""
        pages = self.api.pages("history.list", lambda token: history.list(
            userId="me", startHistoryId=start,
            historyTypes=["messageAdded", "labelAdded", "labelRemoved"],
            maxResults=MESSAGES_PAGE, pageToken=token), expect=(404,))
        for page in pages:
            for record in page.get("history", []):
                for message in _history_changes(record):
                    ids.setdefault(str(message["id"]), str(message.get("threadId") or ""))
            # The first page's id: what is added while later pages are read is read
            # again next cycle (twice is allowed, never skipped).
            latest = latest or str(page.get("historyId") or "")
        latest = latest or start
        if not ids and latest == start:
            return MessageBatch((), checkpoint)
        messages, problems = self._fetch(ids, interest)
        return MessageBatch(tuple(messages), _history_checkpoint(latest), tuple(problems))

    def _resync(self, not_before: datetime, interest: Interest | None) -> MessageBatch:
        users = self._users()
        # The history id comes first: whatever arrives during the listing is read again.
        profile = self.api.call("users.getProfile", lambda: users.getProfile(userId="me").execute())
        days = max(1, math.ceil((datetime.now(UTC) - not_before).total_seconds() / 86400))
        ids: dict[str, str] = {}
        # messages.list leaves out SPAM and TRASH; -in:drafts the drafts (rule 6).
        for page in self.api.pages("messages.list", lambda token: users.messages().list(
                userId="me", q=f"newer_than:{days}d -in:drafts", maxResults=MESSAGES_PAGE,
                pageToken=token)):
            ids.update((str(item["id"]), str(item.get("threadId") or ""))
                       for item in page.get("messages", []) if item.get("id"))
        if not profile.get("historyId"):
            raise ProviderUnavailable(self.api.account, "users.getProfile: no historyId")
        messages, problems = self._fetch(ids, interest, not_before)
        return MessageBatch(tuple(messages), _history_checkpoint(str(profile["historyId"])),
                            tuple(problems))

    def _fetch(self, ids: dict[str, str], interest: Interest | None,
               not_before: datetime | None = None,
               ) -> tuple[list[MailMessage], list[str]]:
        """The messages ``ids`` names (id -> thread id) still in a folder of rule 6, with an
        excerpt for the candidates of ``interest`` (every message when it is None)."""
        messages: list[MailMessage] = []
        problems: list[str] = []
        for message_id, thread_id in ids.items():
            # A known thread, or no interest at all: the body comes in the same request.
            whole = interest is None or bool(thread_id and thread_id in interest.threads)
            raw = self._get(message_id, "full" if whole else "metadata")
            if raw is None or SKIPPED_LABELS & set(raw.get("labelIds") or ()):
                continue
            if not_before is not None and _internal_date(raw) < not_before:
                continue
            message = self._message(raw, problems)
            if message is None:
                continue
            if not whole and interest is not None and self._matches(interest, message):
                full = self._get(message_id, "full")
                if full is None or SKIPPED_LABELS & set(full.get("labelIds") or ()):
                    continue
                message = self._message(full, problems) or message
            messages.append(message)
        return messages, problems

    def _matches(self, interest: Interest, message: MailMessage) -> bool:
        return interest.matches(message, self.registrable or known_suffix(interest.domains))

    def _message(self, raw: dict[str, Any], problems: list[str]) -> MailMessage | None:
        """``raw`` (metadata or full) as a MailMessage; None (and a problem) when unreadable."""
        try:
            message = _to_message(raw)
        except Exception as exc:  # the email package raises assorted types on bad headers
            problems.append(f"message {raw.get('id')}: cannot parse headers: {exc}")
            return None
        labels = [str(label) for label in raw.get("labelIds") or ()]
        if message.folder is Folder.OTHER:
            message = replace(message, folder_name=self._label_name(labels))
        payload = raw.get("payload")
        if isinstance(payload, dict) and ("parts" in payload
                                          or "data" in (payload.get("body") or {})):
            message = replace(message, excerpt=excerpt_of_payload(payload))
        return message

    def _label_name(self, labels: list[str]) -> str:
        """The user label a message is filed under ("Jobs/Acme"), else "Archive"."""
        user = [label for label in labels if label.startswith("Label_")]
        if not user:
            return ARCHIVE
        if self._labels is None or any(label not in self._labels for label in user):
            self._labels = self._user_labels()  # once, and again for a label made since
        names = sorted(self._labels[label] for label in user if label in self._labels)
        return names[0] if names else ARCHIVE

    def _user_labels(self) -> dict[str, str]:
        labels = self._users().labels()
        answer = self.api.call("labels.list", lambda: labels.list(userId="me").execute())
        return {str(item["id"]): str(item.get("name") or item["id"])
                for item in answer.get("labels", [])
                if item.get("id") and item.get("type") == "user"}

    def _get(self, message_id: str, form: str) -> dict[str, Any] | None:
        """One message in ``form`` ("metadata": the labels and rule headers; "full": every
        header and the decoded text parts); None when it is gone (deleted since)."""
        messages = self._users().messages()
        extra = {"metadataHeaders": list(METADATA_HEADERS)} if form == "metadata" else {}
        try:
            result: dict[str, Any] = self.api.call("messages.get", lambda: messages.get(
                userId="me", id=message_id, format=form, **extra).execute(), expect=(404,))
        except ExpectedStatus:
            return None
        return result

    def _metadata(self, message_id: str) -> dict[str, Any] | None:
        return self._get(message_id, "metadata")

    # -- the final search ------------------------------------------------------
    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        try:
            return self._search(since, interest)
        finally:
            self.api.save()

    def _search(self, since: datetime, interest: Interest) -> list[MailMessage]:
        found: dict[str, dict[str, Any]] = {}  # message id -> full message
        users = self._users()
        for thread_id in sorted(interest.threads)[:SEARCH_THREADS]:
            def get(t: str = thread_id) -> Any:
                return users.threads().get(userId="me", id=t, format="full").execute()

            try:
                thread = self.api.call("threads.get", get, expect=(404,))
            except ExpectedStatus:
                continue  # the thread was deleted
            for raw in thread.get("messages", []):
                if raw.get("id"):
                    found.setdefault(str(raw["id"]), raw)
        query = search_query(since, interest)
        hits: list[str] = []
        if query:
            page = self.api.call("messages.list", lambda: users.messages().list(
                userId="me", q=query, maxResults=SEARCH_LIMIT).execute())
            hits = [str(item["id"]) for item in page.get("messages", []) if item.get("id")]
            if page.get("nextPageToken"):
                logger.info("account %s: the search for answers found more than %d messages; "
                            "the newest %d are read", self.api.account, SEARCH_LIMIT,
                            SEARCH_LIMIT)
        for message_id in hits:
            if message_id not in found:
                raw = self._get(message_id, "full")
                if raw is not None:
                    found[message_id] = raw
        problems: list[str] = []
        result = []
        for raw in found.values():
            if SKIPPED_LABELS & set(raw.get("labelIds") or ()) or _internal_date(raw) < since:
                continue
            message = self._message(raw, problems)
            # Arrived and dated after ``since``: an old message filed today is old.
            if message is not None and (message.date or since) >= since and (
                    message.thread_id in interest.threads or self._matches(interest, message)):
                result.append(message)
        for problem in problems:
            logger.warning("account %s: %s", self.api.account, problem)
        return sorted(result, key=lambda m: (m.date or since, m.id))

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
    state = checkpoints.load(checkpoint, "Gmail", check=lambda s: int(s["history"]))
    return "" if state is None else str(int(state["history"]))


def _history_checkpoint(history_id: str) -> str:
    return checkpoints.dump(history=history_id)


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
    folder, name = ((Folder.SENT, "Sent") if "SENT" in labels
                    else (Folder.INBOX, "Inbox") if "INBOX" in labels
                    # Archived (All Mail) or filed under a label by a filter: still received.
                    else (Folder.OTHER, ARCHIVE))
    return to_mail_message(_headers(raw), id=str(raw["id"]), folder=folder,
                           thread_id=str(raw.get("threadId") or ""),
                           date=_internal_date(raw), folder_name=name)


def _history_changes(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The messages of one history record worth reading."""
    for added in record.get("messagesAdded", []):
        message = added.get("message", {})
        if message.get("id") and not SKIPPED_LABELS & set(message.get("labelIds") or ()):
            yield message
    for added in record.get("labelsAdded", []):
        message = added.get("message", {})
        changed = [str(label) for label in added.get("labelIds") or ()]
        # Filed: into the inbox, sent (a sent draft may keep its id and gain SENT) or
        # under a user label. UNREAD, STARRED, IMPORTANT and categories are no news.
        if (message.get("id") and any(_files(label) for label in changed)
                and not SKIPPED_LABELS & set(message.get("labelIds") or ())):
            yield message
    for removed in record.get("labelsRemoved", []):
        message = removed.get("message", {})
        changed = [str(label) for label in removed.get("labelIds") or ()]
        # Archived (INBOX removed), taken off a label, or out of Spam ("Not spam") or
        # Trash: it is somewhere else now, and comes again with its new folder.
        if (message.get("id") and any(_files(label) or label in RESCUED_LABELS
                                      for label in changed)
                and not SKIPPED_LABELS & set(message.get("labelIds") or ())):
            yield message


def _files(label: str) -> bool:
    return label in ("INBOX", "SENT") or label.startswith("Label_")


def excerpt_of_payload(payload: dict[str, Any]) -> str:
    """The excerpt of a ``format=full`` payload: its first text/plain part, else (none, or
    an empty one) its first text/html one as text. Attachments (a filename or an
    attachmentId) are never read."""
    plain = markup = None
    for part in _parts(payload):
        body = part.get("body") or {}
        if part.get("filename") or body.get("attachmentId") or "data" not in body:
            continue
        kind = str(part.get("mimeType") or "").lower()
        if kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and markup is None:
            markup = part
    text = tidy(_part_text(plain)) if plain is not None else ""
    if not text and markup is not None:  # no plain part, or an empty one beside the HTML
        text = text_from_html(_part_text(markup))
    return text


def _parts(part: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield part
    for sub in part.get("parts") or []:
        if isinstance(sub, dict):
            yield from _parts(sub)


def _part_text(part: dict[str, Any]) -> str:
    data = str((part.get("body") or {}).get("data") or "")
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return ""
    charset = "utf-8"
    for header in part.get("headers") or []:
        if str(header.get("name", "")).lower() == "content-type":
            match = re.search(r'charset\s*=\s*"?([\w.:-]+)', str(header.get("value", "")), re.I)
            if match:
                charset = match.group(1)
    try:
        return raw[: MAX_INPUT * 4].decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return raw[: MAX_INPUT * 4].decode("utf-8", errors="replace")


def search_query(since: datetime, interest: Interest) -> str:
    """Gmail's ``q`` for the final search: after ``since`` (epoch seconds), from or to any
    of the interest's addresses and registrable domains, in no excluded folder. "" when the
    interest names nobody."""
    terms = sorted(interest.addresses) + sorted(interest.domains)
    terms = [t for t in terms if re.fullmatch(r"[\w.+@-]+", t)][:SEARCH_TERMS]
    if not terms:
        return ""
    people = " ".join(f"from:{t} to:{t}" for t in terms)
    return (f"after:{int(since.timestamp())} -in:drafts -in:spam -in:trash -in:chats "
            f"{{{people}}}")


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










