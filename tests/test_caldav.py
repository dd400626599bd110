"""The CalDAV calendar against a real Radicale server, in this process on a free port.

Radicale's WSGI application runs under wsgiref in a thread (port 0: never a fixed
port, no network); a thin WSGI layer in front records every request, so the tests
count round trips and see the sync-collection REPORTs. Events are written by plain
PUT and DELETE requests, as another CalDAV client would.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import quote, unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import caldav
import icalendar
import pytest
import radicale  # the test extra; never skipped: CalDAV is tested against a real server
import radicale.config
import requests

from interview_followup.providers._shared.http import Http
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import CalendarChanges, CalendarSource, Event
from interview_followup.providers.caldav import PRESETS, open_calendar, server_url
from interview_followup.providers.caldav.calendar import CalDAVCalendar
from interview_followup.providers.errors import AuthExpired, ProviderUnavailable
from tests.contract import NY, WINDOW, CalendarContract, EventSpec, interview
from tests.test_local_provider import render

USER, PASSWORD = "alex", "correct horse"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Radicale:
    """A Radicale server with one user; ``log`` holds (method, path, body) of each request."""

    def __init__(self, root: Path) -> None:
        users = root / "users"
        users.write_text(f"{USER}:{PASSWORD}\n")
        config = radicale.config.load([])
        config.update({
            "storage": {"filesystem_folder": str(root / "collections")},
            "auth": {"type": "htpasswd", "htpasswd_filename": str(users),
                     "htpasswd_encryption": "plain", "delay": "0"},
            "logging": {"level": "warning"},
        }, "test", privileged=True)
        self.app = radicale.Application(config)
        self.log: list[tuple[str, str, bytes]] = []
        self.without_sync = False  # refuse sync-collection, as some servers and proxies do
        self.server = make_server("127.0.0.1", 0, self._wsgi, server_class=_Server,
                                  handler_class=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        self.log.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        if self.without_sync and b"sync-collection" in body:
            start_response("501 Not Implemented", [("Content-Length", "0")])
            return [b""]
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)

    def requests(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.log]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Radicale]:
    running = Radicale(tmp_path)
    yield running
    running.stop()


class Writer:
    """Another CalDAV client: makes calendars (python-caldav), PUTs and DELETEs events."""

    def __init__(self, server: Radicale) -> None:
        self.client = caldav.DAVClient(url=server.url, username=USER, password=PASSWORD)
        self.principal = self.client.principal()
        self.session = requests.Session()
        self.session.auth = (USER, PASSWORD)
        self.calendars: dict[str, str] = {}

    def make(self, name: str, components: tuple[str, ...] = ("VEVENT",)) -> str:
        made = self.principal.make_calendar(name=name,
                                            supported_calendar_component_set=list(components))
        self.calendars[name] = str(made.url)
        return str(made.url)

    def put(self, spec: EventSpec, calendar: str = "Work", data: bytes | None = None) -> None:
        url = self.calendars[calendar] + quote(spec.uid, safe="") + ".ics"
        response = self.session.put(url, data=data or render({spec.uid: spec}),
                                    headers={"Content-Type": "text/calendar"})
        assert response.status_code in {201, 204}, response.text

    def delete(self, uid: str, calendar: str = "Work") -> None:
        url = self.calendars[calendar] + quote(uid, safe="") + ".ics"
        assert self.session.delete(url).status_code in {200, 204}


def fast_http(account: str = "dav") -> Http:
    return Http(account, retry=Retry(tries=2, base=0.0, sleep=lambda _: None))


def dav_calendar(server: Radicale, password: str = PASSWORD,
                 names: tuple[str, ...] = ()) -> CalDAVCalendar:
    return CalDAVCalendar("dav", server.url, USER, lambda: password, calendars=names,
                          http=fast_http())


@pytest.fixture
def writer(server: Radicale) -> Writer:
    writer = Writer(server)
    writer.make("Work")
    return writer


def read(calendar: CalendarSource, checkpoint: str | None) -> Any:
    return calendar.changes(checkpoint, *WINDOW, NY)


# -- the contract ------------------------------------------------------------------

class TestCalDAVContract(CalendarContract):
    supports_lookup = True

    @pytest.fixture
    def calendar(self, server: Radicale, writer: Writer) -> CalendarSource:
        self.writer = writer
        return dav_calendar(server)

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        self.writer.put(spec)

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        self.writer.delete(uid)


# -- round trips --------------------------------------------------------------------

def test_idle_cycle_is_one_sync_collection_report_per_calendar(server: Radicale,
                                                                writer: Writer) -> None:
    writer.make("Personal")
    writer.put(interview())
    calendar = dav_calendar(server)
    first = read(calendar, None)
    assert first.complete and [e.uid for e in first.events] == ["iv-1@acme.example"]
    server.log.clear()
    second = read(calendar, first.checkpoint)
    assert second.unchanged
    assert len(server.log) == 2  # one per calendar, nothing else
    assert all(m == "REPORT" and b"sync-collection" in body for m, _, body in server.log)
    third = read(calendar, second.checkpoint)
    assert third.unchanged
    writer.put(interview(title="Interview (moved)"))
    server.log.clear()
    fourth = read(calendar, third.checkpoint)
    assert not fourth.complete and fourth.events[0].title == "Interview (moved)"
    # Two sync reports; a multiget of the one object that changed, nothing else.
    assert sent(server) == ["sync", "sync", "multiget"]
    assert writer.calendars["Work"].endswith(server.log[2][1])
    assert fetched(server) == [["iv-1@acme.example.ics"]]


def test_recurring_event_is_expanded_here(server: Radicale, writer: Writer) -> None:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//EN")
    cal.add("version", "2.0")
    ev = icalendar.Event()
    ev.add("uid", "weekly@acme.example")
    ev.add("dtstamp", datetime(2026, 10, 1, tzinfo=UTC))
    ev.add("summary", "Interview loop")
    ev.add("dtstart", datetime(2026, 10, 6, 10, tzinfo=NY))
    ev.add("dtend", datetime(2026, 10, 6, 11, tzinfo=NY))
    ev.add("rrule", {"freq": "weekly", "count": 8})
    cal.add_component(ev)
    cal.add_missing_timezones()
    spec = interview("weekly@acme.example")
    writer.put(spec, data=cal.to_ical())
    changes = read(dav_calendar(server), None)
    uids = [e.uid for e in changes.events]
    assert uids == ["weekly@acme.example/20261103T150000Z",
                    "weekly@acme.example/20261110T150000Z",
                    "weekly@acme.example/20261117T150000Z",
                    "weekly@acme.example/20261124T150000Z"]
    event = dav_calendar(server).lookup("weekly@acme.example/20261110T150000Z", NY)
    assert event is not None and event.start == datetime(2026, 11, 10, 10, tzinfo=NY)


def test_without_sync_collection_an_etag_diff_costs_one_propfind(server: Radicale,
                                                                 writer: Writer) -> None:
    writer.put(interview())
    calendar = dav_calendar(server)
    first = read(calendar, None)
    assert [e.uid for e in first.events] == ["iv-1@acme.example"]
    server.without_sync = True
    second = read(calendar, first.checkpoint)  # refused: ETags from now on, read once
    assert second.complete and [e.uid for e in second.events] == ["iv-1@acme.example"]
    server.log.clear()
    third = read(calendar, second.checkpoint)
    assert third.unchanged
    assert [m for m, _, _ in server.log] == ["PROPFIND"]
    writer.put(interview(title="Interview (moved)"))
    server.log.clear()
    fourth = read(calendar, third.checkpoint)
    assert not fourth.complete and fourth.events[0].title == "Interview (moved)"
    assert sent(server) == ["propfind", "multiget"]


# -- reading only what changed ---------------------------------------------------------
#
# After a change another client made, a read costs the sync report (or the ETag list) and
# one multiget of the changed objects, and reports what changed; applied to the last
# read, that is exactly what a new instance's complete read gives.

def sent(server: Radicale) -> list[str]:
    """The requests of the log by kind."""
    kinds = []
    for method, _, body in server.log:
        if b"sync-collection" in body:
            kinds.append("sync")
        elif b"calendar-multiget" in body:
            kinds.append("multiget")
        elif b"calendar-query" in body:
            kinds.append("query")
        else:
            kinds.append(method.lower())
    return kinds


def fetched(server: Radicale) -> list[list[str]]:
    """The object names each multiget of the log asked for."""
    return [[unquote(href.rpartition("/")[2]) for href in
             re.findall(r"<d:href>([^<]*)</d:href>", body.decode())]
            for _, _, body in server.log if b"calendar-multiget" in body]


def applied(view: dict[str, Event], changes: CalendarChanges) -> dict[str, Event]:
    """The engine's view after ``changes``."""
    if changes.complete:
        return {e.uid: e for e in changes.events}
    after = {uid: e for uid, e in view.items() if uid not in changes.removed}
    after.update({e.uid: e for e in changes.events})
    return after


