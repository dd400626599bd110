"""The failure contracts (tests/contract.py) for every backend, with real parts (issue 10).

Unreachable: a server stopped after a first read (the feed's and Radicale's own HTTP
servers, the fake Google and Graph servers, a TCP relay in front of Dovecot whose port
then closes), a calendar file or folder or a Maildir removed. Malformed: a file or a
feed that is not iCalendar, a vdir or Maildir path that is not a folder, a server that
answers XML, JSON or IMAP no parser reads (tests/fakes/tcp.py, the fakes' "garbage"
fault). Refused: a wrong password at Radicale and Dovecot, a feed answering 401, a
revoked Google or Microsoft grant (through google-auth's and msal's own refresh).
Every part is read once while it works, so each failure is met both on a first read
and from a checkpoint.

What each failure ends in: unreachable is always ProviderUnavailable, a refused login
always AuthExpired; a malformed answer is each class's ``malformed_error``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interview_followup.daemon.config import AccountConfig
from interview_followup.providers._shared import secrets
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import CalendarSource, Mailbox
from interview_followup.providers.caldav.calendar import CalDAVCalendar
from interview_followup.providers.errors import BadData, ProviderUnavailable
from interview_followup.providers.feed.calendar import FeedCalendar
from interview_followup.providers.google.api import GoogleApi
from interview_followup.providers.google.calendar import GoogleCalendar
from interview_followup.providers.google.mailbox import Gmail
from interview_followup.providers.imap import open_mailbox
from interview_followup.providers.local import LocalCalendar
from interview_followup.providers.local.maildir import MaildirMailbox
from interview_followup.providers.microsoft.account import MicrosoftAccount, open_account
from interview_followup.providers.microsoft.auth import TokenSource, authorize
from interview_followup.providers.vdir.calendar import VdirCalendar
from tests.contract import (
    NY,
    WINDOW,
    Broken,
    CalendarFailureContract,
    CalendarLoginContract,
    MailboxFailureContract,
    MailboxLoginContract,
    interview,
    mail,
)
from tests.fakes.google_server import FakeGoogle
from tests.fakes.graph_server import FakeGraph
from tests.fakes.tcp import Relay, garbage_http, garbage_imap
from tests.keyring_backend import stored, use_file_keyring
from tests.test_caldav import PASSWORD, USER, Radicale, Writer
from tests.test_caldav import fast_http as dav_http
from tests.test_feed import FeedServer, write_item
from tests.test_feed import fast_http as feed_http
from tests.test_google_provider import credentials_json, google_event, started_fake
from tests.test_imap import Server, running_server
from tests.test_local_provider import deliver_to, render, settle
from tests.test_microsoft_provider import (
    ME,
    Sleeps,
    config,
    graph_event,
    graph_message,
)

# What a captive portal, a login page or a wrong URL gives instead of a calendar.
LOGIN_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
              b'<body><form action="/login"><input name="password"></form></body></html>\n')
IV = "iv-1@acme.example"


def since() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)


def first_read(calendar: CalendarSource) -> str | None:
    changes = calendar.changes(None, *WINDOW, NY)
    assert [e.uid for e in changes.events] == [IV]  # it worked before it broke
    return changes.checkpoint


def first_batch(mailbox: Mailbox) -> str | None:
    batch = mailbox.messages_since(None, since())
    assert [m.subject for m in batch.messages] == ["Re: Interview"]  # it worked before
    return batch.checkpoint


# -- local: an .ics file ------------------------------------------------------------------

class TestLocalCalendarFailures(CalendarFailureContract):
    malformed_error = BadData

    @pytest.fixture
    def working(self, tmp_path: Path) -> tuple[LocalCalendar, str | None]:
        path = tmp_path / "calendar.ics"
        path.write_bytes(render({IV: interview()}))
        settle(path)
        calendar = LocalCalendar("home", path)
        return calendar, first_read(calendar)

    @pytest.fixture
    def unreachable_calendar(self, working: tuple[LocalCalendar, str | None]
                             ) -> Broken[CalendarSource]:
        calendar, checkpoint = working
        calendar.path.unlink()  # its disk is not mounted, a sync tool removed it
        return Broken(calendar, "home", (str(calendar.path),), checkpoint)

    @pytest.fixture
    def malformed_calendar(self, working: tuple[LocalCalendar, str | None]
                           ) -> Broken[CalendarSource]:
        calendar, checkpoint = working
        calendar.path.write_bytes(LOGIN_PAGE)  # a download that fetched a login page
        settle(calendar.path)
        return Broken(calendar, "home", (str(calendar.path),), checkpoint)


# -- vdir: a folder of .ics files -----------------------------------------------------

class TestVdirFailures(CalendarFailureContract):
    # One unreadable item is named in `problems` and the others go on (tests/test_feed.py);
    # a path that is no folder at all is the calendar out of reach.
    malformed_error = ProviderUnavailable

    @pytest.fixture
    def working(self, tmp_path: Path) -> tuple[VdirCalendar, str | None]:
        folder = tmp_path / "work"
        folder.mkdir()
        write_item(folder, interview())
        calendar = VdirCalendar("vdir", folder)
        return calendar, first_read(calendar)

    @pytest.fixture
    def unreachable_calendar(self, working: tuple[VdirCalendar, str | None]
                             ) -> Broken[CalendarSource]:
        calendar, checkpoint = working
        shutil.rmtree(calendar.path)
        return Broken(calendar, "vdir", (str(calendar.path),), checkpoint)

    @pytest.fixture
    def malformed_calendar(self, working: tuple[VdirCalendar, str | None]
                           ) -> Broken[CalendarSource]:
        calendar, checkpoint = working
        shutil.rmtree(calendar.path)
        calendar.path.write_bytes(LOGIN_PAGE)  # a file where the folder was
        return Broken(calendar, "vdir", (str(calendar.path),), checkpoint)


# -- feed: an iCalendar file over HTTP ----------------------------------------------------

class TestFeedFailures(CalendarFailureContract, CalendarLoginContract):
    malformed_error = BadData

    @pytest.fixture
    def working(self) -> Iterator[tuple[FeedServer, CalendarSource, str | None]]:
        server = FeedServer()
        server.publish({IV: interview()})
        calendar = FeedCalendar("feed", lambda: server.url, http=feed_http())
        try:
            yield server, calendar, first_read(calendar)
        finally:
            server.stop()

    @staticmethod
    def _broken(working: tuple[FeedServer, CalendarSource, str | None]
                ) -> Broken[CalendarSource]:
        server, calendar, checkpoint = working
        return Broken(calendar, "feed", (f"127.0.0.1:{server.server.server_port}",), checkpoint)

    @pytest.fixture
    def unreachable_calendar(self, working: tuple[FeedServer, CalendarSource, str | None]
                             ) -> Broken[CalendarSource]:
        broken = self._broken(working)
        working[0].stop()
        return broken

    @pytest.fixture
    def malformed_calendar(self, working: tuple[FeedServer, CalendarSource, str | None]
                           ) -> Broken[CalendarSource]:
        server = working[0]
        server.body, server.version = LOGIN_PAGE, server.version + 1
        return self._broken(working)

    @pytest.fixture
    def refused_calendar(self, working: tuple[FeedServer, CalendarSource, str | None]
                         ) -> Broken[CalendarSource]:
        working[0].status = 401
        return self._broken(working)


# -- CalDAV: Radicale, behind a relay -------------------------------------------------------

class CalDAV:
    """Radicale with a Work calendar holding the interview, reached through a relay."""

    def __init__(self, root: Path) -> None:
        self.radicale = Radicale(root)
        writer = Writer(self.radicale)
        writer.make("Work")
        writer.put(interview())
        self.relay = Relay(("127.0.0.1", self.radicale.server.server_port))
        self.password = PASSWORD
        self.calendar = CalDAVCalendar("dav", f"http://127.0.0.1:{self.relay.port}/", USER,
                                       lambda: self.password, http=dav_http())
        self.checkpoint = first_read(self.calendar)

    def broken(self, *names: str) -> Broken[CalendarSource]:
        return Broken(self.calendar, "dav", (f"127.0.0.1:{self.relay.port}", *names),
                      self.checkpoint)

    def stop(self) -> None:
        self.calendar.close()
        self.relay.stop()
        self.radicale.stop()


class TestCalDAVFailures(CalendarFailureContract, CalendarLoginContract):
    malformed_error = BadData

    @pytest.fixture
    def dav(self, tmp_path: Path) -> Iterator[CalDAV]:
        running = CalDAV(tmp_path)
        yield running
        running.stop()

    @pytest.fixture
    def unreachable_calendar(self, dav: CalDAV) -> Broken[CalendarSource]:
        dav.relay.stop()
        return dav.broken()

    @pytest.fixture
    def malformed_calendar(self, dav: CalDAV) -> Broken[CalendarSource]:
        dav.relay.answer_with(garbage_http())
        return dav.broken()

    @pytest.fixture
    def refused_calendar(self, dav: CalDAV) -> Broken[CalendarSource]:
        dav.password = "changed on another device"
        return dav.broken(repr(USER))

    @pytest.mark.parametrize("body", [
        b"<html><body>Sign in to the Wi-Fi</body></html>",  # lxml reads it; no multistatus
        b'{"error": "not found"}',  # lxml's XMLSyntaxError
        b"",  # nothing at all
        b'<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"/>',  # no principal in it
    ])
    def test_discovery_of_answers_python_caldav_cannot_read_is_bad_data(
            self, dav: CalDAV, body: bytes) -> None:
        """python-caldav parses discovery itself and fails in its own ways (lxml's error,
        ValueError, TypeError, AttributeError): each is the project's BadData."""
        dav.relay.answer_with(garbage_http(body))
        with pytest.raises(BadData, match=rf"CalDAV discovery at 127\.0\.0\.1:{dav.relay.port}: "
                           r"unreadable answer \(\w+"):
            dav.calendar.changes(None, *WINDOW, NY)


