"""A stateful fake of Google Calendar v3, Gmail v1 and Google's OAuth endpoints, over real HTTP.

Usage::

    fake = FakeGoogle(seed=1)
    url = fake.start()                          # "http://127.0.0.1:PORT/" (daemon thread)
    tok = fake.issue_tokens(SCOPES)             # access + refresh token for fake.client_id
    creds = Credentials(token=tok["access_token"], refresh_token=tok["refresh_token"],
                        token_uri=url + "token", client_id=fake.client_id,
                        client_secret=fake.client_secret)
    cal = build("calendar", "v3", credentials=creds, static_discovery=True,
                client_options={"api_endpoint": url})
    fake.put_event("primary", {"id": "e1", "summary": "Interview",
                               "start": {"dateTime": "2025-03-03T10:00:00+00:00"},
                               "end": {"dateTime": "2025-03-03T11:00:00+00:00"}})
    cal.events().list(calendarId="primary", singleEvents=True).execute()
    fake.inject("503", at=[0])                  # the next API request answers 503
    ...
    fake.stop()

Paths served (exactly what google-api-python-client produces with ``api_endpoint``): the
client replaces rootUrl *and* servicePath by ``api_endpoint``, so Calendar requests arrive as
``/calendars/{id}/events`` (``/calendar/v3/calendars/...`` is accepted too) and Gmail ones as
``/gmail/v1/users/me/...`` (Gmail's servicePath is empty).

What it checks the way Google does: a valid bearer token (401 ``authError``/``required``),
the token's scopes against each method's scopes from the discovery documents (403
``insufficientPermissions``), required and incompatible parameters (400), base64 raw messages
that parse as RFC 2822 (400), sync tokens (410 after ``expire_sync_tokens``), stale history ids
(404 after ``expire_history``). Errors have Google's JSON shape
``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}], "status"}}``.

Behaviour worth knowing when coding against it:

- Gmail threading follows Google's documented rule: a draft created with ``threadId`` joins
  that thread only if its In-Reply-To/References name a Message-ID in the thread *and* the
  subjects match once "Re:"/"Fwd:" are stripped; otherwise it starts a new thread. ``deliver``
  without ``thread_id`` threads the same way.
- Gmail omits empty lists (no ``"messages"``/``"drafts"``/``"history"`` key when empty).
- Cancelled events come back as ``{"kind", "etag", "id", "status": "cancelled"}`` only.
- Drafts are messages with the DRAFT label; creating one adds a ``messageAdded`` history record.
- ``send_draft_as_user`` gives the sent message a new id (the draft's message is deleted).
- Faults: ``at`` indexes count the API requests (OAuth endpoints excluded) that match ``paths``
  (a substring of the path) and ``method`` (when given), starting at 0 with the first such
  request *after* the ``inject`` call; ``rate`` draws from a generator seeded with ``seed``.
  "429", "403-rate", "403-project-rate", "500", "503", "drop" (the connection is closed
  without an answer) and "garbage" (200 with a body that is not JSON) change no state;
  "drop-after" carries the request out (``drafts.create``
  makes its draft) and then closes the connection without the answer. A faulted request is
  logged with ``fault`` set, status 0 for the drops. The Nth ``drafts.create``:
  ``inject("drop-after", at=[N], paths="/drafts", method="POST")``. Note that plain httplib2
  re-sends a request once by itself when the connection closes without an answer (any
  method), so a single "drop" of a GET is invisible to callers; use two consecutive indexes
  to make one visible.
- A POST with ``X-HTTP-Method-Override: GET`` and the query as a form body (what the client
  library sends for a GET whose URL is over 2,048 characters) is that GET.
- Send endpoints (messages.send, drafts.send, also their upload paths) are recorded in
  ``send_attempts`` and always answer 403.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import hashlib
import itertools
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, make_msgid
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.fakes.common import (
    GARBAGE,
    WORK_DONE,
    FakeHandler,
    FaultPlan,
    FaultRule,
    Reply,
    garbage_reply,
)

logger = logging.getLogger(__name__)

FAULTS = ("429", "403-rate", "403-project-rate", "500", "503", "drop", WORK_DONE,
          GARBAGE)

_AUTH = "https://www.googleapis.com/auth/"
_MAIL = "https://mail.google.com/"
_CAL_READ = frozenset(
    _AUTH + s
    for s in (
        "calendar",
        "calendar.readonly",
        "calendar.events",
        "calendar.events.readonly",
        "calendar.events.owned",
        "calendar.events.owned.readonly",
        "calendar.events.public.readonly",
        "calendar.events.freebusy",
        "calendar.app.created",
    )
)
_GMAIL_FULL = frozenset({_MAIL, _AUTH + "gmail.modify", _AUTH + "gmail.readonly"})
_GMAIL_META = frozenset({_AUTH + "gmail.metadata"})
_GMAIL_READ = _GMAIL_FULL | _GMAIL_META
_GMAIL_PROFILE = _GMAIL_READ | {_AUTH + "gmail.compose"}
_DRAFT_WRITE = frozenset({_MAIL, _AUTH + "gmail.modify", _AUTH + "gmail.compose"})
_DRAFT_READ = _DRAFT_WRITE | {_AUTH + "gmail.readonly"}

_OAUTH_PATHS = ("/token", "/o/oauth2/auth", "/oauth2/v1/tokeninfo", "/oauth2/v3/tokeninfo",
                "/revoke")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_SEND_RE = re.compile(
    r"^(?:/resumable)?(?:/upload)?/gmail/v1/users/[^/]+/(?:messages|drafts)/send$")
_GMAIL_RE = re.compile(r"^/gmail/v1/users/(?P<user>[^/]+)/(?P<rest>.*)$")
_CAL_RE = re.compile(r"^/calendars/(?P<cal>[^/]+)/events(?:/(?P<eid>[^/]+))?$")
_ACCESS_TTL = 3599


@dataclass
class Request:
    """One request the fake answered (or dropped)."""

    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    query_lists: dict[str, list[str]]  # every value (metadataHeaders, labelIds repeat)
    body: bytes = b""
    status: int = 0  # 0 = connection dropped without an answer
    fault: str | None = None
    api: bool = True  # False for the OAuth endpoints

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _ApiError(Exception):
    def __init__(self, code: int, message: str, reason: str, *, domain: str = "global",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.headers = headers or {}

    def reply(self) -> Reply:
        err: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
        }
        if self.code in _STATUS_NAMES:
            err["status"] = _STATUS_NAMES[self.code]
        return _json_reply(self.code, {"error": err}, self.headers)


class _OAuthError(Exception):
    def __init__(self, code: int, error: str, description: str) -> None:
        super().__init__(f"{code} {error}")
        self.code = code
        self.error = error
        self.description = description


@dataclass
class _Grant:
    scopes: list[str]
    revoked: bool = False


@dataclass
class _Access:
    scopes: list[str]
    refresh_token: str | None
    issued: float
    valid: bool = True


@dataclass
class _Page:
    kind: str
    items: list[Any]
    offset: int
    extra: dict[str, Any]


@dataclass
class _View:
    """Parsed parts of a stored message, cached for search and formatting."""

    msg: Message
    headers: list[tuple[str, str]]
    text: str  # lower-cased subject, addresses and text body for free-text search

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return ""


def _json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    hdrs = {"Content-Type": "application/json; charset=UTF-8"}
    hdrs.update(headers or {})
    return Reply(status, json.dumps(obj).encode(), hdrs)


def _rfc3339(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _decode_b64(value: str) -> bytes:
    """Decode like Google's protobuf JSON parser: standard or URL-safe, padding optional."""
    text = value.strip().rstrip("=")
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else b"+/"
    return base64.b64decode(text, altchars=altchars, validate=True)


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", str(value))


