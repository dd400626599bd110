"""A Maildir++ mailbox: INBOX at the root, every folder a ``.Name`` directory beside it.

Which folders are read (rule 6): INBOX, sent mail (``.Sent``, ``.Sent Items``, ...)
and every other folder of the user's (``.Archive``, ``.Jobs.Acme``, a mail rule's
target), but never drafts, trash, junk or outbox, by their usual names in any case
and in the languages mail clients name them (:data:`SKIPPED_NAMES`). Folder names
are Maildir++ (``.`` between levels) in IMAP's modified UTF-7, as Dovecot and
Courier write them; ``folder_name`` shows them as the user does (``Jobs/Acme``).

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
listed but only files newer than the remembered ctime are opened. A folder that
appears after a read (the user made an Archive and filed an answer into it) is
read for files delivered since ``not_before`` and for files put there since that
read: a message moved in carries the moment of the move as its ctime.

Drafts are written the Maildir way (a private file in ``tmp/``, fsync, then a
hard link into ``cur/`` with the Draft flag), so a crash leaves either the
whole draft or none. Nothing outside ``.Drafts`` is ever written.
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
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from .base import DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from .errors import ProviderUnavailable
from .excerpt import excerpt_of
from .headers import MARKER_HEADER, known_suffix, prepared, to_mail_message

logger = logging.getLogger(__name__)

DRAFTS_DIR = ".Drafts"  # where drafts are written (and the only place anything is)
# Folders never read for answers, compared with each level of a folder's name in
# lower case (so ".Trash.Old" and "[Gmail]/Spam" are skipped too).
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
# Top-level folders (or under Gmail's "[Gmail]" when synced with mbsync) of sent mail.
SENT_NAMES = frozenset({
    "sent", "sent items", "sent messages", "sent mail", "gesendet", "gesendete elemente",
    "gesendete objekte", "envoyés", "éléments envoyés", "enviados", "elementos enviados",
    "posta inviata", "verzonden items",
})
_GMAIL_PARENTS = frozenset({"[gmail]", "[google mail]"})

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
_CHECKPOINT_VERSION = 2
_OLD_VERSIONS = (1,)  # INBOX and .Sent only; read on, other folders start from not_before
_COUNTER = itertools.count(1)
_MARKER_NAME = MARKER_HEADER.lower().encode()


@dataclass(frozen=True)
class _Box:
    """One folder: its directory under the root ("" for INBOX), its role, its name."""

    rel: str
    role: Folder
    name: str  # as the user sees it: "INBOX", "Sent Items", "Jobs/Acme"

    def dirs(self) -> tuple[str, str]:
        return (f"{self.rel}/new", f"{self.rel}/cur") if self.rel else ("new", "cur")


INBOX = _Box("", Folder.INBOX, "INBOX")
DRAFTS = _Box(DRAFTS_DIR, Folder.DRAFTS, "Drafts")


@functools.lru_cache(maxsize=1024)
def folder_of(dirname: str) -> _Box | None:
    """The folder a directory of the root stands for (``.Jobs.Acme``), or None when it
    is not a Maildir++ folder name or is one never read (drafts, trash, junk, outbox)."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        return None
    levels = [_from_modified_utf7(level) for level in dirname[1:].split(".")]
    lowered = [level.lower() for level in levels]
    if any(level in SKIPPED_NAMES for level in lowered):
        return None
    name = "/".join(levels)
    top = len(levels) == 1 or (len(levels) == 2 and lowered[0] in _GMAIL_PARENTS)
    if top and lowered[-1] in SENT_NAMES:
        return _Box(dirname, Folder.SENT, name)
    return _Box(dirname, Folder.OTHER, name)


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


@dataclass(frozen=True)
class _Checkpoint:
    dirs: dict[str, _DirState]
    read_ns: int | None = None  # when the read that made it started
    root_mtime_ns: int | None = None  # of the root when its folders were listed
    root_settled: bool = False
    folders: tuple[str, ...] = ()  # the folders read then (directory names)

    def to_json(self) -> str:
        return json.dumps({
            "v": _CHECKPOINT_VERSION, "t": self.read_ns,
            "root": [self.root_mtime_ns, self.root_settled, list(self.folders)],
            "dirs": {k: s.to_json() for k, s in self.dirs.items()},
        }, separators=(",", ":"))


