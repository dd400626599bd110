"""The iCalendar feed (a local HTTP server with ETag, Last-Modified and 304) and the vdir
(a folder of .ics files in tmp_path): the contract, round trips, errors, and the rule
that a feed's secret address never reaches a log line."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import interview_followup.providers.feed.calendar as feed_module
import interview_followup.providers.vdir.calendar as vdir_module
from interview_followup.providers._shared.http import Http, redacted
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.base import CalendarSource
from interview_followup.providers.errors import AuthExpired, BadData, ProviderUnavailable
from interview_followup.providers.feed import keyring_key, open_calendar
from interview_followup.providers.feed.calendar import FeedCalendar, normalise_url
from interview_followup.providers.vdir import open_calendar as open_vdir
from interview_followup.providers.vdir.calendar import VdirCalendar
from tests.contract import NY, WINDOW, CalendarContract, EventSpec, interview
from tests.test_local_provider import render, settle

SECRET = "private-5ecret0f4lex1234"
PATH = f"/calendar/ical/alex%40example.org/{SECRET}/basic.ics"


class FeedServer:
    """Serves one calendar at PATH, as Google's secret address does, with validators."""

    def __init__(self) -> None:
        self.body = render({})
        self.version = 1
        self.status = 200
        self.validators = True  # send ETag and Last-Modified
        self.seen: list[tuple[str, dict[str, str]]] = []  # (path, request headers)
        self.redirect_from: str | None = None
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feed.seen.append((self.path, dict(self.headers)))
                if feed.redirect_from and self.path == feed.redirect_from:
                    self.send_response(302)
                    self.send_header("Location", PATH)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path != PATH:
                    self._plain(404)
                    return
                if feed.status != 200:
                    self._plain(feed.status)
                    return
                etag = f'"v{feed.version}"'
                if feed.validators and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                if feed.validators:
                    self.send_header("ETag", etag)
                    self.send_header("Last-Modified", formatdate(1_700_000_000 + feed.version,
                                                                 usegmt=True))
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def _plain(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}{PATH}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def publish(self, specs: dict[str, EventSpec]) -> None:
        self.body = render(specs)
        self.version += 1

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    running = FeedServer()
    yield running
    running.stop()


def fast_http() -> Http:
    return Http("feed", retry=Retry(tries=2, base=0.0, sleep=lambda _: None))


def feed(url: str | None) -> FeedCalendar:
    return FeedCalendar("feed", lambda: url, http=fast_http())


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the feed's calls of the iCalendar parser."""
    calls: list[int] = []
    real = feed_module.read_events

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(feed_module, "read_events", counting)
    return calls


def read(calendar: CalendarSource, checkpoint: str | None) -> Any:
    return calendar.changes(checkpoint, *WINDOW, NY)


# -- the contract --------------------------------------------------------------------

class TestFeedContract(CalendarContract):
    supports_lookup = True

    @pytest.fixture
    def calendar(self, server: FeedServer) -> CalendarSource:
        self.server = server
        self.specs: dict[str, EventSpec] = {}
        return feed(server.url)

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        self.specs[spec.uid] = spec
        self.server.publish(self.specs)

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        del self.specs[uid]
        self.server.publish(self.specs)


# -- conditional GET ------------------------------------------------------------------

def test_200_then_304_costs_one_request_and_no_parse(server: FeedServer,
                                                     parses: list[int]) -> None:
    server.publish({"iv-1@acme.example": interview()})
    calendar = feed(server.url)
    first = read(calendar, None)
    assert first.complete and [e.uid for e in first.events] == ["iv-1@acme.example"]
    assert parses == [1]
    server.seen.clear()
    second = read(calendar, first.checkpoint)
    assert second.unchanged and parses == [1]
    [(_, headers)] = server.seen
    assert headers["If-None-Match"] == f'"v{server.version}"'
    assert "If-Modified-Since" in headers
    # A restarted service (nothing in memory) still asks conditionally.
    restarted = feed(server.url)
    assert read(restarted, second.checkpoint).unchanged and parses == [1]


