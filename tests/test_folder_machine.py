"""The folder mailbox base under random mail traffic (hypothesis ``RuleBasedStateMachine``).

:class:`~providers._shared.folders.FolderMailbox` writes the reading, the answer search and
the marker look-up once over each backend's primitives; this machine drives it through
Maildir (in a temporary folder) and IMAP (a real Dovecot) alike. Mail is delivered into
any folder (Inbox, Sent, Archive, a nested folder of the user's, Drafts, Junk, Trash),
moved between folders and marked read or flagged by the user's mail client (Maildir:
``new/`` -> ``cur/`` renames and new flags; IMAP: another connection's MOVE and STORE);
drafts are created through the mailbox and sometimes "sent" (moved into Sent); time
passes; the daemon restarts (a new mailbox object) while the checkpoint is carried from
each read to the next. The contract checked after every read:

- every message that landed in a folder of rule 6 since the last read (delivered, or
  moved in) is returned by this read, with that folder and its role: never skipped,
  never late (one filed away and back between two reads never left, as far as a
  reader can tell: it may come again, it need not);
- a message comes back only when something happened to it since it was last returned
  (moved, or its file renamed by the client); never twice in one read;
- nothing in Drafts, Junk or Trash is ever returned;
- ``find_marker`` finds every draft created, in Drafts or, once sent, in Sent;
- ``search_answers`` finds exactly the company's messages in the folders of rule 6.
"""

from __future__ import annotations

import mailbox as stdlib_mailbox
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from imapclient import IMAPClient

from interview_followup.providers._shared.folders import (
    FolderMailbox,
    carries,
    drafts_rank,
    role_by_name,
)
from interview_followup.providers.base import Address, Folder, Interest, MailMessage, MessageBatch
from interview_followup.providers.local.maildir import MaildirMailbox
from tests.contract import draft
from tests.contract import mail as new_mail
from tests.test_imap import Server, make_mailbox, running_server

# The folders mail lands in, by the name the user sees, and the role each is read as
# (None: never read).
ROLES: dict[str, Folder | None] = {
    "INBOX": Folder.INBOX, "Sent": Folder.SENT, "Archive": Folder.OTHER,
    "Jobs/Acme": Folder.OTHER, "Drafts": None, "Junk": None, "Trash": None,
}
FOLDERS = tuple(ROLES)
COMPANY = "acme.example"
SENDERS = (f"Dana Recruiter <dana@{COMPANY}>", f"Sam Lee <sam.lee@{COMPANY}>",
           "Newsletter <news@elsewhere.example>", "Pat <pat@friends.example>")
INTEREST = Interest(domains=frozenset({COMPANY}))
# A few messages at once: (folder, sender) each.
DELIVERIES = st.lists(st.tuples(st.sampled_from(FOLDERS), st.sampled_from(SENDERS)),
                      min_size=1, max_size=4)
NOT_BEFORE = timedelta(days=1)


# -- the worlds: where mail lands, as a mail server and the user's client put it ------------

class World(ABC):
    """A mailbox's storage, changed the way others change it (never through the mailbox
    under test, except for its drafts)."""

    renames = False  # whether the client marking a message read gives it a new name

    @abstractmethod
    def deliver(self, folder: str, msg: EmailMessage) -> None: ...

    @abstractmethod
    def move(self, message_id: str, source: str, target: str) -> None: ...

    @abstractmethod
    def touch(self, message_id: str, folder: str, step: int) -> None:
        """The user's client marks the message read or changes its flags."""

    @abstractmethod
    def age(self) -> None:
        """Time passes (what was changed a moment ago is old now)."""

    @abstractmethod
    def open(self) -> FolderMailbox[Any, Any, Any]:
        """The mailbox under test, as a newly started daemon opens it."""

    @abstractmethod
    def close(self) -> None: ...


