"""A mailbox of folders: the generic mailbox operations written once over a few primitives.

Maildir and IMAP keep mail alike: folders (the user's own and the roles of rule 6), each
holding messages whose headers say all the rules read. As CPython's ``mailbox.Mailbox``
writes its operations once over ``iterkeys``/``get_file``/``add``, :class:`FolderMailbox`
writes :class:`~providers.base.Mailbox` once over what each backend does its own way:

==================  ==========================================  ===========================
primitive           Maildir                                     IMAP
==================  ==========================================  ===========================
``_session(op)``    runs ``op``                                 on the open connection
``_all_folders()``  the directory walk                          LIST
``_load``/``_dump`` per directory mtime and newest ctime        per folder UIDVALIDITY,
                                                                UIDNEXT
``_listing(memo)``  the folders read; unchanged root: no walk   LIST-STATUS (the idle cost)
``_scan(...)``      files newer than the folder's checkpoint    UID FETCH from the old
                                                                UIDNEXT
``_excerpts(...)``  the first 64 KiB of each file               ``BODY.PEEK[]<0.65536>``
``_candidates``     files delivered since                       UID SEARCH by the interest
``_marked(...)``    files holding the marker header             UID SEARCH HEADER
``_append(msg)``    tmp/, then a link into cur/                 APPEND
``_new_folder``     ``.Drafts`` or ``Drafts/``, by the layout     the name CREATE makes
==================  ==========================================  ===========================

The base owns what rule 6 and rule 5 say for every folder mailbox: which folders are read
and as what (the name tables below, the ``drafts`` and ``sent`` options), which folder
drafts go to, headers into :class:`~providers.base.MailMessage`, which messages get an
excerpt, the idle shortcut, the answer search's filter, and what carries a marker.
A primitive never parses headers: it hands over :class:`Entry` values, raw header blocks.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any, Generic, NamedTuple, TypeVar

from ..base import DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from .headers import draft_id_stem, known_suffix, prepared, to_mail_message

logger = logging.getLogger(__name__)

# Folders never read for answers, compared with each level of a folder's name in lower
# case (so "Trash/Old" and "[Gmail]/Spam" are skipped too).
SKIPPED_NAMES = frozenset({
    # Drafts: the user's unsent mail and ours.
    "drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze", "concepten",
    # Trash.
    "trash", "deleted items", "deleted messages", "deleted", "bin", "papierkorb",
    "gelöschte elemente", "gelöschte objekte", "corbeille", "éléments supprimés",
    "papelera", "elementos eliminados", "cestino", "prullenbak",
    # Junk and spam (Outlook says "Junk E-mail", Yahoo "Bulk Mail").
    "junk", "spam", "junk e-mail", "junk email", "junk mail", "bulk mail", "spamverdacht",
    "courrier indésirable", "indésirables", "correo no deseado", "posta indesiderata",
    # Outbox: mail the user's client has not sent yet.
    "outbox", "postausgang", "boîte d'envoi", "bandeja de salida",
})
# Folders of sent mail by their last level, at the top or under a parent below.
SENT_NAMES = frozenset({
    "sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete elemente",
    "gesendete objekte", "envoyés", "éléments envoyés", "enviados", "elementos enviados",
    "posta inviata", "verzonden items",
})
# Drafts folders by their last level, in order of preference.
DRAFTS_NAMES = ("drafts", "draft", "entwürfe", "brouillons", "borradores", "bozze",
                "concepten")
# Gmail's folder of system labels, as mbsync and IMAP show it ("[Gmail]/Sent Mail").
GMAIL_PARENTS = frozenset({"[gmail]", "[google mail]"})
# Where a Sent or Drafts folder may sit one level down: Gmail's, and the Inbox of servers
# that nest every folder in it (Cyrus and Courier: INBOX.Drafts, INBOX.Sent).
TOP_PARENTS = GMAIL_PARENTS | {"inbox"}

_PARSER = BytesParser(policy=default_policy)  # holds no state between messages

B = TypeVar("B", bound="Box")
M = TypeVar("M")  # what a backend's checkpoint keeps beside its folders' states
S = TypeVar("S")  # one folder's state in the checkpoint
T = TypeVar("T")


def role_by_name(levels: Sequence[str], parents: frozenset[str] = TOP_PARENTS,
                 ) -> Folder | None:
    """The role a folder's name gives it: None (never read) for drafts, trash, junk and
    outbox at any level; SENT for a usual Sent name at the top or under ``parents``;
    else OTHER. (INBOX is the backend's to say: it knows which folder that is.)"""
    lowered = [level.lower() for level in levels]
    if any(level in SKIPPED_NAMES for level in lowered):
        return None
    if _near_top(lowered, parents) and lowered[-1] in SENT_NAMES:
        return Folder.SENT
    return Folder.OTHER


def drafts_rank(levels: Sequence[str]) -> int | None:
    """Where a folder stands among drafts folders by its name (0 best); None: not one."""
    lowered = [level.lower() for level in levels]
    if not _near_top(lowered, TOP_PARENTS) or lowered[-1] not in DRAFTS_NAMES:
        return None
    return DRAFTS_NAMES.index(lowered[-1]) * 2 + (len(lowered) - 1)


def _near_top(lowered: Sequence[str], parents: frozenset[str]) -> bool:
    return len(lowered) == 1 or (len(lowered) == 2 and lowered[0] in parents)


def carries(message: MailMessage, marker: str, ids: Iterable[str] = (), subject: str = ""
            ) -> bool:
    """Whether ``message`` is the draft (or the sent mail) of ``marker``: it carries the
    marker; or it is one of ``ids`` (Message-IDs of drafts we wrote) or has the Message-ID
    derived from the marker (headers.draft_message_id), and carries no other marker;
    or, for a composer that drops our header, it carries none and has the claim's
    ``subject`` and the marker's recipient in To."""
    if message.marker:
        return message.marker == marker
    if message.message_id in set(ids) or message.message_id.startswith(
            draft_id_stem(marker)):
        return True
    recipient = marker.rsplit("/", 1)[-1].lower()
    return bool(subject) and message.subject == subject and any(
        a.email == recipient for a in message.to)


@dataclass(frozen=True)
class Box:
    """One folder: the backend's handle, its role (None: never read), its name."""

    key: str  # a directory under the Maildir root, an IMAP folder name
    role: Folder | None
    name: str  # as the user sees it: "INBOX", "Sent Items", "Jobs/Acme"
    sep: str = "/"  # between the levels of ``name``
    drafts_use: bool = False  # the server marks it \Drafts (RFC 6154)
    openable: bool = True  # False: a container that holds folders only (\Noselect)

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(self.name.split(self.sep)) if self.sep else (self.name,)


@dataclass(frozen=True)
class DraftsChoice(Generic[B]):
    box: B  # role DRAFTS
    exists: bool  # False: made with the first draft
    why: str  # for the log and `followup doctor`
    others: tuple[B, ...]  # every other folder named like drafts (searched for markers)


@dataclass(frozen=True)
class Entry:
    """One message a primitive found: its raw header block, not yet parsed."""

    id: str  # the MailMessage id: a Maildir key, an IMAP URL path
    headers: bytes
    ref: Any = None  # what ``_excerpts`` reads its body by: a path, a UID
    label: str = ""  # names it in a problem: "cur/1700.M1P2Q3.host", "Archive: UID 7"
    date: datetime | None = None  # stands in for a missing Date header (INTERNALDATE)
    received: datetime | None = None  # its delivery, for the search and marker filters


# Named tuples, not dataclasses: made for every folder on every idle cycle, where the
# Maildir backend's whole cost is a few stat calls.
class Listing(NamedTuple, Generic[B, M]):
    """The folders a read goes through, INBOX first."""

    boxes: list[B]  # readable ones only
    memo: M  # the listing's own part of the next checkpoint
    changed: bool  # the folders changed since the checkpoint: it is not an idle read
    forget: bool = False  # the checkpoint's folder states belong to another layout


class Scan(NamedTuple, Generic[S]):
    state: S
    read: bool = True  # False: unchanged since the checkpoint (nothing was listed)


class FolderUnreadable(Exception):
    """A folder a primitive cannot read this time (removed meanwhile, no rights): named in
    the problems, its checkpoint state left as it was, and the other folders go on."""


class _Found:
    """What a scan of one folder turned up: its messages, and those wanting an excerpt."""

    def __init__(self, owner: FolderMailbox[Any, Any, Any], interest: Interest | None,
                 match: Callable[[str], str] | None, problems: list[str]) -> None:
        self.owner, self.interest, self.match = owner, interest, match
        self.problems = problems
        self.box: Box | None = None
        self.messages: list[MailMessage] = []
        self.wanted: list[Entry] = []

    def start(self, box: Box) -> None:
        self.box = box
        if self.messages:
            self.messages = []
        if self.wanted:
            self.wanted = []

    def take(self, entry: Entry) -> None:
        assert self.box is not None
        message = self.owner._message(self.box, entry, self.problems)
        if message is None:
            return
        self.messages.append(message)
        if self.interest is None or (
                self.match is not None and self.interest.matches(message, self.match)):
            # The header bytes are done with: only what reads the body is kept.
            self.wanted.append(Entry(entry.id, b"", entry.ref, entry.label))


class FolderMailbox(Mailbox, Generic[B, M, S]):
    """The :class:`~providers.base.Mailbox` operations over the primitives below.

    Subclasses set ``account``, ``drafts_override`` and ``sent_override`` (the
    ``drafts`` and ``sent`` options, "" when unset)."""

    account: str
    drafts_override: str = ""
    sent_override: str = ""

    # -- primitives ---------------------------------------------------------------
    def _session(self, op: Callable[[], T]) -> T:
        """``op`` with what it needs open (a connection); errors become ProviderErrors."""
        return op()

    @abstractmethod
    def _all_folders(self) -> list[B]:
        """Every folder, read or not (role None), with the options applied; INBOX first."""

    @abstractmethod
    def _load(self, checkpoint: str | None) -> tuple[M, dict[str, S]]:
        """The listing's memo and each folder's state (by key), from a checkpoint this
        backend made; an unusable one (another version) is logged and read as None."""

    @abstractmethod
    def _listing(self, memo: M) -> Listing[B, M]:
        """The folders to read now, and whether they changed since ``memo``."""

    @abstractmethod
    def _scan(self, box: B, old: S | None, listing: Listing[B, M], not_before: datetime,
              take: Callable[[Entry], None], problems: list[str]) -> Scan[S]:
        """Hand each message of ``box`` newer than ``old`` to ``take`` (all no older than
        ``not_before`` when ``old`` is None); the folder's new state.
        :raises FolderUnreadable: the folder cannot be read this time."""

    @abstractmethod
    def _dump(self, listing: Listing[B, M], states: dict[str, S], read: bool) -> str:
        """The checkpoint after a read (``read``: anything changed or was read)."""

    @abstractmethod
    def _excerpts(self, box: B, entries: Sequence[Entry]) -> dict[str, str]:
        """The body excerpts of ``entries`` of ``box`` by entry id ("" or absent when
        unreadable). Never logged."""

    @abstractmethod
    def _candidates(self, box: B, since: datetime, interest: Interest,
                    problems: list[str]) -> Iterable[Entry]:
        """The messages of ``box`` that may be answers after ``since`` (a superset: the
        base filters by date and interest). :raises FolderUnreadable:"""

    @abstractmethod
    def _marked(self, box: B, marker: str, subject: str, since: datetime | None,
                ids: frozenset[str], problems: list[str]) -> Iterable[Entry]:
        """The messages of ``box`` that may carry ``marker`` (the base checks with
        :func:`carries`). :raises FolderUnreadable:"""

    @abstractmethod
    def _append(self, message: EmailMessage, marker: str) -> DraftRef:
        """Store ``message`` (marker and thread headers in place) as a draft, atomically."""

    @abstractmethod
    def _new_folder(self, name: str) -> B:
        """The folder ``name`` (a drafts folder to make), in the backend's own form."""

    # -- hooks with a default ----------------------------------------------------
    def _is_named(self, box: B, option: str) -> bool:
        """Whether the ``drafts`` or ``sent`` option's text names ``box``."""
        return box.name == option

    def _drafts_preference(self, box: B) -> int:
        """Among drafts folders of the same rank, lower first (a synced one)."""
        return 0

    def _known_ids(self, marker: str) -> frozenset[str]:
        """Message-IDs of drafts of ``marker`` written by this process."""
        return frozenset()

    # -- folders -----------------------------------------------------------------
    def _with_options(self, box: B) -> B:
        """``box`` with the ``drafts`` option (never read) and ``sent`` option (the one
        Sent folder) applied over the role its name or the server gave it."""
        if box.role is Folder.INBOX:
            return box
        if self.drafts_override and self._is_named(box, self.drafts_override):
            return replace(box, role=None)
        if self.sent_override:
            if self._is_named(box, self.sent_override):
                return replace(box, role=Folder.SENT)
            if box.role is Folder.SENT:
                return replace(box, role=Folder.OTHER)
        return box

    def _choose_drafts(self, folders: Sequence[B]) -> DraftsChoice[B]:
        """The folder drafts go to: the ``drafts`` option's, else the one the server marks
        ``\\Drafts``, else the best named like drafts, else a new "Drafts"."""
        named = [b for b in folders if b.openable and drafts_rank(b.levels) is not None]
        if self.drafts_override:
            match = [b for b in folders if self._is_named(b, self.drafts_override)]
            others = tuple(b for b in named if b not in match)
            if match:
                return DraftsChoice(replace(match[0], role=Folder.DRAFTS), True,
                                    "the drafts option", others)
            return DraftsChoice(self._new_folder(self.drafts_override), False,
                                "the drafts option names no existing folder", others)
        marked = [b for b in folders if b.drafts_use and b.openable]
        if marked:
            return DraftsChoice(replace(marked[0], role=Folder.DRAFTS), True,
                                "the server marks it \\Drafts",
                                tuple(b for b in named if b != marked[0]))
        if named:
            best = min(named, key=lambda b: (self._drafts_preference(b),
                                             drafts_rank(b.levels), b.key))
            return DraftsChoice(replace(best, role=Folder.DRAFTS), True, "found by its name",
                                tuple(b for b in named if b is not best))
        return DraftsChoice(self._new_folder("Drafts"), False,
                            "no folder named like drafts was there", ())

    def _message(self, box: Box, entry: Entry, problems: list[str]) -> MailMessage | None:
        try:
            parsed = _PARSER.parsebytes(entry.headers, headersonly=True)
            return to_mail_message(parsed, id=entry.id, folder=box.role or Folder.DRAFTS,
                                   folder_name=box.name, date=entry.date)
        except Exception as exc:  # the email package raises assorted types on bad headers
            problems.append(f"{entry.label}: cannot parse headers: {exc}")
            return None

    # -- the Mailbox operations ----------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        return self._session(lambda: self._read_since(checkpoint, not_before, interest))

    def _read_since(self, checkpoint: str | None, not_before: datetime,
                    interest: Interest | None) -> MessageBatch:
        memo, previous = self._load(checkpoint)
        listing = self._listing(memo)
        if listing.forget:
            previous = {}
        match = known_suffix(interest.domains) if interest is not None else None
        states: dict[str, S] = {}
        messages: list[MailMessage] = []
        problems: list[str] = []
        read = listing.changed
        found = _Found(self, interest, match, problems)  # one for every folder: idle is cheap
        for box in listing.boxes:
            old = previous.get(box.key)
            found.start(box)
            try:
                scan = self._scan(box, old, listing, not_before, found.take, problems)
                excerpts = self._excerpts(box, found.wanted) if found.wanted else {}
            except FolderUnreadable as exc:
                problems.append(f"{box.name}: cannot read: {exc}")
                if old is not None:
                    states[box.key] = old  # tried again next cycle from where it was
                read = True
                continue
            states[box.key] = scan.state
            read = read or scan.read
            if found.messages:
                messages.extend(replace(m, excerpt=excerpts[m.id]) if m.id in excerpts else m
                                for m in found.messages)
        if checkpoint and not read:
            return MessageBatch((), checkpoint, tuple(problems))  # idle: the same checkpoint
        return MessageBatch(tuple(messages), self._dump(listing, states, read), tuple(problems))

    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        if not (interest.domains or interest.addresses or interest.message_ids):
            return []  # thread ids alone match nothing here: folders have no thread ids
        return self._session(lambda: self._search(since, interest))

    def _search(self, since: datetime, interest: Interest) -> list[MailMessage]:
        match = known_suffix(interest.domains)
        found: list[MailMessage] = []
        problems: list[str] = []
        for box in self._all_folders():
            if box.role is None:
                continue
            hits: list[tuple[Entry, MailMessage]] = []
            try:
                for entry in self._candidates(box, since, interest, problems):
                    message = self._message(box, entry, problems)
                    if message is None:
                        continue
                    when = message.date or entry.received
                    if (when is None or when >= since) and interest.matches(message, match):
                        hits.append((entry, message))
                excerpts = self._excerpts(box, [e for e, _ in hits]) if hits else {}
            except FolderUnreadable as exc:
                problems.append(f"{box.name}: cannot search: {exc}")
                continue
            found.extend(replace(m, excerpt=excerpts.get(e.id, "")) for e, m in hits)
        for problem in problems:
            logger.warning("account %s: searching for answers: %s (skipped)", self.account,
                           problem)
        return sorted(found, key=lambda m: (m.date or since, m.id))

    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        return self._session(lambda: self._find(marker, subject, since))

    def _find(self, marker: str, subject: str, since: datetime | None,
              message_id: str = "") -> list[DraftRef]:
        """Drafts and sent mail carrying ``marker``. Every folder named like drafts is
        looked in, not only the one written to: a draft written before the user chose
        another still counts (rule 5)."""
        folders = self._all_folders()
        choice = self._choose_drafts(folders)
        drafts = {b.key: replace(b, role=Folder.DRAFTS)
                  for b in ((choice.box,) if choice.exists else ()) + choice.others}
        sent = [b for b in folders if b.role is Folder.SENT and b.key not in drafts]
        ids = self._known_ids(marker) | ({message_id} if message_id else set())
        found: list[DraftRef] = []
        problems: list[str] = []
        for box in (*drafts.values(), *sent):
            try:
                for entry in self._marked(box, marker, subject, since, ids, problems):
                    message = self._message(box, entry, problems)
                    if message is not None and carries(message, marker, ids, subject):
                        found.append(DraftRef(
                            id=entry.id, folder=box.role or Folder.DRAFTS,
                            message_id=message.message_id,
                            created=message.date or entry.received))
            except FolderUnreadable:
                continue  # a Sent folder removed meanwhile
        for problem in problems:
            logger.warning("account %s: cannot check for marker: %s", self.account, problem)
        return found

    def create_draft(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None,
                     ) -> DraftRef:
        prepared_message = prepared(message, marker, reply_to)
        return self._session(lambda: self._append(prepared_message, marker))
