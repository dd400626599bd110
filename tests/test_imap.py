"""The IMAP mailbox against a real Dovecot, started here on a free port with a password login.

Dovecot runs as a whole server (master, imap-login, auth, imap) listening on
127.0.0.1, with SPECIAL-USE folders (Drafts, Sent, Junk, Trash, Archive), CONDSTORE
and LIST-STATUS, as a mail provider's server would. One server serves the module;
each test logs in as a user of its own, so every test starts from an empty
mailbox. Mail arrives the way it does for a user: APPENDed by another IMAP client
(delivery, a mail rule filing into Archive, the user's client saving sent mail), and
moved with MOVE by another client when the user archives it.

The binaries and version checks come from :mod:`tests.dovecot` (the preauthenticated
helper for the Maildir test); the listening server's configuration is here.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from interview_followup.providers.base import Folder, Interest, Mailbox
from interview_followup.providers.errors import AuthExpired, BadData, ProviderUnavailable
from interview_followup.providers.imap import OPTIONS, open_mailbox, settings
from interview_followup.providers.imap import mailbox as mailbox_module
from interview_followup.providers.imap.auth import ask_password
from interview_followup.providers.imap.mailbox import ImapMailbox
from tests.contract import ATS_BODY, MARKER, MailboxContract, draft, mail
from tests.dovecot import NS_ID, DovecotUnavailable, dovecot_binary, dovecot_version
from tests.fakes.gmail_imap import ALL_MAIL, FakeGmail
from tests.keyring_backend import stored, use_file_keyring

USERS = 100  # test users (one mailbox each) the server knows
FOLDERS = {"Drafts": "\\Drafts", "Sent": "\\Sent", "Junk": "\\Junk", "Trash": "\\Trash",
           "Archive": "\\Archive"}


# -- the server ----------------------------------------------------------------------

@dataclass
class Server:
    base: Path
    port: int  # plain, and STARTTLS
    tls_port: int  # implicit TLS
    passwd: Path
    master: subprocess.Popen[bytes]
    passwords: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)  # handed out

    def add_user(self) -> tuple[str, str]:
        """A user of its own: an empty mailbox. (Made up front: Dovecot reads the
        passwd-file again only when a second has passed since it last looked.)"""
        user = f"u{len(self.users)}"
        if user not in self.passwords:
            raise RuntimeError(f"only {USERS} test users: raise USERS")
        self.users[user] = self.passwords[user]
        return user, self.users[user]

    def client(self, user: str) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(user, self.users[user])
        return c

    def log_text(self) -> str:
        try:
            return (self.base / "dovecot.log").read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(version: str, base: Path, port: int, tls_port: int, uid: int, gid: int) -> str:
    mailboxes = "\n".join(f"  mailbox {name} {{\n    special_use = {use}\n"
                          "    auto = subscribe\n  }" for name, use in FOLDERS.items())
    if os.geteuid() == 0:
        users = ""  # the packaged dovenull and dovecot users
    else:  # one ordinary user runs every process
        name = pwd.getpwuid(os.getuid()).pw_name
        users = f"default_login_user = {name}\ndefault_internal_user = {name}\n"
    common = f"""\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