class MaildirWorld(World):
    """A Maildir++ tree: Python's own Maildir writer delivers (an independent writer), the
    client's renames are plain ``os.rename`` calls as mail clients make them."""

    renames = True

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="folder-machine-")) / "Maildir"
        stdlib_mailbox.Maildir(self.root, create=True)
        self.paths: dict[str, Path] = {}  # Message-ID -> its file now

    def _dir(self, folder: str) -> Path:
        if folder == "INBOX":
            return self.root
        stdlib_mailbox.Maildir(self.root, create=False).add_folder(folder.replace("/", "."))
        return self.root / ("." + folder.replace("/", "."))

    def deliver(self, folder: str, msg: EmailMessage) -> None:
        target = self._dir(folder)
        key = stdlib_mailbox.Maildir(target, create=False).add(msg)
        self.paths[str(msg["Message-ID"])] = target / "new" / key

    def move(self, message_id: str, source: str, target: str) -> None:
        path = self._path(message_id, source)
        name = path.name if ":2," in path.name else f"{path.name}:2,S"
        moved = self._dir(target) / "cur" / name
        os.rename(path, moved)
        self.paths[message_id] = moved

    def touch(self, message_id: str, folder: str, step: int) -> None:
        path = self._path(message_id, folder)
        base, _, flags = path.name.partition(":2,")
        if path.parent.name == "new":
            flags = "S"  # read: out of new/, into cur/
        else:  # another flag: a new name (Maildir files never change in place)
            flags = next(f for f in ("FS", "RS", "S", "") if f != flags)
        moved = path.parent.parent / "cur" / f"{base}:2,{flags}"
        os.rename(path, moved)
        self.paths[message_id] = moved

    def _path(self, message_id: str, folder: str) -> Path:
        known = self.paths.get(message_id)
        if known is not None and known.exists():
            return known
        where = self._dir(folder)
        for leaf in ("new", "cur"):
            for path in (where / leaf).iterdir():
                if message_id.encode() in path.read_bytes():
                    return path
        raise AssertionError(f"{message_id} is not in {folder}")

    def age(self) -> None:
        # Every directory's mtime a minute back: a reader now trusts an unchanged mtime
        # (the settled path, the idle cycle's) instead of listing again to be safe.
        past = time.time() - 60
        for path in [self.root, *self.root.rglob("*")]:
            if path.is_dir():
                os.utime(path, (past, past))

    def open(self) -> MaildirMailbox:
        return MaildirMailbox("home", self.root)

    def close(self) -> None:
        shutil.rmtree(self.root.parent, ignore_errors=True)