# -- Google: Calendar and Gmail against the fake Google -------------------------------------

GOOGLE = "gmail"


class Google:
    """The fake Google with the interview and a message, and the account's stored token."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.keyring = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
        self.fake: FakeGoogle = started_fake()
        self.fake.put_event("primary", google_event(interview()))
        self.fake.deliver(mail().as_bytes())
        secrets.set_secret(GOOGLE, credentials_json(self.fake))
        self.api = GoogleApi(GOOGLE, self.fake.url, retry=Retry(sleep=lambda _: None))

    def revoke(self) -> None:
        """The grant revoked: google-auth's refresh of the expired token is refused."""
        self.fake.revoke(json.loads(stored(self.keyring)[GOOGLE])["refresh_token"])
        self.fake.expire_access_tokens()

    def stop(self) -> None:
        self.fake.stop()
        assert self.fake.errors == []  # the fake's own bugs would show here
        assert self.fake.send_attempts == []


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Google]:
    running = Google(tmp_path, monkeypatch)
    yield running
    running.stop()


class TestGoogleCalendarFailures(CalendarFailureContract, CalendarLoginContract):
    # google-api-python-client hands back a body that is not JSON as text: api.py retries
    # it as a garbled answer, then gives up as on an outage.
    malformed_error = ProviderUnavailable

    @pytest.fixture
    def working(self, google: Google) -> Broken[CalendarSource]:
        calendar = GoogleCalendar(google.api)
        return Broken(calendar, GOOGLE, (), first_read(calendar))

    @pytest.fixture
    def unreachable_calendar(self, google: Google,
                             working: Broken[CalendarSource]) -> Broken[CalendarSource]:
        google.fake.stop()
        return working

    @pytest.fixture
    def malformed_calendar(self, google: Google,
                           working: Broken[CalendarSource]) -> Broken[CalendarSource]:
        google.fake.inject("garbage", rate=1.0)
        return replace(working, names=("not JSON",))

    @pytest.fixture
    def refused_calendar(self, google: Google,
                         working: Broken[CalendarSource]) -> Broken[CalendarSource]:
        google.revoke()
        return working