def _msgids(value: str) -> list[str]:
    return [m.strip("<>").strip() for m in re.findall(r"<[^<>]+>", value or "")]


def _norm_subject(subject: str) -> str:
    text = subject.strip()
    while True:
        stripped = re.sub(r"^\s*(re|fwd?|aw)\s*:\s*", "", text, flags=re.IGNORECASE)
        if stripped == text:
            break
        text = stripped
    return " ".join(text.lower().split())


def _parse_rfc2822(raw: bytes) -> Message:
    """Parse raw bytes as Gmail would accept them; ValueError says why not."""
    if not raw.strip():
        raise ValueError("message is empty")
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    if msg.defects or not msg.keys():
        raise ValueError("not an RFC 2822 message (no header section)")
    for name in ("To", "Cc", "Bcc"):
        for value in msg.get_all(name) or []:
            for _, addr in getaddresses([_unfold(value)]):
                if "@" not in addr or " " in addr.strip():
                    raise ValueError(f"Invalid {name} header")
    return msg


def _view(raw: bytes) -> _View:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    headers = [(k, _unfold(v)) for k, v in msg.items()]
    parts: list[str] = []
    for name in ("Subject", "From", "To", "Cc"):
        parts.extend(_unfold(v) for v in msg.get_all(name) or [])
    for part in msg.walk():
        if part.get_content_maintype() == "text" and not part.get_filename():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return _View(msg, headers, "\n".join(parts).lower())


def _payload(part: Message, part_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": [{"name": k, "value": _unfold(v)} for k, v in part.items()],
    }
    if part.is_multipart():
        out["body"] = {"size": 0}
        subs = part.get_payload()
        assert isinstance(subs, list)
        out["parts"] = [
            _payload(sub, f"{part_id}.{i}" if part_id else str(i)) for i, sub in enumerate(subs)
        ]
    else:
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        if part.get_filename() or part.get_content_disposition() == "attachment":
            # Gmail leaves attachments out of format=full: messages.attachments.get reads them.
            digest = hashlib.sha1(data).hexdigest()
            out["body"] = {"size": len(data), "attachmentId": f"ANGjdJ-{digest}"}
        else:
            out["body"] = {"size": len(data), "data": _b64url(data)}
    return out


def _event_time(value: dict[str, Any] | None) -> datetime | None:
    if not value:
        return None
    if "dateTime" in value:
        moment = datetime.fromisoformat(value["dateTime"])
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if "date" in value:  # all-day: the fake's calendars are in UTC
        return datetime.combine(date.fromisoformat(value["date"]), datetime.min.time(), UTC)
    return None


# --- Gmail search (q) ---------------------------------------------------------------------

_TOKEN_RE = re.compile(r'-?"[^"]*"|[(){}]|[^\s(){}]+')
_LABEL_OF_IN = {"inbox": "INBOX", "sent": "SENT", "drafts": "DRAFT", "draft": "DRAFT",
                "trash": "TRASH", "spam": "SPAM", "starred": "STARRED",
                "important": "IMPORTANT", "chats": "CHAT"}
_SPAN = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(days=30),
         "y": timedelta(days=365)}

_Node = tuple[str, Any]


class _QueryParser:
    """Gmail's search syntax: implicit AND, OR, -negation, (groups) and {any-of} groups."""

    def __init__(self, q: str) -> None:
        self.tokens = _TOKEN_RE.findall(q)
        self.pos = 0

    def parse(self) -> _Node:
        return self._seq(None, "and")

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _seq(self, end: str | None, kind: str) -> _Node:
        items: list[_Node] = []
        while (tok := self._peek()) is not None and tok != end:
            if tok in (")", "}"):  # unbalanced closer: ignore it like Gmail does
                self.pos += 1
                continue
            items.append(self._or())
        self.pos += 1  # the closer (or past the end)
        return (kind, items)

    def _or(self) -> _Node:
        alts = [self._unary()]
        while self._peek() == "OR":
            self.pos += 1
            if self._peek() is None:
                break
            alts.append(self._unary())
        return alts[0] if len(alts) == 1 else ("or", alts)

    def _unary(self) -> _Node:
        tok = self.tokens[self.pos]
        self.pos += 1
        if tok == "(":
            return self._seq(")", "and")
        if tok == "{":
            return self._seq("}", "or")
        if tok.startswith("-") and len(tok) > 1:
            return ("not", ("term", tok[1:]))
        return ("term", tok)


# --- the fake -----------------------------------------------------------------------------