class DovecotWorld(World):
    """A user of its own on a real Dovecot; the user's mail client is another IMAP
    connection (APPEND for delivery, MOVE, STORE)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.user, _ = server.add_user()
        self.client: IMAPClient = server.client(self.user)
        self.mailboxes: list[Any] = []  # ImapMailbox (imported lazily, as the registry does)

    def _ensure(self, folder: str) -> None:
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)

    def deliver(self, folder: str, msg: EmailMessage) -> None:
        self._ensure(folder)
        self.client.append(folder, msg.as_bytes())

    def _uids(self, message_id: str, folder: str) -> list[int]:
        self.client.select_folder(folder)
        uids = self.client.search(["HEADER", "Message-ID", message_id])
        assert uids, f"{message_id} is not in {folder}"
        return list(uids)

    def move(self, message_id: str, source: str, target: str) -> None:
        self._ensure(target)
        self.client.move(self._uids(message_id, source), target)

    def touch(self, message_id: str, folder: str, step: int) -> None:
        uids = self._uids(message_id, folder)
        flags = (b"\\Seen", b"\\Flagged", b"\\Answered")[step % 3]
        self.client.add_flags(uids, [flags])

    def age(self) -> None:
        pass  # UIDNEXT does not age: nothing on the server depends on the clock here

    def open(self) -> FolderMailbox[Any, Any, Any]:
        for old in self.mailboxes:  # the daemon that stopped: its connection closes
            old.close()
        self.mailboxes = [make_mailbox(self.server, self.user)]
        return self.mailboxes[0]

    def close(self) -> None:
        self.open().close()
        self.client.logout()


# -- the model ---------------------------------------------------------------------------

@dataclass
class Message:
    message_id: str
    folder: str
    company: bool  # from the company's domain: an answer candidate
    seen_in: str | None = None  # its folder at the last read (None: it came since)
    may_repeat: bool = True  # moved or renamed since it was last returned: may come again

    @property
    def owed(self) -> bool:
        """Landed in a folder of rule 6 since the last read: the next read returns it.
        (Filed away and back between two reads, it never left as far as a reader knows.)"""
        return ROLES[self.folder] is not None and self.folder != self.seen_in


@dataclass(frozen=True)
class Draft:
    marker: str
    message_id: str


class FolderMachine(RuleBasedStateMachine):
    drafts = Bundle("drafts")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.mailbox = world.open()
        self.checkpoint: str | None = None
        self.started = datetime.now(UTC)
        self.messages: dict[str, Message] = {}
        self.created: dict[str, Draft] = {}  # marker -> draft, wherever it is now
        self.steps = 0

    def teardown(self) -> None:
        self.world.close()

    # -- what happens to the mail ---------------------------------------------------
    @initialize(mail=DELIVERIES)
    def mail_is_there(self, mail: list[tuple[str, str]]) -> None:
        self.deliver(mail)

    @rule(mail=DELIVERIES)
    def deliver(self, mail: list[tuple[str, str]]) -> None:
        for folder, sender in mail:
            self.steps += 1
            msg = new_mail(sender=sender, subject=f"message {self.steps}")
            self.world.deliver(folder, msg)
            mid = str(msg["Message-ID"])
            self.messages[mid] = Message(mid, folder, COMPANY in sender)
            event(f"delivered into {folder}")

    @precondition(lambda self: bool(self.messages))
    @rule(data=st.data(), target_folder=st.sampled_from(FOLDERS))
    def move(self, data: st.DataObject, target_folder: str) -> None:
        message = data.draw(st.sampled_from(sorted(self.messages.values(),
                                                   key=lambda m: m.message_id)))
        if message.folder == target_folder:
            return
        self.world.move(message.message_id, message.folder, target_folder)
        message.folder, message.may_repeat = target_folder, True
        event("moved")

    @precondition(lambda self: bool(self.messages))
    @rule(data=st.data())
    def touch(self, data: st.DataObject) -> None:
        message = data.draw(st.sampled_from(sorted(self.messages.values(),
                                                   key=lambda m: m.message_id)))
        self.steps += 1
        self.world.touch(message.message_id, message.folder, self.steps)
        # A renamed file may be read again (allowed, never owed); a flag on the server
        # changes nothing a reader sees.
        message.may_repeat |= self.world.renames

    @rule()
    def time_passes(self) -> None:
        self.world.age()

    @rule(target=drafts, recipient=st.sampled_from(("dana", "sam.lee", "kim")))
    def create_draft(self, recipient: str) -> Draft:
        self.steps += 1
        marker = f"iv{self.steps}/thank_you/{recipient}@{COMPANY}"
        msg = draft(marker, to=f"{recipient}@{COMPANY}")
        ref = self.mailbox.create_draft(msg, marker, None)
        assert ref.folder is Folder.DRAFTS and ref.message_id == msg["Message-ID"]
        made = Draft(marker, str(msg["Message-ID"]))
        self.messages[made.message_id] = Message(made.message_id, "Drafts", True)
        self.created[marker] = made
        return made

    @rule(sent=consumes(drafts))
    def send_draft(self, sent: Draft) -> None:
        """The user sends our draft: their client files it into Sent."""
        message = self.messages[sent.message_id]
        if message.folder != "Drafts":
            return  # moved elsewhere by a move rule meanwhile
        self.world.move(sent.message_id, "Drafts", "Sent")
        message.folder, message.may_repeat = "Sent", True
        event("sent a draft")

    # -- what the daemon does ---------------------------------------------------------
    @rule(restart=st.booleans(), interested=st.booleans())
    def read(self, restart: bool, interested: bool) -> None:
        if restart:
            self.mailbox = self.world.open()
        interest = INTEREST if interested else None
        batch = self.mailbox.messages_since(self.checkpoint, self.started - NOT_BEFORE,
                                            interest)
        self._check(batch, interest)
        self.checkpoint = batch.checkpoint

    def _check(self, batch: MessageBatch, interest: Interest | None) -> None:
        assert batch.problems == ()
        seen = [(m.message_id, m.folder_name) for m in batch.messages]
        assert len(seen) == len(set(seen)), f"returned twice in one read: {seen}"
        for got in batch.messages:
            message = self.messages[got.message_id]
            assert ROLES[got.folder_name] is not None, f"{got.folder_name} is never read"
            assert got.folder is ROLES[got.folder_name], (got.folder_name, got.folder)
            assert got.folder_name == message.folder, (got.message_id, message.folder)
            assert message.owed or message.may_repeat, f"{got.message_id} came back unbidden"
            wants_excerpt = interest is None or message.company
            assert bool(got.excerpt) == wants_excerpt, (got.folder_name, interest)
        returned = {mid for mid, _ in seen}
        for message in self.messages.values():
            if message.owed:
                assert message.message_id in returned, (
                    f"skipped: {message.message_id} in {message.folder}")
            message.seen_in = message.folder
            if message.message_id in returned:
                message.may_repeat = False
        event(f"read {min(len(seen), 3)}{'+' if len(seen) > 3 else ''} messages")

    @rule()
    def search(self) -> None:
        found = self.mailbox.search_answers(self.started - timedelta(minutes=5), INTEREST)
        expected = {(m.message_id, m.folder) for m in self.messages.values()
                    if m.company and ROLES[m.folder] is not None}
        assert {(m.message_id, m.folder_name) for m in found} == expected
        assert all(m.excerpt for m in found)

    @precondition(lambda self: bool(self.created))
    @rule()
    def find_markers(self) -> None:
        for made in self.created.values():
            where = self.messages[made.message_id].folder
            found = self.mailbox.find_marker(made.marker)
            if where in ("Drafts", "Sent"):
                assert [(r.message_id, r.folder) for r in found] == [
                    (made.message_id, Folder.DRAFTS if where == "Drafts" else Folder.SENT)]
            else:
                assert found == []  # filed elsewhere: not where drafts and sent mail are


SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    print_blob=True)


def test_the_folder_machine_on_maildir() -> None:
    run_state_machine_as_test(
        lambda: FolderMachine(MaildirWorld()),
        settings=settings(SETTINGS, max_examples=80, stateful_step_count=30))


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Server]:
    with running_server() as srv:
        yield srv


def test_the_folder_machine_on_dovecot(dovecot: Server) -> None:
    # Each example logs in as a user of its own (an empty mailbox); the server has 100.
    run_state_machine_as_test(
        lambda: FolderMachine(DovecotWorld(dovecot)),
        settings=settings(SETTINGS, max_examples=15, stateful_step_count=30))


# -- the base's own knowledge, one entry at a time ---------------------------------------

@pytest.mark.parametrize(("levels", "role"), [
    (("Archive",), Folder.OTHER), (("Jobs", "Acme"), Folder.OTHER),
    (("Sent Items",), Folder.SENT), (("[Gmail]", "Sent Mail"), Folder.SENT),
    (("INBOX", "Sent"), Folder.SENT), (("Jobs", "Sent"), Folder.OTHER),
    (("Entwürfe",), None), (("Trash", "Old"), None), (("[Gmail]", "Spam"), None),
    (("Postausgang",), None),
])
def test_role_by_name(levels: tuple[str, ...], role: Folder | None) -> None:
    assert role_by_name(levels) is role


def test_drafts_rank_prefers_the_plain_english_top_level_folder() -> None:
    names = [("Drafts",), ("[Gmail]", "Drafts"), ("INBOX", "Drafts"), ("Draft",),
             ("Brouillons",)]
    ranks = [drafts_rank(n) for n in names]
    assert ranks == sorted(ranks) and ranks[0] == 0
    assert drafts_rank(("Jobs", "Drafts")) is None and drafts_rank(("Archive",)) is None


def test_carries_the_marker_or_else_our_message_id_or_else_the_claims_subject() -> None:
    marker = "iv1/thank_you/dana@acme.example"

    def msg(marker: str = "", message_id: str = "<a@x>", subject: str = "Thank you",
            to: str = "dana@acme.example") -> MailMessage:
        return MailMessage("1", Folder.DRAFTS, None, to=(Address(to),), subject=subject,
                           message_id=message_id, marker=marker)

    assert carries(msg(marker), marker)
    assert not carries(msg("iv2/thank_you/dana@acme.example"), marker, {"<a@x>"}, "Thank you")
    assert carries(msg(), marker, {"<a@x>"})  # a composer dropped our header
    assert carries(msg(), marker, subject="Thank you")
    assert not carries(msg(), marker)  # nothing to go on: never claimed wrongly
    assert not carries(msg(to="sam@acme.example"), marker, subject="Thank you")
