"""The local provider's Maildir as a real IMAP server (Dovecot) serves it.

Users read our drafts through Dovecot, or through an IMAP server that mbsync
or offlineimap copies the same Maildir to. Dovecot must take each draft for
a draft (the \\Draft flag, our marker, the body the engine rendered), and
the replies and sent mail it stores must reach the engine without the
engine changing anything Dovecot shows (rule 10). Mail a user files away with
their IMAP client (MOVE, or COPY and EXPUNGE) into Archive or a folder of their
own is still read, as such (rule 6).
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

import pytest

from interview_followup.daemon.calendar_sync import interview_id
from interview_followup.daemon.clock import ManualClock
from interview_followup.daemon.config import Config, parse_config
from interview_followup.daemon.engine import Engine
from interview_followup.providers.base import Folder, Interest
from interview_followup.providers.local.maildir import MaildirMailbox
from tests.dovecot import Dovecot, DovecotUnavailable, start

ME = "alex.rivera@example.org"
JANE = "jane.doe@acme-robotics.com"
SAMUEL = "samuel.lee@acme-robotics.com"
EVENT_UID = "acme-onsite@example.org"
MARKER = "X-Interview-Followup"


@pytest.fixture
def dovecot(tmp_path: Path) -> Dovecot:
    try:
        return start(tmp_path / "dovecot")
    except DovecotUnavailable as exc:
        why = str(exc)
    # Never a silent skip in CI: there a missing Dovecot is a failure.
    if os.environ.get("CI"):
        pytest.fail(f"the Dovecot IMAP test must run in CI: {why}", pytrace=False)
    pytest.skip(f"Dovecot IMAP test not run: {why}")


def make_config(tmp_path: Path, maildir: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(f"""\
[me]
name = "Alex Rivera"
email = "{ME}"
signature = "Alex Rivera\\n+1 555 0100"
timezone = "America/New_York"

[timing]
# Every hour is working time, so a status check is never held for Monday.
working_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
working_hours = "00:00-24:00"

[daemon]
state_dir = "state"

[[accounts]]
name = "home"
provider = "local"
calendar = "calendar.ics"
maildir = "{maildir}"
""")
    return parse_config(path.read_text(), path)


def write_calendar(path: Path, now: datetime) -> None:
    """An onsite interview with two interviewers that ended two hours before ``now``."""
    def t(delta: timedelta) -> str:
        return (now + delta).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    path.write_text(f"""\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//interview-followup tests//dovecot//EN