listen = 127.0.0.1
protocols = imap
{users}first_valid_uid = {uid}
first_valid_gid = {gid}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}
"""
    major, minor = (int(p) for p in version.split(".")[:2])
    if (major, minor) >= (2, 4):  # the 2.4 dialect: untested here (Debian 12 ships 2.3)
        return f"""\
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
{common}auth_allow_cleartext = yes
auth_mechanisms = plain login xoauth2 oauthbearer
ssl = yes
ssl_server_cert_file = {base}/cert.pem
ssl_server_key_file = {base}/key.pem
mail_driver = maildir
mail_path = ~/Maildir
passdb passwords {{
  driver = passwd-file
  mechanisms_filter = plain login
  passwd_file_path = {base}/passwd
  default_password_scheme = PLAIN
}}
passdb tokens {{
  driver = passwd-file
  mechanisms_filter = xoauth2 oauthbearer
  passwd_file_path = {base}/tokens
  default_password_scheme = PLAIN
}}
userdb static {{
  fields {{
    uid = {uid}
    gid = {gid}
    home = {base}/home/%{{user}}
  }}
}}
"""
    return f"""\
{common}disable_plaintext_auth = no
ssl = yes
ssl_cert = <{base}/cert.pem
ssl_key = <{base}/key.pem
auth_mechanisms = plain login xoauth2 oauthbearer
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {base}/passwd
}}
# XOAUTH2: the bearer token is checked like a password (what a real server does with
# it, introspection at its identity provider, is not the client's concern).
passdb {{
  driver = passwd-file
  mechanisms = xoauth2 oauthbearer
  args = scheme=PLAIN username_format=%u {base}/tokens
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
"""


def start_server() -> Server:
    binary = dovecot_binary()
    version = dovecot_version(binary)
    uid, gid = (NS_ID, NS_ID) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    # Not under pytest's tmp_path: its 0700 directories would shut out the mail uid.
    base = Path(tempfile.mkdtemp(prefix="followup-imap-"))
    base.chmod(0o755)
    (base / "home").mkdir()
    os.chown(base / "home", uid, gid)
    passwd = base / "passwd"
    passwords = {f"u{i}": f"pw-{uuid.uuid4().hex}" for i in range(USERS)}
    passwd.write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in passwords.items()))
    (base / "tokens").write_text("".join(f"{u}:{{PLAIN}}tok-{p}\n"
                                         for u, p in passwords.items()))
    passwd.chmod(0o644)
    # A self-signed certificate, as a local bridge has: trusted only when pinned.
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=imap.test", "-keyout", str(base / "key.pem"),
                    "-out", str(base / "cert.pem")], check=True, capture_output=True, timeout=60)
    last = ""
    for _ in range(3):  # a free port may be taken between the probe and the bind
        port, tls_port = _free_port(), _free_port()
        (base / "dovecot.conf").write_text(_config(version, base, port, tls_port, uid, gid))
        master = subprocess.Popen([binary, "-F", "-c", str(base / "dovecot.conf")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and master.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(b"* OK"):
                    return Server(base, port, tls_port, passwd, master, passwords)
            time.sleep(0.05)
        _stop(master)
        last = (master.stderr.read().decode(errors="replace") if master.stderr else "") + (
            (base / "dovecot.log").read_text(errors="replace")
            if (base / "dovecot.log").exists() else "")
    shutil.rmtree(base, ignore_errors=True)
    raise RuntimeError(f"dovecot did not listen: {last[-3000:]}")


def _stop(master: subprocess.Popen[bytes]) -> None:
    if master.poll() is None:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()


@contextlib.contextmanager
def running_server() -> Iterator[Server]:
    """A Dovecot for the test's duration; skipped without Dovecot, except in CI, where a
    missing Dovecot is a failure (never a silent skip there)."""
    try:
        srv = start_server()
    except DovecotUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the Dovecot IMAP test must run in CI: {exc}", pytrace=False)
        pytest.skip(f"Dovecot IMAP test not run: {exc}")
    try:
        yield srv
    finally:
        _stop(srv.master)
        shutil.rmtree(srv.base, ignore_errors=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as srv:
        yield srv


def make_mailbox(server: Server, user: str, **options: Any) -> ImapMailbox:
    return open_mailbox("home", {"host": "127.0.0.1", "port": server.port,
                                 "security": "plain", "username": user, **options},
                        password=lambda: server.users.get(user))


# -- what the mailbox says to the server -----------------------------------------------

_TAGGED = re.compile(rb"^[A-Z]{4}\d+ (.*)$")
_real_send = imaplib.IMAP4.send
_real_get_line = imaplib.IMAP4._get_line  # type: ignore[attr-defined]


@dataclass
class Transcript:
    """The commands one mailbox's connections sent (credentials redacted), grouped
    in flights: the commands sent before the client next waited for an answer. Each
    flight is one round trip."""

    flights: list[list[str]] = field(default_factory=list)
    waiting: bool = True  # the client read from the server since it last sent

    @property
    def lines(self) -> list[str]:
        return [line for flight in self.flights for line in flight]

    def sent(self, line: str) -> None:
        if self.waiting or not self.flights:
            self.flights.append([])
            self.waiting = False
        self.flights[-1].append(line)

    @staticmethod
    def verb(line: str) -> str:
        words = line.split()
        return " ".join(words[:2]) if words[0] == "UID" else words[0]

    def verbs(self, start: int = 0) -> list[list[str]]:
        return [[self.verb(line) for line in flight] for flight in self.flights[start:]]


class _Recorded(IMAPClient):
    transcript: Transcript | None = None

    def _create_IMAP4(self) -> Any:
        imap = super()._create_IMAP4()
        imap._followup_transcript = self.transcript
        return imap


@pytest.fixture
def transcript(monkeypatch: pytest.MonkeyPatch) -> Transcript:
    """Records what every ImapMailbox connection sends, from its login on."""
    record = Transcript()
    monkeypatch.setattr(_Recorded, "transcript", record)
    monkeypatch.setattr("interview_followup.providers.imap.mailbox.IMAPClient", _Recorded)

    def send(self: imaplib.IMAP4, data: bytes) -> None:
        target = getattr(self, "_followup_transcript", None)
        if target is not None:
            for line in data.split(b"\r\n"):
                found = _TAGGED.match(line)
                if found:
                    text = found.group(1).decode(errors="replace")
                    if text.upper().startswith("LOGIN"):
                        text = "LOGIN **** ****"
                    elif text.upper().startswith("AUTHENTICATE"):
                        text = " ".join(text.split()[:2]) + " ****"  # the token, base64
                    target.sent(text[:160])
        _real_send(self, data)

    def get_line(self: imaplib.IMAP4) -> bytes:
        target = getattr(self, "_followup_transcript", None)
        if target is not None:
            target.waiting = True
        line: bytes = _real_get_line(self)
        return line

    monkeypatch.setattr(imaplib.IMAP4, "send", send)
    monkeypatch.setattr(imaplib.IMAP4, "_get_line", get_line)
    return record


# -- the contract ------------------------------------------------------------------------

class TestImapContract(MailboxContract):
    supports_answer_fields = True
    supports_folders = True

    @pytest.fixture
    def mailbox(self, server: Server) -> Iterator[Mailbox]:
        user, _ = server.add_user()
        box = make_mailbox(server, user)
        box.test_user = user  # type: ignore[attr-defined]
        box.test_server = server  # type: ignore[attr-defined]
        try:
            yield box
        finally:
            box.close()

    @staticmethod
    def _other(mailbox: Mailbox) -> IMAPClient:
        server: Server = mailbox.test_server  # type: ignore[attr-defined]
        return server.client(mailbox.test_user)  # type: ignore[attr-defined]

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        self.file_into(mailbox, msg, "INBOX")

    def file_into(self, mailbox: Mailbox, msg: EmailMessage, folder: str) -> None:
        with self._other(mailbox) as c:
            c.append(folder, msg.as_bytes())

    def record_sent(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        with self._other(mailbox) as c:
            c.append("Sent", msg.as_bytes(), flags=(b"\\Seen",))

    def move(self, mailbox: Mailbox, message_id: str, folder: str) -> None:
        with self._other(mailbox) as c:
            for _, _, name in c.list_folders():
                if name == folder:
                    continue
                c.select_folder(name)
                uids = c.search(["HEADER", "Message-ID", message_id])
                if uids:
                    c.move(uids, folder)
                    return
        raise AssertionError(f"{message_id} is in no folder")


# -- what only IMAP has -----------------------------------------------------------------

@pytest.fixture
def user(server: Server) -> str:
    return server.add_user()[0]


def snapshot(server: Server, user: str) -> dict[str, dict[int, tuple[frozenset[bytes], bytes]]]:
    """Folder -> UID -> (flags, the whole message), read by another client with EXAMINE."""
    result = {}
    with server.client(user) as c:
        for _, _, name in c.list_folders():
            c.select_folder(name, readonly=True)
            got = c.fetch(c.search(["ALL"]), ["FLAGS", "BODY.PEEK[]"])
            result[str(name)] = {uid: (frozenset(d[b"FLAGS"]) - {b"\\Recent"}, d[b"BODY[]"])
                                 for uid, d in got.items()}
    return result


def append(server: Server, user: str, folder: str, msg: EmailMessage,
           flags: tuple[bytes, ...] = ()) -> None:
    with server.client(user) as c:
        c.append(folder, msg.as_bytes(), flags=flags)


def test_options_table_names_every_option_once() -> None:
    names = [o[0] for o in OPTIONS]
    assert len(names) == len(set(names))
    assert all(len(o) == 4 and isinstance(o[3], str) and o[3] for o in OPTIONS)
    with pytest.raises(ValueError, match=r"preset: outlook: .*OAuth2 only"):
        settings({"preset": "outlook", "username": "a@outlook.com"})
    with pytest.raises(ValueError, match="certificate: proton-bridge needs"):
        settings({"preset": "proton-bridge", "username": "a@proton.me"})
    with pytest.raises(ValueError, match="plain sends the password unencrypted"):
        settings({"host": "imap.example.org", "security": "plain", "username": "a"})
    gmail = settings({"preset": "gmail"}, default_username="alex@gmail.com")
    assert (gmail["host"], gmail["port"], gmail["security"], gmail["username"]) == (
        "imap.gmail.com", 993, "tls", "alex@gmail.com")


def test_draft_is_appended_as_a_seen_draft_with_the_marker(server: Server, user: str) -> None:
    box = make_mailbox(server, user)
    marker = "iv1/thank_you/dana@acme.example"
    msg = draft(marker)
    ref = box.create_draft(msg, marker, None)
    assert ref.folder is Folder.DRAFTS and ref.id.startswith("Drafts;UIDVALIDITY=")
    with server.client(user) as c:
        c.select_folder("Drafts", readonly=True)
        [(uid, data)] = c.fetch(c.search(["ALL"]),
                                ["FLAGS", f"BODY.PEEK[HEADER.FIELDS ({MARKER})]"]).items()
        assert ref.id.endswith(f";UID={uid}")
        assert set(data[b"FLAGS"]) >= {b"\\Draft", b"\\Seen"}
        assert marker.encode() in data[f"BODY[HEADER.FIELDS ({MARKER.upper()})]".encode()]
    [found] = box.find_marker(marker)
    assert (found.id, found.folder, found.message_id) == (ref.id, Folder.DRAFTS,
                                                          msg["Message-ID"])
    box.close()


def test_a_second_create_after_a_lost_reply_does_not_duplicate(
        server: Server, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "iv1/thank_you/dana@acme.example"
    real_append = IMAPClient.append
    calls = []

    def append_then_lose_the_reply(self: IMAPClient, *args: Any, **kwargs: Any) -> Any:
        # The server stores the draft; its answer never reaches us (the line drops).
        calls.append(args[0])
        real_append(self, *args, **kwargs)
        self.shutdown()
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(IMAPClient, "append", append_then_lose_the_reply)
    box = make_mailbox(server, user)
    msg = draft(marker)
    with pytest.raises(ProviderUnavailable):
        box.create_draft(msg, marker, None)
    monkeypatch.setattr(IMAPClient, "append", real_append)
    ref = box.create_draft(msg, marker, None)  # the engine tries again next cycle
    assert ref.folder is Folder.DRAFTS and ref.message_id == msg["Message-ID"]
    assert calls == ["Drafts"]  # looked first, found it: no second APPEND
    assert len(snapshot(server, user)["Drafts"]) == 1
    assert [r.id for r in box.find_marker(marker)] == [ref.id]
    # The same within one call: a connection kept from an earlier cycle drops during
    # APPEND; the retry on a new connection looks first too.
    other = "iv1/thank_you/sam@acme.example"
    box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    monkeypatch.setattr(IMAPClient, "append", append_then_lose_the_reply)
    box.create_draft(draft(other, to="sam@acme.example"), other, None)
    assert len(snapshot(server, user)["Drafts"]) == 2
    box.close()


def test_marker_found_by_message_id_where_headers_are_not_searched(
        server: Server, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "iv1/thank_you/dana@acme.example"
    box = make_mailbox(server, user)
    ref = box.create_draft(draft(marker), marker, None)
    real_search = mailbox_module._search_command

    def no_custom_headers(criteria: list[Any]) -> Any:
        if criteria[:2] == ["HEADER", MARKER]:  # a server that does not index X- headers
            criteria = ["HEADER", "X-Not-Indexed", "nothing"]
        return real_search(criteria)

    monkeypatch.setattr(mailbox_module, "_search_command", no_custom_headers)
    assert [r.id for r in box.find_marker(marker)] == [ref.id]  # the kept Message-ID
    fresh = make_mailbox(server, user)  # after a restart: the claim's subject and time
    found = fresh.find_marker(marker, subject="Thank you",
                              since=datetime.now(UTC) - timedelta(minutes=5))
    assert [r.id for r in found] == [ref.id]
    assert fresh.find_marker(marker) == []  # no subject to go on: nothing claimed wrongly
    box.close()
    fresh.close()


def test_a_draft_the_engine_built_is_found_by_a_new_process_without_any_record(
        server: Server, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash between APPEND and its record, on a server that does not search our own
    header: the Message-ID derived from the marker finds it, with no subject, no
    checkpoint, no memory of the process that wrote it."""
    from interview_followup.daemon.mime import build_message
    from interview_followup.providers.base import Address

    marker = "iv1/thank_you/dana@acme.example"
    msg = build_message(from_name="Alex Rivera", from_email="alex@home.example",
                        to=[Address("dana@acme.example", "Dana")], subject="Thank you",
                        body="Thank you for your time.", marker=marker, now=datetime.now(UTC))
    box = make_mailbox(server, user)
    ref = box.create_draft(msg, marker, None)
    box.close()
    real_search = mailbox_module._search_command
    monkeypatch.setattr(mailbox_module, "_search_command", lambda criteria: real_search(
        ["HEADER", "X-Not-Indexed", "nothing"] if criteria[:2] == ["HEADER", MARKER]
        else criteria))
    fresh = make_mailbox(server, user)  # a new process: no checkpoint read, no record
    assert [r.id for r in fresh.find_marker(marker)] == [ref.id]
    # Another marker's derived id does not match it (the stem is the marker's hash).
    assert fresh.find_marker("iv1/thank_you/sam@acme.example") == []
    fresh.close()


def test_the_draft_record_survives_a_restart_in_the_checkpoint(
        server: Server, user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a server that does not search custom headers, a new process given the stored
    checkpoint finds the draft by its Message-ID, or by its APPENDUID, without a subject."""
    not_before = datetime.now(UTC) - timedelta(days=1)
    box = make_mailbox(server, user)
    first = box.messages_since(None, not_before)
    marker = "iv1/thank_you/dana@acme.example"
    ref = box.create_draft(draft(marker), marker, None)
    idle = box.messages_since(first.checkpoint, not_before)
    # Nothing new to read, but the record changed: the engine stores this checkpoint...
    assert idle.messages == () and idle.checkpoint != first.checkpoint
    # ...once: the next idle cycle gives it back unchanged (no write).
    assert box.messages_since(idle.checkpoint, not_before).checkpoint == idle.checkpoint
    box.close()
    real_search = mailbox_module._search_command
    monkeypatch.setattr(mailbox_module, "_search_command", lambda criteria: real_search(
        ["HEADER", "X-Not-Indexed", "nothing"] if criteria[:2] == ["HEADER", MARKER]
        else criteria))
    fresh = make_mailbox(server, user)  # a new process
    assert fresh.find_marker(marker) == []  # the record comes with the checkpoint...
    fresh.messages_since(idle.checkpoint, not_before)  # ...which the engine reads first
    assert [r.id for r in fresh.find_marker(marker)] == [ref.id]  # by Message-ID
    real_client_search = IMAPClient.search
    monkeypatch.setattr(IMAPClient, "search", lambda self, criteria, *a, **k: [] if (
        criteria[:2] == ["HEADER", "Message-ID"]) else real_client_search(self, criteria, *a, **k))
    assert [r.id for r in fresh.find_marker(marker)] == [ref.id]  # by its APPENDUID alone
    assert fresh.find_marker("iv2/thank_you/dana@acme.example") == []  # not another's
    fresh.close()


def test_the_draft_record_is_bounded_and_old_checkpoints_still_load() -> None:
    box = ImapMailbox("home", "imap.example.org", "alex", lambda: "pw")
    now = int(datetime.now(UTC).timestamp())
    for n in range(250):  # one a day going back (each an hour inside its day), newest first
        box._appended[f"iv{n}/thank_you/x@acme.example"] = mailbox_module._Sent(
            "Drafts", 7, n + 1, f"<{n}@home.example>", now - n * 86400 + 3600)
    kept = json.loads(box._dump(None, {"INBOX": [7, 3]}, True))["d"]  # type: ignore[arg-type]
    assert len(kept) == mailbox_module.KEPT_DRAFTS_FOR.days + 1 <= mailbox_module.KEPT_DRAFTS
    assert "iv0/thank_you/x@acme.example" in kept and "iv61/thank_you/x@acme.example" not in kept
    box._appended.update({f"new{n}": mailbox_module._Sent("Drafts", 7, 1000 + n, "", now)
                          for n in range(300)})
    assert len(json.loads(box._dump(None, {}, True))["d"]) == 200  # type: ignore[arg-type]
    fresh = ImapMailbox("home", "imap.example.org", "alex", lambda: "pw")
    memo, states = fresh._load('{"f":{"INBOX":[7,3]},"v":1}')  # written before the record
    assert (memo, states, fresh._appended) == (frozenset({"INBOX"}), {"INBOX": [7, 3]}, {})
    fresh._load(json.dumps({"v": 1, "f": {"INBOX": [7, 3]}, "d": kept}))
    assert fresh._appended["iv0/thank_you/x@acme.example"].message_id == "<0@home.example>"


def test_answer_moved_into_archive_is_other_and_junk_and_trash_are_never_opened(
        server: Server, user: str, transcript: Transcript) -> None:
    box = make_mailbox(server, user)
    not_before = datetime.now(UTC) - timedelta(days=1)
    answer = mail(subject="Next steps")
    answer.set_content(ATS_BODY)
    append(server, user, "INBOX", answer)
    append(server, user, "Junk", mail(subject="junk from acme"))
    first = box.messages_since(None, not_before)
    assert [(m.subject, m.folder) for m in first.messages] == [("Next steps", Folder.INBOX)]
    with server.client(user) as c:  # the user archives it in their mail client
        c.select_folder("INBOX")
        c.move(c.search(["ALL"]), "Archive")
    append(server, user, "Trash", mail(subject="trash from acme"))
    interest = Interest(domains=frozenset({"acme.example"}))
    second = box.messages_since(first.checkpoint, not_before, interest)
    [moved] = second.messages
    assert (moved.message_id, moved.folder, moved.folder_name) == (
        answer["Message-ID"], Folder.OTHER, "Archive")
    assert "interest in Acme Corp" in moved.excerpt
    [found] = box.search_answers(not_before, interest)
    assert (found.message_id, found.folder) == (answer["Message-ID"], Folder.OTHER)
    opened = [line.split()[1].strip('"') for line in transcript.lines
              if transcript.verb(line) in ("EXAMINE", "SELECT")]
    assert set(opened) <= {"INBOX", "Sent", "Archive"}, opened
    box.close()


def test_reading_searching_and_marker_lookups_change_no_message(
        server: Server, user: str, transcript: Transcript) -> None:
    for folder in ("INBOX", "Archive", "Sent", "Junk"):
        append(server, user, folder, mail(subject=f"in {folder}"))
    append(server, user, "INBOX", mail(subject="flagged and read"),
           flags=(b"\\Seen", b"\\Flagged"))
    append(server, user, "Drafts", draft("iv9/thank_you/x@acme.example"), flags=(b"\\Draft",))
    before = snapshot(server, user)
    assert [f for f, _ in before["INBOX"].values()] == [frozenset(),
                                                        frozenset({b"\\Seen", b"\\Flagged"})]
    box = make_mailbox(server, user)
    not_before = datetime.now(UTC) - timedelta(days=1)
    batch = box.messages_since(None, not_before)  # interest None: every excerpt read too
    assert len(batch.messages) == 4 and all(m.excerpt for m in batch.messages)
    box.messages_since(batch.checkpoint, not_before)
    box.search_answers(not_before, Interest(domains=frozenset({"acme.example"})))
    box.find_marker("iv9/thank_you/x@acme.example", subject="Thank you", since=not_before)
    box.close()
    assert snapshot(server, user) == before  # flags (\Seen!) and bytes, in every folder
    verbs = {verb for flight in transcript.verbs() for verb in flight}
    assert not verbs & {"STORE", "UID STORE", "EXPUNGE", "UID EXPUNGE", "SELECT", "MOVE",
                        "UID MOVE", "COPY", "UID COPY", "APPEND", "CREATE", "DELETE"}, verbs


def test_folders_by_name_and_in_other_languages(server: Server, user: str) -> None:
    with server.client(user) as c:
        for name in ("Bewerbungen/Zürich", "Entwürfe", "Outbox", "Spam"):
            c.create_folder(name)
    for name in ("Bewerbungen/Zürich", "Entwürfe", "Outbox", "Spam"):
        append(server, user, name, mail(subject=f"in {name}"))
    box = make_mailbox(server, user, skip_folders=["Archive"])
    append(server, user, "Archive", mail(subject="in Archive"))
    batch = box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    assert [(m.subject, m.folder, m.folder_name) for m in batch.messages] == [
        ("in Bewerbungen/Zürich", Folder.OTHER, "Bewerbungen/Zürich")]
    described = box.describe()
    assert described["drafts"] == "Drafts"
    assert ("Sent", "sent") in described["read"] and "Entwürfe" in described["not read"]
    assert {"LIST-STATUS", "SPECIAL-USE", "UIDPLUS"} <= set(described["extensions"])
    box.close()


def test_roles_without_special_use() -> None:
    box = ImapMailbox("home", "imap.example.org", "alex", lambda: "pw")
    plain: frozenset[bytes] = frozenset()

    def role(name: str, sent_flagged: bool = False) -> Folder | None:
        return box._role(name, plain, b"/", sent_flagged)

    assert role("INBOX") is Folder.INBOX
    assert role("Sent Messages") is Folder.SENT and role("[Gmail]/Sent Mail") is Folder.SENT
    assert role("INBOX/Sent") is Folder.SENT and role("Gesendete Elemente") is Folder.SENT
    assert role("Sent", sent_flagged=True) is Folder.OTHER  # the \Sent folder decides
    assert role("Jobs/Sent") is Folder.OTHER
    for skipped in ("Drafts", "INBOX/Drafts", "Brouillons", "Junk E-mail", "Papierkorb",
                    "Deleted Items", "Trash/Old", "Outbox"):
        assert role(skipped) is None, skipped
    assert box._role("Anything", frozenset({b"\\junk"}), b"/", False) is None
    assert box._role("[Gmail]/All Mail", frozenset({b"\\all"}), b"/", False) is None


def test_password_from_the_keyring_and_never_in_a_log(
        server: Server, user: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    keyring_file = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    ask_password("home", read=lambda prompt: server.users[user])
    assert stored(keyring_file) == {"home/imap": server.users[user]}
    caplog.set_level(logging.DEBUG)
    box = open_mailbox("home", {"host": "127.0.0.1", "port": server.port,
                                "security": "plain", "username": user})
    append(server, user, "INBOX", mail(subject="hello"))
    batch = box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    assert [m.subject for m in batch.messages] == ["hello"]
    box.close()
    assert server.users[user] not in caplog.text
    assert "Thanks, we will be in touch" not in caplog.text  # no body either (rule 10)


def test_wrong_or_missing_password_is_auth_expired(server: Server, user: str) -> None:
    wrong = open_mailbox("home", {"host": "127.0.0.1", "port": server.port,
                                  "security": "plain", "username": user},
                         password=lambda: "not-the-password")
    with pytest.raises(AuthExpired, match=rf"server 127\.0\.0\.1:{server.port} refused the "
                       rf"password of '{user}' .*; run: followup auth home"):
        wrong.messages_since(None, datetime.now(UTC))
    missing = open_mailbox("home", {"host": "127.0.0.1", "port": server.port,
                                    "security": "plain", "username": user},
                           password=lambda: None)
    with pytest.raises(AuthExpired, match="no password stored"):
        missing.find_marker("x")


def test_xoauth2_login(server: Server, user: str, transcript: Transcript) -> None:
    token = f"tok-{server.users[user]}"
    box = make_mailbox(server, user, auth="xoauth2")
    box.password = lambda: token
    append(server, user, "INBOX", mail(subject="with a token"))
    batch = box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    assert [m.subject for m in batch.messages] == ["with a token"]
    assert transcript.lines[0].startswith("AUTHENTICATE XOAUTH2")
    box.close()
    box.password = lambda: "tok-expired"
    with pytest.raises(AuthExpired, match="refused the OAuth2 token"):
        box.messages_since(None, datetime.now(UTC))


def test_server_down_is_provider_unavailable(server: Server, user: str) -> None:
    down = open_mailbox("home", {"host": "127.0.0.1", "port": _free_port(),
                                 "security": "plain", "username": user},
                        password=lambda: "pw", )
    with pytest.raises(ProviderUnavailable, match=r"127\.0\.0\.1"):
        down.messages_since(None, datetime.now(UTC))
    # A certificate nobody vouches for (the system's CAs do not know it) is refused.
    unknown = open_mailbox("home", {"host": "127.0.0.1", "port": server.tls_port,
                                    "username": user}, password=lambda: "pw")
    with pytest.raises(ProviderUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        unknown.messages_since(None, datetime.now(UTC))


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_with_a_pinned_certificate(server: Server, user: str, security: str,
                                       transcript: Transcript) -> None:
    """A local bridge's self-signed certificate, trusted because it is the pinned file."""
    port = server.tls_port if security == "tls" else server.port
    box = make_mailbox(server, user, port=port, security=security,
                       certificate=str(server.base / "cert.pem"))
    append(server, user, "INBOX", mail(subject="over TLS"))
    batch = box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    assert [m.subject for m in batch.messages] == ["over TLS"]
    assert box._client is not None and isinstance(box._client.socket(), ssl.SSLSocket)
    box.close()
    first = transcript.verbs()[0]
    assert first == (["STARTTLS"] if security == "starttls" else ["LOGIN"])


def _one_shot_server(answers: Callable[[bytes], bytes | None]) -> tuple[int, threading.Thread]:
    """A server for one connection that greets, then answers each command line with
    ``answers(line)`` (None: hang up). For what no real server does on purpose."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port: int = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.sendall(b"* OK ready\r\n")
            data = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                while b"\r\n" in data:
                    line, data = data.split(b"\r\n", 1)
                    reply = answers(line)
                    if reply is None:
                        return
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def test_a_connection_dropped_during_login_is_not_a_refused_password() -> None:
    port, thread = _one_shot_server(lambda line: None)
    box = ImapMailbox("home", "127.0.0.1", "alex", lambda: "pw", port=port, security="plain")
    with pytest.raises(ProviderUnavailable):
        box.messages_since(None, datetime.now(UTC))
    thread.join(5)


def test_a_malformed_answer_is_bad_data() -> None:
    def answers(line: bytes) -> bytes | None:
        tag, command = line.split(b" ", 2)[:2]
        if command == b"CAPABILITY":
            return b"* CAPABILITY IMAP4rev1 LIST-STATUS SPECIAL-USE\r\n" + tag + b" OK done\r\n"
        if command == b"LOGIN":
            return tag + b" OK logged in\r\n"
        if command == b"LIST":
            return b'* LIST (\\HasNoChildren "/" "INBOX\r\n' + tag + b" OK done\r\n"
        return tag + b" OK done\r\n"

    port, thread = _one_shot_server(answers)
    box = ImapMailbox("home", "127.0.0.1", "alex", lambda: "pw", port=port, security="plain")
    with pytest.raises(BadData, match=rf"IMAP 127\.0\.0\.1:{port}: "):
        box.messages_since(None, datetime.now(UTC))
    box.close()
    thread.join(5)


def test_a_connection_dropped_between_cycles_is_opened_again(server: Server, user: str) -> None:
    box = make_mailbox(server, user)
    not_before = datetime.now(UTC) - timedelta(days=1)
    first = box.messages_since(None, not_before)
    assert box._client is not None
    box._client.shutdown()  # the server's idle timeout
    append(server, user, "INBOX", mail(subject="later"))
    second = box.messages_since(first.checkpoint, not_before)
    assert [m.subject for m in second.messages] == ["later"]
    box.close()


def test_idle_cycle_round_trips(server: Server, user: str, transcript: Transcript) -> None:
    """Round trips per cycle on a connection kept open between cycles: each flight of
    commands (sent before the client waits for an answer) is one."""
    for name in ("Jobs", "Jobs/Acme", "Receipts"):
        with server.client(user) as c:
            c.create_folder(name)
    box = make_mailbox(server, user)
    not_before = datetime.now(UTC) - timedelta(days=1)
    interest = Interest(domains=frozenset({"acme.example"}))
    append(server, user, "INBOX", mail(subject="before"))
    checkpoint = box.messages_since(None, not_before, interest).checkpoint

    def cycle() -> list[list[str]]:
        nonlocal checkpoint
        start = len(transcript.flights)
        checkpoint = box.messages_since(checkpoint, not_before, interest).checkpoint
        return transcript.verbs(start)

    # INBOX is still open from the first read: closed in the LIST's flight.
    assert cycle() == [["UNSELECT", "LIST"]]
    assert cycle() == [["LIST"]]  # idle, 6 folders read (9 listed): one LIST-STATUS
    append(server, user, "INBOX", mail(sender="Sam <sam@elsewhere.example>", subject="x"))
    assert cycle() == [["LIST"], ["EXAMINE", "UID FETCH"]]  # new mail, not a candidate
    append(server, user, "Jobs/Acme", mail(subject="filed, from acme"))
    assert cycle() == [["UNSELECT", "LIST"], ["EXAMINE", "UID FETCH"], ["UID FETCH"]]
    assert cycle() == [["UNSELECT", "LIST"]]
    assert cycle() == [["LIST"]]
    box.close()


def test_without_list_status_the_idle_cycle_is_two_round_trips(
        server: Server, user: str, transcript: Transcript,
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = IMAPClient.has_capability
    monkeypatch.setattr(IMAPClient, "has_capability",
                        lambda self, cap: cap != "LIST-STATUS" and real(self, cap))
    box = make_mailbox(server, user)
    not_before = datetime.now(UTC) - timedelta(days=1)
    append(server, user, "Archive", mail(subject="filed"))
    first = box.messages_since(None, not_before)
    assert [m.folder_name for m in first.messages] == ["Archive"]
    start = len(transcript.flights)
    second = box.messages_since(first.checkpoint, not_before)
    assert second.messages == () and second.checkpoint == first.checkpoint
    # UNSELECT (Archive was read) with the LIST; then a STATUS per folder read, pipelined.
    assert transcript.verbs(start) == [["UNSELECT", "LIST"], ["STATUS"] * 3]
    box.close()


def test_one_session(server: Server, user: str, transcript: Transcript) -> None:
    """One session, start to end, for the record: $FOLLOWUP_IMAP_TRANSCRIPT names a file
    to write it to (one line a command, numbered by round trip)."""
    box = make_mailbox(server, user)
    not_before = datetime.now(UTC) - timedelta(days=1)
    append(server, user, "INBOX", mail(subject="Re: Thank you"))
    first = box.messages_since(None, not_before, Interest(domains=frozenset({"acme.example"})))
    box.messages_since(first.checkpoint, not_before)
    marker = "iv1/thank_you/dana@acme.example"
    box.create_draft(draft(marker), marker, None)
    box.find_marker(marker)
    box.close()
    if os.environ.get("FOLLOWUP_IMAP_TRANSCRIPT"):
        Path(os.environ["FOLLOWUP_IMAP_TRANSCRIPT"]).write_text("".join(
            f"{n:2} C: {line}\n" for n, flight in enumerate(transcript.flights, 1)
            for line in flight))
    assert transcript.lines[0] == "LOGIN **** ****"
    assert transcript.lines[-1] == "LOGOUT"



# -- Gmail over IMAP: All Mail read whole, each message by its labels (a fake server) -------

@pytest.fixture
def gmail() -> Iterator[FakeGmail]:
    with FakeGmail() as fake:
        yield fake


def gmail_box(fake: FakeGmail, **options: Any) -> ImapMailbox:
    return open_mailbox("gmail", {"host": "127.0.0.1", "port": fake.port,
                                  "security": "plain", "username": fake.user, **options},
                        password=lambda: fake.password)


def test_gmail_answer_archived_without_a_label_is_read_from_all_mail(
        gmail: FakeGmail, transcript: Transcript) -> None:
    """Rule 6 on Gmail: an answer the user archived with no label is only in All Mail."""
    answer = mail(subject="Next steps")
    answer.set_content(ATS_BODY)
    gmail.deliver(answer, labels=())  # archived before the first read ("skip the inbox")
    gmail.deliver(mail(subject="in the inbox"), labels=("\\Inbox", "\\Important"))
    gmail.deliver(mail(subject="filed by a filter"), labels=("Jobs/Acme",))
    gmail.deliver(mail(sender="Alex Rivera <alex@home.example>", to="dana@acme.example",
                       subject="Re: Next steps"), labels=("\\Sent",))
    gmail.deliver(draft("iv9/thank_you/dana@acme.example"), labels=("\\Draft",))
    gmail.deliver(mail(subject="spam from acme"), labels=("\\Spam",))
    gmail.deliver(mail(subject="newsletter"), labels=("Newsletters",))
    box = gmail_box(gmail, skip_folders=["Newsletters"])
    not_before = datetime.now(UTC) - timedelta(days=1)
    interest = Interest(domains=frozenset({"acme.example"}))
    first = box.messages_since(None, not_before, interest)
    got = {m.subject: (m.folder, m.folder_name) for m in first.messages}
    assert got == {
        "Next steps": (Folder.OTHER, "[Gmail]/All Mail"),
        "in the inbox": (Folder.INBOX, "INBOX"),
        "filed by a filter": (Folder.OTHER, "Jobs/Acme"),
        "Re: Next steps": (Folder.SENT, "[Gmail]/Sent Mail"),
    }  # never the draft (label \Draft), nor spam, nor a label of skip_folders only
    [archived] = [m for m in first.messages if m.subject == "Next steps"]
    assert "interest in Acme Corp" in archived.excerpt
    # Archived after it arrived, the next one is read too, once, from All Mail.
    later = gmail.deliver(mail(subject="Offer"))
    gmail.relabel(later, remove=("\\Inbox",))
    second = box.messages_since(first.checkpoint, not_before, interest)
    assert [(m.subject, m.folder) for m in second.messages] == [("Offer", Folder.OTHER)]
    # The status check's last look (search_answers) sees it too, and the sent mail once.
    found = box.search_answers(not_before, interest)
    assert sorted((m.subject, m.folder) for m in found) == [
        ("Next steps", Folder.OTHER), ("Offer", Folder.OTHER),
        ("Re: Next steps", Folder.SENT), ("filed by a filter", Folder.OTHER),
        ("in the inbox", Folder.INBOX)]
    box.close()
    opened = {line.split(" ", 1)[1].strip('"') for line in transcript.lines
              if transcript.verb(line) in ("EXAMINE", "SELECT")}
    assert opened == {"[Gmail]/All Mail", "[Gmail]/Sent Mail"}  # Sent: the search only
    assert gmail.refused == []  # no STORE, EXPUNGE, MOVE or COPY
    assert all(not m.flags for m in gmail.messages if "\\Draft" not in m.labels)


def test_gmail_drafts_and_markers(gmail: FakeGmail) -> None:
    """Our draft goes to [Gmail]/Drafts; in All Mail (label \\Draft) it is never read as
    mail; its marker is found in Drafts, and in Sent Mail once the user sent it."""
    box = gmail_box(gmail)
    not_before = datetime.now(UTC) - timedelta(days=1)
    checkpoint = box.messages_since(None, not_before).checkpoint
    marker = "iv1/thank_you/dana@acme.example"
    ref = box.create_draft(draft(marker), marker, None)
    assert ref.id.startswith("[Gmail]/Drafts;UIDVALIDITY=")
    assert [m.labels for m in gmail.in_folder(ALL_MAIL)] == [{"\\Draft"}]
    batch = box.messages_since(checkpoint, not_before)
    assert batch.messages == ()
    assert [(r.id, r.folder) for r in box.find_marker(marker)] == [(ref.id, Folder.DRAFTS)]
    gmail.send(0)  # the user sends it
    [sent] = box.messages_since(batch.checkpoint, not_before).messages
    assert (sent.folder, sent.marker) == (Folder.SENT, marker)
    assert [r.folder for r in box.find_marker(marker)] == [Folder.SENT]
    assert box.describe()["read"] == [("[Gmail]/All Mail", "every label"),
                                      ("[Gmail]/Sent Mail", "sent")]
    box.close()


def _gmail_cycles(box: ImapMailbox, gmail: FakeGmail, transcript: Transcript
                  ) -> list[list[list[str]]]:
    """Round trips of: the idle cycle, a new message in the inbox that also carries a
    label (not a candidate), and a candidate's."""
    not_before = datetime.now(UTC) - timedelta(days=1)
    interest = Interest(domains=frozenset({"acme.example"}))
    gmail.label_folder("Jobs")
    gmail.label_folder("Receipts")
    gmail.deliver(mail(subject="before"))
    checkpoint = box.messages_since(None, not_before, interest).checkpoint
    box.messages_since(checkpoint, not_before, interest)  # closes what the first opened
    flights = []
    for arrival in (None, mail(sender="Sam <sam@elsewhere.example>", subject="x"),
                    mail(subject="from acme")):
        if arrival is not None:
            gmail.deliver(arrival, labels=("\\Inbox", "Jobs"))
        start = len(transcript.flights)
        checkpoint = box.messages_since(checkpoint, not_before, interest).checkpoint
        flights.append(transcript.verbs(start))
        box.messages_since(checkpoint, not_before, interest)  # back to idle
    return flights


def test_gmail_cycles_cost_no_more_round_trips_than_label_folders(
        transcript: Transcript, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeGmail() as gmail:
        box = gmail_box(gmail)
        after = _gmail_cycles(box, gmail, transcript)
        box.close()
    assert after == [
        [["LIST"]],  # idle: one LIST-STATUS, as on every server
        [["LIST"], ["EXAMINE", "UID FETCH"]],  # new mail: All Mail only, labels and all
        [["LIST"], ["EXAMINE", "UID FETCH"], ["UID FETCH"]],  # + a candidate's excerpt
    ]
    # The same server without X-GM-EXT-1: every label folder it is in is read.
    real = IMAPClient.has_capability
    monkeypatch.setattr(IMAPClient, "has_capability",
                        lambda self, cap: cap != "X-GM-EXT-1" and real(self, cap))
    with FakeGmail() as gmail:
        box = gmail_box(gmail)
        before = _gmail_cycles(box, gmail, transcript)
        box.close()
    assert before[0] == after[0]
    assert [len(b) for b in before[1:]] == [3, 5]  # INBOX and Jobs, each read (and excerpted)
    assert all(len(a) <= len(b) for a, b in zip(after, before, strict=True))


def test_without_gmail_extensions_all_mail_is_a_view_never_read(
        gmail: FakeGmail, monkeypatch: pytest.MonkeyPatch) -> None:
    real = IMAPClient.has_capability
    monkeypatch.setattr(IMAPClient, "has_capability",
                        lambda self, cap: cap != "X-GM-EXT-1" and real(self, cap))
    gmail.deliver(mail(subject="archived"), labels=())
    gmail.deliver(mail(subject="labelled"), labels=("\\Inbox", "Jobs"))
    box = gmail_box(gmail)
    batch = box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    assert sorted((m.subject, m.folder_name) for m in batch.messages) == [
        ("labelled", "INBOX"), ("labelled", "Jobs")]  # \All skipped: a view elsewhere
    box.close()


def test_gmail_all_mail_in_skip_folders_reads_label_folders(gmail: FakeGmail) -> None:
    gmail.deliver(mail(subject="labelled"), labels=("Jobs",))
    box = gmail_box(gmail, skip_folders=["[Gmail]/All Mail"])
    batch = box.messages_since(None, datetime.now(UTC) - timedelta(days=1))
    assert [(m.subject, m.folder_name) for m in batch.messages] == [("labelled", "Jobs")]
    box.close()
