"""A Maildir mailbox in either common layout, found from the folder the user gives.

Layouts (:func:`detect`, or forced by the ``layout`` option):

- **Maildir++** (Dovecot's default, Courier, mbsync ``SubFolders Maildir++``): INBOX at
  the root, every folder a ``.Name`` directory beside its ``cur/``; levels joined by
  ``.`` (``.Archive.2026``, ``.[Gmail].Drafts``).
- **fs**, the sibling layout (mbsync ``SubFolders Verbatim`` and ``Legacy``,
  offlineimap, Dovecot ``LAYOUT=fs``): a folder holding Maildirs side by side
  (``Inbox/``, ``Drafts/``, ``Sent/``, ``Archive/``), nested the way the server nests
  them (``Archive/2026/`` inside ``Archive/``; ``[Gmail]/Drafts/``; Legacy's
  ``Archive/.2026``). INBOX is the folder named Inbox (any case), or the root itself
  when the root is a Maildir with folders beside its ``cur/``. A ``maildir`` that points
  at the Inbox of such a layout reads the whole account from the folder above it, and
  ``describe()`` (``followup doctor``) says so.

Drafts go to the folder named by the ``drafts`` option, else to the existing folder
named like drafts (Drafts, ``[Gmail]/Drafts``, Entwürfe, Brouillons, ...), preferring
one a sync tool or server keeps (mbsync's ``.uidvalidity``, Dovecot's
``dovecot-uidlist``: :data:`SYNC_MARKS`). Only when there is none is one made, in the
layout's own form (``.Drafts`` or ``Drafts/``), and the log says so. Sent mail is the
``sent`` option's folder, else the usual names.

Which folders are read (rule 6): INBOX, sent mail (``.Sent``, ``.Sent Items``, ...)
and every other folder of the user's (``.Archive``, ``.Jobs.Acme``, a mail rule's
target), but never drafts, trash, junk or outbox, by their usual names in any case
and in the languages mail clients name them. Those tables, the choice of the Drafts
folder and the generic operations are :mod:`providers._shared.folders`', shared with
IMAP; this module supplies the primitives. Folder names are Maildir++ (``.`` between
levels) in IMAP's modified UTF-7, as Dovecot and Courier write them; ``folder_name``
shows them as the user does (``Jobs/Acme``).

Only headers are read for most messages: each file up to the blank line that ends
its header block. A message the caller's :class:`~providers.base.Interest` matches
(every message when there is none) also gets a short excerpt of its body, made from
the first :data:`EXCERPT_BYTES` of the file: a huge attachment is never read. The
excerpt is handed on and dropped; it is never logged or stored here.

Finding new mail cheaply: the checkpoint remembers the root directory's mtime
(a folder created, renamed or removed changes it, so an unchanged root means the
same folders) and, per scanned directory (``new/`` and ``cur/`` of each folder),
its mtime and the newest inode change time (ctime) seen there. Delivery and moves
(link, rename: a mail client marking a message read, or filing it into another
folder) set a file's ctime to "now" and change its directory's mtime, so an idle
cycle is one ``stat`` of the root and two per folder, and a changed directory is
listed but only files newer than the remembered ctime are opened. On Linux a reader
that keeps running is not even listed: a directory watch (inotify,
:mod:`providers._shared.dirwatch`) says which names came and went since the last
listing, and only those are stat'ed; where that is unknown (another platform, the
watch limit reached, events lost) the directory is listed. A folder that
appears after a read (the user made an Archive and filed an answer into it) is
read for files delivered since ``not_before`` and for files put there since that
read: a message moved in carries the moment of the move as its ctime.

In the fs layout folders nest, so the checkpoint also keeps the mtime of every
directory that holds folders (the root, each folder, a container such as
``[Gmail]/``): an idle cycle costs one more ``stat`` per such directory.

Drafts are written the Maildir way (a private file in ``tmp/``, fsync, then a
hard link into ``cur/`` with the Draft flag), so a crash leaves either the
whole draft or none. Nothing outside the Drafts folder is ever written.
"""

from __future__ import annotations

import base64
import contextlib
import email
import functools
import itertools
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from .._shared.dirwatch import Changes, DirWatch
from .._shared.excerpt import excerpt_of
from .._shared.folders import (
    GMAIL_PARENTS,
    TOP_PARENTS,
    Box,
    DraftsChoice,
    Entry,
    FolderMailbox,
    Listing,
    Scan,
    role_by_name,
)
from .._shared.headers import MARKER_HEADER
from ..base import DraftRef, Folder, Interest
from ..errors import ProviderUnavailable

logger = logging.getLogger(__name__)

DRAFTS_DIR = ".Drafts"  # where drafts are written (and the only place anything is)
# Files a sync tool or server keeps in each folder it manages: a folder without any,
# beside folders with some, is one no mail client sees.
SYNC_MARKS = {
    ".uidvalidity": "mbsync", ".mbsyncstate": "mbsync", "dovecot-uidlist": "Dovecot",
    "dovecot.index": "Dovecot", "dovecot.index.log": "Dovecot", "courierimapuiddb": "Courier",
}
# Of those, the tools that copy only the folders they know to a server: a folder they do
# not keep never reaches the user's mail client. (A server lists every folder on disk.)
COPYING_TOOLS = frozenset({"mbsync"})
MAILDIR_PP, FS = "maildir++", "fs"
LAYOUTS = ("auto", MAILDIR_PP, FS)
_LEAVES = frozenset({"cur", "new", "tmp"})
_MAX_DEPTH = 8  # of nested folders in the fs layout (a symlink loop ends here)