class FakeGoogle:
    """Stateful fake Google (Calendar v3, Gmail v1, OAuth) for one user; see the module doc.

    Public state, for assertions (hold no references across requests; read it between calls):
    ``messages[id]`` = {"id", "threadId", "labelIds", "historyId", "internalDate", "snippet",
    "sizeEstimate", "raw": RFC 2822 *bytes*}; ``drafts[draft_id]`` = {"id", "message": the same
    record as in ``messages``}; ``threads[thread_id]`` = message ids, oldest first;
    ``requests`` / ``api_requests`` / ``send_attempts``: `Request` records; ``errors``: bugs
    inside the fake (should stay empty). ``now`` (a callable) dates new messages and events.
    """

    def __init__(self, *, seed: int = 0, email: str = "me@example.com") -> None:
        self.seed = seed
        self.email = email
        self.url = ""
        self.client_id = "fake-client-id.apps.googleusercontent.com"
        self.client_secret = "fake-client-secret"
        self.retry_after = 1  # seconds in Retry-After for "429"/"503"; tests set 0
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.deny_consent = False  # the next /o/oauth2/auth redirects with error=access_denied
        self.requests: list[Request] = []
        self.send_attempts: list[Request] = []
        self.errors: list[str] = []  # bugs inside the fake (answered 500 with reason fakeBug)
        # Gmail state (public for assertions)
        self.messages: dict[str, dict[str, Any]] = {}
        self.drafts: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, list[str]] = {}
        self._lock = threading.RLock()
        self._token_rng = random.Random(seed + 1)
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._faults = FaultPlan(FAULTS, seed)
        self._pages: dict[str, _Page] = {}
        # OAuth
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, _Access] = {}
        self._codes: dict[str, dict[str, Any]] = {}
        # Calendar
        self._calendars: dict[str, dict[str, dict[str, Any]]] = {email: {}}
        self._stamps: dict[tuple[str, str], int] = {}
        self._cal_stamp = 0
        self._sync_tokens: dict[str, tuple[str, int]] = {}
        # Gmail
        self._views: dict[str, _View] = {}
        self._by_rfc_id: dict[str, str] = {}
        self._labels: dict[str, str] = {}  # user label id ("Label_1") -> name ("Jobs/Acme")
        self._history_id = 1000
        self._history_floor = 1000  # startHistoryId below this answers 404
        self._history: list[dict[str, Any]] = []

    # --- lifecycle ---

    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        # a short poll keeps stop() quick (shutdown waits for the loop to notice)
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,),
                                        name="fake-google", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/"
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGoogle:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_requests(self) -> list[Request]:
        """The log without the OAuth endpoints (what counts toward API quota)."""
        with self._lock:
            return [r for r in self.requests if r.api]

    def _new_id(self, prefix: str = "") -> str:
        return f"{prefix}{0x18C0000000000000 + next(self._ids):016x}"

    def _secret(self, prefix: str) -> str:
        return f"{prefix}{self._token_rng.getrandbits(128):032x}"

    # --- OAuth ---

    def issue_tokens(self, scopes: list[str]) -> dict[str, Any]:
        """Register a refresh token and an access token for `scopes`, as after consent."""
        with self._lock:
            refresh = self._secret("1//fake-refresh-")
            self._grants[refresh] = _Grant(list(scopes))
            access = self._new_access(list(scopes), refresh)
            return {"access_token": access, "refresh_token": refresh,
                    "expires_in": _ACCESS_TTL, "scope": " ".join(scopes),
                    "token_type": "Bearer"}

    def revoke(self, refresh_token: str) -> None:
        """Later refreshes answer 400 invalid_grant; its access tokens stop working too."""
        with self._lock:
            self._grants[refresh_token].revoked = True
            for info in self._access.values():
                if info.refresh_token == refresh_token:
                    info.valid = False

    def expire_access_tokens(self) -> None:
        with self._lock:
            for info in self._access.values():
                info.valid = False

    def client_secrets_json(self) -> dict[str, Any]:
        return {"installed": {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "project_id": "fake-project",
            "auth_uri": self.url + "o/oauth2/auth",
            "token_uri": self.url + "token",
            "redirect_uris": ["http://localhost"],
        }}

    def _new_access(self, scopes: list[str], refresh: str | None) -> str:
        token = self._secret("ya29.fake-")
        self._access[token] = _Access(scopes, refresh, time.monotonic())
        return token

    # --- Calendar ---

    def _cal_id(self, calendar_id: str) -> str:
        return self.email if calendar_id == "primary" else calendar_id

    def add_calendar(self, calendar_id: str) -> None:
        with self._lock:
            self._calendars.setdefault(self._cal_id(calendar_id), {})

    def events(self, calendar_id: str = "primary") -> list[dict[str, Any]]:
        """Stored events of a calendar (copies), cancelled ones included."""
        with self._lock:
            return copy.deepcopy(list(self._calendars.get(self._cal_id(calendar_id), {}).values()))

    def put_event(self, calendar_id: str, event: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace by "id" (generated when absent); bumps "updated" and "sequence"."""
        with self._lock:
            cal = self._calendars.setdefault(self._cal_id(calendar_id), {})
            ev = copy.deepcopy(event)
            ev_id = ev.get("id") or self._new_id("ev")
            old = cal.get(ev_id)
            if ev.get("status") != "cancelled":
                for key in ("start", "end"):
                    if _event_time(ev.get(key)) is None:
                        raise ValueError(f"event {ev_id} needs {key}.dateTime or {key}.date")
            now = _rfc3339(self.now())
            ev["id"] = ev_id
            ev.setdefault("status", "confirmed")
            ev.setdefault("eventType", "default")
            ev.setdefault("iCalUID", f"{ev_id}@google.com")
            ev.setdefault("organizer", {"email": self.email, "self": True})
            ev.setdefault("creator", {"email": self.email, "self": True})
            ev["kind"] = "calendar#event"
            ev["htmlLink"] = f"https://www.google.com/calendar/event?eid={ev_id}"
            ev["created"] = old["created"] if old else ev.get("created", now)
            ev["updated"] = now
            ev["sequence"] = old["sequence"] + 1 if old else ev.get("sequence", 0)
            self._touch_event(cal, ev)
            return copy.deepcopy(ev)

    def cancel_event(self, calendar_id: str, event_id: str) -> None:
        """Mark cancelled: how Google reports a deleted event in an incremental sync."""
        with self._lock:
            cal = self._calendars[self._cal_id(calendar_id)]
            ev = cal[event_id]
            ev["status"] = "cancelled"
            ev["updated"] = _rfc3339(self.now())
            self._touch_event(cal, ev)

    def _touch_event(self, cal: dict[str, dict[str, Any]], ev: dict[str, Any]) -> None:
        self._cal_stamp += 1
        ev["etag"] = f'"{3000000000000000 + self._cal_stamp}"'
        cal[ev["id"]] = ev
        cal_id = next(k for k, v in self._calendars.items() if v is cal)
        self._stamps[(cal_id, ev["id"])] = self._cal_stamp

    def expire_sync_tokens(self) -> None:
        """Every sync token issued so far answers 410 from now on."""
        with self._lock:
            self._sync_tokens.clear()

    # --- Gmail ---

    def deliver(self, raw: bytes, labels: Sequence[str] = ("INBOX",),
                thread_id: str | None = None, *, internal_date: datetime | None = None) -> str:
        """Add a message (inbound by default); returns its id. Makes a new historyId."""
        with self._lock:
            _parse_rfc2822(raw)
            view = _view(raw)
            if thread_id is None:
                thread_id = self._thread_for(view, None)
            rec = self._store_message(raw, view, list(labels), thread_id, internal_date)
            self._add_history(added=[rec])
            return str(rec["id"])

    def add_draft(self, raw: bytes, thread_id: str | None = None) -> str:
        """A draft the user wrote themselves (same rules as drafts.create); returns its id."""
        with self._lock:
            _parse_rfc2822(raw)
            return self._create_draft(raw, thread_id)["id"]

    def send_draft_as_user(self, draft_id: str, keep_headers: bool = True) -> str:
        """The user sends a draft: it becomes a SENT message in the same thread; returns its id.

        keep_headers=False drops the X-* headers, as a mail client might on send.
        """
        with self._lock:
            draft = self.drafts.pop(draft_id)
            old = draft["message"]
            view = self._views[old["id"]]
            msg = copy.deepcopy(view.msg)
            if not keep_headers:
                for name in {k for k in msg if k.lower().startswith("x-")}:
                    del msg[name]
            if msg["Message-ID"] is None:
                msg["Message-ID"] = make_msgid(domain="mail.gmail.com")
            if msg["From"] is None:
                msg["From"] = self.email
            self._forget_message(old["id"])
            raw = msg.as_bytes()
            rec = self._store_message(raw, _view(raw), ["SENT"], old["threadId"], None)
            self._add_history(added=[rec], deleted=[old])
            return str(rec["id"])

    def add_label(self, name: str) -> str:
        """A user label (as made in Gmail's settings or by a filter); returns its id."""
        with self._lock:
            for label_id, known in self._labels.items():
                if known == name:
                    return label_id
            label_id = f"Label_{len(self._labels) + 1}"
            self._labels[label_id] = name
            return label_id

    def modify_labels(self, message_id: str, add: Sequence[str] = (),
                      remove: Sequence[str] = ()) -> None:
        """What the user (or a filter) does in Gmail: labels added and removed, each change a
        history record (``labelsAdded`` / ``labelsRemoved``) as Gmail writes it."""
        with self._lock:
            rec = self.messages[message_id]
            for label in add:
                if label.startswith("Label_") and label not in self._labels:
                    raise ValueError(f"no user label {label!r}")
            gained = [label for label in add if label not in rec["labelIds"]]
            lost = [label for label in remove if label in rec["labelIds"]]
            rec["labelIds"] = [label for label in rec["labelIds"] if label not in lost] + gained
            if gained:
                self._add_history(labels=("labelsAdded", rec, gained))
            if lost:
                self._add_history(labels=("labelsRemoved", rec, lost))

    def archive(self, message_id: str) -> None:
        """Gmail's "Archive" button: the INBOX label goes, the message stays in All Mail."""
        self.modify_labels(message_id, remove=["INBOX"])

    def expire_history(self) -> None:
        """history.list with a startHistoryId older than the current one answers 404."""
        with self._lock:
            self._history.clear()
            self._history_floor = self._history_id

    def parsed(self, message_id: str) -> Message:
        """The stored message parsed (compat32 policy), for assertions."""
        with self._lock:
            return copy.deepcopy(self._views[message_id].msg)

    def _thread_for(self, view: _View, wanted: str | None) -> str:
        """Gmail's rule: same thread only if it references a message there and subjects match."""
        refs = _msgids(view.header("In-Reply-To")) + _msgids(view.header("References"))
        subject = _norm_subject(view.header("Subject"))
        for ref in refs:
            mid = self._by_rfc_id.get(ref)
            if mid is None:
                continue
            thread = self.messages[mid]["threadId"]
            if wanted is not None and thread != wanted:
                continue
            if _norm_subject(self._views[mid].header("Subject")) == subject:
                return str(thread)
        return self._new_id("")

    def _store_message(self, raw: bytes, view: _View, labels: list[str], thread_id: str,
                       internal_date: datetime | None) -> dict[str, Any]:
        mid = self._new_id("")
        moment = internal_date or self.now()
        rec: dict[str, Any] = {
            "id": mid,
            "threadId": thread_id,
            "labelIds": labels,
            "snippet": "",
            "sizeEstimate": len(raw),
            "historyId": "",
            "internalDate": str(int(moment.timestamp() * 1000)),
            "raw": raw,  # the RFC 2822 bytes (the API answers base64url)
        }
        self.messages[mid] = rec
        self._views[mid] = view
        self.threads.setdefault(thread_id, []).append(mid)
        for rfc_id in _msgids(view.header("Message-ID")):
            self._by_rfc_id[rfc_id] = mid
        return rec

    def _forget_message(self, mid: str) -> None:
        rec = self.messages.pop(mid)
        view = self._views.pop(mid)
        thread = self.threads[rec["threadId"]]
        thread.remove(mid)
        if not thread:
            del self.threads[rec["threadId"]]
        for rfc_id in _msgids(view.header("Message-ID")):
            if self._by_rfc_id.get(rfc_id) == mid:
                del self._by_rfc_id[rfc_id]

    def _add_history(self, *, added: Sequence[dict[str, Any]] = (),
                     deleted: Sequence[dict[str, Any]] = (),
                     labels: tuple[str, dict[str, Any], list[str]] | None = None) -> None:
        self._history_id += 1
        hid = str(self._history_id)
        touched = [*added, *deleted, *([labels[1]] if labels else [])]
        record: dict[str, Any] = {
            "id": hid,
            "messages": [{"id": m["id"], "threadId": m["threadId"]} for m in touched],
        }
        if labels is not None:
            key, rec, changed = labels
            record[key] = [{"message": {"id": rec["id"], "threadId": rec["threadId"],
                                        "labelIds": list(rec["labelIds"])},
                            "labelIds": list(changed)}]
            rec["historyId"] = hid
        if added:
            record["messagesAdded"] = [
                {"message": {"id": m["id"], "threadId": m["threadId"],
                             "labelIds": list(m["labelIds"])}} for m in added
            ]
        if deleted:
            record["messagesDeleted"] = [
                {"message": {"id": m["id"], "threadId": m["threadId"]}} for m in deleted
            ]
        for m in added:
            m["historyId"] = hid
        self._history.append(record)

    def _create_draft(self, raw: bytes, thread_id: str | None) -> dict[str, Any]:
        view = _view(raw)
        if thread_id is not None and thread_id not in self.threads:
            raise _ApiError(404, "Requested entity was not found.", "notFound")
        thread = self._thread_for(view, thread_id)
        rec = self._store_message(raw, view, ["DRAFT"], thread, None)
        did = f"r-{self._token_rng.getrandbits(62)}"
        self.drafts[did] = {"id": did, "message": rec}
        self._add_history(added=[rec])
        return {"id": did, "message": {"id": rec["id"], "threadId": rec["threadId"],
                                       "labelIds": list(rec["labelIds"])}}

    # --- faults ---

    def inject(self, fault: str, *, at: list[int] | None = None, rate: float = 0.0,
               paths: str = "", method: str = "", retry_after: int | None = None) -> None:
        """Fail API requests: at these indexes (from now, among those whose path contains
        `paths` and, when given, whose method is `method`) and/or at a seeded `rate`. Rules
        add up; clear_faults() removes them all."""
        with self._lock:
            self._faults.add(fault, at=at, rate=rate, paths=paths, method=method,
                             retry_after=self.retry_after if retry_after is None else retry_after)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @staticmethod
    def _fault_reply(rule: FaultRule) -> Reply | None:
        retry = rule.retry_headers()
        if rule.fault == "429":
            return _ApiError(429, "Resource has been exhausted (e.g. check quota).",
                             "rateLimitExceeded", headers=retry).reply()
        if rule.fault == "503":
            return _ApiError(503, "The service is currently unavailable.", "backendError",
                             headers=retry).reply()
        if rule.fault == "403-rate":
            return _ApiError(403, "User Rate Limit Exceeded", "userRateLimitExceeded",
                             domain="usageLimits").reply()
        if rule.fault == "403-project-rate":
            return _ApiError(403, "Rate Limit Exceeded", "rateLimitExceeded",
                             domain="usageLimits").reply()
        if rule.fault == "500":
            return _ApiError(500, "Internal error encountered.", "backendError").reply()
        if rule.fault == GARBAGE:
            return garbage_reply()
        return None  # "drop"

    # --- dispatch ---

    def _dispatch(self, method: str, target: str, headers: dict[str, str],
                  body: bytes) -> Reply | None:
        split = urlsplit(target)
        path = split.path
        lists = parse_qs(split.query, keep_blank_values=True)
        if method == "POST" and headers.get("x-http-method-override", "").upper() == "GET":
            # google-api-python-client turns a GET whose URL is over 2,048 characters (a long
            # q=) into a POST carrying the query as a form body; Google's APIs accept it.
            method = "GET"
            for key, values in parse_qs(body.decode("utf-8", "replace"),
                                        keep_blank_values=True).items():
                lists.setdefault(key, []).extend(values)
            body = b""
        rec = Request(method, path, {k: v[0] for k, v in lists.items()}, lists, body)
        with self._lock:
            self.requests.append(rec)
            reply: Reply | None
            try:
                if path in _OAUTH_PATHS:
                    rec.api = False
                    reply = self._oauth(method, path, lists, headers, body)
                elif method == "POST" and _SEND_RE.match(path):
                    self.send_attempts.append(rec)
                    reply = _ApiError(403, "Sending is disabled in the fake.", "forbidden").reply()
                elif (rule := self._faults.pick(path, method=method)) is not None:
                    rec.fault = rule.fault
                    if rule.does_work:
                        with contextlib.suppress(_ApiError):  # lost the same way
                            self._api(method, path, lists, headers, body)
                        reply = None
                    else:
                        reply = self._fault_reply(rule)
                else:
                    reply = self._api(method, path, lists, headers, body)
            except _ApiError as exc:
                reply = exc.reply()
            except Exception as exc:  # a bug in the fake must be visible, not look like a fault
                logger.exception("fake google failed on %s %s", method, path)
                self.errors.append(f"{method} {path}: {exc!r}")
                reply = _ApiError(500, f"fake bug: {exc!r}", "fakeBug").reply()
            rec.status = reply.status if reply is not None else 0
            return reply

    def _api(self, method: str, path: str, q: dict[str, list[str]], headers: dict[str, str],
             body: bytes) -> Reply:
        if path.startswith("/calendar/v3/"):
            path = path[len("/calendar/v3"):]
        if m := _CAL_RE.match(path):
            if method != "GET":
                raise _ApiError(404, "Not Found", "notFound")
            self._authorize(headers, _CAL_READ)
            cal = unquote(m["cal"])
            if m["eid"]:
                return _json_reply(200, self._events_get(cal, unquote(m["eid"])))
            return _json_reply(200, self._events_list(cal, q))
        if m := _GMAIL_RE.match(path):
            return self._gmail(method, unquote(m["user"]), m["rest"], q, headers, body)
        if path.startswith(("/upload/", "/resumable/")):
            raise _ApiError(400, "Media upload is not supported by the fake; use message.raw",
                            "invalidArgument")
        raise _ApiError(404, "Not Found", "notFound")

    def _authorize(self, headers: dict[str, str], accepted: frozenset[str]) -> _Access:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise _ApiError(
                401, "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential.",
                "required", headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        info = self._access.get(auth[len("Bearer "):].strip())
        if info is None or not info.valid:
            raise _ApiError(
                401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.", "authError",
                headers={"WWW-Authenticate":
                         'Bearer realm="https://accounts.google.com/", error="invalid_token"'})
        if not accepted & set(info.scopes):
            raise _ApiError(403, "Request had insufficient authentication scopes.",
                            "insufficientPermissions",
                            headers={"WWW-Authenticate":
                                     'Bearer realm="https://accounts.google.com/", '
                                     'error="insufficient_scope"'})
        return info

    # --- OAuth endpoints ---

    def _oauth(self, method: str, path: str, q: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        try:
            if path == "/o/oauth2/auth":
                return self._oauth_authorize(q)
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            params = {k: v[0] for k, v in {**q, **form}.items()}
            if path == "/token" and method == "POST":
                return self._oauth_token(params, headers)
            if path.endswith("tokeninfo"):
                return self._tokeninfo(params, v3=path.startswith("/oauth2/v3"))
            if path == "/revoke" and method == "POST":
                return self._oauth_revoke(params)
            raise _OAuthError(404, "not_found", "Not Found")
        except _OAuthError as exc:
            return _json_reply(exc.code, {"error": exc.error,
                                          "error_description": exc.description})

    def _oauth_authorize(self, q: dict[str, list[str]]) -> Reply:
        params = {k: v[0] for k, v in q.items()}
        if params.get("client_id") != self.client_id:
            raise _OAuthError(401, "invalid_client", "The OAuth client was not found.")
        redirect = params.get("redirect_uri", "")
        if not re.match(r"^http://(localhost|127\.0\.0\.1)(:\d+)?(/|$)", redirect):
            raise _OAuthError(400, "redirect_uri_mismatch", "redirect_uri must be a loopback URL")
        if params.get("response_type") != "code" or not params.get("scope"):
            raise _OAuthError(400, "invalid_request", "response_type=code and scope are required")
        answer: dict[str, str] = {}
        if self.deny_consent:
            answer["error"] = "access_denied"
        else:
            code = self._secret("4/fake-code-")
            self._codes[code] = {
                "redirect_uri": redirect,
                "scopes": params["scope"].split(),
                "offline": params.get("access_type") == "offline",
                "challenge": params.get("code_challenge"),
                "challenge_method": params.get("code_challenge_method", "plain"),
            }
            answer["code"] = code
            answer["scope"] = params["scope"]
        if "state" in params:
            answer["state"] = params["state"]
        sep = "&" if "?" in redirect else "?"
        return Reply(302, b"", {"Location": redirect + sep + urlencode(answer)})

    def _client_ok(self, params: dict[str, str], headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return unquote(user) == self.client_id and unquote(secret) == self.client_secret
        return (params.get("client_id") == self.client_id
                and params.get("client_secret") == self.client_secret)

    def _oauth_token(self, params: dict[str, str], headers: dict[str, str]) -> Reply:
        if not self._client_ok(params, headers):
            raise _OAuthError(401, "invalid_client", "The OAuth client was not found.")
        grant_type = params.get("grant_type")
        if grant_type == "refresh_token":
            grant = self._grants.get(params.get("refresh_token", ""))
            if grant is None or grant.revoked:
                raise _OAuthError(400, "invalid_grant", "Token has been expired or revoked.")
            scopes = params["scope"].split() if params.get("scope") else grant.scopes
            if not set(scopes) <= set(grant.scopes):
                raise _OAuthError(400, "invalid_scope", "Some requested scopes were invalid.")
            access = self._new_access(scopes, params["refresh_token"])
            return _json_reply(200, {"access_token": access, "expires_in": _ACCESS_TTL,
                                     "scope": " ".join(scopes), "token_type": "Bearer"})
        if grant_type == "authorization_code":
            code = self._codes.pop(params.get("code", ""), None)
            if code is None:
                raise _OAuthError(400, "invalid_grant", "Malformed auth code.")
            if params.get("redirect_uri") != code["redirect_uri"]:
                raise _OAuthError(400, "redirect_uri_mismatch", "Bad Request")
            if code["challenge"]:
                verifier = params.get("code_verifier", "")
                if code["challenge_method"] == "S256":
                    digest = hashlib.sha256(verifier.encode()).digest()
                    verifier = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if not params.get("code_verifier") or verifier != code["challenge"]:
                    raise _OAuthError(400, "invalid_grant", "Invalid code verifier.")
            answer: dict[str, Any] = {"expires_in": _ACCESS_TTL, "token_type": "Bearer",
                                      "scope": " ".join(code["scopes"])}
            refresh = None
            if code["offline"]:
                refresh = self._secret("1//fake-refresh-")
                self._grants[refresh] = _Grant(code["scopes"])
                answer["refresh_token"] = refresh
            answer["access_token"] = self._new_access(code["scopes"], refresh)
            return _json_reply(200, answer)
        raise _OAuthError(400, "unsupported_grant_type", "Invalid grant_type: " + str(grant_type))

    def _tokeninfo(self, params: dict[str, str], *, v3: bool) -> Reply:
        info = self._access.get(params.get("access_token", ""))
        if info is None or not info.valid:
            raise _OAuthError(400, "invalid_token", "Invalid Value")
        left = max(0, int(_ACCESS_TTL - (time.monotonic() - info.issued)))
        answer: dict[str, Any] = {"scope": " ".join(info.scopes), "expires_in": left,
                                  "access_type": "offline" if info.refresh_token else "online"}
        if v3:
            answer.update(azp=self.client_id, aud=self.client_id,
                          exp=str(int(time.time()) + left))
        else:
            answer.update(issued_to=self.client_id, audience=self.client_id)
        return _json_reply(200, answer)

    def _oauth_revoke(self, params: dict[str, str]) -> Reply:
        token = params.get("token", "")
        if token in self._grants:
            self.revoke(token)
        elif token in self._access:
            self._access[token].valid = False
        else:
            raise _OAuthError(400, "invalid_token", "Token expired or revoked")
        return _json_reply(200, {})

    # --- Calendar endpoints ---

    def _calendar(self, calendar_id: str) -> tuple[str, dict[str, dict[str, Any]]]:
        cal_id = self._cal_id(calendar_id)
        if cal_id not in self._calendars:
            raise _ApiError(404, "Not Found", "notFound")
        return cal_id, self._calendars[cal_id]

    def _events_get(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        _, cal = self._calendar(calendar_id)
        if event_id not in cal:
            raise _ApiError(404, "Not Found", "notFound")
        return copy.deepcopy(cal[event_id])

    def _events_list(self, calendar_id: str, q: dict[str, list[str]]) -> dict[str, Any]:
        cal_id, cal = self._calendar(calendar_id)
        one = {k: v[0] for k, v in q.items()}
        size = _max_results(one, default=250, cap=2500)
        if "pageToken" in one:
            page = self._page(one["pageToken"], "events:" + cal_id)
        else:
            page = self._first_events_page(cal_id, cal, q, one)
        items, token = self._slice(page, size)
        answer: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{self._cal_stamp}"',
            "summary": cal_id,
            "updated": _rfc3339(self.now()),
            "timeZone": "UTC",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        }
        if token:
            answer["nextPageToken"] = token
        else:
            sync = self._secret("CPD-fake-sync-")
            self._sync_tokens[sync] = (cal_id, page.extra["stamp"])
            answer["nextSyncToken"] = sync
        return answer

    def _first_events_page(self, cal_id: str, cal: dict[str, dict[str, Any]],
                           q: dict[str, list[str]], one: dict[str, str]) -> _Page:
        if "syncToken" in one:
            bad = [p for p in ("timeMin", "timeMax", "orderBy", "q", "iCalUID", "updatedMin",
                               "privateExtendedProperty", "sharedExtendedProperty") if p in one]
            if bad:
                raise _ApiError(400, "Sync token cannot be used with: " + ", ".join(bad),
                                "invalid")
            known = self._sync_tokens.get(one["syncToken"])
            if known is None or known[0] != cal_id:
                raise _ApiError(410, "Sync token is no longer valid, a full sync is required.",
                                "fullSyncRequired", domain="calendar")
            since = known[1]
            changed = [ev for ev in cal.values() if self._stamps[(cal_id, ev["id"])] > since]
            changed.sort(key=lambda ev: self._stamps[(cal_id, ev["id"])])
            items = [self._event_out(ev) for ev in changed]
            return _Page("events:" + cal_id, items, 0, {"stamp": self._cal_stamp})
        if one.get("orderBy") not in (None, "startTime", "updated"):
            raise _ApiError(400, "Invalid value for: orderBy", "invalid")
        if one.get("orderBy") == "startTime" and one.get("singleEvents") != "true":
            raise _ApiError(400, "The requested ordering is not available for the particular "
                            "query.", "badRequest")
        t_min = _query_time(one, "timeMin")
        t_max = _query_time(one, "timeMax")
        updated_min = _query_time(one, "updatedMin")
        show_deleted = one.get("showDeleted") == "true"
        private = [p.partition("=") for p in q.get("privateExtendedProperty", [])]
        text = one.get("q", "").lower()
        picked = []
        for ev in cal.values():
            if ev["status"] == "cancelled" and not show_deleted:
                continue
            start, end = _event_time(ev.get("start")), _event_time(ev.get("end"))
            if t_min and end and end <= t_min:
                continue
            if t_max and start and start >= t_max:
                continue
            if updated_min and datetime.fromisoformat(ev["updated"]) < updated_min:
                continue
            props = ev.get("extendedProperties", {}).get("private", {})
            if any(props.get(k) != v for k, _, v in private):
                continue
            if text and text not in json.dumps([ev.get("summary"), ev.get("description"),
                                                ev.get("location")]).lower():
                continue
            if one.get("iCalUID") and ev.get("iCalUID") != one["iCalUID"]:
                continue
            picked.append(ev)
        far = datetime.max.replace(tzinfo=UTC)
        if one.get("orderBy") == "updated":
            picked.sort(key=lambda ev: (ev["updated"], ev["id"]))
        else:
            picked.sort(key=lambda ev: (_event_time(ev.get("start")) or far, ev["id"]))
        return _Page("events:" + cal_id, [self._event_out(ev) for ev in picked], 0,
                     {"stamp": self._cal_stamp})

    @staticmethod
    def _event_out(ev: dict[str, Any]) -> dict[str, Any]:
        if ev["status"] == "cancelled":
            out = {k: ev[k] for k in ("kind", "etag", "id", "status")}
            for key in ("recurringEventId", "originalStartTime"):
                if key in ev:
                    out[key] = copy.deepcopy(ev[key])
            return out
        return copy.deepcopy(ev)

    # --- paging ---

    def _page(self, token: str, kind: str) -> _Page:
        page = self._pages.get(token)
        if page is None or page.kind != kind:
            raise _ApiError(400, "Invalid page token", "invalid")
        return page

    def _slice(self, page: _Page, size: int) -> tuple[list[Any], str | None]:
        items = page.items[page.offset:page.offset + size]
        rest = page.offset + size
        if rest >= len(page.items):
            return items, None
        token = self._secret("pg-")
        self._pages[token] = _Page(page.kind, page.items, rest, page.extra)
        return items, token

    # --- Gmail endpoints ---

    def _gmail(self, method: str, user: str, rest: str, q: dict[str, list[str]],
               headers: dict[str, str], body: bytes) -> Reply:
        one = {k: v[0] for k, v in q.items()}
        route = (method, re.sub(r"^(messages|drafts|threads)/[^/]+$", r"\1/{id}", rest))
        scopes = {
            ("GET", "profile"): _GMAIL_PROFILE,
            ("GET", "history"): _GMAIL_READ,
            ("GET", "messages"): _GMAIL_READ,
            ("GET", "messages/{id}"): _GMAIL_READ,
            ("GET", "threads/{id}"): _GMAIL_READ,
            ("GET", "labels"): _GMAIL_READ | {_AUTH + "gmail.labels"},
            ("POST", "drafts"): _DRAFT_WRITE,
            ("GET", "drafts"): _DRAFT_READ,
            ("GET", "drafts/{id}"): _DRAFT_READ,
        }.get(route)
        if scopes is None:
            raise _ApiError(404, "Not Found", "notFound")
        info = self._authorize(headers, scopes)
        if user not in ("me", self.email):
            raise _ApiError(403, "Delegation denied for " + self.email, "forbidden")
        metadata_only = not _GMAIL_FULL & set(info.scopes) and bool(_GMAIL_META & set(info.scopes))
        full_format = one.get("format") in ("full", "raw", None) and route[1] in (
            "messages/{id}", "threads/{id}")
        if metadata_only and ("q" in one or full_format):
            raise _ApiError(403, "Metadata scope does not support 'q' parameter or format FULL/RAW",
                            "forbidden")
        item_id = unquote(rest.partition("/")[2])
        if route == ("GET", "labels"):
            return _json_reply(200, {"labels": self._labels_list()})
        if route == ("GET", "profile"):
            return _json_reply(200, {"emailAddress": self.email,
                                     "messagesTotal": len(self.messages),
                                     "threadsTotal": len(self.threads),
                                     "historyId": str(self._history_id)})
        if route == ("GET", "history"):
            return _json_reply(200, self._history_list(q, one))
        if route == ("GET", "messages"):
            return _json_reply(200, self._messages_list(q, one))
        if route == ("GET", "messages/{id}"):
            rec = self._message(item_id)
            return _json_reply(200, self._format(rec, one.get("format", "full"), q))
        if route == ("GET", "threads/{id}"):
            if item_id not in self.threads:
                raise _ApiError(404, "Requested entity was not found.", "notFound")
            fmt = one.get("format", "full")
            msgs = [self._format(self.messages[m], fmt, q) for m in self.threads[item_id]]
            return _json_reply(200, {"id": item_id, "historyId": str(self._history_id),
                                     "messages": msgs})
        if route == ("POST", "drafts"):
            return _json_reply(200, self._drafts_create(body))
        if route == ("GET", "drafts"):
            return _json_reply(200, self._drafts_list(one))
        draft = self.drafts.get(item_id)
        if draft is None:
            raise _ApiError(404, "Requested entity was not found.", "notFound")
        fmt = one.get("format", "full")
        if fmt not in ("full", "metadata", "minimal", "raw"):
            raise _ApiError(400, f"Invalid value for format: {fmt}", "invalidArgument")
        return _json_reply(200, {"id": item_id, "message": self._format(draft["message"], fmt, {})})

    def _labels_list(self) -> list[dict[str, Any]]:
        system = ["INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT",
                  "CHAT", "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS",
                  "CATEGORY_UPDATES", "CATEGORY_FORUMS"]
        return ([{"id": label, "name": label, "type": "system"} for label in system]
                + [{"id": label_id, "name": name, "type": "user",
                    "messageListVisibility": "show", "labelListVisibility": "labelShow"}
                   for label_id, name in self._labels.items()])

    def _message(self, mid: str) -> dict[str, Any]:
        rec = self.messages.get(mid)
        if rec is None:
            raise _ApiError(404, "Requested entity was not found.", "notFound")
        return rec

    def _format(self, rec: dict[str, Any], fmt: str, q: dict[str, list[str]]) -> dict[str, Any]:
        if fmt not in ("full", "metadata", "minimal", "raw"):
            raise _ApiError(400, f"Invalid value for format: {fmt}", "invalidArgument")
        out = {k: rec[k] for k in ("id", "threadId", "snippet", "sizeEstimate", "historyId",
                                   "internalDate")}
        if rec["labelIds"]:
            out["labelIds"] = list(rec["labelIds"])
        view = self._views[rec["id"]]
        if fmt == "raw":
            out["raw"] = _b64url(rec["raw"])
        elif fmt == "full":
            out["payload"] = _payload(view.msg, "")
        elif fmt == "metadata":
            wanted = {h.lower() for h in q.get("metadataHeaders", [])}
            out["payload"] = {
                "partId": "",
                "mimeType": view.msg.get_content_type(),
                "filename": "",
                "headers": [{"name": k, "value": v} for k, v in view.headers
                            if not wanted or k.lower() in wanted],
                "body": {"size": 0},
            }
        return out

    def _history_list(self, q: dict[str, list[str]], one: dict[str, str]) -> dict[str, Any]:
        size = _max_results(one, default=100, cap=500)
        if "pageToken" in one:
            page = self._page(one["pageToken"], "history")
        else:
            start_text = one.get("startHistoryId")
            if not start_text:
                raise _ApiError(400, "Missing required parameter: startHistoryId",
                                "invalidArgument")
            if not start_text.isdigit():
                raise _ApiError(400, "Invalid startHistoryId", "invalidArgument")
            start = int(start_text)
            if start < self._history_floor:
                raise _ApiError(404, "Requested entity was not found.", "notFound")
            types = set(q.get("historyTypes", []))
            label = one.get("labelId")
            picked = []
            for record in self._history:
                if int(record["id"]) <= start:
                    continue
                out = self._history_out(record, types, label)
                if out is not None:
                    picked.append(out)
            page = _Page("history", picked, 0, {})
        items, token = self._slice(page, size)
        answer: dict[str, Any] = {"historyId": str(self._history_id)}
        if items:
            answer["history"] = items
        if token:
            answer["nextPageToken"] = token
        return answer

    @staticmethod
    def _history_out(record: dict[str, Any], types: set[str],
                     label: str | None) -> dict[str, Any] | None:
        keys = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted",
                "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}
        unknown = types - set(keys)
        if unknown:
            raise _ApiError(400, f"Invalid value for historyTypes: {sorted(unknown)[0]}",
                            "invalidArgument")
        wanted = [keys[t] for t in types if t in keys] if types else list(keys.values())
        out: dict[str, Any] = {"id": record["id"]}
        seen: list[dict[str, Any]] = []
        for key in wanted:
            entries = [e for e in record.get(key, [])
                       if label is None or label in e["message"].get("labelIds", [])]
            if entries:
                out[key] = copy.deepcopy(entries)
                seen.extend({"id": e["message"]["id"], "threadId": e["message"]["threadId"]}
                            for e in entries)
        if not seen:
            return None
        out["messages"] = seen
        return out

    def _search(self, q: str, candidates: list[dict[str, Any]], include_spam_trash: bool,
                label_ids: list[str]) -> list[dict[str, Any]]:
        node = _QueryParser(q).parse() if q.strip() else ("and", [])
        now = self.now()
        found = []
        for rec in candidates:
            labels = set(rec["labelIds"])
            if not include_spam_trash and labels & {"SPAM", "TRASH"}:
                continue
            if any(lab not in labels for lab in label_ids):
                continue
            if self._matches(node, rec, now):
                found.append(rec)
        found.sort(key=lambda r: (int(r["internalDate"]), r["id"]), reverse=True)
        return found

    def _matches(self, node: _Node, rec: dict[str, Any], now: datetime) -> bool:
        kind, arg = node
        if kind == "and":
            return all(self._matches(n, rec, now) for n in arg)
        if kind == "or":
            return any(self._matches(n, rec, now) for n in arg)
        if kind == "not":
            return not self._matches(arg, rec, now)
        return self._term(str(arg), rec, now)

    def _term(self, term: str, rec: dict[str, Any], now: datetime) -> bool:
        view = self._views[rec["id"]]
        labels = {lab.upper() for lab in rec["labelIds"]}
        op, sep, value = term.partition(":")
        op = op.lower()
        value = value.strip('"').lower()
        sent_at = datetime.fromtimestamp(int(rec["internalDate"]) / 1000, UTC)
        if sep and op in ("newer_than", "older_than"):
            m = re.fullmatch(r"(\d+)([dhmy])", value)
            if not m:
                return False
            limit = now - int(m[1]) * _SPAN[m[2]]
            return sent_at > limit if op == "newer_than" else sent_at < limit
        if sep and op in ("after", "before"):
            bound = _search_date(value)
            if bound is None:
                return False
            return sent_at >= bound if op == "after" else sent_at < bound
        if sep and op == "in":
            if value == "anywhere":
                return True
            return _LABEL_OF_IN.get(value, value.upper()) in labels
        if sep and op == "label":
            return value.upper().replace("/", "-") in {x.replace("/", "-") for x in labels}
        if sep and op == "is":
            flag = {"unread": "UNREAD", "starred": "STARRED", "important": "IMPORTANT"}
            if value == "read":
                return "UNREAD" not in labels
            return flag.get(value, value.upper()) in labels
        if sep and op in ("from", "to", "cc", "bcc", "subject", "deliveredto"):
            names = {"to": ("To", "Cc", "Bcc"), "deliveredto": ("Delivered-To",)}.get(
                op, (op.capitalize(),))
            return any(value in view.header(n).lower() for n in names)
        if sep and op == "rfc822msgid":
            return value.strip("<>") in [i.lower() for i in _msgids(view.header("Message-ID"))]
        return term.strip('"').lower() in view.text

    def _messages_list(self, q: dict[str, list[str]], one: dict[str, str]) -> dict[str, Any]:
        size = _max_results(one, default=100, cap=500)
        if "pageToken" in one:
            page = self._page(one["pageToken"], "messages")
        else:
            found = self._search(one.get("q", ""), list(self.messages.values()),
                                 one.get("includeSpamTrash") == "true", q.get("labelIds", []))
            refs = [{"id": r["id"], "threadId": r["threadId"]} for r in found]
            page = _Page("messages", refs, 0, {"total": len(refs)})
        items, token = self._slice(page, size)
        answer: dict[str, Any] = {"resultSizeEstimate": page.extra["total"]}
        if items:
            answer["messages"] = items
        if token:
            answer["nextPageToken"] = token
        return answer

    def _drafts_list(self, one: dict[str, str]) -> dict[str, Any]:
        size = _max_results(one, default=100, cap=500)
        if "pageToken" in one:
            page = self._page(one["pageToken"], "drafts")
        else:
            by_message = {d["message"]["id"]: d["id"] for d in self.drafts.values()}
            found = self._search(one.get("q", ""), [d["message"] for d in self.drafts.values()],
                                 one.get("includeSpamTrash") == "true", [])
            refs = [{"id": by_message[r["id"]], "message": {"id": r["id"],
                                                             "threadId": r["threadId"]}}
                    for r in found]
            page = _Page("drafts", refs, 0, {"total": len(refs)})
        items, token = self._slice(page, size)
        answer: dict[str, Any] = {"resultSizeEstimate": page.extra["total"]}
        if items:
            answer["drafts"] = items
        if token:
            answer["nextPageToken"] = token
        return answer

    def _drafts_create(self, body: bytes) -> dict[str, Any]:
        try:
            draft = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise _ApiError(400, f"Invalid JSON payload received. {exc}", "parseError") from exc
        message = draft.get("message") if isinstance(draft, dict) else None
        if not isinstance(message, dict) or not message.get("raw"):
            raise _ApiError(400, "Missing draft message", "invalidArgument")
        try:
            raw = _decode_b64(str(message["raw"]))
        except (binascii.Error, ValueError) as exc:
            raise _ApiError(400, "Invalid value at 'draft.message.raw' (TYPE_BYTES), Base64 "
                            "decoding failed", "invalid") from exc
        try:
            _parse_rfc2822(raw)
        except ValueError as exc:
            raise _ApiError(400, str(exc), "invalidArgument") from exc
        return self._create_draft(raw, message.get("threadId"))


def _max_results(one: dict[str, str], *, default: int, cap: int) -> int:
    text = one.get("maxResults")
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise _ApiError(400, f"Invalid value '{text}'. Values must be within the range: "
                        f"[1, {cap}]", "invalid")
    return min(int(text), cap)


def _query_time(one: dict[str, str], name: str) -> datetime | None:
    text = one.get(name)
    if text is None:
        return None
    try:
        moment: datetime | None = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _ApiError(400, "Bad Request", "badRequest")
    return moment


def _search_date(value: str) -> datetime | None:
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    m = re.fullmatch(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})", value)
    if not m:
        return None
    return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)


class _Handler(FakeHandler):
    def answer(self, body: bytes) -> Reply | None:
        headers = {k.lower(): v for k, v in self.headers.items()}  # a repeated name: last wins
        fake: FakeGoogle = self.server.fake  # type: ignore[attr-defined]
        return fake._dispatch(self.command, self.path, headers, body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake google: " + format, *args)

