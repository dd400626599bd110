"""The local provider: an .ics file and a Maildir++ folder, all real files in tmp_path."""

from __future__ import annotations

import email
import email.policy
import itertools
import mailbox as stdlib_mailbox
import os
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest

from interview_followup.daemon.config import open_account as open_account_
from interview_followup.daemon.config import parse_config
from interview_followup.daemon.people import who_gets_a_note
from interview_followup.providers.base import CalendarSource, Folder, Mailbox, ReplyTo
from interview_followup.providers.errors import BadData, ProviderUnavailable
from interview_followup.providers.local import LocalCalendar
from interview_followup.providers.local.maildir import MaildirMailbox, _read_header_block
from tests.configs import make_config
from tests.contract import (
    NY,
    WINDOW,
    CalendarContract,
    EventSpec,
    MailboxContract,
    draft,
    interview,
    mail,
)

_MTIMES = itertools.count()


def settle(path: Path) -> None:
    """Give ``path`` a distinct mtime in the past, as a file written a while ago has."""
    when = time.time_ns() - 3600 * 10**9 + next(_MTIMES) * 10**9
    os.utime(path, ns=(when, when))


def deliver_to(root: Path, msg: EmailMessage) -> str:
    """Deliver as a mail server does (Python's own Maildir writer: an independent one)."""
    return stdlib_mailbox.Maildir(root, create=False).add(msg)


def sent_to(root: Path, msg: EmailMessage) -> str:
    folder = stdlib_mailbox.Maildir(root, create=False).add_folder("Sent")
    message = stdlib_mailbox.MaildirMessage(msg)
    message.set_subdir("cur")
    message.add_flag("S")
    return folder.add(message)


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def not_before() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)


# -- the contract ------------------------------------------------------------

def file_into(root: Path, msg: EmailMessage, folder: str) -> str:
    """Deliver into the Maildir++ folder ``folder`` (made when missing, as a client does)."""
    box = stdlib_mailbox.Maildir(root, create=False).add_folder(folder)
    message = stdlib_mailbox.MaildirMessage(msg)
    if folder == "Drafts":
        message.set_subdir("cur")
        message.add_flag("D")
    return box.add(message)


def move(root: Path, message_id: str, folder: str) -> Path:
    """Move a message of INBOX into ``folder`` as a mail client does: one rename, into
    cur/ with the Seen flag (the file keeps its mtime, its ctime becomes now)."""
    stdlib_mailbox.Maildir(root, create=False).add_folder(folder)
    for path in [*(root / "new").iterdir(), *(root / "cur").iterdir()]:
        head = email.message_from_bytes(_read_header_block(path), policy=email.policy.default)
        if head["Message-ID"] == message_id:
            name = path.name if ":2," in path.name else f"{path.name}:2,S"
            target = root / f".{folder}" / "cur" / name
            os.rename(path, target)
            return target
    raise AssertionError(f"{message_id} is not in INBOX")