# (name, type, default, help): the Maildir mailbox's options, for the config checker,
# `followup doctor` and docs/maildir.md. A default of None means required.
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("path", Path, None, "the Maildir: a Maildir++ root (INBOX at its root), a folder of "
     "Maildirs side by side (mbsync: the one holding Inbox/, Drafts/, Sent/), or that "
     "Inbox itself"),
    ("drafts", str, "", "the folder drafts go to (\"Drafts\", \"[Gmail]/Drafts\"); "
     "default: the existing folder named like drafts, in any case and the usual "
     "languages; made in the layout's form only when there is none"),
    ("sent", str, "", "the folder of sent mail; default: Sent, Sent Items, Sent "
     "Messages, [Gmail]/Sent Mail, ... by name"),
    ("layout", str, "auto", "auto (recognised from the folders), maildir++ (INBOX at the "
     "root, .Folder beside it) or fs (folders side by side: mbsync, offlineimap, "
     "Dovecot LAYOUT=fs)"),
)

HEADER_LIMIT = 1 << 20  # a header block larger than this is cut (it is not mail)
EXCERPT_BYTES = 64 * 1024  # of a file parsed for an excerpt: headers and the first text
# search_answers opens no file delivered this long before ``since`` (by its mtime):
# a Date header may run ahead of the delivery clock, not by more than this.
SEARCH_SLACK_NS = 86_400 * 10**9
# A directory changed this recently may change again within the same mtime
# tick without its mtime moving; it is listed again next cycle to be sure.
SETTLE_NS = 2_000_000_000
# find_marker reads only files changed after the claim less this much (clock skew).
MARKER_MARGIN_NS = 86_400 * 10**9
_CHECKPOINT_VERSION = 3
_OLD_VERSIONS = (1, 2)  # 1: INBOX and .Sent only; 2: Maildir++ only (its root as "root")
_COUNTER = itertools.count(1)
_MARKER_NAME = MARKER_HEADER.lower().encode()


def _dirs(rel: str) -> tuple[str, str]:
    """The directories of the folder at ``rel`` that hold mail."""
    return (f"{rel}/new", f"{rel}/cur") if rel else ("new", "cur")


@dataclass(frozen=True)
class _Box(Box):
    """A folder: ``key`` is its directory under the root ("" for INBOX at the root)."""

    @property
    def rel(self) -> str:
        return self.key

    def dirs(self) -> tuple[str, str]:
        return _dirs(self.key)


INBOX = _Box("", Folder.INBOX, "INBOX")


@functools.lru_cache(maxsize=1024)
def folder_of(dirname: str) -> _Box | None:
    """The folder a directory of the root stands for (``.Jobs.Acme``), or None when it
    is not a Maildir++ folder name or is one never read (drafts, trash, junk, outbox)."""
    box = _pp_folder(dirname)
    return box if box is not None and box.role is not None else None


@functools.lru_cache(maxsize=1024)
def _pp_folder(dirname: str) -> _Box | None:
    """A Maildir++ folder (role None: never read), or None when not a folder name."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    levels = [_from_modified_utf7(level) for level in dirname[1:].split(".")]
    return _Box(dirname, role_by_name(levels, GMAIL_PARENTS), "/".join(levels))


@functools.lru_cache(maxsize=1024)
def _fs_folder(rel: str, inbox: str) -> _Box:
    """A folder of the fs layout: ``rel`` under the root, ``inbox`` the Inbox's rel.
    Legacy levels (``Archive/.2026``) lose their dot; a flat name (offlineimap's
    ``[Gmail].Trash``) is judged by each of its dotted parts too."""
    if rel == inbox:
        return _Box(rel, Folder.INBOX, "INBOX")
    parts = [p[1:] if p.startswith(".") else p for p in rel.split("/")]
    if inbox and rel.startswith(inbox + "/"):
        parts[0] = "INBOX"  # mbsync's INBOX/sub (a server with INBOX.Drafts)
    levels = [level for part in parts for level in part.split(".") if level]
    return _Box(rel, role_by_name(levels, TOP_PARENTS), "/".join(parts))


def _normal(name: str) -> str:
    """A folder name compared with what the user wrote: "[Gmail]/Drafts", "[Gmail].Drafts"
    and ".[Gmail].Drafts" are the same folder."""
    return name.strip().replace(".", "/").strip("/").lower()


def _to_modified_utf7(text: str) -> str:
    """The inverse of :func:`_from_modified_utf7`, for a Maildir++ folder we create."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",")
                       + "-")
            pending.clear()

    for ch in text:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _is_maildir(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "cur"))


def _child_dirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_dir() and e.name not in _LEAVES)
    except OSError:
        return []


def _looks_like_inbox(name: str) -> bool:
    return name.lower() == "inbox"


@dataclass(frozen=True)
class Layout:
    """Where the account's folders are: the layout, its root, the Inbox in it."""

    kind: str  # MAILDIR_PP or FS
    root: Path  # the folder the account's folders are found from
    inbox: str  # the Inbox's directory under root; "" when it is the root
    note: str = ""  # how it was recognised, for doctor and the log


def detect(path: Path, layout: str = "auto") -> Layout | str:
    """The layout of the Maildir at ``path``, or why there is none (a sentence).

    A Maildir with ``.Folder`` directories is Maildir++; a Maildir named Inbox
    whose parent holds other Maildirs is the Inbox of an fs layout (the parent is
    used); a folder of Maildirs is an fs layout, or the Maildir++ Inbox inside it
    when that Inbox is all it holds and it has ``.Folder`` directories
    (mbsync's ``SubFolders Maildir++``)."""
    where = str(path)
    if not os.path.isdir(where):
        return "not a Maildir (no cur/ directory)"
    children = _child_dirs(where)
    dots = [c for c in children if c.startswith(".") and _is_maildir(os.path.join(where, c))]
    plain = [c for c in children if not c.startswith(".")]
    if _is_maildir(where):
        if layout != MAILDIR_PP and _looks_like_inbox(path.name):
            parent = path.parent
            others = [c for c in _child_dirs(str(parent))
                      if c != path.name and not c.startswith(".")
                      and _holds_maildir(os.path.join(str(parent), c))]
            if others:
                return Layout(FS, parent, path.name,
                              f"{path} is the Inbox of a folder of Maildirs: the account's "
                              f"folders are read from {parent}")
        maildirs = [c for c in plain if _holds_maildir(os.path.join(where, c))]
        if layout == FS or (layout == "auto" and maildirs and not dots):
            return Layout(FS, path, "", "INBOX at the root, folders beside its cur/")
        return Layout(MAILDIR_PP, path, "", "INBOX at the root, .Folder beside it")
    inboxes = [c for c in plain if _looks_like_inbox(c) and _is_maildir(os.path.join(where, c))]
    maildirs = [c for c in plain if _holds_maildir(os.path.join(where, c))]
    if not maildirs:
        return "not a Maildir (no cur/ directory)"
    if inboxes and (layout == MAILDIR_PP or (layout == "auto" and maildirs == inboxes[:1]
                                             and any(c.startswith(".") and _is_maildir(
                                                 os.path.join(where, inboxes[0], c))
                                                 for c in _child_dirs(
                                                     os.path.join(where, inboxes[0]))))):
        return Layout(MAILDIR_PP, path / inboxes[0], "",
                      f"the Maildir++ Inbox inside {path}")
    if layout == MAILDIR_PP:
        return "not a Maildir (no cur/ directory)"
    if not inboxes:
        return (f"no Inbox folder among {', '.join(maildirs)}: point maildir at the folder "
                "that holds Inbox (mbsync's Path and Inbox)")
    return Layout(FS, path, inboxes[0], "folders side by side (mbsync, offlineimap)")