BEGIN:VEVENT
UID:{EVENT_UID}
DTSTAMP:{t(timedelta(days=-10))}
DTSTART:{t(timedelta(hours=-3))}
DTEND:{t(timedelta(hours=-2))}
SUMMARY:Acme Robotics - Onsite interview (Senior Backend Engineer)
DESCRIPTION:Discussed: the fleet telemetry pipeline
ORGANIZER;CN=Jane Doe:mailto:{JANE}
ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:{ME}
ATTENDEE;CN=Jane Doe;PARTSTAT=ACCEPTED:mailto:{JANE}
ATTENDEE;CN=Samuel Lee;PARTSTAT=ACCEPTED:mailto:{SAMUEL}
END:VEVENT
END:VCALENDAR
""".replace("\n", "\r\n"))


# -- IMAP helpers: what a mail client sees ---------------------------------------

def ok(result: tuple[str, Sequence[object]]) -> Sequence[object]:
    typ, data = result
    assert typ == "OK", data
    return data


def folder_names(imap: imaplib.IMAP4) -> set[str]:
    """Folder names from LIST lines such as ``(\\HasNoChildren) "." Drafts``."""
    return {line.rsplit(b" ", 1)[-1].decode().strip('"')
            for line in ok(imap.list()) if isinstance(line, bytes)}


def open_folder(imap: imaplib.IMAP4, folder: str, *, readonly: bool = False) -> int:
    """SELECT (or EXAMINE) ``folder``; the number of messages in it."""
    data = ok(imap.select(folder, readonly=readonly))
    assert isinstance(data[0], bytes)
    return int(data[0])


def fetch(imap: imaplib.IMAP4, num: int, item: str) -> bytes:
    """The literal of one FETCH item (a header block, a body)."""
    for part in ok(imap.fetch(str(num), f"({item})")):
        if isinstance(part, tuple):
            value = part[1]
            assert isinstance(value, bytes)
            return value
    raise AssertionError(f"no {item} in the FETCH response for message {num}")


def fetch_line(imap: imaplib.IMAP4, num: int, items: str) -> bytes:
    line = ok(imap.fetch(str(num), f"({items})"))[0]
    assert isinstance(line, bytes)
    return line


def flags(line: bytes) -> set[str]:
    # \Recent belongs to the IMAP session, not to the message: the first session to look takes it.
    return {f.decode() for f in imaplib.ParseFlags(line)} - {"\\Recent"}


def inbox_snapshot(dovecot: Dovecot, folder: str = "INBOX",
                   ) -> dict[int, tuple[frozenset[str], bytes]]:
    """UID -> (flags, full message) for ``folder``, read with EXAMINE so looking changes
    nothing."""
    with dovecot.session() as imap:
        count = open_folder(imap, folder, readonly=True)
        result = {}
        for num in range(1, count + 1):
            line = fetch_line(imap, num, "UID FLAGS")
            uid = re.search(rb"UID (\d+)", line)
            assert uid is not None, line
            result[int(uid.group(1))] = (frozenset(flags(line)), fetch(imap, num, "BODY.PEEK[]"))
        return result


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def append(dovecot: Dovecot, folder: str, msg: EmailMessage, flag_list: str | None) -> None:
    with dovecot.session() as imap:
        ok(imap.append(folder, flag_list, None, msg.as_bytes()))


# -- the test ----------------------------------------------------------------------

@pytest.mark.parametrize("folders_by", ["dovecot", "engine"])
def test_dovecot_serves_our_drafts_and_we_see_what_it_delivers(
    dovecot: Dovecot, tmp_path: Path, folders_by: str,
) -> None:
    if folders_by == "dovecot":
        # A Dovecot user's folders already exist, with Dovecot's index of them
        # (stale once the engine adds files behind its back).
        with dovecot.session() as imap:
            for folder in ("Drafts", "Sent"):
                ok(imap.create(folder))
                assert open_folder(imap, folder) == 0
    now = datetime.now(UTC).replace(microsecond=0)
    write_calendar(tmp_path / "calendar.ics", now)
    config = make_config(tmp_path, dovecot.maildir)
    clock = ManualClock(now)
    engine = Engine.open(config, clock=clock)
    try:
        report = engine.cycle()
        assert report.errors == []
        rendered = {d.to[0].email: d for d in report.created}
        assert set(rendered) == {JANE, SAMUEL}
        iv_id = interview_id("home", EVENT_UID)

        # 1. Dovecot shows exactly our two drafts, as drafts, as the engine rendered them.
        drafts: dict[str, EmailMessage] = {}
        with dovecot.session() as imap:
            assert "Drafts" in folder_names(imap)
            assert open_folder(imap, "Drafts") == 2
            for num in (1, 2):
                assert "\\Draft" in flags(fetch_line(imap, num, "FLAGS"))
                head = parse(fetch(
                    imap, num, f"BODY.PEEK[HEADER.FIELDS ({MARKER.upper()} TO SUBJECT)]"))
                [(_, to)] = getaddresses([str(head["To"])])
                assert head[MARKER] == f"{iv_id}/thank_you/{to}"
                whole = parse(fetch(imap, num, "BODY.PEEK[]"))
                body = whole.get_content().replace("\r\n", "\n")
                assert "Dear" in body
                assert body.strip() == rendered[to].body.strip()
                assert head["Subject"] == rendered[to].subject
                drafts[to] = head
        assert set(drafts) == {JANE, SAMUEL}

        # 2. The user sends Jane's note and Jane answers; Dovecot stores both.
        if folders_by == "engine":
            with dovecot.session() as imap:
                ok(imap.create("Sent"))  # as the user's mail client does on first send
        sent = EmailMessage()
        sent["From"] = f"Alex Rivera <{ME}>"
        sent["To"] = f"Jane Doe <{JANE}>"
        sent["Subject"] = str(drafts[JANE]["Subject"])
        sent["Date"] = format_datetime(now)
        sent["Message-ID"] = make_msgid(domain="example.org")
        sent[MARKER] = str(drafts[JANE][MARKER])
        sent.set_content("Dear Jane,\n\nThank you for your time today.\n")
        append(dovecot, "Sent", sent, "(\\Seen)")
        reply = EmailMessage()
        reply["From"] = f"Jane Doe <{JANE}>"
        reply["To"] = f"Alex Rivera <{ME}>"
        reply["Subject"] = f"Re: {sent['Subject']}"
        reply["Date"] = format_datetime(now + timedelta(minutes=5))
        reply["Message-ID"] = make_msgid(domain="acme-robotics.com")
        reply["In-Reply-To"] = reply["References"] = str(sent["Message-ID"])
        reply.set_content("Hi Alex, thanks! We will be in touch next week.\n")
        append(dovecot, "INBOX", reply, None)
        before = inbox_snapshot(dovecot)
        assert [f for f, _ in before.values()] == [frozenset()]  # unread, unflagged

        # 3. A week and a day later: answered, so no status check.
        clock.advance(days=8)
        report = engine.cycle()
        assert report.errors == []
        assert report.created == []
        iv = engine.store.interview(iv_id)
        assert iv is not None and iv.answered_at is not None
        [jane_row] = [d for d in engine.store.drafts(iv_id) if d.recipient == JANE]
        assert jane_row.sent_at is not None  # the sent note was found in Sent
    finally:
        engine.close()
    with dovecot.session() as imap:
        assert open_folder(imap, "Drafts", readonly=True) == 2
    # Rule 10: reading the inbox changed nothing Dovecot shows (no \Seen, same message).
    assert inbox_snapshot(dovecot) == before


def answer(subject: str, sender: str = f"Jane Doe <{JANE}>") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"Alex Rivera <{ME}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="acme-robotics.com")
    msg.set_content("Hi Alex,\n\nThank you for your interest in Acme Robotics. Next steps: "
                    "a call with the hiring manager.\n")
    return msg


def maildir_files(root: Path) -> dict[str, bytes]:
    """Every message file of every folder (name -> bytes): flags live in the names."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.parent.name in ("cur", "new")}