class MaildirMailbox(Mailbox):
    def __init__(self, account: str, root: Path) -> None:
        self.account = account
        self.root = Path(root)
        # Per directory: the state the last scan left and the hashes of the names it
        # listed. A directory that changed is listed again, but only names not listed
        # then are stat'ed (Maildir files never change in place: a new flag is a new
        # name); used only when the checkpoint handed in is that same state.
        self._listed: dict[str, tuple[_DirState, frozenset[int]]] = {}

    # -- reading -------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        self._require_root()
        started = time.time_ns()
        previous = _load_checkpoint(checkpoint)
        root_mtime, root_settled, boxes = self._folders(previous)
        changed = not (previous.root_settled and previous.root_mtime_ns == root_mtime)
        # A directory the checkpoint does not know (a folder made since) is also read
        # for what was put there since that read began.
        new_since = None if previous.read_ns is None else previous.read_ns - SETTLE_NS
        not_before_ns = int(not_before.timestamp() * 1e9)
        states: dict[str, _DirState] = {}
        messages: list[MailMessage] = []
        problems: list[str] = []
        root = str(self.root)
        for box in boxes:
            for rel in box.dirs():
                old = previous.dirs.get(rel)
                path = os.path.join(root, rel)  # a str: this loop is the idle cycle's cost
                try:
                    dir_stat = os.stat(path)  # before listing: a later arrival changes mtime
                except FileNotFoundError:
                    if box is INBOX:
                        raise self._unavailable(Path(path), "INBOX directory missing") from None
                    continue  # a folder without it (or not a folder: .notmuch)
                except OSError as exc:
                    if box is INBOX:
                        raise self._unavailable(Path(path), exc.strerror or str(exc)) from None
                    problems.append(f"{rel}: cannot read: {exc.strerror or exc}")
                    if old is not None:
                        states[rel] = old  # retried next cycle from where it was
                    continue
                if old is not None and old.settled and old.mtime_ns == dir_stat.st_mtime_ns:
                    states[rel] = old
                    continue
                settled = time.time_ns() - dir_stat.st_mtime_ns > SETTLE_NS
                changed = True
                states[rel] = self._scan(Path(path), rel, box, old, dir_stat.st_mtime_ns,
                                         settled, not_before_ns, new_since, interest, messages,
                                         problems)
        if not changed and checkpoint and previous.read_ns is not None:
            return MessageBatch((), checkpoint, tuple(problems))  # idle: the same checkpoint
        new_checkpoint = _Checkpoint(
            # Kept when nothing was read, so an idle checkpoint stays the same (the engine
            # then writes nothing); an older time only makes a new folder read further back.
            dirs=states, read_ns=started if changed or previous.read_ns is None
            else previous.read_ns,
            root_mtime_ns=root_mtime, root_settled=root_settled,
            folders=tuple(b.rel for b in boxes if b is not INBOX),
        )
        return MessageBatch(tuple(messages), new_checkpoint.to_json(), tuple(problems))

    def _scan(
        self, path: Path, rel: str, box: _Box, old: _DirState | None, mtime_ns: int,
        settled: bool, not_before_ns: int, new_since_ns: int | None,
        interest: Interest | None, messages: list[MailMessage], problems: list[str],
    ) -> _DirState:
        cached = self._listed.get(rel)
        known = cached[1] if cached is not None and old is not None and cached[0] == old \
            else None
        entries, listed = self._list_new(path, problems, known)
        match = known_suffix(interest.domains) if interest is not None else None
        for name, ctime_ns, file_mtime_ns in entries:
            if old is None:
                # First look at this directory: bounded by delivery time, and for a
                # folder made since the last read, anything put into it since then.
                wanted = file_mtime_ns >= not_before_ns or (
                    new_since_ns is not None and ctime_ns >= new_since_ns)
            else:
                wanted = ctime_ns > old.max_ctime_ns or (
                    ctime_ns == old.max_ctime_ns and name not in old.at_max
                )
            if not wanted:
                continue
            try:
                raw = _read_header_block(path / name)
            except FileNotFoundError:
                continue  # moved (new/ -> cur/) meanwhile: found there with a new ctime
            except OSError as exc:
                problems.append(f"{rel}/{name}: cannot read: {exc.strerror or exc}")
                continue
            try:
                message = _to_message(_key(name), box, raw)
            except Exception as exc:  # the email package raises assorted types on bad headers
                problems.append(f"{rel}/{name}: cannot parse headers: {exc}")
                continue
            if interest is None or (match is not None and interest.matches(message, match)):
                message = replace(message, excerpt=_excerpt(path / name))
            messages.append(message)
        max_ctime = max((c for _, c, _ in entries), default=0)
        at_max_names = {n for n, c, _ in entries if c == max_ctime}
        if old is not None and old.max_ctime_ns >= max_ctime:
            max_ctime = old.max_ctime_ns
            at_max_names = {n for n, c, _ in entries if c == max_ctime}
            if known is not None:
                # Names not stat'ed this time kept their ctime: still at the maximum.
                at_max_names |= {n for n in old.at_max if hash(n) in listed}
        state = _DirState(mtime_ns, settled, max_ctime, tuple(sorted(at_max_names)))
        self._listed[rel] = (state, listed)
        return state

    def _list_new(self, path: Path, problems: list[str], known: frozenset[int] | None,
                  ) -> tuple[list[tuple[str, int, int]], frozenset[int]]:
        """(name, ctime ns, mtime ns) of the regular files in ``path`` whose names are not
        in ``known`` (name hashes; None: all of them), and the hashes of every name."""
        if known is None:
            entries = self._list(path, problems)
            return entries, frozenset(hash(n) for n, _, _ in entries)
        fresh, listed = [], []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    name = entry.name
                    if name.startswith("."):
                        continue
                    key = hash(name)
                    listed.append(key)
                    if key in known:
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        listed.pop()
                        continue  # gone between listing and stat
                    except OSError as exc:
                        problems.append(f"{self._rel(path)}/{name}: cannot read: "
                                        f"{exc.strerror or exc}")
                        listed.pop()
                        continue
                    if stat.S_ISREG(st.st_mode):
                        fresh.append((name, st.st_ctime_ns, st.st_mtime_ns))
                    else:
                        listed.pop()
        except FileNotFoundError:
            return [], frozenset()
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None
        return fresh, frozenset(listed)

    def search_answers(self, since: datetime, interest: Interest) -> list[MailMessage]:
        # One pass over every folder read for answers; a file delivered well before
        # ``since`` (its mtime) is not opened, the others by their Date (else mtime).
        self._require_root()
        match = known_suffix(interest.domains)
        floor_ns = int(since.timestamp() * 1e9) - SEARCH_SLACK_NS
        found: list[MailMessage] = []
        problems: list[str] = []
        for box in self._folders(None)[2]:
            for rel in box.dirs():
                path = self.root / rel
                for name, _, mtime_ns in self._list(path, problems):
                    if mtime_ns < floor_ns:
                        continue
                    try:
                        message = _to_message(_key(name), box, _read_header_block(path / name))
                    except FileNotFoundError:
                        continue  # moved meanwhile; found where it went, or next time
                    except OSError as exc:
                        problems.append(f"{rel}/{name}: cannot read: {exc.strerror or exc}")
                        continue
                    except Exception as exc:  # the email package: assorted types
                        problems.append(f"{rel}/{name}: cannot parse headers: {exc}")
                        continue
                    when = message.date or datetime.fromtimestamp(mtime_ns / 1e9, UTC)
                    if when >= since and interest.matches(message, match):
                        found.append(replace(message, excerpt=_excerpt(path / name)))
        for problem in problems:
            logger.warning("searching for answers: %s (skipped)", problem)
        return found

    def _folders(self, previous: _Checkpoint | None) -> tuple[int, bool, list[_Box]]:
        """(root mtime, settled, the folders read): INBOX first, then the others by name.

        The root is listed again only when its mtime moved (a folder was made,
        renamed or removed) or was too recent to trust.
        """
        try:
            root_stat = self.root.stat()  # before listing, as for a folder's new/ and cur/
        except OSError as exc:
            raise self._unavailable(self.root, exc.strerror or str(exc)) from None
        mtime = root_stat.st_mtime_ns
        settled = time.time_ns() - mtime > SETTLE_NS
        if previous is not None and previous.root_settled and previous.root_mtime_ns == mtime:
            names: list[str] | tuple[str, ...] = previous.folders
        else:
            try:
                with os.scandir(self.root) as it:
                    names = sorted(e.name for e in it
                                   if e.name.startswith(".") and e.is_dir())
            except OSError as exc:
                raise self._unavailable(self.root, exc.strerror or str(exc)) from None
        boxes = [INBOX]
        for name in names:
            box = folder_of(name)
            if box is not None:
                boxes.append(box)
        return mtime, settled, boxes

    def _list(self, path: Path, problems: list[str]) -> list[tuple[str, int, int]]:
        """(name, ctime ns, mtime ns) of the regular files in ``path`` (none when it does
        not exist); entries that cannot be stat'ed (a symlink loop, no permission) go
        to ``problems``. Names and integers only: a large folder costs little memory."""
        result = []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    if entry.name.startswith("."):
                        continue
                    try:
                        st = entry.stat()
                    except FileNotFoundError:
                        continue  # gone between listing and stat
                    except OSError as exc:
                        problems.append(f"{self._rel(path)}/{entry.name}: cannot read: "
                                        f"{exc.strerror or exc}")
                        continue
                    if stat.S_ISREG(st.st_mode):
                        result.append((entry.name, st.st_ctime_ns, st.st_mtime_ns))
        except FileNotFoundError:
            return []  # a folder removed meanwhile
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None
        return result

    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        # Files keep every header: the marker alone decides. A draft claimed at ``since``
        # was written after it, and so was any copy of it (sent, moved, synced): a file
        # whose inode has not changed since then (ctime; mtime too, for a sync tool that
        # sets it) is not read. A day of margin for clocks that disagree, and never later
        # than the real clock (an engine clock ahead of it must not hide a draft).
        self._require_root()
        cutoff = 0
        if since is not None:
            cutoff = int(min(since.timestamp(), time.time()) * 1e9) - MARKER_MARGIN_NS
        found: list[DraftRef] = []
        sent = [b for b in self._folders(None)[2] if b.role is Folder.SENT]
        for box in (DRAFTS, *sent):
            for rel in box.dirs():
                path = self.root / rel
                unreadable: list[str] = []
                for name, ctime_ns, mtime_ns in self._list(path, unreadable):
                    if max(ctime_ns, mtime_ns) < cutoff:
                        continue
                    ref = self._marked(path / name, box, marker, mtime_ns)
                    if ref is not None:
                        found.append(ref)
                for problem in unreadable:
                    logger.warning("cannot check for marker: %s", problem)
        return found

    def _marked(self, path: Path, box: _Box, marker: str, mtime_ns: int) -> DraftRef | None:
        try:
            raw = _read_header_block(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None
        if _MARKER_NAME not in raw.lower():
            return None  # cheap test first: most messages carry no marker at all
        try:
            message = _to_message(_key(path.name), box, raw)
        except Exception as exc:  # the email package raises assorted types on bad headers
            # Unparseable, so it cannot be shown to hold the marker; say so.
            logger.warning("%s: cannot parse headers: %s", path, exc)
            return None
        if message.marker != marker:
            return None
        created = message.date or datetime.fromtimestamp(mtime_ns / 1e9, UTC)
        return DraftRef(id=message.id, folder=box.role, message_id=message.message_id,
                        created=created)

    # -- writing -------------------------------------------------------------
    def create_draft(self, message: EmailMessage, marker: str, reply_to: ReplyTo | None,
                     ) -> DraftRef:
        self._require_root()
        message = prepared(message, marker, reply_to)
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
        drafts = self.root / DRAFTS_DIR
        try:
            for sub in ("cur", "new", "tmp"):
                (drafts / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
            # Maildir++ marks folders with this empty file (Courier, Dovecot).
            (drafts / "maildirfolder").touch(mode=0o600, exist_ok=True)
        except OSError as exc:
            raise self._unavailable(drafts, exc.strerror or str(exc)) from None
        return drafts

    # -- helpers -------------------------------------------------------------
    def _require_root(self) -> None:
        if not (self.root / "cur").is_dir():
            raise self._unavailable(self.root, "not a Maildir (no cur/ directory)")

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def _unavailable(self, path: Path, why: str) -> ProviderUnavailable:
        return ProviderUnavailable(self.account, f"maildir {path}: {why}")


def _load_checkpoint(checkpoint: str | None) -> _Checkpoint:
    if not checkpoint:
        return _Checkpoint({})
    try:
        raw = json.loads(checkpoint)
        version = raw.get("v")
        dirs = {str(k): _DirState.from_json(v) for k, v in raw["dirs"].items()}
        if version in _OLD_VERSIONS:
            return _Checkpoint(dirs)
        if version != _CHECKPOINT_VERSION:
            raise ValueError("other version")
        root_mtime, root_settled, folders = raw["root"]
        return _Checkpoint(
            dirs, read_ns=None if raw["t"] is None else int(raw["t"]),
            root_mtime_ns=None if root_mtime is None else int(root_mtime),
            root_settled=bool(root_settled), folders=tuple(str(f) for f in folders),
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


def _to_message(key: str, box: _Box, raw: bytes) -> MailMessage:
    msg = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
    return to_mail_message(msg, id=key, folder=box.role, folder_name=box.name)


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