def fresh(server: Radicale) -> dict[str, Event]:
    """A complete read by a new instance (a new process)."""
    changes = read(dav_calendar(server), None)
    assert changes.complete
    return {e.uid: e for e in changes.events}


def series(title: str = "Interview loop", override: str = "") -> bytes:
    """A weekly series of four in the window; ``override``: the 17 November one
    retitled and an hour later."""
    cal = icalendar.Calendar()
    cal.add("prodid", "-//test//EN")
    cal.add("version", "2.0")
    ev = icalendar.Event()
    ev.add("uid", "weekly@acme.example")
    ev.add("dtstamp", datetime(2026, 10, 1, tzinfo=UTC))
    ev.add("summary", title)
    ev.add("dtstart", datetime(2026, 11, 3, 10, tzinfo=NY))
    ev.add("dtend", datetime(2026, 11, 3, 11, tzinfo=NY))
    ev.add("rrule", {"freq": "weekly", "count": 4})
    cal.add_component(ev)
    if override:
        one = icalendar.Event()
        one.add("uid", "weekly@acme.example")
        one.add("dtstamp", datetime(2026, 10, 2, tzinfo=UTC))
        one.add("recurrence-id", datetime(2026, 11, 17, 10, tzinfo=NY))
        one.add("summary", override)
        one.add("dtstart", datetime(2026, 11, 17, 11, tzinfo=NY))
        one.add("dtend", datetime(2026, 11, 17, 12, tzinfo=NY))
        cal.add_component(one)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())


