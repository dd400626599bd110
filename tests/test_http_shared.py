"""One session and one retry loop for every backend over requests (issue 10).

The feed and CalDAV (:class:`Http`) and Graph (:class:`GraphHttp`) make their requests
through :mod:`providers._shared.http`: the same throttling, outage or dead server is
waited out and translated the same way for each. Real requests against a scripted HTTP
server on 127.0.0.1 (port 0); the backoff is recorded, not slept.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError

from interview_followup.providers._shared import http as shared
from interview_followup.providers._shared.http import Http, new_session
from interview_followup.providers._shared.retry import Retry
from interview_followup.providers.caldav.calendar import CalDAVCalendar
from interview_followup.providers.errors import ProviderUnavailable, RateLimited
from interview_followup.providers.feed.calendar import FeedCalendar
from interview_followup.providers.microsoft import graph
from interview_followup.providers.microsoft.graph import GraphHttp

DROP = "drop"  # read the request, close the connection without an answer
SECRET_PATH = "/calendar/ical/alex%40example.org/private-5ecret/basic.ics"


class Scripted:
    """Answers each request with the next step of ``script`` (a status with its headers,
    or DROP); 200 ``{}`` once the script is done. Records (method, path) of each."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]] | str] = []
        self.seen: list[tuple[str, str]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.seen.append((self.command, self.path))
                step = scripted.script.pop(0) if scripted.script else (200, {})
                if step == DROP:
                    self.close_connection = True
                    return
                assert not isinstance(step, str)
                status, headers = step
                body = b"{}" if status == 200 else b""
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PROPFIND = do_REPORT = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[Scripted]:
    running = Scripted()
    yield running
    running.stop()


class Tokens:
    def __init__(self) -> None:
        self.asked = 0

    def access_token(self, *, force_refresh: bool = False) -> str:
        self.asked += 1
        return "t0ken"


def retry(waits: list[float], tries: int = 3) -> Retry:
    return Retry(tries=tries, base=1.0, sleep=waits.append, rng=lambda: 0.0)


# Each backend's request as its provider makes it: (what it raised or returned, its Http).
Call = Callable[[str, list[float]], tuple[Any, Http]]


def via_feed(root: str, waits: list[float]) -> tuple[Any, Http]:
    http = Http("acct", retry=retry(waits))
    url = root.rstrip("/") + SECRET_PATH
    shared.hide(url)  # as FeedCalendar does with its address
    try:
        return http.send("fetching the feed", "GET", url), http
    except Exception as exc:  # compared with Graph's below
        return exc, http
    finally:
        http.close()


def via_graph(root: str, waits: list[float]) -> tuple[Any, Http]:
    http = GraphHttp("acct", root, Tokens(), retry=retry(waits))
    try:
        return http.request("fetching the feed", "GET", http.url("me/messages")), http
    except Exception as exc:
        return exc, http
    finally:
        http.close()


BACKENDS = pytest.mark.parametrize("call", [via_feed, via_graph], ids=["feed", "graph"])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the same answer to the same trouble, for a feed and for Graph ------------------------

def test_429_with_retry_after_is_waited_out_the_same_way(server: Scripted) -> None:
    outcomes = []
    for call in (via_feed, via_graph):
        server.script = [(429, {"Retry-After": "7"}), (503, {"Retry-After": "2"})]
        waits: list[float] = []
        answer, http = call(server.root, waits)
        assert not isinstance(answer, Exception), answer
        outcomes.append((waits, http.requests_made))
    assert outcomes == [([7.0, 2.0], 3)] * 2


@BACKENDS
def test_a_long_retry_after_ends_in_rate_limited(server: Scripted, call: Call) -> None:
    server.script = [(429, {"Retry-After": "3600"})]
    waits: list[float] = []
    error, http = call(server.root, waits)
    assert isinstance(error, RateLimited) and error.retry_after == 3600.0
    assert waits == [] and http.requests_made == 1  # next cycle, not an hour's sleep


@BACKENDS
def test_a_lasting_outage_ends_in_provider_unavailable(server: Scripted, call: Call) -> None:
    server.script = [(503, {})] * 3
    waits: list[float] = []
    error, _ = call(server.root, waits)
    assert isinstance(error, ProviderUnavailable)
    assert str(error) == "account 'acct': fetching the feed: HTTP 503 (3 attempts)"
    assert waits == [0.5, 1.0] and len(server.seen) == 3  # equal jitter over base 1 s


def test_connection_refused_is_the_same_outage_for_both(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    root = f"http://127.0.0.1:{closed_port()}/"
    seen = []
    for call in (via_feed, via_graph):
        waits: list[float] = []
        error, http = call(root, waits)
        assert isinstance(error, ProviderUnavailable)
        seen.append((str(error), waits, http.requests_made))
    assert seen == [("account 'acct': fetching the feed: ConnectionError (3 attempts)",
                     [0.5, 1.0], 3)] * 2
    assert "private-5ecret" not in caplog.text  # neither in the errors nor in urllib3's lines


@BACKENDS
def test_a_dropped_get_is_retried_by_the_loop_only(server: Scripted, call: Call) -> None:
    server.script = [DROP, DROP]
    waits: list[float] = []
    answer, _ = call(server.root, waits)
    assert not isinstance(answer, Exception), answer
    assert len(server.seen) == 3 and len(waits) == 2  # urllib3 sent none of them again


def test_a_request_that_cannot_be_made_is_not_retried() -> None:
    waits: list[float] = []
    http = Http("acct", retry=retry(waits))
    with pytest.raises(ProviderUnavailable, match="fetching: InvalidURL"):
        http.send("fetching", "GET", "http://[::1/x")
    assert waits == []


def test_a_token_source_down_is_an_outage_like_any(server: Scripted) -> None:
    class Offline(Tokens):
        def access_token(self, *, force_refresh: bool = False) -> str:
            raise requests.ConnectionError("login.microsoftonline.com unreachable")

    waits: list[float] = []
    http = GraphHttp("acct", server.root, Offline(), retry=retry(waits))
    with pytest.raises(ProviderUnavailable, match=r"ConnectionError \(3 attempts\)"):
        http.request("reading", "GET", http.url("me"))
    assert server.seen == []


# -- a draft POST is never sent twice below the backend ------------------------------------

def test_a_post_whose_answer_is_lost_is_not_sent_again_by_the_session(
        server: Scripted) -> None:
    server.script = [DROP]
    waits: list[float] = []
    http = GraphHttp("acct", server.root, Tokens(), retry=retry(waits))
    found = {"id": "the draft made by the lost POST"}
    assert http.request("creating a draft", "POST", http.url("me/messages"), json={},
                        before_retry=lambda: found) is found
    assert server.seen == [("POST", "/v1.0/me/messages")] and len(waits) == 1


def test_the_shared_session_retries_only_connections_never_made() -> None:
    url = "/v1.0/me/messages"
    graph_own = GraphHttp("a", "https://x/", Tokens()).session
    for session in (new_session(), graph._session(), graph_own):
        policy = session.get_adapter("https://graph.microsoft.com/").max_retries

        def sent_again(method: str, error: Exception, policy: Any = policy) -> bool:
            try:
                policy.increment(method, url, error=error)
            except Exception:
                return False
            return True

        for method in ("POST", "PATCH", "GET", "REPORT"):
            assert not sent_again(method, ProtocolError("Connection aborted."))
            assert not sent_again(method, ReadTimeoutError(None, url, "read timed out"))
            assert not policy.is_retry(method, 503) and not policy.is_retry(method, 429)
            assert sent_again(method, NewConnectionError(None, "Connection refused"))
        assert session.headers["User-Agent"] == shared.USER_AGENT
        session.close()


# -- the providers over the shared loop ------------------------------------------------------

def test_a_feed_and_caldav_answer_a_dead_server_the_same_way() -> None:
    root = f"http://127.0.0.1:{closed_port()}/"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    waits: dict[str, list[float]] = {"feed": [], "dav": []}
    # Two tries: urllib3 itself waits a second before its last connection attempt.
    feed = FeedCalendar("acct", lambda: root + "basic.ics",
                        http=Http("acct", retry=retry(waits["feed"], tries=2)))
    dav = CalDAVCalendar("acct", root, "alex", lambda: "pw",
                         http=Http("acct", retry=retry(waits["dav"], tries=2)))
    for source in (feed, dav):
        with pytest.raises(ProviderUnavailable, match=r"ConnectionError \(2 attempts\)"):
            source.changes(None, start, start + timedelta(days=90), UTC)
        source.close()
    assert waits == {"feed": [0.5], "dav": [0.5]}


def test_the_log_filter_is_in_place_with_the_first_session() -> None:
    new_session().close()
    assert shared._FILTER in logging.getLogger("urllib3.connectionpool").filters
