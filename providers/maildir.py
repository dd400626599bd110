"""A Maildir++ mailbox: INBOX at the root, sent mail in ``.Sent``, drafts in ``.Drafts``.

Only headers are ever read: each file is read up to the blank line that ends
its header block, never its body.

Finding new mail cheaply: the checkpoint remembers, per scanned directory
(``new/`` and ``cur/`` of INBOX and ``.Sent``), its mtime and the newest
inode change time (ctime) seen there. Delivery and moves (link, rename) set a
file's ctime to "now" and change its directory's mtime, so an idle cycle is
four ``stat`` calls, and a changed directory is listed but only files newer
than the remembered ctime are opened.

Drafts are written the Maildir way (a private file in ``tmp/``, fsync, then a
hard link into ``cur/`` with the Draft flag), so a crash leaves either the
whole draft or none. Nothing outside ``.Drafts`` is ever written.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from .base import DraftRef, Folder, Interest, Mailbox, MailMessage, MessageBatch, ReplyTo
from .errors import ProviderUnavailable
from .headers import MARKER_HEADER, prepared, to_mail_message

logger = logging.getLogger(__name__)

# Directories messages_since reads, relative to the root.
INBOUND_DIRS = (
    (Folder.INBOX, "new"), (Folder.INBOX, "cur"),
    (Folder.SENT, ".Sent/new"), (Folder.SENT, ".Sent/cur"),
)
MARKER_FOLDERS = ((Folder.DRAFTS, ".Drafts"), (Folder.SENT, ".Sent"))

HEADER_LIMIT = 1 << 20  # a header block larger than this is cut (it is not mail)
# A directory changed this recently may change again within the same mtime
# tick without its mtime moving; it is listed again next cycle to be sure.
SETTLE_NS = 2_000_000_000
_CHECKPOINT_VERSION = 1
_COUNTER = itertools.count(1)
_MARKER_NAME = MARKER_HEADER.lower().encode()


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
        return cls(int(mtime), bool(settled), int(max_ctime), tuple(str(n) for n in at_max))


class MaildirMailbox(Mailbox):
    def __init__(self, account: str, root: Path) -> None:
        self.account = account
        self.root = Path(root)

    # -- reading -------------------------------------------------------------
    def messages_since(self, checkpoint: str | None, not_before: datetime,
                       interest: Interest | None = None) -> MessageBatch:
        self._require_root()
        previous = _load_checkpoint(checkpoint)
        states: dict[str, _DirState] = {}
        messages: list[MailMessage] = []
        problems: list[str] = []
        for folder, rel in INBOUND_DIRS:
            path = self.root / rel
            try:
                dir_stat = path.stat()  # before listing: a later arrival changes mtime
            except FileNotFoundError:
                if folder is Folder.INBOX:
                    raise self._unavailable(path, "INBOX directory missing") from None
                continue  # no .Sent folder: no sent mail
            except OSError as exc:
                raise self._unavailable(path, exc.strerror or str(exc)) from None
            old = previous.get(rel)
            if old is not None and old.settled and old.mtime_ns == dir_stat.st_mtime_ns:
                states[rel] = old
                continue
            settled = time.time_ns() - dir_stat.st_mtime_ns > SETTLE_NS
            states[rel] = self._scan(path, rel, folder, old, dir_stat.st_mtime_ns, settled,
                                     int(not_before.timestamp() * 1e9), messages, problems)
        new_checkpoint = json.dumps(
            {"v": _CHECKPOINT_VERSION, "dirs": {k: s.to_json() for k, s in states.items()}},
            separators=(",", ":"),
        )
        return MessageBatch(tuple(messages), new_checkpoint, tuple(problems))

    def _scan(
        self, path: Path, rel: str, folder: Folder, old: _DirState | None, mtime_ns: int,
        settled: bool, not_before_ns: int, messages: list[MailMessage], problems: list[str],
    ) -> _DirState:
        entries = self._list(path, problems)
        for name, st in entries:
            if old is None:
                # First look at this directory: bounded by delivery time.
                wanted = st.st_mtime_ns >= not_before_ns
            else:
                wanted = st.st_ctime_ns > old.max_ctime_ns or (
                    st.st_ctime_ns == old.max_ctime_ns and name not in old.at_max
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
                messages.append(_to_message(_key(name), folder, raw))
            except Exception as exc:  # the email package raises assorted types on bad headers
                problems.append(f"{rel}/{name}: cannot parse headers: {exc}")
        max_ctime = max((st.st_ctime_ns for _, st in entries), default=0)
        if old is not None:
            max_ctime = max(max_ctime, old.max_ctime_ns)
        at_max = tuple(sorted(n for n, st in entries if st.st_ctime_ns == max_ctime))
        return _DirState(mtime_ns, settled, max_ctime, at_max)

    def _list(self, path: Path, problems: list[str]) -> list[tuple[str, os.stat_result]]:
        """Regular files in ``path`` with their stat; entries that cannot be
        stat'ed (a symlink loop, no permission) go to ``problems``."""
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
                        result.append((entry.name, st))
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None
        return result

    def find_marker(self, marker: str, *, subject: str = "",
                    since: datetime | None = None) -> list[DraftRef]:
        # Files keep every header: the marker alone decides.
        self._require_root()
        found: list[DraftRef] = []
        for folder, base in MARKER_FOLDERS:
            for sub in ("cur", "new"):
                path = self.root / base / sub
                if not path.is_dir():
                    continue
                unreadable: list[str] = []
                for name, st in self._list(path, unreadable):
                    ref = self._marked(path / name, folder, marker, st)
                    if ref is not None:
                        found.append(ref)
                for problem in unreadable:
                    logger.warning("cannot check for marker: %s", problem)
        return found

    def _marked(self, path: Path, folder: Folder, marker: str, st: os.stat_result,
                ) -> DraftRef | None:
        try:
            raw = _read_header_block(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._unavailable(path, exc.strerror or str(exc)) from None
        if _MARKER_NAME not in raw.lower():
            return None  # cheap test first: most messages carry no marker at all
        try:
            message = _to_message(_key(path.name), folder, raw)
        except Exception as exc:  # the email package raises assorted types on bad headers
            # Unparseable, so it cannot be shown to hold the marker; say so.
            logger.warning("%s: cannot parse headers: %s", path, exc)
            return None
        if message.marker != marker:
            return None
        created = message.date or datetime.fromtimestamp(st.st_mtime, UTC)
        return DraftRef(id=message.id, folder=folder, message_id=message.message_id,
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
        drafts = self.root / ".Drafts"
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


def _load_checkpoint(checkpoint: str | None) -> dict[str, _DirState]:
    if not checkpoint:
        return {}
    try:
        raw = json.loads(checkpoint)
        if raw.get("v") != _CHECKPOINT_VERSION:
            raise ValueError("other version")
        return {str(k): _DirState.from_json(v) for k, v in raw["dirs"].items()}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        logger.warning("ignoring unusable maildir checkpoint (%s); starting over", exc)
        return {}


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


def _to_message(key: str, folder: Folder, raw: bytes) -> MailMessage:
    msg = BytesParser(policy=default_policy).parsebytes(raw, headersonly=True)
    return to_mail_message(msg, id=key, folder=folder)












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