LATER = datetime(2027, 1, 20, 10, 0, tzinfo=NY)  # outside WINDOW
INSIDE = datetime(2026, 11, 20, 9, 0, tzinfo=NY)


def _edit(writer: Writer) -> None:
    writer.put(interview(title="Interview (moved)"))


def _delete(writer: Writer) -> None:
    writer.delete("iv-1@acme.example")


def _add(writer: Writer) -> None:
    writer.put(interview("iv-new@acme.example", title="Onsite"))


def _move_out(writer: Writer) -> None:
    writer.put(interview(start=LATER, end=LATER + timedelta(hours=1)))


def _move_in(writer: Writer) -> None:
    writer.put(interview("later@acme.example", title="Final round", start=INSIDE,
                         end=INSIDE + timedelta(hours=1)))


def _override(writer: Writer) -> None:
    writer.put(interview("weekly@acme.example"), data=series(override="Loop: with the CTO"))


# (change, the objects the multiget asks for, uids reported changed, uids removed)
CHANGES = {
    "edit": (_edit, ["iv-1@acme.example.ics"], {"iv-1@acme.example"}, set()),
    "delete": (_delete, [], set(), {"iv-1@acme.example"}),
    "new": (_add, ["iv-new@acme.example.ics"], {"iv-new@acme.example"}, set()),
    "moved out": (_move_out, ["iv-1@acme.example.ics"], set(), {"iv-1@acme.example"}),
    "moved in": (_move_in, ["later@acme.example.ics"], {"later@acme.example"}, set()),
    "override": (_override, ["weekly@acme.example.ics"],
                 {"weekly@acme.example/20261117T150000Z"}, set()),
}


