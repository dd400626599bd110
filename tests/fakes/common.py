"""Plumbing the fake servers share: the reply record, injected fault rules, the HTTP handler.

Each fake keeps its own error bodies and dispatch; only what is the same in both lives here.
Both know the fault "drop-after" (:data:`WORK_DONE`): the request is carried out (a draft is
made) and then the connection is closed without an answer, the case where a client that
sends the request again by itself makes a second draft; and "garbage" (:data:`GARBAGE`): a
200 whose body is not JSON, changing no state (the failure contract's malformed answer).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

WORK_DONE = "drop-after"  # the fault that does the work, then loses the answer
# The fault that answers 200 with a body that is not JSON (a captive portal, a proxy's
# error page, a truncated answer): the client library's parser fails, never the HTTP layer.
GARBAGE = "garbage"
GARBAGE_BODY = (b"<html><head><title>Sign in to the Wi-Fi</title></head>"
                b"<body>{\"not\": json</body></html>")


def garbage_reply() -> Reply:
    """200, Content-Type: application/json, and a body no JSON parser reads."""
    return Reply(200, GARBAGE_BODY, {"Content-Type": "application/json; charset=UTF-8"})


@dataclass
class Reply:
    """What the HTTP handler writes back (None instead of a Reply: drop the connection)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FaultRule:
    fault: str
    at: frozenset[int]
    rate: float
    paths: str
    retry_after: int
    oauth: bool = False  # Graph only: a rule for the identity endpoints instead of the API
    method: str = ""  # "POST": only requests of this method match ("" any)
    seen: int = 0

    @property
    def does_work(self) -> bool:
        """The request is carried out before its answer is lost (``WORK_DONE``)."""
        return self.fault == WORK_DONE

    def retry_headers(self) -> dict[str, str]:
        """Retry-After for the throttling faults ("429", "503"); none for the others."""
        if self.fault in ("429", "503"):
            return {"Retry-After": str(self.retry_after)}
        return {}


class FaultPlan:
    """The injected fault rules and the seeded generator their rates draw from.

    Not locked: the fake calls it under its own lock.
    """

    def __init__(self, kinds: tuple[str, ...], seed: int) -> None:
        self.kinds = kinds
        self.rules: list[FaultRule] = []
        self._rng = random.Random(seed)

    def add(self, fault: str, *, at: list[int] | None, rate: float, paths: str,
            retry_after: int, oauth: bool = False, method: str = "") -> None:
        if fault not in self.kinds:
            raise ValueError(f"unknown fault {fault!r}; one of {', '.join(self.kinds)}")
        self.rules.append(FaultRule(fault, frozenset(at or ()), rate, paths, retry_after, oauth,
                                    method.upper()))

    def clear(self) -> None:
        self.rules.clear()

    def pick(self, path: str, oauth: bool = False, method: str = "") -> FaultRule | None:
        """The first rule that fires for this request. Every matching rule counts the request
        (and draws for its rate), so each rule's indexes stay its own."""
        chosen = None
        for rule in self.rules:
            if (rule.oauth != oauth or (rule.paths and rule.paths not in path)
                    or (rule.method and rule.method != method.upper())):
                continue
            index = rule.seen
            rule.seen += 1
            hit = index in rule.at or (rule.rate > 0 and self._rng.random() < rule.rate)
            if hit and chosen is None:
                chosen = rule
        return chosen


class FakeHandler(BaseHTTPRequestHandler):
    """Reads the request body, asks `answer` for the reply and writes it; a None reply closes
    the connection without a status line ("drop")."""

    protocol_version = "HTTP/1.0"  # one request per connection keeps "drop" simple

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def answer(self, body: bytes) -> Reply | None:
        raise NotImplementedError

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.answer(body)
        if reply is None:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