def _holds_maildir(path: str, depth: int = 2) -> bool:
    """A Maildir, or a folder (``[Gmail]``) holding one within ``depth`` levels."""
    if _is_maildir(path):
        return True
    return depth > 0 and any(_holds_maildir(os.path.join(path, c), depth - 1)
                             for c in _child_dirs(path) if not c.startswith("."))


def _synced_by(path: Path) -> str:
    """The sync tool or server that keeps this folder ("" when none shows)."""
    for mark, tool in SYNC_MARKS.items():
        if (path / mark).exists():
            return tool
    return ""


def _has_mail(path: Path) -> int:
    count = 0
    for leaf in ("cur", "new"):
        with contextlib.suppress(OSError), os.scandir(path / leaf) as it:
            count += sum(1 for e in it if not e.name.startswith("."))
    return count


def _from_modified_utf7(text: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501 5.1.3): "Entw&APw-rfe" -> "Entwürfe".
    Text that is not valid modified UTF-7 is kept as it is."""
    if "&" not in text:
        return text
    out: list[str] = []
    rest = text
    while "&" in rest:
        before, _, after = rest.partition("&")
        encoded, dash, rest = after.partition("-")
        if not dash:
            return text
        out.append(before)
        if not encoded:
            out.append("&")
            continue
        chunk = encoded.replace(",", "/")
        try:
            raw = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True)
            out.append(raw.decode("utf-16-be"))
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return text
    out.append(rest)
    return "".join(out)


@dataclass(frozen=True)
class _DirState:
    mtime_ns: int
    settled: bool  # mtime was old enough to trust when it was read
    max_ctime_ns: int
    at_max: tuple[str, ...]  # names whose ctime is max_ctime_ns (already read)

    def to_json(self) -> list[Any]:
        return [self.mtime_ns, self.settled, self.max_ctime_ns, list(self.at_max)]

    @classmethod
    def from_json(cls, raw: Any) -> _DirState:
        mtime, settled, max_ctime, at_max = raw
        # No per-name conversion: this runs for every directory on every idle cycle, and a
        # mass move (a thousand messages archived in one tick) makes at_max long.
        return cls(int(mtime), bool(settled), int(max_ctime), tuple(at_max))


_FolderState = dict[str, _DirState]  # a folder's new/ and cur/ by their directory
_Ident = tuple[int, int]  # a directory's (device, inode)
_Wanted = Callable[[str, int, int], bool]  # (name, ctime ns, mtime ns): read this file?


class _Newest:
    """The newest ctime seen in a listing and the names that have it (the next read
    starts after them)."""

    __slots__ = ("ctime_ns", "names")

    def __init__(self) -> None:
        self.ctime_ns = 0
        self.names: list[str] = []

    def see(self, name: str, ctime_ns: int) -> None:
        if ctime_ns > self.ctime_ns:
            self.ctime_ns, self.names = ctime_ns, [name]
        elif ctime_ns == self.ctime_ns:
            self.names.append(name)


@dataclass
class _Listed:
    """A directory as this process's last scan of it left it."""

    state: _DirState  # used only when the checkpoint handed in holds this same state
    names: set[int]  # hashes of the names of its regular files then (updated in place)
    # The directory listed, when a watch was armed before listing it: its changes are
    # applied only while that same directory is at the path (not a folder put in the
    # place of one moved away).
    watched: _Ident | None


@dataclass(frozen=True)
class _Checkpoint:
    # Each folder's new/ and cur/ by their directory ("" -> {"new": .., "cur": ..});
    # one flat table of directories in the JSON.
    dirs: dict[str, _FolderState]
    read_ns: int | None = None  # when the read that made it started
    # Each directory listed to find the folders (the root; in the fs layout also every
    # folder and container): its mtime then, and whether that mtime was settled.
    tree: dict[str, tuple[int, bool]] = field(default_factory=dict)
    folders: tuple[str, ...] = ()  # the folders read then (directories), INBOX aside
    layout: tuple[str, str] = (MAILDIR_PP, ".")  # kind, its root relative to the path

    def to_json(self) -> str:
        return json.dumps({
            "v": _CHECKPOINT_VERSION, "t": self.read_ns, "layout": list(self.layout),
            "tree": {k: [m, s] for k, (m, s) in self.tree.items()},
            "folders": list(self.folders),
            "dirs": {k: s.to_json() for f in self.dirs.values() for k, s in f.items()},
        }, separators=(",", ":"))


@dataclass
class _Read:
    """A read's listing memo: the checkpoint it started from and, once the folders are
    listed, the layout, the directories listed to find them, and when it started."""

    previous: _Checkpoint
    lay: Layout | None = None
    tree: dict[str, tuple[int, bool]] = field(default_factory=dict)
    started: int = 0
    root: str = ""  # the layout's root as a str: joined and stat'ed on every idle cycle