def test_mail_filed_by_an_imap_client_is_read_where_it_is_and_never_changed(
    dovecot: Dovecot,
) -> None:
    box = MaildirMailbox("home", dovecot.maildir)
    not_before = datetime.now(UTC) - timedelta(days=7)
    moved, copied, stays = (answer("Next steps"), answer("Re: Thank you"),
                            answer("Lunch?", "Sam <sam@elsewhere.example>"))
    with dovecot.session() as imap:
        ok(imap.create("Archive"))  # an Archive folder the user had before (read already)
    for msg in (moved, copied, stays):
        append(dovecot, "INBOX", msg, None)
    first = box.messages_since(None, not_before)
    assert {(m.message_id, m.folder) for m in first.messages} == {
        (str(m["Message-ID"]), Folder.INBOX) for m in (moved, copied, stays)}

    # The user files two answers away with their IMAP client: a MOVE into Archive, and
    # the older COPY + \Deleted + EXPUNGE into a folder made just now, "Jobs/Acme".
    with dovecot.session() as imap:
        ok(imap.create("Jobs.Acme"))
        assert open_folder(imap, "INBOX") == 3
        ok(imap.uid("MOVE", "1", "Archive"))
        ok(imap.uid("COPY", "2", "Jobs.Acme"))
        ok(imap.uid("STORE", "2", "+FLAGS.SILENT", "(\\Deleted)"))
        ok(imap.expunge())
    before = {folder: inbox_snapshot(dovecot, folder)
              for folder in ("INBOX", "Archive", "Jobs.Acme")}
    files = maildir_files(dovecot.maildir)
    assert any(name.startswith(".Archive/") for name in files)

    second = box.messages_since(first.checkpoint, not_before)
    # Dovecot's SELECT also moved the message left in INBOX from new/ to cur/: it may
    # come again (callers are idempotent), from INBOX.
    assert {(m.message_id, m.folder, m.folder_name) for m in second.messages} - {
        (str(stays["Message-ID"]), Folder.INBOX, "INBOX")} == {
        (str(moved["Message-ID"]), Folder.OTHER, "Archive"),
        (str(copied["Message-ID"]), Folder.OTHER, "Jobs/Acme"),
    }
    assert box.messages_since(second.checkpoint, not_before).messages == ()
    found = box.search_answers(datetime.now(UTC) - timedelta(hours=1),
                               Interest(domains=frozenset({"acme-robotics.com"})))
    assert {(m.message_id, m.folder_name) for m in found} == {
        (str(moved["Message-ID"]), "Archive"), (str(copied["Message-ID"]), "Jobs/Acme")}
    assert all("Next steps" in m.excerpt for m in found)
    box.find_marker("iv1/thank_you/" + JANE)

    # Rule 10: reading changed no message file and nothing Dovecot shows (no \Seen).
    assert maildir_files(dovecot.maildir) == files
    assert {folder: inbox_snapshot(dovecot, folder)
            for folder in ("INBOX", "Archive", "Jobs.Acme")} == before
    assert [flags for flags, _ in before["Archive"].values()] == [frozenset()]