def test_a_new_etag_is_read_again(server: FeedServer, parses: list[int]) -> None:
    server.publish({"iv-1@acme.example": interview()})
    calendar = feed(server.url)
    first = read(calendar, None)
    server.publish({"iv-1@acme.example": interview(title="Interview (moved)")})
    second = read(calendar, first.checkpoint)
    assert second.complete and second.events[0].title == "Interview (moved)"
    assert parses == [1, 1]


def test_without_validators_the_same_body_is_not_parsed_again(server: FeedServer,
                                                               parses: list[int]) -> None:
    server.validators = False  # Google's secret address sends neither ETag nor Last-Modified
    server.publish({"iv-1@acme.example": interview()})
    calendar = feed(server.url)
    first = read(calendar, None)
    second = read(calendar, first.checkpoint)
    assert second.unchanged and parses == [1]
    server.publish({})
    assert read(calendar, second.checkpoint).events == ()
    assert parses == [1, 1]


def test_a_new_day_parses_the_held_body_after_a_304(server: FeedServer,
                                                    parses: list[int]) -> None:
    server.publish({"iv-1@acme.example": interview()})
    calendar = feed(server.url)
    first = read(calendar, None)
    server.seen.clear()
    later = calendar.changes(first.checkpoint, WINDOW[0] + timedelta(days=1),
                             WINDOW[1] + timedelta(days=1), NY)
    assert later.complete and [e.uid for e in later.events] == ["iv-1@acme.example"]
    assert "If-None-Match" in server.seen[0][1]  # answered 304: the body held was used


def test_redirect_is_followed(server: FeedServer) -> None:
    server.redirect_from = "/old/basic.ics"
    server.publish({"iv-1@acme.example": interview()})
    calendar = feed(server.url.replace(PATH, "/old/basic.ics"))
    assert [e.uid for e in read(calendar, None).events] == ["iv-1@acme.example"]


# -- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_refused_or_reset_address_is_auth_expired(server: FeedServer, status: int) -> None:
    server.status = status
    with pytest.raises(AuthExpired, match=f"HTTP {status}.*followup auth feed"):
        read(feed(server.url), None)


def test_server_errors_and_a_server_down_are_provider_unavailable(server: FeedServer) -> None:
    server.status = 503
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        read(feed(server.url), None)
    server.status = 418
    with pytest.raises(ProviderUnavailable, match="HTTP 418"):
        read(feed(server.url), None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderUnavailable):
        read(feed(f"http://127.0.0.1:{port}{PATH}"), None)


def test_a_login_page_instead_of_a_calendar_is_bad_data(server: FeedServer) -> None:
    server.body = b"<!doctype html><html><body>Sign in</body></html>"
    with pytest.raises(BadData, match="not an iCalendar file"):
        read(feed(server.url), None)


def test_no_address_stored_is_auth_expired() -> None:
    with pytest.raises(AuthExpired, match="no calendar address stored"):
        read(feed(None), None)
    with pytest.raises(AuthExpired, match="unusable"):
        read(feed("http://calendar.example.org/basic.ics"), None)


def test_addresses() -> None:
    assert (normalise_url("webcal://p01-caldav.icloud.com/published/2/AbC")
            == "https://p01-caldav.icloud.com/published/2/AbC")
    assert normalise_url(" https://x.example/a.ics ") == "https://x.example/a.ics"
    assert normalise_url("http://localhost:8000/a.ics") == "http://localhost:8000/a.ics"
    for bad in ("http://calendar.google.com/x.ics", "ftp://x.example/a.ics", "basic.ics"):
        with pytest.raises(ValueError):
            normalise_url(bad)
    assert (redacted("https://calendar.google.com/calendar/ical/a%40b.org/private-x/basic.ics")
            == "https://calendar.google.com/…/basic.ics")
    assert redacted("https://u:p@host.example:8443/?token=x") == "https://host.example:8443/…"