class MaildirMailbox(FolderMailbox[_Box, _Read, _FolderState]):
    def __init__(self, account: str, root: Path, *, drafts: str = "", sent: str = "",
                 layout: str = "auto") -> None:
        if layout not in LAYOUTS:
            raise ValueError(f"layout: must be one of {', '.join(LAYOUTS)}")
        self.account = account
        self.root = Path(root)  # as configured; the layout's own root is self._where().root
        self.drafts_override = drafts.strip()
        self.sent_override = sent.strip()
        self.layout_option = layout
        self._layout: Layout | None = None
        self._signed: tuple[Layout, tuple[str, str]] | None = None
        # Per directory: the state the last scan left and the names it listed. A
        # directory that changed is not listed again when the watch says which names
        # came and went (issue 11: one message marked read in a folder of 140,000);
        # else it is listed, but only names not listed then are stat'ed (Maildir files
        # never change in place: a new flag is a new name).
        self._listed: dict[str, _Listed] = {}
        self._watch = DirWatch()  # opened with the first listing; one watch per directory

    def close(self) -> None:
        """Release the directory watches (a later read lists and watches again)."""
        self._watch.close()
        self._listed.clear()

    # -- layout ----------------------------------------------------------------
    def _where(self, fresh: bool = False) -> Layout:
        """The layout, recognised once (again with ``fresh``: before a folder is made,
        and when the folders changed). :raises ProviderUnavailable: no Maildir there."""
        if self._layout is None or fresh:
            found = detect(self.root, self.layout_option)
            if isinstance(found, str):
                raise self._unavailable(self.root, found)
            if found != self._layout:
                logger.info("account %s: maildir %s: %s layout (%s)", self.account, self.root,
                            found.kind, found.note)
            self._layout = found
        return self._layout

    def _signature(self, lay: Layout) -> tuple[str, str]:
        """The layout as the checkpoint names it (kept: relpath costs as much as the
        idle cycle's stat calls)."""
        if self._signed is None or self._signed[0] is not lay:
            self._signed = (lay, (lay.kind, os.path.relpath(lay.root, self.root)))
        return self._signed[1]

    def _box(self, lay: Layout, rel: str) -> _Box | None:
        """The folder at ``rel`` with the configured names applied (None: not a folder)."""
        if lay.kind == MAILDIR_PP:
            box = INBOX if rel == "" else _pp_folder(rel)
        else:
            box = _fs_folder(rel, lay.inbox)
        return None if box is None else self._with_options(box)

    def _inbox(self, lay: Layout) -> _Box:
        return INBOX if lay.kind == MAILDIR_PP else _fs_folder(lay.inbox, lay.inbox)

    def _is_named(self, box: _Box, option: str) -> bool:
        wanted = _normal(option)
        return _normal(box.name) == wanted or _normal(box.key) == wanted

    def _new_folder(self, name: str) -> _Box:
        levels = [v for v in name.replace(".", "/").split("/") if v]
        rel = ("." + ".".join(_to_modified_utf7(v) for v in levels)
               if self._where().kind == MAILDIR_PP else name.strip().strip("/"))
        return _Box(rel, Folder.DRAFTS, "/".join(levels))

    def _drafts_preference(self, box: _Box) -> int:
        return 0 if _synced_by(self._where().root / box.key) else 1

    # -- reading: the primitives of FolderMailbox ---------------------------------
    def _load(self, checkpoint: str | None) -> tuple[_Read, dict[str, _FolderState]]:
        previous = _load_checkpoint(checkpoint)
        return _Read(previous), previous.dirs

    def _listing(self, memo: _Read) -> Listing[_Box, _Read]:
        started = time.time_ns()
        previous, forget = memo.previous, False
        lay = self._where()
        if previous.layout != self._signature(lay):  # (versions 1 and 2: Maildir++)
            previous, forget = _Checkpoint({}, read_ns=previous.read_ns), True
        tree, boxes = self._folders(lay, previous)
        if self._layout != lay:  # recognised again while listing: another layout now
            lay = self._where()
            previous, forget = _Checkpoint({}, read_ns=previous.read_ns), True
            tree, boxes = self._folders(lay, previous)
        changed = previous.read_ns is None or not (
            previous.tree == tree and all(s for _, s in tree.values()))
        if changed and self._listed:
            self._unwatch(lay, boxes)
        return Listing(boxes, _Read(previous, lay, tree, started, str(lay.root)), changed,
                       forget)

    def _unwatch(self, lay: Layout, boxes: list[_Box]) -> None:
        """Forget the listings and watches of folders no longer read (renamed, removed):
        a watch holds its directory and counts against the user's inotify limit."""
        live = {rel for box in boxes for rel in _dirs(box.key)}
        for rel in [rel for rel in self._listed if rel not in live]:
            del self._listed[rel]
            self._watch.forget(str(Path(os.path.join(lay.root, rel))))

    def _scan(self, box: _Box, old: _FolderState | None, listing: Listing[_Box, _Read],
              not_before: datetime, take: Callable[[Entry], None], problems: list[str],
              ) -> Scan[_FolderState]:
        read = listing.memo
        states: _FolderState = {}
        scanned = False
        for rel in _dirs(box.key):
            prior = old.get(rel) if old is not None else None
            path = os.path.join(read.root, rel)  # a str: this loop is the idle cycle's cost
            try:
                dir_stat = os.stat(path)  # before listing: a later arrival changes mtime
            except FileNotFoundError:
                if box.role is Folder.INBOX:
                    raise self._unavailable(Path(path), "INBOX directory missing") from None
                if self._listed.pop(rel, None) is not None:
                    self._watch.forget(str(Path(path)))  # the folder was removed
                continue  # a folder without it (or not a folder: .notmuch)
            except OSError as exc:
                if box.role is Folder.INBOX:
                    raise self._unavailable(Path(path), exc.strerror or str(exc)) from None
                problems.append(f"{rel}: cannot read: {exc.strerror or exc}")
                if prior is not None:
                    states[rel] = prior  # retried next cycle from where it was
                continue
            if prior is not None and prior.settled and prior.mtime_ns == dir_stat.st_mtime_ns:
                states[rel] = prior
                continue
            settled = time.time_ns() - dir_stat.st_mtime_ns > SETTLE_NS
            scanned = True
            assert read.lay is not None
            # A directory the checkpoint does not know (a folder made since) is also read
            # for what was put there since that read began.
            new_since = (None if read.previous.read_ns is None
                         else read.previous.read_ns - SETTLE_NS)
            states[rel] = self._scan_dir(read.lay, Path(path), rel, prior,
                                         dir_stat.st_mtime_ns, settled,
                                         int(not_before.timestamp() * 1e9), new_since, take,
                                         problems, (dir_stat.st_dev, dir_stat.st_ino))
        return Scan(states, scanned)

    def _dump(self, listing: Listing[_Box, _Read], states: dict[str, _FolderState],
              read: bool) -> str:
        memo = listing.memo
        assert memo.lay is not None
        previous = memo.previous
        return _Checkpoint(
            dirs=states,
            # Kept when nothing was read, so an idle checkpoint stays the same (the engine
            # then writes nothing); an older time only makes a new folder read further back.
            read_ns=memo.started if read or previous.read_ns is None else previous.read_ns,
            tree=memo.tree,
            folders=tuple(b.key for b in listing.boxes if b.role is not Folder.INBOX),
            layout=self._signature(memo.lay),
        ).to_json()

    def _scan_dir(
        self, lay: Layout, path: Path, rel: str, old: _DirState | None, mtime_ns: int,
        settled: bool, not_before_ns: int, new_since_ns: int | None,
        take: Callable[[Entry], None], problems: list[str], ident: _Ident,
    ) -> _DirState:
        # Taken out, and put back only once this scan is through: its names are changed
        # in place, and a scan cut short must not leave them beside the older state.
        cached = self._listed.pop(rel, None)
        if cached is not None and cached.state != old:
            cached = None  # another checkpoint (a rolled-back state): list it all
        changes = None
        if cached is not None and cached.watched == ident:
            changes = self._watch.changes(str(path))
        def wanted(name: str, ctime_ns: int, file_mtime_ns: int) -> bool:
            if old is None:
                # First look at this directory: bounded by delivery time, and for a
                # folder made since the last read, anything put into it since then.
                return file_mtime_ns >= not_before_ns or (
                    new_since_ns is not None and ctime_ns >= new_since_ns)
            return ctime_ns > old.max_ctime_ns or (
                ctime_ns == old.max_ctime_ns and name not in old.at_max)

        exact = True
        if cached is not None and changes is not None:
            listed = cached.names
            entries, top, exact = self._apply(lay, path, problems, listed, changes, wanted)
            watched: _Ident | None = ident
        else:
            entries, listed, watched, top = self._list_new(
                lay, path, problems, None if cached is None else cached.names, wanted)
        for name, _, _ in entries:
            try:
                raw = _read_header_block(path / name)
            except FileNotFoundError:
                continue  # moved (new/ -> cur/) meanwhile: found there with a new ctime
            except OSError as exc:
                problems.append(f"{rel}/{name}: cannot read: {exc.strerror or exc}")
                continue
            take(Entry(_key(name), raw, path / name, f"{rel}/{name}"))
        max_ctime, at_max_names = top.ctime_ns, set(top.names)
        if old is not None and old.max_ctime_ns >= max_ctime:
            if old.max_ctime_ns > max_ctime:
                at_max_names = set()
            max_ctime = old.max_ctime_ns
            if cached is not None:
                # Names not stat'ed this time kept their ctime: still at the maximum.
                at_max_names |= {n for n in old.at_max if hash(n) in listed}
        state = _DirState(mtime_ns, settled, max_ctime, tuple(sorted(at_max_names)))
        if exact:
            self._listed[rel] = _Listed(state, listed, watched)
        return state

    def _list_new(self, lay: Layout, path: Path, problems: list[str],
                  known: set[int] | None, wanted: _Wanted,
                  ) -> tuple[list[tuple[str, int, int]], set[int], _Ident | None, _Newest]:
        """(name, ctime ns, mtime ns) of the regular files in ``path`` whose names are not
        in ``known`` (name hashes; None: all of them) and that are ``wanted``, the hashes
        of every name, the directory listed when a watch was armed on it first (None: no
        watch), and the newest ctime of those not known. Only the wanted are kept: a first
        look at a folder of 140,000 messages keeps the few of the lookback."""
        fresh: list[tuple[str, int, int]] = []
        listed: set[int] = set()
        top = _Newest()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            self._watch.forget(str(path))
            return [], listed, None, top  # a folder removed meanwhile
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None
        try:
            # Armed before listing (on the directory opened, whatever is at its path
            # by then): a name that comes or goes meanwhile is in the changes too.
            watched: _Ident | None = None
            if self._watch.arm(str(path), fd):
                st = os.fstat(fd)
                watched = (st.st_dev, st.st_ino)
            for name, ctime_ns, mtime_ns in self._list(lay, path, problems, source=fd,
                                                       known=known, listed=listed):
                listed.add(hash(name))
                top.see(name, ctime_ns)
                if wanted(name, ctime_ns, mtime_ns):
                    fresh.append((name, ctime_ns, mtime_ns))
        finally:
            os.close(fd)
        return fresh, listed, watched, top

    def _apply(self, lay: Layout, path: Path, problems: list[str], names: set[int],
               changes: Changes, wanted: _Wanted,
               ) -> tuple[list[tuple[str, int, int]], _Newest, bool]:
        """The watch's ``changes`` applied to ``names`` (in place), the (name, ctime ns,
        mtime ns) of the regular files added that are ``wanted``, the newest ctime of those
        added, and whether ``names`` is exact (False: a name could not be stat'ed; the
        directory is listed next time to try again)."""
        for name in changes.removed:
            names.discard(hash(name))
        fresh = []
        top = _Newest()
        exact = True
        for name in changes.added:
            if name.startswith("."):
                continue
            # Stat'ed even when listed already: a name moved away and back (a flag set
            # and cleared) has a new ctime, as a listing without memory would see.
            try:
                st = os.stat(os.path.join(path, name))
            except FileNotFoundError:
                continue  # gone again: its removal is among the next changes
            except OSError as exc:
                problems.append(f"{_rel(lay, path)}/{name}: cannot read: "
                                f"{exc.strerror or exc}")
                exact = False
                continue
            if stat.S_ISREG(st.st_mode):
                names.add(hash(name))
                top.see(name, st.st_ctime_ns)
                if wanted(name, st.st_ctime_ns, st.st_mtime_ns):
                    fresh.append((name, st.st_ctime_ns, st.st_mtime_ns))
            else:
                names.discard(hash(name))  # as a listing counts only regular files
        return fresh, top, exact

    def _excerpts(self, box: _Box, entries: Sequence[Entry]) -> dict[str, str]:
        return {e.id: _excerpt(e.ref) for e in entries}

    def _candidates(self, box: _Box, since: datetime, interest: Interest,
                    problems: list[str]) -> Iterator[Entry]:
        # A file delivered well before ``since`` (its mtime) is not opened; the base
        # judges the others by their Date (else the mtime, ``received``).
        root = self._where().root
        floor_ns = int(since.timestamp() * 1e9) - SEARCH_SLACK_NS
        for rel in _dirs(box.key):
            path = root / rel
            for name, _, mtime_ns in self._list(self._where(), path, problems):
                if mtime_ns < floor_ns:
                    continue
                try:
                    raw = _read_header_block(path / name)
                except FileNotFoundError:
                    continue  # moved meanwhile; found where it went, or next time
                except OSError as exc:
                    problems.append(f"{rel}/{name}: cannot read: {exc.strerror or exc}")
                    continue
                yield Entry(_key(name), raw, path / name, f"{rel}/{name}",
                            received=datetime.fromtimestamp(mtime_ns / 1e9, UTC))

    def _marked(self, box: _Box, marker: str, subject: str, since: datetime | None,
                ids: frozenset[str], problems: list[str]) -> Iterator[Entry]:
        # Files keep every header: the marker alone decides, so a file without the
        # header's name is not parsed. A draft claimed at ``since`` was written after it,
        # and so was any copy of it (sent, moved, synced): a file whose inode has not
        # changed since then (ctime; mtime too, for a sync tool that sets it) is not read.
        # A day of margin for clocks that disagree, and never later than the real clock
        # (an engine clock ahead of it must not hide a draft).
        lay = self._where()
        cutoff = 0
        if since is not None:
            cutoff = int(min(since.timestamp(), time.time()) * 1e9) - MARKER_MARGIN_NS
        for rel in _dirs(box.key):
            path = lay.root / rel
            for name, ctime_ns, mtime_ns in self._list(lay, path, problems):
                if max(ctime_ns, mtime_ns) < cutoff:
                    continue
                try:
                    raw = _read_header_block(path / name)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise self._unavailable(path / name, exc.strerror or str(exc)) from None
                if _MARKER_NAME in raw.lower():  # cheap test first: most carry none
                    yield Entry(_key(name), raw, path / name, str(path / name),
                                received=datetime.fromtimestamp(mtime_ns / 1e9, UTC))

    def _folders(self, lay: Layout, previous: _Checkpoint | None,
                 ) -> tuple[dict[str, tuple[int, bool]], list[_Box]]:
        """(the directories listed and their mtimes, the folders read): INBOX first, then
        the others by name.

        The folders are listed again only when a directory that holds them changed
        (a folder was made, renamed or removed) or changed too recently to trust;
        the layout is then recognised again too.
        """
        old = previous.tree if previous is not None else {}
        now = time.time_ns()
        tree: dict[str, tuple[int, bool]] = {}
        same = bool(old)
        for rel in old or {"": (0, False)}:
            try:
                st = os.stat(os.path.join(lay.root, rel) if rel else lay.root)
            except FileNotFoundError:
                same = False
                break
            except OSError as exc:
                raise self._unavailable(lay.root / rel, exc.strerror or str(exc)) from None
            tree[rel] = (st.st_mtime_ns, now - st.st_mtime_ns > SETTLE_NS)
            if old.get(rel) != (st.st_mtime_ns, True):
                same = False
                break
        if same and previous is not None:
            names: Iterable[str] = previous.folders
        else:
            if old:  # something moved: the layout may have too (an Inbox got siblings)
                fresh = self._where(fresh=True)
                if fresh != lay:
                    return {}, []  # the caller starts again with the new layout
            tree, names = self._walk(lay)
        boxes = [self._inbox(lay)]
        for name in names:
            box = self._box(lay, name)
            if box is not None and box.role is not None and box.role is not Folder.INBOX:
                boxes.append(box)
        return tree, boxes

    def _walk(self, lay: Layout) -> tuple[dict[str, tuple[int, bool]], list[str]]:
        """Every directory that holds folders (with its mtime, read before listing it) and
        every folder (by its directory under the root), whether read or not."""
        tree: dict[str, tuple[int, bool]] = {}
        folders: list[str] = []

        def visit(rel: str, depth: int) -> None:
            path = os.path.join(lay.root, rel) if rel else str(lay.root)
            try:
                st = os.stat(path)
                with os.scandir(path) as it:
                    names = sorted(e.name for e in it
                                   if e.name not in _LEAVES and e.is_dir())
            except OSError as exc:
                if not rel:
                    raise self._unavailable(lay.root, exc.strerror or str(exc)) from None
                return  # removed meanwhile, or not ours to read: seen when it is back
            tree[rel] = (st.st_mtime_ns, time.time_ns() - st.st_mtime_ns > SETTLE_NS)
            for name in names:
                if lay.kind == MAILDIR_PP:
                    if name.startswith(".") and name not in (".", ".."):
                        folders.append(name)
                    continue
                child = f"{rel}/{name}" if rel else name
                full = os.path.join(lay.root, child)
                maildir = _is_maildir(full)
                if name.startswith(".") and not (rel and maildir):
                    continue  # .notmuch, .git; a dot folder counts only inside a folder
                if maildir and child != lay.inbox:
                    folders.append(child)
                if depth < _MAX_DEPTH:
                    visit(child, depth + 1)

        visit("", 0)
        return tree, folders

    def _all_folders(self) -> list[_Box]:
        return self._every_folder(self._where())

    def _every_folder(self, lay: Layout) -> list[_Box]:
        """Every folder, read or not (role None), INBOX first."""
        boxes = [self._inbox(lay)]
        for rel in self._walk(lay)[1]:
            box = self._box(lay, rel)
            if box is not None and box.role is not Folder.INBOX:
                boxes.append(box)
        return boxes

    def _list(self, lay: Layout, path: Path, problems: list[str], *, source: int | None = None,
              known: set[int] | None = None, listed: set[int] | None = None,
              ) -> Iterator[tuple[str, int, int]]:
        """(name, ctime ns, mtime ns) of the regular files in ``path`` (none when it does
        not exist), one at a time: a folder of 140,000 is never held as a list; entries
        that cannot be stat'ed (a symlink loop, no permission) go to ``problems``.
        ``source``: an open descriptor of ``path`` to list instead. A name whose hash is in
        ``known`` is not stat'ed nor given, only added to ``listed``."""
        try:
            with os.scandir(path if source is None else source) as it:
                for entry in it:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    if known is not None and hash(name) in known:
                        if listed is not None:
                            listed.add(hash(name))
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # gone between listing and stat
                    except OSError as exc:
                        problems.append(f"{_rel(lay, path)}/{name}: cannot read: "
                                        f"{exc.strerror or exc}")
                        continue
                    if stat.S_ISREG(st.st_mode):
                        yield name, st.st_ctime_ns, st.st_mtime_ns
        except FileNotFoundError:
            return  # a folder removed meanwhile
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None

    # -- writing -------------------------------------------------------------
    def _append(self, message: EmailMessage, marker: str) -> DraftRef:
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
        drafts = self._drafts_dir()
        try:
            key = _deliver(drafts, data, "D")
        except OSError as exc:
            raise self._unavailable(drafts, exc.strerror or str(exc)) from None
        logger.info("wrote draft %s to %s", key, drafts / "cur")
        return DraftRef(id=key, folder=Folder.DRAFTS,
                        message_id=str(message.get("Message-ID", "")).strip(),
                        created=datetime.now(UTC))

    def _drafts_dir(self) -> Path:
        lay = self._where()
        choice = self._choose_drafts(self._every_folder(lay))
        if not choice.exists:
            # About to make a folder: look again (mbsync may have made the others since).
            lay = self._where(fresh=True)
            choice = self._choose_drafts(self._every_folder(lay))
        drafts = lay.root / choice.box.key
        try:
            for sub in ("cur", "new", "tmp"):
                (drafts / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            if not choice.exists and lay.kind == MAILDIR_PP:
                # Maildir++ marks folders with this empty file (Courier, Dovecot).
                (drafts / "maildirfolder").touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            raise self._unavailable(drafts, exc.strerror or str(exc)) from None
        if not choice.exists:
            logger.info("account %s: created the Drafts folder %s (%s layout at %s; %s)",
                        self.account, choice.box.name, lay.kind, lay.root, choice.why)
        return drafts

    # -- doctor ----------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What `followup doctor` shows: where drafts go, the layout, which folders are
        read (and as what), which are not, and warnings when drafts would go where no
        mail client looks. Reads directory listings only, never a message.
        :raises ProviderUnavailable: no Maildir at the path."""
        lay = self._where(fresh=True)
        folders = self._every_folder(lay)
        choice = self._choose_drafts(folders)
        return {
            "drafts": choice.box.name if choice.exists else
            f"(none: {choice.box.name} is created with the first draft)",
            "drafts path": str(lay.root / choice.box.key / "cur"),
            "layout": f"{lay.kind} at {lay.root} ({lay.note})",
            "read": [(b.name, b.role.value) for b in folders if b.role is not None],
            "not read": [b.name for b in folders if b.role is None],
            "warnings": self._warnings(lay, folders, choice),
        }

    def _warnings(self, lay: Layout, folders: list[_Box], choice: DraftsChoice[_Box],
                  ) -> list[str]:
        warnings: list[str] = []
        drafts = choice.box
        synced = {b.rel: _synced_by(lay.root / b.rel) for b in folders}
        tools = sorted({t for t in synced.values() if t in COPYING_TOOLS})
        if self.drafts_override and not choice.exists:
            warnings.append(f"drafts = {self.drafts_override!r}: no such folder in {lay.root}; "
                            f"it is created as {drafts.rel} with the first draft")
        if self.sent_override and not any(_normal(b.name) == _normal(self.sent_override)
                                          for b in folders):
            warnings.append(f"sent = {self.sent_override!r}: no such folder in {lay.root}")
        if not choice.exists and lay.kind == MAILDIR_PP and _looks_like_inbox(lay.root.name):
            warnings.append(
                f"drafts would go to a new {drafts.rel} inside {lay.root}, a folder named like "
                f"an inbox: no mail client syncs it. If your Drafts and Sent folders are beside "
                f"it, point maildir at {lay.root.parent}; else set drafts to the folder your "
                "mail client shows")
        elif not choice.exists and tools:
            warnings.append(
                f"{drafts.name} does not exist yet: your mail client sees it only once "
                f"{' or '.join(tools)} copies it to the server (mbsync: Create Both or Create "
                "Far); set drafts to the Drafts folder it already syncs")
        elif choice.exists and synced.get(drafts.rel) not in COPYING_TOOLS and tools:
            keeper = next(b.name for b in folders if synced[b.rel] in COPYING_TOOLS)
            marks = ", ".join(m for m, t in SYNC_MARKS.items() if t in tools)
            warnings.append(
                f"{drafts.name} shows no sign of {' or '.join(tools)} (no {marks}) while "
                f"{keeper} does: drafts there may never reach your mail client")
        if choice.exists and not _has_mail(lay.root / drafts.rel):
            for other in choice.others:
                count = _has_mail(lay.root / other.rel)
                if count:
                    warnings.append(
                        f"{drafts.name} holds no mail while {other.name} holds {count}: if "
                        f"{other.name} is the Drafts folder your mail client shows, set "
                        f"drafts = \"{other.name}\"")
                    break
        return warnings

    # -- helpers -------------------------------------------------------------
    def _unavailable(self, path: Path, why: str) -> ProviderUnavailable:
        return ProviderUnavailable(self.account, f"maildir {path}: {why}")


def _rel(lay: Layout, path: Path) -> str:
    return str(path.relative_to(lay.root)) if path.is_relative_to(lay.root) else str(path)


def settings(options: Mapping[str, Any], owner: Any = None) -> dict[str, Any]:
    """The options with the defaults applied (``owner`` unused: the registry's form).

    :raises ValueError: with every problem, one per line, named by option.
    """
    known = {o[0] for o in OPTIONS}
    problems = [f"unknown option {k!r}" for k in options if k not in known]
    result = {name: options.get(name, default) for name, _, default, _ in OPTIONS}
    if not result["path"]:
        problems.append("path: required")
    if result["layout"] not in LAYOUTS:
        problems.append(f"layout: must be one of {', '.join(LAYOUTS)}")
    for name in ("drafts", "sent"):
        if not isinstance(result[name], str):
            problems.append(f"{name}: must be a folder name (text)")
    if problems:
        raise ValueError("\n".join(problems))
    return result


def open_mailbox(account: str, options: Mapping[str, Any]) -> MaildirMailbox:
    """Cheap: nothing is read until the first call."""
    s = settings(options)
    return MaildirMailbox(account, Path(s["path"]).expanduser(), drafts=str(s["drafts"]),
                          sent=str(s["sent"]), layout=str(s["layout"]))


def _load_checkpoint(checkpoint: str | None) -> _Checkpoint:
    if not checkpoint:
        return _Checkpoint({})
    try:
        raw = json.loads(checkpoint)
        version = raw.get("v")
        dirs: dict[str, _FolderState] = {}
        for k, v in raw["dirs"].items():
            # "new", ".Sent/cur", "Archive/2026/new": the folder is what precedes the leaf.
            folder = dirs.get(k[:-4])
            if folder is None:
                dirs[k[:-4]] = {k: _DirState.from_json(v)}
            else:
                folder[k] = _DirState.from_json(v)
        if version == 1:
            return _Checkpoint(dirs)
        read_ns = None if raw["t"] is None else int(raw["t"])
        if version == 2:  # Maildir++ only: its root's mtime, settled, and the folders
            root_mtime, root_settled, folders = raw["root"]
            tree = {} if root_mtime is None else {"": (int(root_mtime), bool(root_settled))}
            return _Checkpoint(dirs, read_ns=read_ns, tree=tree,
                               folders=tuple(str(f) for f in folders))
        if version != _CHECKPOINT_VERSION:
            raise ValueError("other version")
        kind, base = raw["layout"]
        return _Checkpoint(
            dirs, read_ns=read_ns,
            tree={str(k): (int(m), bool(st)) for k, (m, st) in raw["tree"].items()},
            folders=tuple(str(f) for f in raw["folders"]), layout=(str(kind), str(base)),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.warning("ignoring unusable maildir checkpoint (%s); starting over", exc)
        return _Checkpoint({})


def _read_header_block(path: Path) -> bytes:
    """The bytes up to and including the blank line after the headers."""
    lines: list[bytes] = []
    size = 0
    with path.open("rb") as fp:
        for line in _lines(fp):
            if line in (b"\n", b"\r\n"):
                break
            lines.append(line)
            size += len(line)
            if size > HEADER_LIMIT:
                break
    return b"".join(lines) + b"\n"


def _lines(fp: Any) -> Iterator[bytes]:
    while True:
        line = fp.readline(65536)
        if not line:
            return
        yield line


def _key(name: str) -> str:
    """The Maildir key: the file name without its ':2,FLAGS' info."""
    return name.split(":", 1)[0]


def _excerpt(path: Path) -> str:
    """The body excerpt of the message in ``path``, from its first EXCERPT_BYTES only;
    "" when it cannot be read. Never logged: only the file name is, on failure."""
    try:
        with path.open("rb") as fp:
            data = fp.read(EXCERPT_BYTES)
    except OSError:
        return ""  # moved or removed meanwhile: the headers still decide
    try:
        # compat32 (the default) parses fastest; excerpt_of decodes what it needs.
        return excerpt_of(email.message_from_bytes(data))
    except Exception as exc:  # the email package raises assorted types on broken MIME
        logger.debug("%s: no excerpt (%s)", path.name, type(exc).__name__)
        return ""


def _deliver(maildir: Path, data: bytes, flags: str) -> str:
    """Write ``data`` into ``maildir``/cur with ``flags``; return its key.

    The Maildir protocol: write a private file in tmp/, flush it to disk, then
    link it into place (link refuses to replace an existing name).
    """
    key = _unique_name()
    tmp = maildir / "tmp" / key
    dest = maildir / "cur" / f"{key}:2,{flags}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        try:
            os.link(tmp, dest)
        except PermissionError:
            os.rename(tmp, dest)  # file systems without hard links
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(maildir / "cur")
    return key


def _unique_name() -> str:
    """time.MusecPpidQn.host, as Maildir writers (and Python's mailbox) name files."""
    now = time.time()
    host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
    return f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_COUNTER)}.{host}"


def _fsync_dir(path: Path) -> None:
    # The new directory entry must survive a crash too, not just the data.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the link is still made
    finally:
        os.close(fd)