class TestGmailFailures(MailboxFailureContract, MailboxLoginContract):
    malformed_error = ProviderUnavailable  # as the calendar's

    @pytest.fixture
    def working(self, google: Google) -> Broken[Mailbox]:
        gmail = Gmail(google.api)
        return Broken(gmail, GOOGLE, (), first_batch(gmail))

    @pytest.fixture
    def unreachable_mailbox(self, google: Google, working: Broken[Mailbox]) -> Broken[Mailbox]:
        google.fake.stop()
        return working

    @pytest.fixture
    def malformed_mailbox(self, google: Google, working: Broken[Mailbox]) -> Broken[Mailbox]:
        google.fake.inject("garbage", rate=1.0)
        return replace(working, names=("not JSON",))

    @pytest.fixture
    def refused_mailbox(self, google: Google, working: Broken[Mailbox]) -> Broken[Mailbox]:
        google.revoke()
        return working


# -- Microsoft: calendar and Outlook against the fake Graph ---------------------------------

MICROSOFT = "work"


class Microsoft:
    """The fake Graph with the interview and a message, signed in with a device code: the
    account's tokens come from msal, so that a revoked grant goes through msal's refresh."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = FakeGraph(seed=7, email=ME)
        self.fake.start()
        self.fake.put_event(graph_event(interview()))
        self.fake.deliver(graph_message(mail()), "inbox")
        (tmp_path / "keyring").mkdir()
        use_file_keyring(monkeypatch, tmp_path / "keyring" / "keyring.json")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", self.fake.ca_file)

        def approve(_: str) -> None:  # the person enters the code at once
            self.fake.approve_device_code(self.fake.device_user_code)

        authorize(MICROSOFT, self.fake.client_id, self.fake.tenant_id, echo=approve,
                  authority=self.fake.https_authority_url)
        tokens = TokenSource(MICROSOFT, self.fake.client_id, self.fake.tenant_id,
                             authority=self.fake.https_authority_url)
        self.account: MicrosoftAccount = open_account(
            AccountConfig(MICROSOFT, "microsoft", {"client_id": self.fake.client_id,
                                                   "endpoint": self.fake.url}),
            config(tmp_path), retry=Retry(base=0.0, sleep=Sleeps()), tokens=tokens)

    def revoke(self) -> None:
        """The grant revoked (a changed password, an admin): the next refresh is refused."""
        self.fake.revoke()
        self.fake.expire_access_tokens()

    def stop(self) -> None:
        self.account.close()
        self.fake.stop()
        assert self.fake.errors == []
        assert self.fake.send_attempts == []


@pytest.fixture
def microsoft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Microsoft]:
    running = Microsoft(tmp_path, monkeypatch)
    yield running
    running.stop()


class TestGraphCalendarFailures(CalendarFailureContract, CalendarLoginContract):
    malformed_error = ProviderUnavailable  # graph.py retries an unreadable body as an outage

    @pytest.fixture
    def working(self, microsoft: Microsoft) -> Broken[CalendarSource]:
        calendar = microsoft.account.calendar
        return Broken(calendar, MICROSOFT, (), first_read(calendar))

    @pytest.fixture
    def unreachable_calendar(self, microsoft: Microsoft,
                             working: Broken[CalendarSource]) -> Broken[CalendarSource]:
        microsoft.fake.stop()
        return working

    @pytest.fixture
    def malformed_calendar(self, microsoft: Microsoft,
                           working: Broken[CalendarSource]) -> Broken[CalendarSource]:
        microsoft.fake.inject("garbage", rate=1.0)
        return replace(working, names=("unreadable JSON",))

    @pytest.fixture
    def refused_calendar(self, microsoft: Microsoft,
                         working: Broken[CalendarSource]) -> Broken[CalendarSource]:
        microsoft.revoke()
        return working


class TestOutlookFailures(MailboxFailureContract, MailboxLoginContract):
    malformed_error = ProviderUnavailable  # as the calendar's

    @pytest.fixture
    def working(self, microsoft: Microsoft) -> Broken[Mailbox]:
        mailbox = microsoft.account.mailbox
        return Broken(mailbox, MICROSOFT, (), first_batch(mailbox))

    @pytest.fixture
    def unreachable_mailbox(self, microsoft: Microsoft,
                            working: Broken[Mailbox]) -> Broken[Mailbox]:
        microsoft.fake.stop()
        return working

    @pytest.fixture
    def malformed_mailbox(self, microsoft: Microsoft, working: Broken[Mailbox]) -> Broken[Mailbox]:
        microsoft.fake.inject("garbage", rate=1.0)
        return replace(working, names=("unreadable JSON",))

    @pytest.fixture
    def refused_mailbox(self, microsoft: Microsoft, working: Broken[Mailbox]) -> Broken[Mailbox]:
        microsoft.revoke()
        return working


# -- Maildir ------------------------------------------------------------------------------

class TestMaildirFailures(MailboxFailureContract):
    # No folder where the Maildir should be (an mbox file there): out of reach, not garbled;
    # one unreadable message is named in `problems` and the others go on.
    malformed_error = ProviderUnavailable

    @pytest.fixture
    def working(self, maildir_root: Path) -> Broken[Mailbox]:
        deliver_to(maildir_root, mail())
        box = MaildirMailbox("home", maildir_root)
        return Broken(box, "home", (str(maildir_root),), first_batch(box))

    @pytest.fixture
    def unreachable_mailbox(self, maildir_root: Path, working: Broken[Mailbox]) -> Broken[Mailbox]:
        shutil.rmtree(maildir_root)  # the disk is not mounted
        return working

    @pytest.fixture
    def malformed_mailbox(self, maildir_root: Path, working: Broken[Mailbox]) -> Broken[Mailbox]:
        shutil.rmtree(maildir_root)
        maildir_root.write_bytes(b"From dana@acme.example Mon Nov  9 10:00:00 2026\n"
                                 + mail().as_bytes() + b"\n")  # an mbox file
        return working


# -- IMAP: Dovecot, behind a relay ------------------------------------------------------------

@pytest.fixture(scope="module")
def dovecot() -> Iterator[Server]:
    with running_server() as srv:
        yield srv


class Imap:
    """A user of its own at Dovecot with one message, reached through a relay."""

    def __init__(self, server: Server) -> None:
        self.user, self.password = server.add_user()
        with server.client(self.user) as c:
            c.append("INBOX", mail().as_bytes())
        self.relay = Relay(("127.0.0.1", server.port))
        self.box = open_mailbox("home", {"host": "127.0.0.1", "port": self.relay.port,
                                         "security": "plain", "username": self.user},
                                password=lambda: self.password)
        self.checkpoint = first_batch(self.box)

    def broken(self, *names: str) -> Broken[Mailbox]:
        return Broken(self.box, "home", names, self.checkpoint)

    def stop(self) -> None:
        self.box.close()
        self.relay.stop()


class TestImapFailures(MailboxFailureContract, MailboxLoginContract):
    malformed_error = BadData

    @pytest.fixture
    def imap(self, dovecot: Server) -> Iterator[Imap]:
        running = Imap(dovecot)
        yield running
        running.stop()

    @pytest.fixture
    def unreachable_mailbox(self, imap: Imap) -> Broken[Mailbox]:
        imap.relay.stop()  # the open connection is cut and the port closed
        return imap.broken(f"127.0.0.1:{imap.relay.port}")

    @pytest.fixture
    def malformed_mailbox(self, imap: Imap) -> Broken[Mailbox]:
        imap.relay.answer_with(garbage_imap)
        return imap.broken(f"IMAP 127.0.0.1:{imap.relay.port}")

    @pytest.fixture
    def refused_mailbox(self, imap: Imap) -> Broken[Mailbox]:
        imap.password = "changed in the webmail"
        imap.relay.cut()  # the server ends the session; the next login is refused
        return imap.broken(repr(imap.user), f"127.0.0.1:{imap.relay.port}")


def test_every_backend_has_its_failure_contract() -> None:
    """A new backend in the registry gets its failure class here, or this fails."""
    from interview_followup.providers import REGISTRY

    covered = {("calendar", "local"): TestLocalCalendarFailures,
               ("calendar", "vdir"): TestVdirFailures,
               ("calendar", "feed"): TestFeedFailures,
               ("calendar", "caldav"): TestCalDAVFailures,
               ("calendar", "google"): TestGoogleCalendarFailures,
               ("calendar", "microsoft"): TestGraphCalendarFailures,
               ("mailbox", "maildir"): TestMaildirFailures,
               ("mailbox", "imap"): TestImapFailures,
               ("mailbox", "google"): TestGmailFailures,
               ("mailbox", "microsoft"): TestOutlookFailures}
    assert set(covered) == set(REGISTRY)
    for (part, _), cls in covered.items():
        contract = CalendarFailureContract if part == "calendar" else MailboxFailureContract
        assert issubclass(cls, contract)
    logins = {key for key, b in REGISTRY.items() if b.secret}
    for key in logins:
        login = CalendarLoginContract if key[0] == "calendar" else MailboxLoginContract
        assert issubclass(covered[key], login), key
