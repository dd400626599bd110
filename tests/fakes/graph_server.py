"""A stateful fake of Microsoft Graph (calendar, mail) and the Microsoft identity platform.

Usage::

    fake = FakeGraph(seed=1)
    url = fake.start()              # "http://127.0.0.1:PORT/" (daemon threads)
    tok = fake.issue_tokens(["Calendars.Read", "Mail.ReadWrite", "User.Read"])
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + tok["access_token"]
    fake.put_event({"subject": "Interview", "start": {"dateTime": "2025-03-03T10:00:00",
                    "timeZone": "UTC"}, "end": {"dateTime": "2025-03-03T11:00:00",
                    "timeZone": "UTC"}})
    s.get(url + "v1.0/me/calendarView/delta",
          params={"startDateTime": "2025-03-01T00:00:00Z", "endDateTime": "2025-04-01T00:00:00Z"})
    fake.inject("503", at=[0])      # the next Graph request answers 503 with Retry-After
    fake.stop()

msal against the fake::

    # Real msal, no shim: every endpoint is also served over TLS with a certificate from a
    # throw-away CA (fake.ca_file, a PEM file, made once per process).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
    app = msal.PublicClientApplication(fake.client_id, authority=fake.https_authority_url,
                                       instance_discovery=False)
    # verify=fake.ca_file works too, but only where REQUESTS_CA_BUNDLE is unset: requests
    # lets that variable override Session.verify (it is set on this project's machines).
    # fake.authority_url (plain http, url + tenant + "/") works with a client-side shim
    # that shows msal https (msal refuses http authorities).
    # Device code: approve_device_code() (or auto_approve = True) plays the person.

Public attributes: ``url`` (Graph root; requests go to url + "v1.0/me/..."), ``authority_url``
(http), ``https_url`` / ``https_authority_url`` / ``ca_file`` (TLS twin of every endpoint),
``tenant_id``, ``user_id`` (the user's oid), ``client_id``, ``email``; knobs: ``retry_after``
(seconds in Retry-After, default 1), ``page_size`` (None: Graph's 10 per page, or what
``Prefer: odata.maxpagesize``/``$top`` ask, up to 1000; a number caps every page),
``access_ttl`` (expires_in of access tokens, default 3599; msal refreshes tokens with < 300 s
left), ``device_interval`` (default 1), ``auto_approve`` (device codes approved at once),
``latency`` (seconds each Graph request is held, outside the lock, so concurrency shows),
``concurrency_limit`` (None; else the request over it gets 429 ApplicationThrottled like
Outlook's 4-per-mailbox limit), ``now`` (callable dating new messages and events).
Logs: ``requests``, ``api_requests``, ``send_attempts``, ``non_draft_changes``, ``errors``
(bugs inside the fake: must stay empty), ``max_concurrency_seen``. State: ``messages`` /
``drafts`` (dicts id -> copy of the stored Graph message, internetMessageHeaders and
singleValueExtendedProperties included), ``events``, ``folder_of(id)``; ``deny_device_code()``
makes the next poll answer authorization_declined.

How it behaves, the way Graph does:

- Every Graph request needs ``Authorization: Bearer`` with a token the fake issued that has
  not expired (401 ``InvalidAuthenticationToken``) and the scope the call needs (403
  ``ErrorAccessDenied``: Calendars.Read*, Mail.Read*/Mail.ReadWrite, User.Read*).
  ``/v1.0/users/{email or oid}/...`` is the same as ``/v1.0/me/...``.
- Errors are ``{"error": {"code", "message", "innerError": {...}}}``; unknown $-options,
  unknown $select names and unsupported $filter clauses answer 400.
- ``calendarView/delta`` needs startDateTime and endDateTime on the first request; pages of
  ``odata.maxpagesize`` (Prefer) or ``page_size`` items with ``@odata.nextLink``
  (``$skiptoken``), then ``@odata.deltaLink`` (``$deltatoken``). Links are absolute, on the
  scheme and host the request came on. A later round lists what changed: changed events in
  the window in full, and ``{"id", "@removed": {"reason": "deleted"}}`` for events deleted or
  moved out of it. Times come in UTC unless ``Prefer: outlook.timezone`` names a zone; bodies
  in HTML unless ``Prefer: outlook.body-content-type="text"``. It refuses $select/$filter.
- Folders: the well-known ones (``inbox``, ``sentitems``, ``drafts``, ``deleteditems``,
  ``archive``, ``junkemail``, ``outbox``, ``msgfolderroot``) with Outlook's display names, and
  the user's own (``add_folder(name, parent)``, nested anywhere); ``GET mailFolders/{name or
  id}`` (``$select``) gives ``displayName`` and ``parentFolderId``. ``file_as_user`` moves a
  message as the user or a server rule does (same id; the folder changes).
- ``/me/messages`` lists every folder: ``$filter`` (comparisons, and/or, ``any``) with
  ``$orderby`` only as Graph allows it (the ordered property first in the filter, else 400
  ``InefficientFilter``), ``$top``/``$skip`` pages, or ``$search`` (KQL: ``from:``, ``to:``,
  ``participants:``, ``subject:``, ``received>=``, OR/AND/NOT; never beside ``$filter`` or
  ``$orderby``: 400). ``GET /me/events/{id}`` returns an event wherever it now is, also
  after the calendar delta reported it ``@removed`` for leaving the window.
- ``mailFolders/{folder}/messages/delta`` works the same per folder and keeps the first
  request's $select, $filter (only ``receivedDateTime ge|gt``), $expand and ``changeType``
  in its links. ``internetMessageHeaders`` comes back only when selected and only for
  messages that have them (received mail; a sent message only if ``send_draft_as_user``
  kept them); ``singleValueExtendedProperties`` only through ``$expand``.
- After ``expire_delta_tokens(code)`` every delta/skip token issued so far answers 410 with
  that error code.
- ``POST /me/messages`` makes a draft (isDraft, Drafts folder, new conversation):
  internetMessageHeaders names must start with "x-" (400 ``InvalidInternetMessageHeader``),
  extended property ids must be well formed, unknown or read-only properties are refused.
  ``createReply`` / ``createReplyAll`` / ``createForward`` make a draft in the source's
  conversation ("RE: "/"FW: " subject; a reply to a message the user sent goes to its
  recipients, else to its replyTo or sender; the In-Reply-To MAPI property "String 0x1042"
  is set). ``PATCH`` merges properties (extended properties by id); internetMessageHeaders
  can only be set at creation (400). PATCH, DELETE and move of a message that is not a
  draft are recorded in ``non_draft_changes``.
- ``/me/sendMail`` and ``/me/messages/{id}/send|reply|replyAll|forward`` are recorded in
  ``send_attempts`` and answer 403 ``ErrorAccessDenied`` (never faulted, so every attempt
  is seen).
- Faults (``inject``): "429" and "503" (with Retry-After), "500", "drop" (the connection is
  closed without an answer) and "garbage" (200 with a body that is not JSON) change no
  state; "drop-after" does the work (``POST /me/messages`` and ``createReply`` make their
  draft), then drops the answer. ``at`` counts
  the Graph requests matching ``paths`` (a substring of the path) and ``method`` (when given)
  from the inject call on (0 is the next one); ``rate`` draws from a generator seeded with
  ``seed``. Identity endpoints get faults only from rules made with ``oauth=True``.

The identity platform (tokens, device codes, TLS material) is tests/fakes/graph_identity.py,
the mailbox tests/fakes/graph_mail.py, HTTP and OData plumbing tests/fakes/graph_protocol.py.
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.common import GARBAGE, WORK_DONE, FaultPlan, FaultRule, garbage_reply
from tests.fakes.graph_identity import Access, IdentityPlatform, OAuthError, tls_material
from tests.fakes.graph_mail import MailStore
from tests.fakes.graph_protocol import (
    EVENT_PROPS,
    MESSAGE_PROPS,
    Ctx,
    GraphError,
    Handler,
    ODataError,
    Pending,
    Prefer,
    Reply,
    Request,
    Server,
    Sync,
    body_as,
    check_select,
    date_time_tz,
    event_moment,
    expand_filter,
    graph_utc,
    int_param,
    json_reply,
    not_found,
    parse_moment,
    parse_prefer,
    preview,
)

logger = logging.getLogger(__name__)

FAULTS = ("429", "503", "500", "drop", WORK_DONE, GARBAGE)
_CAL_SCOPES = frozenset({"Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared",
                         "Calendars.ReadWrite.Shared"})
_MAIL_READ = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared",
                        "Mail.ReadWrite.Shared"})
_MAIL_WRITE = frozenset({"Mail.ReadWrite", "Mail.ReadWrite.Shared"})
_USER_SCOPES = frozenset({"User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All",
                          "User.ReadWrite.All", "Directory.Read.All"})
_IDENTITY_RE = re.compile(
    r"^/(?P<tenant>[^/]+)/(?P<rest>v2\.0/\.well-known/openid-configuration|"
    r"oauth2/v2\.0/(?:token|devicecode|authorize))$")
_SEND_RE = re.compile(r"^me/(?:sendMail|(?:mailFolders/[^/]+/)?messages/[^/]+/"
                      r"(?:send|reply|replyAll|forward))$", re.IGNORECASE)


class FakeGraph(MailStore, IdentityPlatform):
    """Stateful fake Graph + identity platform for one mailbox; see the module doc."""

    def __init__(self, *, seed: int = 0, email: str = "me@example.com") -> None:
        self.seed = seed
        self.email = email
        self.url = ""
        self.https_url = ""
        self.ca_file = ""
        self.retry_after = 1
        self.page_size: int | None = None
        self.latency = 0.0
        self.concurrency_limit: int | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.requests: list[Request] = []
        self.send_attempts: list[Request] = []
        self.non_draft_changes: list[Request] = []
        self.errors: list[str] = []
        self.max_concurrency_seen = 0
        self._lock = threading.RLock()
        self._init_identity()
        self._ids = itertools.count(1)
        self._stamp = 0
        self._inflight = 0
        self._faults = FaultPlan(FAULTS, seed)
        self._servers: list[tuple[Server, threading.Thread]] = []
        self._events: dict[str, dict[str, Any]] = {}
        self._event_log: list[tuple[int, str, dict[str, Any] | None]] = []
        self._init_mail()
        self._tokens: dict[str, Sync | Pending] = {}
        self._expired: dict[str, str] = {}  # token -> the error code it now answers

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> str:
        ca_file, cert_file, key_file = tls_material()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        plain = Server(("127.0.0.1", 0), Handler, self._dispatch, "http", None)
        secure = Server(("127.0.0.1", 0), Handler, self._dispatch, "https", context)
        for server in (plain, secure):
            # a short poll keeps stop() quick (shutdown waits for the loop to notice)
            thread = threading.Thread(target=server.serve_forever, args=(0.02,),
                                      name=f"fake-graph-{server.scheme}", daemon=True)
            thread.start()
            self._servers.append((server, thread))
        self.url = f"http://127.0.0.1:{plain.server_address[1]}/"
        self.https_url = f"https://127.0.0.1:{secure.server_address[1]}/"
        self.ca_file = ca_file
        return self.url

    def stop(self) -> None:
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._servers.clear()

    def __enter__(self) -> FakeGraph:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def authority_url(self) -> str:
        return f"{self.url}{self.tenant_id}/"

    @property
    def https_authority_url(self) -> str:
        return f"{self.https_url}{self.tenant_id}/"

    def _https_root(self) -> str:
        return self.https_url

    # --- logs and state, for assertions ----------------------------------------------------
    @property
    def api_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.api]

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{0x5A3C0000 + next(self._ids):x}AAA="

    def _bump(self) -> int:
        self._stamp += 1
        return self._stamp

    def _stamp_now(self) -> int:
        return self._stamp

    # --- calendar ----------------------------------------------------------------------
    def put_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Insert or replace by "id" (generated when absent); Graph's defaults filled in.
        Start and end must be dateTimeTimeZone values (ValueError otherwise)."""
        with self._lock:
            ev = copy.deepcopy(event)
            ev_id = str(ev.get("id") or self._new_id("AAMkAGI2TG93AAA"))
            start, end = event_moment(ev.get("start")), event_moment(ev.get("end"))
            if end < start:
                raise ValueError(f"event {ev_id} ends before it starts")
            old = self._events.get(ev_id)
            now = graph_utc(self.now())
            organizer = ev.setdefault("organizer", {"emailAddress": {
                "name": self.email.split("@")[0], "address": self.email}})
            mine = str((organizer.get("emailAddress") or {}).get("address", "")).lower() == \
                self.email.lower()
            ev["id"] = ev_id
            ev.setdefault("subject", "")
            ev.setdefault("body", {"contentType": "html", "content": ""})
            ev["bodyPreview"] = preview(ev["body"])
            for key, value in (("isAllDay", False), ("isCancelled", False), ("categories", []),
                               ("attendees", []), ("isOrganizer", mine),
                               ("type", "singleInstance"), ("showAs", "busy"),
                               ("location", {"displayName": ""}), ("importance", "normal"),
                               ("sensitivity", "normal"), ("isDraft", False),
                               ("iCalUId", f"040000008200E00074C5B7101A82E008{ev_id[-12:]}"),
                               ("webLink", f"https://outlook.office365.com/owa/?itemid={ev_id}"),
                               ("originalStartTimeZone", ev["start"].get("timeZone", "UTC")),
                               ("originalEndTimeZone", ev["end"].get("timeZone", "UTC"))):
                ev.setdefault(key, value)
            ev.setdefault("responseStatus", {"response": "organizer" if ev["isOrganizer"]
                                             else "none", "time": "0001-01-01T00:00:00Z"})
            ev["createdDateTime"] = old["createdDateTime"] if old else now
            ev["lastModifiedDateTime"] = now
            stamp = self._bump()
            ev["changeKey"] = f"DwAAABYAAAA{stamp:08d}"
            self._events[ev_id] = ev
            self._event_log.append((stamp, ev_id, copy.deepcopy(ev)))
            return copy.deepcopy(ev)

    def remove_event(self, event_id: str) -> None:
        """Delete: the next delta round reports {"id", "@removed": {"reason": "deleted"}}."""
        with self._lock:
            del self._events[event_id]
            self._event_log.append((self._bump(), event_id, None))

    def expire_delta_tokens(self, code: str = "SyncStateNotFound") -> None:
        """Every delta and skip token issued so far answers 410 with error ``code``
        ("SyncStateNotFound", "syncStateNotFound", "resyncRequired", ...)."""
        with self._lock:
            for token in self._tokens:
                self._expired[token] = code
            self._tokens.clear()

    # --- faults --------------------------------------------------------------------------
    def inject(self, fault: str, *, at: list[int] | None = None, rate: float = 0.0,
               paths: str = "", method: str = "", retry_after: int | None = None,
               oauth: bool = False) -> None:
        """Fail requests whose path contains ``paths`` (and whose method is ``method``, when
        given): at these indexes (counted from now among matching requests) and/or at a seeded
        ``rate``. Graph requests only, unless ``oauth`` (then identity requests only). Rules
        add up; clear_faults() ends them."""
        with self._lock:
            self._faults.add(fault, at=at, rate=rate, paths=paths, oauth=oauth, method=method,
                             retry_after=self.retry_after if retry_after is None else retry_after)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @staticmethod
    def _fault_reply(rule: FaultRule, oauth: bool) -> Reply | None:
        retry = rule.retry_headers()
        if rule.fault in ("drop", WORK_DONE):
            return None
        if rule.fault == GARBAGE:
            return garbage_reply()
        if oauth:
            error = "server_error" if rule.fault == "500" else "temporarily_unavailable"
            return json_reply(int(rule.fault), {"error": error, "error_description":
                                                "AADSTS90033: A transient error has occurred.",
                                                "error_codes": [90033]}, retry)
        if rule.fault == "429":
            return GraphError(429, "TooManyRequests", "Too many requests.", retry).reply()
        if rule.fault == "503":
            return GraphError(503, "ServiceUnavailable",
                              "The service is temporarily unavailable.", retry).reply()
        return GraphError(500, "generalException",
                          "An unexpected error occurred on the server.").reply()

    # --- dispatch ------------------------------------------------------------------------
    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes,
                  scheme: str) -> Reply | None:
        split = urlsplit(target)
        path = re.sub(r"/{2,}", "/", split.path)
        query = parse_qs(split.query, keep_blank_values=True)
        kept = {k: v for k, v in headers.items() if k != "authorization"}
        rec = Request(method, path, query, target, kept, body, scheme=scheme)
        root = f"{scheme}://{headers.get('host') or '127.0.0.1'}/"
        identity = _IDENTITY_RE.match(path)
        if identity or path == "/devicelogin":
            rec.api = False
            with self._lock:
                self.requests.append(rec)
                return self._answer(rec, lambda: self._identity_reply(rec, identity, root), True)
        with self._lock:
            self.requests.append(rec)
            self._inflight += 1
            self.max_concurrency_seen = max(self.max_concurrency_seen, self._inflight)
            over = self.concurrency_limit is not None and self._inflight > self.concurrency_limit
        try:
            if over:
                with self._lock:
                    reply = GraphError(429, "ApplicationThrottled",
                                       "Application is over its MailboxConcurrency limit.",
                                       {"Retry-After": str(self.retry_after)}).reply()
                    rec.status = reply.status
                    return reply
            if self.latency:
                time.sleep(self.latency)
            with self._lock:
                return self._answer(rec, lambda: self._graph(rec, headers, root), False)
        finally:
            with self._lock:
                self._inflight -= 1

    def _answer(self, rec: Request, work: Callable[[], Reply], oauth: bool) -> Reply | None:
        reply: Reply | None
        try:
            rule = None
            if not (not oauth and self._is_send(rec.path)):
                rule = self._faults.pick(rec.path, oauth, rec.method)
            if rule is not None and not rule.does_work:
                rec.fault = rule.fault
                reply = self._fault_reply(rule, oauth)
            else:
                reply = work()
                if rule is not None:
                    rec.fault = rule.fault
                    reply = None
        except GraphError as exc:
            reply = exc.reply()
        except Exception as exc:  # a bug in the fake must be visible, not look like a fault
            logger.exception("fake graph failed on %s %s", rec.method, rec.path)
            self.errors.append(f"{rec.method} {rec.path}: {exc!r}")
            reply = GraphError(500, "fakeBug", f"fake bug: {exc!r}").reply()
        rec.status = reply.status if reply is not None else 0
        return reply

    def _is_send(self, path: str) -> bool:
        rest = self._me_path(path)
        return rest is not None and bool(_SEND_RE.match(rest))

    def _me_path(self, path: str) -> str | None:
        """"/v1.0/me/x" or "/v1.0/users/{email or oid}/x" -> "me/x"; None for anything else."""
        path = re.sub(r"\('([^']*)'\)", r"/\1", path)  # mailFolders('inbox') -> mailFolders/inbox
        m = re.match(r"^/v1\.0/(?:me|users/(?P<user>[^/]+))(?P<rest>/.*)?$", path)
        if m is None:
            return None
        if m["user"] and unquote(m["user"]).lower() not in (self.email.lower(), self.user_id):
            return None
        return ("me" + (m["rest"] or "")).rstrip("/")

    def _identity_reply(self, rec: Request, match: re.Match[str] | None, root: str) -> Reply:
        if match is None:
            return self.device_login(rec.query)
        try:
            return self.identity(rec.method, match["tenant"], match["rest"], rec.query,
                                 rec.body, root)
        except OAuthError as exc:
            return exc.reply()

    # --- Graph ---------------------------------------------------------------------------
    def _authorize(self, headers: dict[str, str], accepted: frozenset[str]) -> Access:
        auth = headers.get("authorization", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.'
                     'microsoftonline.com/common/oauth2/authorize", '
                     'client_id="00000003-0000-0000-c000-000000000000"'}
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.",
                             challenge)
        info = self.access_for(auth)
        if info is None:
            raise GraphError(401, "InvalidAuthenticationToken",
                             "IDX14100: JWT is not well formed, there are no dots (.).",
                             challenge)
        if not info.usable():
            raise GraphError(401, "InvalidAuthenticationToken",
                             "Lifetime validation failed, the token is expired.", challenge)
        if not accepted & info.scopes:
            raise GraphError(403, "ErrorAccessDenied",
                             "Access is denied. Check credentials and try again.")
        return info

    def _graph(self, rec: Request, headers: dict[str, str], root: str) -> Reply:
        rest = self._me_path(rec.path)
        if rest is None:
            m = re.match(r"^/v1\.0/users/([^/]+)(/.*)?$", rec.path)
            if m and unquote(m[1]).lower() not in (self.email.lower(), self.user_id):
                self._authorize(headers, _MAIL_READ | _CAL_SCOPES | _USER_SCOPES)
                raise GraphError(403, "ErrorAccessDenied",
                                 "Access is denied. Check credentials and try again.")
            segment = rec.path.strip("/").split("/")[-1] or "/"
            raise GraphError(400, "BadRequest", f"Resource not found for the segment "
                             f"'{segment}'.")
        if _SEND_RE.match(rest) and rec.method == "POST":
            self.send_attempts.append(rec)
            raise GraphError(403, "ErrorAccessDenied",
                             "Access is denied. Check credentials and try again.")
        prefer = parse_prefer([v for k, v in headers.items() if k == "prefer"])
        ctx = Ctx(rec, root, prefer)
        try:
            return self._route(rest, ctx, headers)
        except ODataError as exc:
            raise GraphError(400, exc.code, str(exc)) from None

    def _route(self, rest: str, ctx: Ctx, headers: dict[str, str]) -> Reply:
        method = ctx.rec.method
        parts = rest.split("/")
        if rest == "me" and method == "GET":
            self._authorize(headers, _USER_SCOPES)
            return ctx.ok({"@odata.context": f"{ctx.root}v1.0/$metadata#users/$entity",
                           "id": self.user_id, "displayName": self.email.split("@")[0].title(),
                           "mail": self.email, "userPrincipalName": self.email,
                           "businessPhones": [], "givenName": None, "surname": None,
                           "jobTitle": None, "mobilePhone": None, "officeLocation": None,
                           "preferredLanguage": "en-US"})
        if rest in ("me/calendarView/delta", "me/calendar/calendarView/delta") \
                and method == "GET":
            self._authorize(headers, _CAL_SCOPES)
            return self._calendar_delta(ctx)
        if parts[:2] == ["me", "events"] and len(parts) == 3 and method == "GET":
            self._authorize(headers, _CAL_SCOPES)
            ctx.allow("$select")
            event = self._events.get(unquote(parts[2]))
            if event is None:
                raise not_found()
            select = check_select(ctx.one("$select"), EVENT_PROPS, "event")
            return ctx.ok(self._render_event(event, select, ctx.prefer))
        if parts[:2] == ["me", "mailFolders"] and len(parts) >= 3:
            folder = self._folder_name(unquote(parts[2]))
            tail = parts[3:]
            if tail == [] and method == "GET":
                self._authorize(headers, _MAIL_READ)
                ctx.allow("$select")
                info = self._folder_info(folder)
                select = check_select(ctx.one("$select"), tuple(info), "mailFolder")
                return ctx.ok({k: v for k, v in info.items()
                               if select is None or k in select or k == "id"})
            if tail == ["messages", "delta"] and method == "GET":
                self._authorize(headers, _MAIL_READ)
                return self._mail_delta(ctx, folder)
            if tail == ["messages"] and method == "GET":
                self._authorize(headers, _MAIL_READ)
                return self._list_messages(ctx, folder)
            if tail == ["messages"] and method == "POST" and folder == "drafts":
                self._authorize(headers, _MAIL_WRITE)
                return self._create_message(ctx)
            if len(tail) >= 2 and tail[0] == "messages":
                return self._route_message(tail[1:], ctx, headers, folder)
        if parts[:2] == ["me", "messages"]:
            if len(parts) == 2 and method == "GET":
                self._authorize(headers, _MAIL_READ)
                return self._list_messages(ctx, None)
            if len(parts) == 2 and method == "POST":
                self._authorize(headers, _MAIL_WRITE)
                return self._create_message(ctx)
            if len(parts) >= 3:
                return self._route_message(parts[2:], ctx, headers, None)
        segment = parts[-1]
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    def _route_message(self, tail: list[str], ctx: Ctx, headers: dict[str, str],
                       folder: str | None) -> Reply:
        method = ctx.rec.method
        mid = unquote(tail[0])
        action = tail[1] if len(tail) == 2 else None
        if len(tail) > 2:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment "
                             f"'{tail[-1]}'.")
        self._authorize(headers, _MAIL_READ if method == "GET" else _MAIL_WRITE)
        msg = self._messages.get(mid)
        if msg is None or (folder is not None and self._folder_of[mid] != folder):
            raise not_found()
        if action is None and method == "GET":
            ctx.allow("$select", "$expand")
            select = check_select(ctx.one("$select"), MESSAGE_PROPS, "message")
            return ctx.ok(self._render_message(msg, select, expand_filter(ctx.one("$expand"))[0],
                                               ctx.prefer))
        if action is None and method == "PATCH":
            return self._patch_message(ctx, mid)
        if action is None and method == "DELETE":
            if not self._is_draft(mid):
                self.non_draft_changes.append(ctx.rec)
            if self._folder_of[mid] == "deleteditems":
                self._delete(mid)
            else:
                self._move(mid, "deleteditems")
            return Reply(204)
        if action in ("createReply", "createReplyAll", "createForward") and method == "POST":
            return self._create_reply(ctx, mid, action)
        if action in ("move", "copy") and method == "POST":
            return self._move_message(ctx, mid, action)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{action}'.")

    # --- rendering -----------------------------------------------------------------------
    def _render_event(self, ev: dict[str, Any], select: list[str] | None,
                      prefer: Prefer) -> dict[str, Any]:
        tz = prefer.timezone or "UTC"
        out: dict[str, Any] = {"@odata.etag": f'W/"{ev["changeKey"]}"', "id": ev["id"]}
        for key in select or list(ev):
            if key not in ev or key == "id":
                continue
            if key in ("start", "end"):
                try:
                    out[key] = date_time_tz(event_moment(ev[key]), tz)
                except ValueError:  # an unknown zone in Prefer: Graph falls back to UTC
                    out[key] = date_time_tz(event_moment(ev[key]), "UTC")
            elif key == "body":
                out[key] = body_as(ev[key], prefer.body_type)
            else:
                out[key] = copy.deepcopy(ev[key])
        return out

    # --- calendar delta ------------------------------------------------------------------
    def _calendar_delta(self, ctx: Ctx) -> Reply:
        ctx.allow("$skiptoken", "$deltatoken")
        sync, pending = self._resume(ctx)
        if sync is None and pending is None:
            start_text, end_text = ctx.one("startDateTime"), ctx.one("endDateTime")
            if not start_text or not end_text:
                raise GraphError(400, "ErrorInvalidParameter",
                                 "This request requires a time window specified by the query "
                                 "string parameters StartDateTime and EndDateTime.")
            try:
                window = (parse_moment(start_text), parse_moment(end_text))
            except ValueError:
                raise GraphError(400, "ErrorInvalidParameter", "The value of the parameter "
                                 "'StartDateTime' or 'EndDateTime' is not valid.") from None
            sync = Sync("calendar", ctx.rec.path, self._stamp, window)
            items = [("item", copy.deepcopy(ev)) for ev in sorted(
                self._events.values(), key=lambda e: (event_moment(e["start"]), e["id"]))
                if self._in_window(ev, window) and not ctx.latest()]
            pending = Pending(sync, items, 0)
        elif pending is None:
            assert sync is not None
            pending = Pending(replace(sync, stamp=self._stamp), self._calendar_changes(sync), 0)
        return self._page(ctx, pending,
                          lambda ev: self._render_event(ev, None, ctx.prefer), "event")

    @staticmethod
    def _in_window(ev: dict[str, Any] | None, window: tuple[datetime, datetime] | None) -> bool:
        if ev is None or window is None:
            return False
        return event_moment(ev["end"]) > window[0] and event_moment(ev["start"]) < window[1]

    def _calendar_changes(self, sync: Sync) -> list[tuple[str, Any]]:
        before: dict[str, dict[str, Any] | None] = {}
        changed: list[str] = []
        for stamp, ev_id, snapshot in self._event_log:
            if stamp <= sync.stamp:
                before[ev_id] = snapshot
            elif ev_id not in changed:
                changed.append(ev_id)
        items: list[tuple[str, Any]] = []
        for ev_id in changed:
            now = self._events.get(ev_id)
            if self._in_window(now, sync.window):
                items.append(("item", copy.deepcopy(now)))
            elif self._in_window(before.get(ev_id), sync.window):
                items.append(("removed", ev_id))
        return items

    # --- delta rounds ----------------------------------------------------------------------
    def _page_limit(self, asked: int) -> int:
        """Graph's page: 10 unless the client asks for another size (at most 1000); a test's
        ``page_size`` caps it whatever the client asks."""
        size = min(asked or 10, 1000)
        return size if self.page_size is None else min(size, self.page_size)

    def _resume(self, ctx: Ctx) -> tuple[Sync | None, Pending | None]:
        for name in ("$skiptoken", "$deltatoken"):
            token = ctx.one(name)
            if token is None:
                continue
            if token == "latest" and name == "$deltatoken":
                return None, None
            if token in self._expired:
                code = self._expired[token]
                raise GraphError(410, code, "The sync state generation was not found or has "
                                 "expired; a full resync is required.")
            state = self._tokens.get(token)
            if state is None or isinstance(state, Pending) != (name == "$skiptoken"):
                raise GraphError(400, "ErrorInvalidSyncStateData", "The sync state data is "
                                 "corrupt or otherwise invalid.")
            if isinstance(state, Pending):
                return state.sync, state
            return state, None
        return None, None

    def _page(self, ctx: Ctx, pending: Pending, render: Callable[[Any], dict[str, Any]],
              type_name: str) -> Reply:
        size = self._page_limit(ctx.prefer.max_page or int_param(ctx, "$top", 0))
        chunk = pending.items[pending.offset:pending.offset + size]
        value = [render(item) if kind == "item" else
                 {"@odata.type": f"#microsoft.graph.{type_name}", "id": item,
                  "@removed": {"reason": "deleted"}} for kind, item in chunk]
        link_base = f"{ctx.root}{pending.sync.path.lstrip('/')}"
        answer: dict[str, Any] = {"@odata.context": f"{ctx.root}v1.0/$metadata#Collection("
                                                    f"{type_name})", "value": value}
        rest = pending.offset + size
        token = uuid.uuid4().hex + uuid.uuid4().hex  # not from the seeded fault generator
        if rest < len(pending.items):
            self._tokens[token] = Pending(pending.sync, pending.items, rest)
            answer["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
        else:
            self._tokens[token] = pending.sync
            answer["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
        return ctx.ok(answer)