@pytest.mark.parametrize("sync", [True, False], ids=["sync-collection", "etag-diff"])
@pytest.mark.parametrize("name", list(CHANGES))
def test_a_change_fetches_only_the_changed_objects(server: Radicale, writer: Writer,
                                                   name: str, sync: bool) -> None:
    change, objects, changed, removed = CHANGES[name]
    writer.put(interview())
    writer.put(interview("iv-2@acme.example", title="Phone screen"))
    writer.put(interview("later@acme.example", title="Final round", start=LATER,
                         end=LATER + timedelta(hours=1)))
    writer.put(interview("weekly@acme.example"), data=series())
    calendar = dav_calendar(server)
    last = read(calendar, None)
    if not sync:
        server.without_sync = True
        last = read(calendar, last.checkpoint)  # the switch to ETags reads whole
    view = applied({}, last)
    assert view == fresh(server)
    change(writer)
    server.log.clear()
    changes = read(calendar, last.checkpoint)
    assert not changes.complete and not changes.unchanged
    probe = "sync" if sync else "propfind"
    assert sent(server) == ([probe, "multiget"] if objects else [probe])
    assert fetched(server) == ([objects] if objects else [])
    assert {e.uid for e in changes.events} == changed
    assert set(changes.removed) == removed
    view = applied(view, changes)
    assert view == fresh(server)
    # And the next read from there is idle again.
    server.log.clear()
    assert read(calendar, changes.checkpoint).unchanged
    assert sent(server) == [probe]


def test_one_invitation_in_two_calendars_is_read_as_a_complete_read_does(
        server: Radicale, writer: Writer) -> None:
    writer.make("Personal")
    writer.put(interview(title="Work copy"), "Work")
    writer.put(interview(title="Personal copy"), "Personal")
    calendar = dav_calendar(server)
    last = read(calendar, None)
    view = applied({}, last)
    assert view == fresh(server)
    first = view["iv-1@acme.example"].title
    # The copy a complete read shows goes: the other one takes its place.
    writer.delete("iv-1@acme.example", "Work" if first == "Work copy" else "Personal")
    changes = read(calendar, last.checkpoint)
    assert not changes.complete and not changes.removed
    view = applied(view, changes)
    assert view == fresh(server) and view["iv-1@acme.example"].title != first


def test_a_restart_with_an_old_checkpoint_reads_whole(server: Radicale,
                                                      writer: Writer) -> None:
    writer.put(interview())
    writer.put(interview("iv-2@acme.example", title="Phone screen"))
    first = read(dav_calendar(server), None)
    writer.put(interview(title="Interview (moved)"))
    server.log.clear()
    again = read(dav_calendar(server), first.checkpoint)  # a new process
    assert again.complete
    assert {e.uid: e for e in again.events} == fresh(server)
    assert "query" in sent(server) and "multiget" not in sent(server)


def test_a_checkpoint_older_than_the_last_read_gets_a_complete_read(
        server: Radicale, writer: Writer) -> None:
    """The engine stores a checkpoint with what it applied; when that failed (a rolled
    back transaction), it hands back the one before: the changes since that are no
    longer what memory would report."""
    writer.put(interview())
    calendar = dav_calendar(server)
    first = read(calendar, None)
    writer.put(interview(title="Interview (moved)"))
    second = read(calendar, first.checkpoint)
    assert not second.complete
    again = read(calendar, first.checkpoint)
    assert again.complete and {e.uid: e for e in again.events} == fresh(server)


def test_most_of_a_calendar_changed_is_queried_whole(server: Radicale,
                                                     writer: Writer) -> None:
    uids = [f"iv-{n}@acme.example" for n in range(34)]
    for uid in uids:
        writer.put(interview(uid))
    calendar = dav_calendar(server)
    first = read(calendar, None)
    for uid in uids[:18]:  # more than 16, and more than half
        writer.put(interview(uid, title="Rescheduled"))
    server.log.clear()
    second = read(calendar, first.checkpoint)
    assert sent(server) == ["sync", "query"]
    assert second.complete and {e.uid: e for e in second.events} == fresh(server)