class TestLocalMailboxContract(MailboxContract):
    supports_answer_fields = True
    supports_folders = True

    @pytest.fixture
    def mailbox(self, maildir_root: Path) -> Mailbox:
        return MaildirMailbox("home", maildir_root)

    def file_into(self, mailbox: Mailbox, msg: EmailMessage, folder: str) -> None:
        assert isinstance(mailbox, MaildirMailbox)
        file_into(mailbox.root, msg, folder)

    def move(self, mailbox: Mailbox, message_id: str, folder: str) -> None:
        assert isinstance(mailbox, MaildirMailbox)
        move(mailbox.root, message_id, folder)

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        assert isinstance(mailbox, MaildirMailbox)
        deliver_to(mailbox.root, msg)

    def record_sent(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        assert isinstance(mailbox, MaildirMailbox)
        sent_to(mailbox.root, msg)


def render(specs: dict[str, EventSpec]) -> bytes:
    """The specs as another client writes them (icalendar's writer, not our reader)."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//interview-followup tests//contract//EN")
    cal.add("version", "2.0")
    for spec in specs.values():
        ev = icalendar.Event()
        ev.add("uid", spec.uid)
        ev.add("dtstamp", datetime(2026, 10, 1, tzinfo=UTC))
        ev.add("summary", spec.title)
        ev.add("dtstart", spec.start)
        ev.add("dtend", spec.end)
        if spec.description:
            ev.add("description", spec.description)
        if spec.cancelled:
            ev.add("status", "CANCELLED")
        if spec.organizer:
            ev.add("organizer", icalendar.vCalAddress(f"mailto:{spec.organizer.email}"),
                   parameters={"CN": spec.organizer.name})
        for person in spec.attendees:
            params = {"CN": person.name, "PARTSTAT": person.response.value.upper()}
            if person.is_resource:
                params["CUTYPE"] = "ROOM"
            ev.add("attendee", icalendar.vCalAddress(f"MAILTO:{person.email.upper()}"),
                   parameters=params)
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical()


class TestLocalCalendarContract(CalendarContract):
    supports_lookup = True

    @pytest.fixture
    def calendar(self, tmp_path: Path) -> CalendarSource:
        self.specs: dict[str, EventSpec] = {}
        return LocalCalendar("home", tmp_path / "calendar.ics")

    def _write(self, calendar: CalendarSource) -> None:
        assert isinstance(calendar, LocalCalendar)
        calendar.path.write_bytes(render(self.specs))
        settle(calendar.path)

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        self.specs[spec.uid] = spec
        self._write(calendar)

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        del self.specs[uid]
        self._write(calendar)


# -- Maildir specifics -------------------------------------------------------

def test_draft_is_a_private_file_in_drafts_cur_with_the_draft_flag(maildir_root: Path) -> None:
    box = MaildirMailbox("home", maildir_root)
    assert not (maildir_root / ".Drafts").exists()
    ref = box.create_draft(draft("iv1/thank-you/dana@acme.example"),
                           "iv1/thank-you/dana@acme.example", None)
    drafts = maildir_root / ".Drafts"
    assert sorted(p.name for p in drafts.iterdir()) == ["cur", "maildirfolder", "new", "tmp"]
    [path] = (drafts / "cur").iterdir()
    assert path.name == f"{ref.id}:2,D"
    assert path.stat().st_mode & 0o777 == 0o600
    assert list((drafts / "tmp").iterdir()) == []
    assert ref.created is not None and ref.created.tzinfo is not None
    stored = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert stored["X-Interview-Followup"] == "iv1/thank-you/dana@acme.example"
    assert "we will be in touch" in stored.get_content()
    # Python's own Maildir reader sees a draft too.
    [seen] = stdlib_mailbox.Maildir(drafts, create=False).values()
    assert "D" in seen.get_flags()


def test_draft_writes_nothing_outside_drafts(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail())
    sent_to(maildir_root, mail(subject="sent"))
    before = all_files(maildir_root)
    box = MaildirMailbox("home", maildir_root)
    box.create_draft(draft("iv1/thank-you/x@acme.example"), "iv1/thank-you/x@acme.example", None)
    after = {k: v for k, v in all_files(maildir_root).items() if not k.startswith(".Drafts/")}
    assert after == before


def test_missing_marker_header_and_thread_headers_are_added_to_a_copy(
    maildir_root: Path,
) -> None:
    box = MaildirMailbox("home", maildir_root)
    msg = mail(sender="alex@home.example", to="dana@acme.example", subject="Re: Thank you")
    reply_to = ReplyTo(message_id="<thanks-1@home.example>", references=("<a@acme.example>",))
    box.create_draft(msg, "iv1/status-check/dana@acme.example", reply_to)
    assert "X-Interview-Followup" not in msg  # the caller's message is untouched
    [path] = (maildir_root / ".Drafts" / "cur").iterdir()
    stored = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert stored["X-Interview-Followup"] == "iv1/status-check/dana@acme.example"
    assert stored["In-Reply-To"] == "<thanks-1@home.example>"
    assert stored["References"] == "<a@acme.example> <thanks-1@home.example>"


def test_draft_whose_header_disagrees_with_the_marker_is_refused(maildir_root: Path) -> None:
    box = MaildirMailbox("home", maildir_root)
    with pytest.raises(ValueError, match="iv2"):
        box.create_draft(draft("iv1/thank-you/a@b.example"), "iv2/thank-you/a@b.example", None)
    assert not (maildir_root / ".Drafts" / "cur").exists() or not list(
        (maildir_root / ".Drafts" / "cur").iterdir())


def test_missing_maildir_is_unavailable_and_never_created(tmp_path: Path) -> None:
    box = MaildirMailbox("home", tmp_path / "nowhere")
    for call in (
        lambda: box.messages_since(None, not_before()),
        lambda: box.find_marker("m"),
        lambda: box.create_draft(draft("m"), "m", None),
    ):
        with pytest.raises(ProviderUnavailable, match="nowhere") as info:
            call()
        assert info.value.account == "home"
    assert not (tmp_path / "nowhere").exists()


def test_first_run_reads_only_messages_delivered_since_not_before(maildir_root: Path) -> None:
    old = mail(subject="old")
    key = deliver_to(maildir_root, old)
    month_ago = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    os.utime(maildir_root / "new" / key, (month_ago, month_ago))
    deliver_to(maildir_root, mail(subject="new"))
    batch = MaildirMailbox("home", maildir_root).messages_since(None, not_before())
    assert [m.subject for m in batch.messages] == ["new"]


def test_after_a_checkpoint_only_new_files_are_read(maildir_root: Path) -> None:
    box = MaildirMailbox("home", maildir_root)
    deliver_to(maildir_root, mail(subject="one"))
    first = box.messages_since(None, not_before())
    deliver_to(maildir_root, mail(subject="two"))
    second = box.messages_since(first.checkpoint, not_before())
    assert [m.subject for m in second.messages] == ["two"]


def test_a_message_read_by_the_user_keeps_its_id(maildir_root: Path) -> None:
    key = deliver_to(maildir_root, mail())
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    # A mail client moves a read message to cur/ and adds the Seen flag.
    os.rename(maildir_root / "new" / key, maildir_root / "cur" / f"{key}:2,S")
    second = box.messages_since(first.checkpoint, not_before())
    assert {m.id for m in first.messages + second.messages} == {key}


def test_unreadable_entry_is_reported_and_the_others_are_read(maildir_root: Path) -> None:
    (maildir_root / "new" / "loop").symlink_to("loop")
    deliver_to(maildir_root, mail(subject="fine"))
    batch = MaildirMailbox("home", maildir_root).messages_since(None, not_before())
    assert [m.subject for m in batch.messages] == ["fine"]
    assert len(batch.problems) == 1 and "new/loop" in batch.problems[0]


def test_unusable_checkpoint_starts_over(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail(subject="hello"))
    box = MaildirMailbox("home", maildir_root)
    for checkpoint in ("not json", '{"v": 99}', '{"v": 1, "dirs": {"new": [1]}}'):
        batch = box.messages_since(checkpoint, not_before())
        assert [m.subject for m in batch.messages] == ["hello"]


def test_sent_folder_created_later_is_read(maildir_root: Path) -> None:
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    assert first.messages == ()
    sent_to(maildir_root, mail(subject="my thanks"))
    second = box.messages_since(first.checkpoint, not_before())
    assert [(m.subject, m.folder) for m in second.messages] == [("my thanks", Folder.SENT)]


def test_bad_and_zoneless_dates(maildir_root: Path) -> None:
    bad = mail(subject="bad")
    bad.replace_header("Date", "someday soon")
    zoneless = mail(subject="zoneless")
    zoneless.replace_header("Date", "Tue, 10 Nov 2026 16:30:00 -0000")
    deliver_to(maildir_root, bad)
    deliver_to(maildir_root, zoneless)
    got = {m.subject: m.date for m in
           MaildirMailbox("home", maildir_root).messages_since(None, not_before()).messages}
    assert got == {"bad": None, "zoneless": datetime(2026, 11, 10, 16, 30, tzinfo=UTC)}


def test_only_the_header_block_is_read(tmp_path: Path) -> None:
    path = tmp_path / "msg"
    body = b"Subject: not a header, part of the body\n" + b"x" * 3_000_000
    path.write_bytes(b"From: a@b.example\nSubject: real\n\n" + body)
    block = _read_header_block(path)
    assert block == b"From: a@b.example\nSubject: real\n\n"


def test_rule_headers_are_collected_lower_case(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail(X_Autoreply="yes", Precedence="bulk",
                                  X_Auto_Response_Suppress="All", List_Id="<jobs.acme>"))
    [got] = MaildirMailbox("home", maildir_root).messages_since(None, not_before()).messages
    assert dict(got.headers) == {"x-autoreply": "yes", "precedence": "bulk",
                                 "x-auto-response-suppress": "All", "list-id": "<jobs.acme>"}
    assert got.thread_id == "" and got.marker == ""


# -- calendar file specifics -------------------------------------------------

def write_calendar(path: Path, *specs: EventSpec) -> None:
    path.write_bytes(render({s.uid: s for s in specs}))
    settle(path)


def test_missing_calendar_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable, match=r"missing\.ics") as info:
        LocalCalendar("home", tmp_path / "missing.ics").changes(None, *WINDOW, NY)
    assert info.value.account == "home"


def test_unparseable_calendar_is_bad_data_naming_account_and_file(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_text("this is not a calendar\n")
    with pytest.raises(BadData) as info:
        LocalCalendar("home", path).changes(None, *WINDOW, NY)
    assert info.value.account == "home" and info.value.item == str(path)
    assert info.value.problem == "not an iCalendar file: no BEGIN:VCALENDAR line"


# Each of these once made the whole file unreadable, so no interview in it got a note.
BAD_NEIGHBOURS = (
    "BEGIN:VTIMEZONE\r\nTZID:\r\nBEGIN:STANDARD\r\nDTSTART:16010101T020000\r\n"
    "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    "BEGIN:VTODO\r\nUID:todo-1\r\nDTSTART:2026-11-09\r\nSUMMARY:Portfolio\r\nEND:VTODO\r\n"
    "BEGIN:VFREEBUSY\r\nUID:fb-1\r\nFREEBUSY:20261110T190000Z/whenever\r\nEND:VFREEBUSY\r\n"
)
INTERVIEW_WITH_NUL_NAME = (
    "BEGIN:VEVENT\r\nUID:iv-9@acme.example\r\nDTSTAMP:20261001T000000Z\r\n"
    "DTSTART:20261110T190000Z\r\nDTEND:20261110T200000Z\r\n"
    "SUMMARY:Interview: Platform Engineer\r\n"
    "ORGANIZER;CN=Alex Rivera:mailto:alex.rivera@gmail.com\r\n"
    "ATTENDEE;CN=Sam\x00 Lee;PARTSTAT=ACCEPTED:mailto:sam.lee@acme.example\r\n"
    "END:VEVENT\r\n"
)


def test_bad_components_are_skipped_and_the_interview_is_read(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_bytes(("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\n"
                      + BAD_NEIGHBOURS + INTERVIEW_WITH_NUL_NAME + "END:VCALENDAR\r\n").encode())
    settle(path)
    changes = LocalCalendar("home", path).changes(None, *WINDOW, NY)
    [event] = changes.events
    assert (event.uid, event.title) == ("iv-9@acme.example", "Interview: Platform Engineer")
    assert [p.split(": ")[0:2] for p in changes.problems] == [
        [f"{path}, line 4", "VTIMEZONE"],
        [f"{path}, line 12", "VTODO UID todo-1"],
        [f"{path}, line 17", "VFREEBUSY UID fb-1"],
    ]
    assert changes.problems[0] == f"{path}, line 4: VTIMEZONE: empty TZID"
    # The attendee whose name had a NUL in it still gets the note, greeted by name.
    config = make_config(tmp_path / "config", timezone="America/New_York")
    recipients, how = who_gets_a_note(event, config)
    assert how == "attendees"
    assert [(r.email, r.name, r.greeting_name) for r in recipients] == [
        ("sam.lee@acme.example", "Sam Lee", "Sam")]


def test_calendar_is_read_again_when_the_window_moves_to_another_day(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    late = datetime(2026, 12, 1, 15, tzinfo=UTC)
    write_calendar(path, interview(), interview("late", start=late, end=late + timedelta(hours=1)))
    cal = LocalCalendar("home", path)
    start, end = WINDOW
    first = cal.changes(None, start, end, NY)
    assert [e.uid for e in first.events] == ["iv-1@acme.example"]
    same_day = cal.changes(first.checkpoint, start + timedelta(hours=1), end + timedelta(hours=1),
                           NY)
    assert same_day.unchanged
    next_day = cal.changes(first.checkpoint, start + timedelta(days=1), end + timedelta(days=1),
                           NY)
    assert next_day.complete and [e.uid for e in next_day.events] == ["iv-1@acme.example", "late"]


def test_file_written_this_moment_is_not_trusted_as_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    path.write_bytes(render({"iv-1@acme.example": interview()}))  # mtime: now
    cal = LocalCalendar("home", path)
    first = cal.changes(None, *WINDOW, NY)
    second = cal.changes(first.checkpoint, *WINDOW, NY)
    assert second.complete and not second.unchanged
    assert [e.uid for e in second.events] == ["iv-1@acme.example"]


def test_broken_events_are_passed_on_as_problems(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    text = render({"iv-1@acme.example": interview()}).replace(
        b"END:VCALENDAR",
        b"BEGIN:VEVENT\r\nUID:broken-1\r\nDTSTART:20261105Tnoon\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR",
    )
    path.write_bytes(text)
    changes = LocalCalendar("home", path).changes(None, *WINDOW, NY)
    assert [e.uid for e in changes.events] == ["iv-1@acme.example"]
    assert len(changes.problems) == 1 and "broken-1" in changes.problems[0]


def test_open_account_from_a_real_config(tmp_path: Path, maildir_root: Path) -> None:
    write_calendar(tmp_path / "calendar.ics", interview())
    config_path = tmp_path / "config.toml"
    config = parse_config(
        '[me]\nname = "Alex Rivera"\nemail = "alex@home.example"\n'
        'timezone = "America/New_York"\n\n'
        '[[accounts]]\nname = "home"\nprovider = "local"\n'
        f'calendar = "calendar.ics"\nmaildir = "{maildir_root.name}"\n',
        config_path,
    )
    account = open_account_(config.accounts[0], config)
    assert (account.name, account.provider) == ("home", "local")
    assert isinstance(account.mailbox, MaildirMailbox) and account.mailbox.root == maildir_root
    events = account.calendar.changes(None, *WINDOW, NY).events
    assert [e.title for e in events] == ["Interview: Platform Engineer"]
    account.close()


# -- looking an event up outside the window (rule 8) -------------------------------

SERIES = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//lookup//EN
{method}BEGIN:VEVENT
UID:weekly@acme.example
DTSTAMP:20261001T000000Z
DTSTART:20261103T190000Z
DTEND:20261103T200000Z
RRULE:FREQ=WEEKLY;COUNT=20
EXDATE:20261117T190000Z
SUMMARY:Interview loop (weekly slot)
END:VEVENT
BEGIN:VEVENT
UID:weekly@acme.example
RECURRENCE-ID:20261110T190000Z
DTSTAMP:20261001T000000Z
DTSTART:20270115T150000Z
DTEND:20270115T160000Z
SUMMARY:Interview loop (postponed)
END:VEVENT
BEGIN:VEVENT
UID:weekly@acme.example
RECURRENCE-ID:20261124T190000Z
DTSTAMP:20261001T000000Z
DTSTART:20261124T190000Z
DTEND:20261124T200000Z
STATUS:CANCELLED
SUMMARY:Interview loop (cancelled)
END:VEVENT
BEGIN:VEVENT
UID:https://calendar.example/events/42
DTSTAMP:20261001T000000Z
DTSTART:20270301T150000Z
DTEND:20270301T160000Z
SUMMARY:Interview with a URL for a UID
END:VEVENT
BEGIN:VEVENT
UID:twice@acme.example
SEQUENCE:0
DTSTAMP:20261001T000000Z
DTSTART:20261112T150000Z
DTEND:20261112T160000Z
SUMMARY:Interview (first invitation)
END:VEVENT
BEGIN:VEVENT
UID:twice@acme.example
SEQUENCE:2
DTSTAMP:20261002T000000Z
DTSTART:20270212T150000Z
DTEND:20270212T160000Z
SUMMARY:Interview (moved by the update)
END:VEVENT
END:VCALENDAR
"""


def series_calendar(tmp_path: Path, method: str = "") -> LocalCalendar:
    path = tmp_path / "calendar.ics"
    path.write_bytes(SERIES.format(method=method).replace("\n", "\r\n").encode())
    settle(path)
    return LocalCalendar("home", path)


def test_lookup_finds_instances_of_a_series_wherever_they_are(tmp_path: Path) -> None:
    cal = series_calendar(tmp_path)
    in_window = {e.uid for e in cal.changes(None, *WINDOW, NY).events}
    assert "weekly@acme.example/20261103T190000Z" in in_window
    assert "weekly@acme.example/20261110T190000Z" not in in_window  # postponed out of it
    plain = cal.lookup("weekly@acme.example/20261103T190000Z", NY)
    assert plain is not None and plain.start == datetime(2026, 11, 3, 19, tzinfo=UTC)
    moved = cal.lookup("weekly@acme.example/20261110T190000Z", NY)
    assert moved is not None
    assert (moved.title, moved.start) == ("Interview loop (postponed)",
                                          datetime(2027, 1, 15, 15, tzinfo=UTC))
    assert moved.uid == "weekly@acme.example/20261110T190000Z"
    assert cal.lookup("weekly@acme.example/20261117T190000Z", NY) is None  # EXDATE
    assert cal.lookup("weekly@acme.example/20261124T190000Z", NY) is None  # cancelled
    assert cal.lookup("weekly@acme.example/20261125T190000Z", NY) is None  # never one
    assert cal.lookup("weekly@acme.example", NY) is None  # a series is not an event


def test_lookup_of_a_uid_with_a_slash_and_of_an_updated_invitation(tmp_path: Path) -> None:
    cal = series_calendar(tmp_path)
    url = cal.lookup("https://calendar.example/events/42", NY)
    assert url is not None and url.title == "Interview with a URL for a UID"
    updated = cal.lookup("twice@acme.example", NY)
    assert updated is not None
    assert (updated.title, updated.start) == ("Interview (moved by the update)",
                                              datetime(2027, 2, 12, 15, tzinfo=UTC))


def test_lookup_in_a_cancelling_calendar_is_none(tmp_path: Path) -> None:
    cal = series_calendar(tmp_path, method="METHOD:CANCEL\n")
    assert cal.lookup("https://calendar.example/events/42", NY) is None


def test_lookup_needs_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "calendar.ics"
    with pytest.raises(ProviderUnavailable, match="not found"):
        LocalCalendar("home", path).lookup("iv-1@acme.example", NY)
    path.write_bytes(SERIES.replace("\n", "\r\n").encode()[:-20])  # cut short while written
    with pytest.raises(BadData, match="cut short") as info:
        LocalCalendar("home", path).lookup("iv-1@acme.example", NY)
    assert info.value.account == "home"


# -- headers: read raw where they are plain, decoded where they are not ------------

TRICKY_HEADERS = (
    b"From: =?utf-8?q?M=C3=BCller=2C_J=C3=B6rg?= <Jorg@Acme.example>\n"
    b"To: Alex Rivera <alex@home.example>,\n \"Doe, Jane\" <jane@acme.example>\n"
    b"To: second-to@acme.example\n"
    b"Cc: J\xc3\xb6rg Raw <raw8bit@acme.example>\n"
    b"Reply-To: Acme Careers <careers@acme.example>, hr@acme.example\n"
    b"Subject: =?utf-8?q?R=C3=A9ponse?= : entretien\n"
    b"Date: Tue, 10 Nov 2026 16:30:00 -0500\n"
    b"Message-ID: <a1@acme.example>\n"
    b"In-Reply-To: <thanks-1@home.example> (Alex's note)\n"
    b"References: <start@acme.example>\n <thanks-1@home.example>\n"
    b"List-Unsubscribe: <mailto:unsub@acme.example>,\n <https://acme.example/u>\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
    b"Feedback-ID: 123:campaign:acme\n"
    b"X-Autogenerated: Reply\n"
    b"Content-Type: Multipart/Report;\n report-type=delivery-status;\n\tboundary=\"B1\"\n"
    b"\n"
)


def test_headers_plain_and_encoded(maildir_root: Path) -> None:
    (maildir_root / "new" / "1.tricky.host").write_bytes(TRICKY_HEADERS + b"--B1--\n")
    [got] = MaildirMailbox("home", maildir_root).messages_since(None, not_before()).messages
    assert got.sender is not None
    assert (got.sender.email, got.sender.name) == ("jorg@acme.example", "Müller, Jörg")
    assert [(a.email, a.name) for a in got.to] == [
        ("alex@home.example", "Alex Rivera"), ("jane@acme.example", "Doe, Jane"),
        ("second-to@acme.example", "")]
    assert [a.email for a in got.cc] == ["raw8bit@acme.example"]
    assert got.cc[0].name.startswith("J") and got.cc[0].name.endswith("rg Raw")
    assert [(a.email, a.name) for a in got.reply_to] == [
        ("careers@acme.example", "Acme Careers"), ("hr@acme.example", "")]
    assert got.subject == "Réponse : entretien"
    assert got.date == datetime(2026, 11, 10, 21, 30, tzinfo=UTC)
    assert (got.message_id, got.in_reply_to) == ("<a1@acme.example>", "<thanks-1@home.example>")
    assert got.references == ("<start@acme.example>", "<thanks-1@home.example>")
    assert dict(got.headers) == {
        "list-unsubscribe": "<mailto:unsub@acme.example>, <https://acme.example/u>",
        "feedback-id": "123:campaign:acme", "x-autogenerated": "Reply"}
    assert got.content_type == 'multipart/report; report-type=delivery-status; boundary="b1"'


def test_headers_match_the_email_packages_own_reading(maildir_root: Path) -> None:
    """The fast path (raw values) against email.policy.default's header objects."""
    box = MaildirMailbox("home", maildir_root)
    (maildir_root / "new" / "1.tricky.host").write_bytes(TRICKY_HEADERS)
    for msg in (mail(), mail(sender='"Doe, \\"JJ\\" Jane" <jj@acme.example>'),
                mail(subject="x" * 200,
                     References=" ".join(f"<ref{i}@acme.example>" for i in range(12)))):
        deliver_to(maildir_root, msg)
    for got in box.messages_since(None, not_before()).messages:
        [path] = [p for p in maildir_root.glob("new/*") if p.name.startswith(got.id)]
        ref = email.message_from_bytes(_read_header_block(path), policy=email.policy.default)
        expected_from = ref["From"].addresses[0]
        assert got.sender is not None
        assert (got.sender.email, got.sender.name) == (expected_from.addr_spec.lower(),
                                                       expected_from.display_name)
        assert [a.email for a in got.to] == [a.addr_spec.lower() for h in ref.get_all("To")
                                             for a in h.addresses]
        assert got.subject == str(ref["Subject"])
        assert got.message_id == str(ref["Message-ID"]).strip()