def test_the_address_never_reaches_a_log_line(server: FeedServer,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.publish({"iv-1@acme.example": interview()})
    calendar = feed(server.url)
    first = read(calendar, None)
    read(calendar, first.checkpoint)
    calendar.lookup("iv-1@acme.example", NY)
    errors: list[str] = []
    for status in (401, 404, 500):
        server.status = status
        with pytest.raises((AuthExpired, ProviderUnavailable)) as caught:
            read(calendar, first.checkpoint)
        errors.append(str(caught.value))
    server.stop()
    with pytest.raises(ProviderUnavailable) as down:
        read(calendar, first.checkpoint)
    errors.append(str(down.value))
    assert "GET" in caplog.text  # urllib3's request lines were logged, with the path hidden
    assert SECRET not in caplog.text
    assert all(SECRET not in e for e in errors)
    assert SECRET not in (first.checkpoint or "")
    assert "127.0.0.1" in caplog.text and "…/basic.ics" in caplog.text


def test_open_calendar_reads_the_address_from_the_keyring(
        server: FeedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from interview_followup.providers._shared.secrets import set_secret
    from tests.keyring_backend import use_file_keyring

    use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    set_secret(keyring_key("gcal"), server.url)
    server.publish({"iv-1@acme.example": interview()})
    calendar = open_calendar("gcal", {})
    assert [e.uid for e in read(calendar, None).events] == ["iv-1@acme.example"]


# -- vdir ---------------------------------------------------------------------------------

def write_item(folder: Path, spec: EventSpec) -> Path:
    path = folder / f"{spec.uid}.ics"
    tmp = folder / f".{spec.uid}.tmp"  # vdirsyncer writes a dot-file, then renames it
    tmp.write_bytes(render({spec.uid: spec}))
    settle(tmp)
    os.replace(tmp, path)
    return path


class TestVdirContract(CalendarContract):
    supports_lookup = True

    @pytest.fixture
    def calendar(self, tmp_path: Path) -> CalendarSource:
        folder = tmp_path / "work"
        folder.mkdir()
        return VdirCalendar("vdir", folder)

    def put_event(self, calendar: CalendarSource, spec: EventSpec) -> None:
        assert isinstance(calendar, VdirCalendar)
        write_item(calendar.path, spec)

    def delete_event(self, calendar: CalendarSource, uid: str) -> None:
        assert isinstance(calendar, VdirCalendar)
        (calendar.path / f"{uid}.ics").unlink()


@pytest.fixture
def vdir_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = vdir_module.read_events

    def counting(data: bytes, *args: Any, **kwargs: Any) -> Any:
        calls.append(Path(kwargs["source"]).name)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(vdir_module, "read_events", counting)
    return calls


def test_vdir_idle_cycle_reads_no_file_and_a_change_reads_one(
        tmp_path: Path, vdir_parses: list[str]) -> None:
    for n in range(5):
        write_item(tmp_path, interview(f"iv-{n}@acme.example"))
    calendar = open_vdir("vdir", {"path": str(tmp_path)})
    first = read(calendar, None)
    assert first.complete and len(first.events) == 5 and len(vdir_parses) == 5
    second = read(calendar, first.checkpoint)
    assert second.unchanged and len(vdir_parses) == 5
    moved = datetime(2026, 11, 20, 9, 0, tzinfo=NY)
    write_item(tmp_path, interview("iv-3@acme.example", start=moved,
                                   end=moved + timedelta(hours=1)))
    third = read(calendar, second.checkpoint)
    assert third.complete and len(third.events) == 5
    assert vdir_parses[5:] == ["iv-3@acme.example.ics"]
    assert {e.uid: e.start for e in third.events}["iv-3@acme.example"] == moved


def test_vdir_broken_file_is_named_and_never_cancels_an_interview(tmp_path: Path) -> None:
    path = write_item(tmp_path, interview())
    write_item(tmp_path, interview("lunch@acme.example", title="Lunch"))
    (tmp_path / "notes.txt").write_text("not an item")
    (tmp_path / ".hidden.ics").write_bytes(b"garbage")
    calendar = VdirCalendar("vdir", tmp_path)
    first = read(calendar, None)
    assert [e.uid for e in first.events] == ["iv-1@acme.example", "lunch@acme.example"]
    # Caught mid-write: its last readable version stands in for it.
    path.write_bytes(path.read_bytes()[:120])
    settle(path)
    second = read(calendar, first.checkpoint)
    assert second.complete
    assert [e.uid for e in second.events] == ["iv-1@acme.example", "lunch@acme.example"]
    assert len(second.problems) == 1 and "iv-1@acme.example.ics" in second.problems[0]
    # A new process never read it whole: unknown, so the look-up asks again next cycle.
    fresh = VdirCalendar("vdir", tmp_path)
    assert [e.uid for e in read(fresh, None).events] == ["lunch@acme.example"]
    with pytest.raises(ProviderUnavailable, match="again next cycle"):
        fresh.lookup("iv-1@acme.example", NY)
    assert fresh.lookup("lunch@acme.example", NY) is not None


def test_vdir_a_file_written_just_now_is_read_again(tmp_path: Path) -> None:
    path = write_item(tmp_path, interview())
    calendar = VdirCalendar("vdir", tmp_path)
    os.utime(path, ns=(time.time_ns(), time.time_ns()))  # not settled yet
    first = read(calendar, None)
    assert not read(calendar, first.checkpoint).unchanged


def test_vdir_missing_folder_is_provider_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable, match="not found"):
        read(VdirCalendar("vdir", tmp_path / "nowhere"), None)


def test_vdir_lookup_finds_an_item_not_named_after_its_uid(tmp_path: Path) -> None:
    later = datetime(2027, 2, 1, 10, tzinfo=NY)
    (tmp_path / "a1b2c3.ics").write_bytes(
        render({"x": interview("odd@acme.example", start=later,
                               end=later + timedelta(hours=1))}))
    event = VdirCalendar("vdir", tmp_path).lookup("odd@acme.example", NY)
    assert event is not None and event.start == later


def test_auth_check_reads_the_feed_once_and_never_shows_the_address(
        server: FeedServer) -> None:
    from interview_followup.providers.feed.auth import check

    server.publish({})
    url, line = check("gcal", server.url)
    assert url == server.url
    assert SECRET not in line and line.endswith("0 events in the next 90 days")
    with pytest.raises(ValueError):
        check("gcal", "http://calendar.google.com/basic.ics")
    server.status = 404
    with pytest.raises(AuthExpired):
        check("gcal", server.url)


def test_vdir_check_counts_the_items(tmp_path: Path) -> None:
    from interview_followup.providers.vdir import check

    write_item(tmp_path, interview())
    assert check("vdir", {"path": str(tmp_path)}) == f"{tmp_path}: 1 .ics files"


def test_settings_of_a_feed_and_a_vdir(tmp_path: Path) -> None:
    from interview_followup.providers.feed import OPTIONS, settings
    from interview_followup.providers.vdir import settings as vdir_settings

    assert OPTIONS == () and settings({}) == {}
    with pytest.raises(ValueError, match="not kept in the config"):
        settings({"url": "https://calendar.google.com/x/basic.ics"})
    assert vdir_settings({"path": str(tmp_path)}) == {"path": tmp_path, "fileext": ".ics"}
    with pytest.raises(ValueError) as caught:
        vdir_settings({"fileext": "ics", "folder": "x"})
    assert str(caught.value).splitlines() == [
        "unknown option 'folder'", "path: required", 'fileext: an extension such as ".ics"']