def test_an_object_the_multiget_leaves_out_means_a_query(server: Radicale,
                                                         writer: Writer) -> None:
    """Unknown is not deleted: an answer without the changed object is not read as its
    deletion."""
    writer.put(interview())
    calendar = dav_calendar(server)
    first = read(calendar, None)
    writer.put(interview(title="Interview (moved)"))
    real = server.app

    def empty_multiget(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        if b"calendar-multiget" in body:
            answer = b'<?xml version="1.0"?><multistatus xmlns="DAV:"/>'
            start_response("207 Multi-Status", [("Content-Type", "application/xml"),
                                                ("Content-Length", str(len(answer)))])
            return [answer]
        return real(environ, start_response)

    server.app = empty_multiget  # type: ignore[assignment]
    server.log.clear()
    second = read(calendar, first.checkpoint)
    assert sent(server) == ["sync", "multiget", "query"]
    assert second.complete and second.events[0].title == "Interview (moved)"


def test_a_sync_token_the_server_forgot_means_reading_anew(server: Radicale,
                                                           writer: Writer) -> None:
    writer.put(interview())
    calendar = dav_calendar(server)
    first = read(calendar, None)
    assert first.checkpoint is not None
    forgotten = first.checkpoint.replace("http://radicale.org/ns/sync/",
                                         "http://radicale.org/ns/sync/0000")
    again = read(calendar, forgotten)
    assert again.complete and [e.uid for e in again.events] == ["iv-1@acme.example"]


def test_calendars_by_name_and_task_lists_left_out(server: Radicale, writer: Writer) -> None:
    writer.make("Personal")
    writer.make("Tasks", components=("VTODO",))
    writer.put(interview(), "Work")
    writer.put(interview("lunch@acme.example", title="Lunch"), "Personal")
    every = dav_calendar(server)
    assert sorted(c.name for c in every.calendars()) == ["Personal", "Work"]
    assert {e.uid for e in read(every, None).events} == {"iv-1@acme.example",
                                                         "lunch@acme.example"}
    only = dav_calendar(server, names=("Work",))
    assert [e.uid for e in read(only, None).events] == ["iv-1@acme.example"]
    with pytest.raises(ProviderUnavailable, match=r"'Holidays'.*found: .*'Personal'"):
        read(dav_calendar(server, names=("Holidays",)), None)


# -- failures ----------------------------------------------------------------------

def test_wrong_password_is_auth_expired(server: Radicale, writer: Writer) -> None:
    with pytest.raises(AuthExpired, match="followup auth dav"):
        read(dav_calendar(server, password="wrong"), None)
    calendar = dav_calendar(server)
    first = read(calendar, None)
    calendar._password = lambda: "changed since"
    with pytest.raises(AuthExpired):
        read(calendar, first.checkpoint)


def test_no_password_stored_is_auth_expired(server: Radicale) -> None:
    calendar = CalDAVCalendar("dav", server.url, USER, lambda: None, http=fast_http())
    with pytest.raises(AuthExpired, match="no CalDAV password stored"):
        read(calendar, None)


def test_server_down_is_provider_unavailable(server: Radicale, writer: Writer) -> None:
    calendar = dav_calendar(server)
    first = read(calendar, None)
    server.stop()
    with pytest.raises(ProviderUnavailable):
        read(calendar, first.checkpoint)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nobody = CalDAVCalendar("dav", f"http://127.0.0.1:{port}/", USER, lambda: PASSWORD,
                            http=fast_http())
    with pytest.raises(ProviderUnavailable):
        read(nobody, None)


# -- options -----------------------------------------------------------------------

def test_presets_fill_in_the_url() -> None:
    assert server_url({"preset": "icloud"}) == "https://caldav.icloud.com/"
    assert server_url({"preset": "fastmail"}) == "https://caldav.fastmail.com/dav/"
    assert (server_url({"preset": "nextcloud", "url": "https://cloud.example.org/"})
            == "https://cloud.example.org/remote.php/dav/")
    assert (server_url({"preset": "nextcloud",
                        "url": "https://cloud.example.org/remote.php/dav/principals/users/a/"})
            == "https://cloud.example.org/remote.php/dav/principals/users/a/")
    assert server_url({"url": "http://localhost:5232/"}) == "http://localhost:5232/"
    assert set(PRESETS) == {"icloud", "fastmail", "nextcloud"}
    for bad in ({}, {"preset": "nextcloud"}, {"url": "http://dav.example.org/"},
                {"preset": "gmail"}):
        with pytest.raises(ValueError):
            server_url(bad)


def test_open_calendar_reads_the_password_from_the_keyring(
        server: Radicale, writer: Writer, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    from interview_followup.providers._shared.secrets import set_secret
    from interview_followup.providers.caldav import keyring_key
    from tests.keyring_backend import use_file_keyring

    use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    set_secret(keyring_key("dav"), PASSWORD)
    writer.put(interview())
    calendar = open_calendar("dav", {"url": server.url, "username": USER})
    assert [e.uid for e in read(calendar, None).events] == ["iv-1@acme.example"]


def test_auth_check_lists_the_calendars_or_refuses(server: Radicale, writer: Writer) -> None:
    from interview_followup.providers.caldav.auth import check, password_prompt

    writer.make("Personal")
    options = {"url": server.url, "username": USER}
    assert sorted(check("dav", options, PASSWORD)) == ["Personal", "Work"]
    assert check("dav", {**options, "calendars": ["Work"]}, PASSWORD) == ["Work"]
    with pytest.raises(AuthExpired):
        check("dav", options, "wrong")
    assert "app-specific" in password_prompt({"preset": "icloud", "username": "a@icloud.com"})


def test_lookup_on_a_server_that_cannot_filter_by_uid(server: Radicale,
                                                      writer: Writer) -> None:
    later = datetime(2027, 1, 20, 10, 0, tzinfo=NY)
    writer.put(interview(start=later, end=later + timedelta(hours=1)))
    calendar = dav_calendar(server)
    read(calendar, None)
    real = server.app

    def no_uid_filter(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        if b"text-match" in body:
            start_response("501 Not Implemented", [("Content-Length", "0")])
            return [b""]
        return real(environ, start_response)

    server.app = no_uid_filter  # type: ignore[assignment]
    event = calendar.lookup("iv-1@acme.example", NY)
    assert event is not None and event.start == later


def test_the_password_never_reaches_a_log_line(server: Radicale, writer: Writer,
                                               caplog: pytest.LogCaptureFixture) -> None:
    import base64

    caplog.set_level(logging.DEBUG)
    writer.put(interview())
    calendar = dav_calendar(server)
    first = read(calendar, None)
    writer.put(interview(title="Interview (moved)"))
    read(calendar, first.checkpoint)
    calendar.lookup("iv-1@acme.example", NY)
    with pytest.raises(AuthExpired) as refused:
        read(dav_calendar(server, password="wrong horse"), None)
    encoded = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert "GET" in caplog.text or "REPORT" in caplog.text or "PROPFIND" in caplog.text
    for secret in (PASSWORD, "wrong horse", encoded):
        assert secret not in caplog.text
        assert secret not in str(refused.value)


def test_settings_lists_every_problem_by_option() -> None:
    from interview_followup.providers.caldav import OPTIONS, settings

    assert [o[0] for o in OPTIONS] == ["preset", "url", "username", "calendars"]
    assert settings({"preset": "fastmail", "username": "a@fastmail.com"}) == {
        "preset": "fastmail", "url": "https://caldav.fastmail.com/dav/",
        "username": "a@fastmail.com", "calendars": []}
    with pytest.raises(ValueError) as caught:
        settings({"url": "http://dav.example.org/", "calendar": ["Work"],
                  "calendars": "Work"})
    assert str(caught.value).splitlines() == [
        "unknown option 'calendar'",
        "url: `url` must start with https:// (a password would travel unencrypted)",
        "username: required",
        "calendars: a list of calendar names"]
