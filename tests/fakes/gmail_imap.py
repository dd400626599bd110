"""A fake Gmail IMAP server: IMAP4rev1 with Gmail's labels (X-GM-EXT-1), for the tests.

Dovecot cannot be Gmail: Gmail keeps each message once, with labels, and shows every
label as a folder. Here, as there, a message is in INBOX while it has the ``\\Inbox``
label, in ``[Gmail]/Sent Mail`` with ``\\Sent``, in ``[Gmail]/Drafts`` with ``\\Draft``,
in a label's folder with that label, and in ``[Gmail]/All Mail`` unless it is in Spam or
Trash. A message that gains a label gets a new UID in that label's folder (UIDNEXT
grows there); one that loses ``\\Inbox`` (archived) stays in All Mail, UID unchanged.

Usage::

    with FakeGmail() as gmail:                        # 127.0.0.1, port 0, in a thread
        n = gmail.deliver(msg)                         # labels ("\\Inbox",)
        gmail.relabel(n, remove=("\\Inbox",))          # the user archives it
        ImapMailbox(..., port=gmail.port, security="plain")

It speaks what :class:`~providers.imap.mailbox.ImapMailbox` and imapclient send:
CAPABILITY, LOGIN, LIST (with RETURN (SPECIAL-USE STATUS ...), RFC 5819), STATUS,
EXAMINE/SELECT, UNSELECT, CLOSE, UID FETCH (INTERNALDATE, FLAGS, X-GM-LABELS,
BODY.PEEK[HEADER.FIELDS (...)], BODY.PEEK[]<0.n>), UID SEARCH (ALL, SINCE, BEFORE,
HEADER, FROM, TO, CC, SUBJECT, OR, NOT), APPEND (with APPENDUID), NOOP, ID, LOGOUT;
commands pipelined without waiting. Anything else (STORE, EXPUNGE, MOVE, COPY) is
refused and kept in :attr:`FakeGmail.refused`, so a test can say it never came.
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from types import TracebackType
from typing import Any

from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.imap_utf7 import encode as encode_utf7

CAPABILITIES = ("IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS "
                "COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED "
                "LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584")
# Gmail's system folders: name -> (SPECIAL-USE attribute, the label that puts a message there).
SYSTEM = {
    "INBOX": ("", "\\Inbox"),
    "[Gmail]/All Mail": ("\\All", ""),
    "[Gmail]/Drafts": ("\\Drafts", "\\Draft"),
    "[Gmail]/Important": ("\\Important", "\\Important"),
    "[Gmail]/Sent Mail": ("\\Sent", "\\Sent"),
    "[Gmail]/Spam": ("\\Junk", "\\Spam"),
    "[Gmail]/Starred": ("\\Flagged", "\\Starred"),
    "[Gmail]/Trash": ("\\Trash", "\\Trash"),
}
ALL_MAIL = "[Gmail]/All Mail"
_LITERAL = re.compile(rb"\{(\d+)(\+?)\}$")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class Message:
    raw: bytes
    labels: set[str]
    received: datetime
    flags: set[str] = field(default_factory=set)

    def header(self, name: str) -> str:
        parsed = BytesHeaderParser().parsebytes(self.raw)
        return " ".join(str(v) for v in parsed.get_all(name, []))


@dataclass
class Folder:
    name: str
    attribute: str  # SPECIAL-USE, "" for none
    label: str  # "" for All Mail
    uidvalidity: int
    uidnext: int = 1
    uids: dict[int, Message] = field(default_factory=dict)

    def holds(self, message: Message) -> bool:
        if not self.label:  # All Mail: everything but Spam and Trash
            return not message.labels & {"\\Spam", "\\Trash"}
        return self.label in message.labels


class FakeGmail:
    """The server and the one mailbox it serves (any user, ``password``)."""

    def __init__(self, user: str = "alex@gmail.com", password: str = "app-password") -> None:
        self.user, self.password = user, password
        self.lock = threading.RLock()
        self.messages: list[Message] = []
        self.folders: dict[str, Folder] = {}
        for n, (name, (attribute, label)) in enumerate(SYSTEM.items(), 1):
            self.folders[name] = Folder(name, attribute, label, uidvalidity=n)
        self.refused: list[str] = []  # commands no test should see
        self.logins = 0
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.gmail = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeGmail:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # -- what the user and the world do -------------------------------------------------
    def label_folder(self, name: str) -> None:
        """A label of the user's own: a folder of that name."""
        with self.lock:
            self.folders.setdefault(name, Folder(name, "", name, len(self.folders) + 1))

    def deliver(self, msg: EmailMessage | bytes, labels: Iterable[str] = ("\\Inbox",),
                received: datetime | None = None) -> int:
        """A message arrives (or the user's client saves it) with ``labels``; its index."""
        raw = msg if isinstance(msg, bytes) else msg.as_bytes()
        with self.lock:
            self.messages.append(Message(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                                         set(labels), received or datetime.now(UTC)))
            for label in labels:
                if not label.startswith("\\"):
                    self.label_folder(label)
            self._file(self.messages[-1])
            return len(self.messages) - 1

    def relabel(self, index: int, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """The user labels, archives (remove ``\\Inbox``) or deletes (add ``\\Trash``)."""
        with self.lock:
            message = self.messages[index]
            message.labels = (message.labels | set(add)) - set(remove)
            for label in add:
                if not label.startswith("\\"):
                    self.label_folder(label)
            self._file(message)

    def send(self, index: int) -> int:
        """The user sends a draft: Gmail removes the draft and stores a new message labelled
        ``\\Sent`` (a new UID in All Mail too); the sent message's index."""
        with self.lock:
            message = self.messages[index]
            message.labels = {"\\Trash"}  # out of every folder read
            self._file(message)
            for folder in self.folders.values():  # and gone from Trash as well
                folder.uids = {u: m for u, m in folder.uids.items() if m is not message}
            return self.deliver(message.raw, labels=("\\Sent",))

    def in_folder(self, name: str) -> list[Message]:
        with self.lock:
            return list(self.folders[name].uids.values())

    def _file(self, message: Message) -> None:
        for folder in self.folders.values():
            uid = next((u for u, m in folder.uids.items() if m is message), None)
            if folder.holds(message) and uid is None:
                folder.uids[folder.uidnext] = message
                folder.uidnext += 1
            elif not folder.holds(message) and uid is not None:
                del folder.uids[uid]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    gmail: FakeGmail


class _Literal(bytes):
    """A command's literal ({n} then n bytes), kept apart from the text around it."""


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.gmail = self.server.gmail
        self.selected: Folder | None = None
        self.authenticated = False
        self.send(b"* OK Gimap ready for requests from 127.0.0.1")
        while True:
            command = self.read_command()
            if command is None:
                return
            tag, words = command
            name = str(words[0]).upper() if words else ""
            args = words[1:]
            if name == "UID" and args:
                name, args = "UID " + str(args[0]).upper(), args[1:]
            try:
                with self.gmail.lock:
                    done = self.dispatch(tag, name, args)
            except (ValueError, IndexError, KeyError) as exc:
                self.send(tag + b" BAD " + str(exc).encode())
                continue
            if done:
                return

    # -- reading ---------------------------------------------------------------------
    def read_command(self) -> tuple[bytes, list[Any]] | None:
        pieces: list[bytes] = []
        while True:
            line = self.rfile.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            found = _LITERAL.search(line)
            if not found:
                pieces.append(line)
                break
            pieces.append(line[:found.start()])
            if not found.group(2):
                self.send(b"+ go ahead")
            pieces.append(_Literal(self.rfile.read(int(found.group(1)))))
        tokens: list[Any] = []
        for piece in pieces:
            if isinstance(piece, _Literal):
                tokens.append(bytes(piece))
            else:
                tokens.extend(_tokens(piece))
        if not tokens:
            return None
        tag = tokens[0] if isinstance(tokens[0], bytes) else str(tokens[0]).encode()
        return tag, _nest(tokens[1:])

    def send(self, line: bytes) -> None:
        self.wfile.write(line + b"\r\n")

    # -- commands ------------------------------------------------------------------------
    def dispatch(self, tag: bytes, name: str, args: list[Any]) -> bool:
        g = self.gmail
        if name == "CAPABILITY":
            caps = CAPABILITIES if self.authenticated else "IMAP4rev1 UNSELECT ID X-GM-EXT-1 " \
                "AUTH=PLAIN AUTH=XOAUTH2"
            self.send(b"* CAPABILITY " + caps.encode())
        elif name == "LOGIN":
            if _text(args[0]) != g.user or _text(args[1]) != g.password:
                self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
                return False
            self.authenticated = True
            g.logins += 1
            self.send(b"* CAPABILITY " + CAPABILITIES.encode())
            self.send(tag + b" OK " + g.user.encode() + b" authenticated (Success)")
            return False
        elif name == "LOGOUT":
            self.send(b"* BYE LOGOUT Requested")
            self.send(tag + b" OK 73 good day (Success)")
            return True
        elif name in ("NOOP", "ID", "ENABLE"):
            pass
        elif not self.authenticated:
            self.send(tag + b" BAD not logged in")
            return False
        elif name == "LIST":
            self.list(args)
        elif name == "STATUS":
            self.send(self.status(g.folders[_mailbox(args[0])]))
        elif name in ("EXAMINE", "SELECT"):
            folder = g.folders.get(_mailbox(args[0]))
            if folder is None:
                self.send(tag + b" NO [NONEXISTENT] Unknown Mailbox")
                return False
            self.selected = folder
            self.send(b"* FLAGS (\\Answered \\Flagged \\Draft \\Deleted \\Seen)")
            self.send(f"* OK [UIDVALIDITY {folder.uidvalidity}] UIDs valid.".encode())
            self.send(f"* {len(folder.uids)} EXISTS".encode())
            self.send(b"* 0 RECENT")
            self.send(f"* OK [UIDNEXT {folder.uidnext}] Predicted next UID.".encode())
            self.send(tag + b" OK [READ-ONLY] " + name.encode() + b" (Success)")
            return False
        elif name in ("UNSELECT", "CLOSE"):
            self.selected = None
        elif name == "UID FETCH" and self.selected is not None:
            self.fetch(self.selected, str(args[0]), args[1])
        elif name == "UID SEARCH" and self.selected is not None:
            folder = self.selected
            hits = [u for u, m in sorted(folder.uids.items()) if _matches(m, list(args))]
            self.send(b"* SEARCH" + b"".join(b" %d" % u for u in hits))
        elif name == "APPEND":
            self.append(tag, args)
            return False
        else:
            g.refused.append(name)
            self.send(tag + b" BAD Unknown or refused command")
            return False
        self.send(tag + b" OK Success")
        return False

    def list(self, args: list[Any]) -> None:
        with_status = any(isinstance(a, list) and any(str(x).upper() == "STATUS" for x in a)
                          for a in args)
        self.send(b'* LIST (\\HasChildren \\Noselect) "/" "[Gmail]"')
        for folder in self.gmail.folders.values():
            attributes = " ".join(a for a in ("\\HasNoChildren", folder.attribute) if a)
            self.send(f"* LIST ({attributes}) \"/\" ".encode() + _quote(folder.name))
            if with_status:
                self.send(self.status(folder))

    @staticmethod
    def status(folder: Folder) -> bytes:
        return (b"* STATUS " + _quote(folder.name)
                + f" (UIDVALIDITY {folder.uidvalidity} UIDNEXT {folder.uidnext})".encode())

    def fetch(self, folder: Folder, spec: str, items: Any) -> None:
        wanted = [str(i) for i in (items if isinstance(items, list) else [items])]
        uids = sorted(folder.uids)
        for seq, uid in enumerate(uids, 1):
            if not _in_set(uid, spec, uids[-1]):
                continue
            message = folder.uids[uid]
            parts = [f"UID {uid}".encode()]
            for item in wanted:
                parts.append(self.fetch_item(message, item))
            self.send(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")")

    def fetch_item(self, message: Message, item: str) -> bytes:
        upper = item.upper()
        if upper == "INTERNALDATE":
            return b'INTERNALDATE "' + _internaldate(message.received).encode() + b'"'
        if upper == "FLAGS":
            return b"FLAGS (" + " ".join(sorted(message.flags)).encode() + b")"
        if upper == "X-GM-LABELS":
            # From All Mail every label shows (a label folder leaves its own label out).
            return b"X-GM-LABELS (" + b" ".join(
                label.encode() if label.startswith("\\") else _quote(encode_utf7(label))
                for label in sorted(message.labels)) + b")"
        found = re.fullmatch(r"BODY\.PEEK\[(.*?)\](?:<(\d+)\.(\d+)>)?", item, re.I)
        if not found:
            raise ValueError(f"fetch item {item!r} not in this fake")
        section, start, size = found.groups()
        if section.upper().startswith("HEADER.FIELDS"):
            names = section[section.index("(") + 1:section.rindex(")")].split()
            data = _header_fields(message.raw, names)
            key = f"BODY[{section.upper()}]"
        elif section == "":
            data = message.raw
            key = "BODY[]"
            if start is not None:
                data = data[int(start):int(start) + int(size)]
                key += f"<{start}>"
        else:
            raise ValueError(f"section {section!r} not in this fake")
        return key.encode() + b" {%d}\r\n" % len(data) + data

    def append(self, tag: bytes, args: list[Any]) -> None:
        folder = self.gmail.folders[_mailbox(args[0])]
        flags = next((a for a in args[1:-1] if isinstance(a, list)), [])
        raw = args[-1]
        if folder.name == ALL_MAIL:
            labels: set[str] = set()
        else:
            labels = {folder.label}
        index = self.gmail.deliver(raw, labels)
        message = self.gmail.messages[index]
        message.flags = {str(f) for f in flags}
        uid = next(u for u, m in folder.uids.items() if m is message)
        self.send(tag + f" OK [APPENDUID {folder.uidvalidity} {uid}] (Success)".encode())


# -- the grammar, as far as the tests need it ---------------------------------------------

def _tokens(line: bytes) -> Iterator[Any]:
    """Atoms, quoted strings and parentheses (a bracketed section stays in its atom)."""
    i = 0
    while i < len(line):
        c = line[i:i + 1]
        if c == b" ":
            i += 1
        elif c in (b"(", b")"):
            yield c.decode()
            i += 1
        elif c == b'"':
            out = bytearray()
            i += 1
            while line[i:i + 1] != b'"':
                if line[i:i + 1] == b"\\":
                    i += 1
                out += line[i:i + 1]
                i += 1
            i += 1
            yield bytes(out)
        else:
            start, depth = i, 0
            while i < len(line) and (depth or line[i:i + 1] not in (b" ", b"(", b")")):
                if line[i:i + 1] == b"[":
                    depth += 1
                elif line[i:i + 1] == b"]":
                    depth -= 1
                i += 1
            yield _Atom(line[start:i].decode())


class _Atom(str):
    """An unquoted word (a quoted string is bytes)."""


def _nest(tokens: list[Any]) -> list[Any]:
    stack: list[list[Any]] = [[]]
    for token in tokens:
        if token == "(" and not isinstance(token, bytes):
            stack.append([])
        elif token == ")" and not isinstance(token, bytes):
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(token)
    return stack[0]


def _text(token: Any) -> str:
    return token.decode() if isinstance(token, bytes) else str(token)


def _mailbox(token: Any) -> str:
    name = _text(token)
    return "INBOX" if name.upper() == "INBOX" else decode_utf7(name.encode())


def _quote(name: str | bytes) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _in_set(uid: int, spec: str, last: int) -> bool:
    for part in spec.split(","):
        low, _, high = part.partition(":")
        a = last if low == "*" else int(low)
        b = a if not high else (last if high == "*" else int(high))
        if min(a, b) <= uid <= max(a, b):
            return True
    return False


def _internaldate(when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when.year} {when:%H:%M:%S} +0000"


def _day(token: Any) -> date:
    return datetime.strptime(_text(token), "%d-%b-%Y").date()


def _header_fields(raw: bytes, names: list[str]) -> bytes:
    head = raw.split(b"\r\n\r\n", 1)[0]
    wanted = {n.lower() for n in names}
    lines: list[bytes] = []
    keep = False
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                lines.append(line)
            continue
        keep = line.split(b":", 1)[0].strip().decode(errors="replace").lower() in wanted
        if keep:
            lines.append(line)
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def _matches(message: Message, criteria: list[Any]) -> bool:
    """Whether ``message`` meets every key of ``criteria`` (consumed as read)."""
    while criteria:
        if not _key(message, criteria):
            return False
    return True


def _key(message: Message, criteria: list[Any]) -> bool:
    word = criteria.pop(0)
    if isinstance(word, list):
        return _matches(message, list(word))
    key = _text(word).upper()
    if key == "CHARSET":
        criteria.pop(0)
        return True
    if key == "ALL":
        return True
    if key == "OR":
        first, second = _key(message, criteria), _key(message, criteria)
        return first or second
    if key == "NOT":
        return not _key(message, criteria)
    if key == "SINCE":
        return message.received.date() >= _day(criteria.pop(0))
    if key == "BEFORE":
        return message.received.date() < _day(criteria.pop(0))
    if key == "HEADER":
        name, value = _text(criteria.pop(0)), _text(criteria.pop(0)).lower()
        return value in message.header(name).lower() if value else bool(message.header(name))
    if key in ("FROM", "TO", "CC", "SUBJECT"):
        return _text(criteria.pop(0)).lower() in message.header(key).lower()
    raise ValueError(f"search key {key} not in this fake")
