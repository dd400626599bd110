"""The wire side of the fake Graph server (tests/fakes/graph_server.py): the HTTP(S) servers,
request records, Graph's error shape, OData $filter/$select/Prefer handling, Graph's
date-time shapes and Outlook's text/HTML body conversion. No state of the mailbox here."""

from __future__ import annotations

import html
import json
import logging
import re
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import socket
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.fakes.common import FakeHandler, Reply  # Reply: graph modules import it from here

logger = logging.getLogger(__name__)


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None,
               content_type: str = "application/json; charset=utf-8") -> Reply:
    hdrs = {"Content-Type": content_type}
    hdrs.update(headers or {})
    return Reply(status, json.dumps(obj).encode(), hdrs)


class ODataError(ValueError):
    """A query Graph would refuse with 400; the message is Graph's wording where known."""

    def __init__(self, message: str, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.code = code


# -- properties --------------------------------------------------------------------------
MESSAGE_PROPS = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
    "receivedDateTime", "sentDateTime", "hasAttachments", "internetMessageId", "subject",
    "bodyPreview", "importance", "parentFolderId", "conversationId", "conversationIndex",
    "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead", "isDraft", "webLink",
    "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients",
    "bccRecipients", "replyTo", "flag", "internetMessageHeaders", "uniqueBody",
)
# Returned only when $select names them.
MESSAGE_ON_REQUEST = frozenset({"internetMessageHeaders", "uniqueBody"})
MESSAGE_WRITABLE = frozenset({
    "subject", "body", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "from",
    "sender", "importance", "categories", "flag", "isRead", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "internetMessageHeaders", "internetMessageId",
    "singleValueExtendedProperties", "multiValueExtendedProperties", "inferenceClassification",
})
EVENT_PROPS = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",
    "transactionId", "originalStartTimeZone", "originalEndTimeZone", "iCalUId",
    "reminderMinutesBeforeStart", "isReminderOn", "hasAttachments", "subject", "bodyPreview",
    "importance", "sensitivity", "isAllDay", "isCancelled", "isOrganizer", "responseRequested",
    "seriesMasterId", "showAs", "type", "webLink", "onlineMeetingUrl", "isOnlineMeeting",
    "onlineMeetingProvider", "allowNewTimeProposals", "isDraft", "hideAttendees",
    "responseStatus", "body", "start", "end", "location", "locations", "recurrence",
    "attendees", "organizer", "onlineMeeting", "occurrenceId",
)


def check_select(text: str | None, known: tuple[str, ...], type_name: str) -> list[str] | None:
    """$select as canonical property names (Graph matches them case-insensitively)."""
    if text is None:
        return None
    by_lower = {p.lower(): p for p in known}
    names = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if name.lower() not in by_lower:
            raise ODataError(f"Could not find a property named '{name}' on type "
                             f"'microsoft.graph.{type_name}'.", "RequestBroker--ParseUri")
        names.append(by_lower[name.lower()])
    return names


# -- Prefer ------------------------------------------------------------------------------
@dataclass
class Prefer:
    timezone: str | None = None
    body_type: str | None = None  # "text" or "html"
    max_page: int | None = None

    def applied(self) -> str:
        parts = []
        if self.max_page is not None:
            parts.append(f"odata.maxpagesize={self.max_page}")
        if self.timezone is not None:
            parts.append(f'outlook.timezone="{self.timezone}"')
        if self.body_type is not None:
            parts.append(f'outlook.body-content-type="{self.body_type}"')
        return ",".join(parts)


def parse_prefer(values: list[str]) -> Prefer:
    prefer = Prefer()
    for value in values:
        for item in re.findall(r'[\w.-]+\s*=\s*(?:"[^"]*"|[^,]*)', value):
            name, _, raw = item.partition("=")
            name, raw = name.strip().lower(), raw.strip().strip('"')
            if name == "outlook.timezone":
                prefer.timezone = raw
            elif name == "outlook.body-content-type" and raw.lower() in ("text", "html"):
                prefer.body_type = raw.lower()
            elif name == "odata.maxpagesize" and raw.isdigit() and int(raw) > 0:
                prefer.max_page = int(raw)
    return prefer


# -- time ---------------------------------------------------------------------------------
# Windows zone names Outlook uses, for the zones tests are likely to name.
WINDOWS_ZONES = {
    "eastern standard time": "America/New_York", "central standard time": "America/Chicago",
    "mountain standard time": "America/Denver", "pacific standard time": "America/Los_Angeles",
    "gmt standard time": "Europe/London", "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris", "tokyo standard time": "Asia/Tokyo",
    "india standard time": "Asia/Kolkata", "aus eastern standard time": "Australia/Sydney",
}


def zone(name: str) -> tzinfo:
    """An Outlook time zone name (IANA, Windows or UTC) as a tzinfo; ValueError if unknown."""
    key = name.strip()
    if key.lower() in ("utc", "etc/utc", "gmt", "coordinated universal time", "z"):
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(key.lower(), key))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def parse_moment(text: str, default: tzinfo = UTC) -> datetime:
    """Graph date-times: 7 fraction digits, Z or an offset or (dateTimeTimeZone) none."""
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    moment = datetime.fromisoformat(cleaned)
    return moment if moment.tzinfo else moment.replace(tzinfo=default)


def graph_utc(moment: datetime) -> str:
    """The date-time shape of message properties: "2026-11-10T14:00:00Z"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def date_time_tz(moment: datetime, zone_name: str) -> dict[str, str]:
    """A dateTimeTimeZone in ``zone_name``: {"dateTime": "...T10:00:00.0000000", ...}."""
    local = moment.astimezone(zone(zone_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0",
            "timeZone": zone_name}


def event_moment(value: Any) -> datetime:
    """A stored dateTimeTimeZone as an aware datetime; ValueError if it is not one."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise ValueError("expected {'dateTime': ..., 'timeZone': ...}")
    return parse_moment(value["dateTime"], zone(str(value.get("timeZone") or "UTC")))


# -- bodies ---------------------------------------------------------------------------------
def html_to_text(content: str) -> str:
    text = re.sub(r"<(head|style|script)\b.*?</\1\s*>", "", content, flags=re.I | re.S)
    text = re.sub(r"\s*\n\s*", " ", text)
    text = re.sub(r"<br\s*/?>|</(?:p|div|li|tr|h\d)\s*>", "\n", text, flags=re.I)
    text = html.unescape(re.sub(r"<[^>]*>", "", text)).replace("\xa0", " ")
    return "\n".join(line.strip() for line in text.split("\n")).strip("\n") + "\n"


def text_to_html(content: str) -> str:
    lines = html.escape(content).replace("\r\n", "\n").split("\n")
    return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
            '</head><body><div dir="ltr">' + "<br>\r\n".join(lines) + "</div></body></html>")


def body_as(body: Any, wanted: str | None) -> Any:
    """A stored itemBody in the wanted type (Outlook converts; default HTML)."""
    if not isinstance(body, dict):
        return body
    kind = str(body.get("contentType") or "html").lower()
    target = wanted or "html"
    content = str(body.get("content") or "")
    if kind == target:
        return {"contentType": target, "content": content}
    if target == "text":
        return {"contentType": "text", "content": html_to_text(content)}
    return {"contentType": "html", "content": text_to_html(content)}


def preview(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    content = str(body.get("content") or "")
    if str(body.get("contentType") or "").lower() == "html":
        content = html_to_text(content)
    return " ".join(content.split())[:255]


_EXPAND_RE = re.compile(r"^singleValueExtendedProperties(?:\(\$filter=(?P<f>.*)\))?$",
                        re.IGNORECASE | re.DOTALL)


# -- $filter --------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d[\w:.+-]*)|(?P<ident>[A-Za-z_@$]"
                    r"[\w./@$]*)|(?P<punct>[():,]))")
_OPS = ("eq", "ne", "gt", "ge", "lt", "le")
Resolver = Callable[[str], Any]
Predicate = Callable[[Resolver], bool]


@dataclass
class Comparison:
    path: str
    op: str
    value: Any


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    if kind == "num" and re.fullmatch(r"\d+", text):
        return int(text)
    try:
        return parse_moment(text)
    except ValueError:
        raise ODataError(f"Invalid filter clause: cannot read the value {text!r}.") from None


def _compare(left: Any, op: str, right: Any, fold: bool) -> bool:
    if isinstance(right, datetime) and isinstance(left, str):
        try:
            left = parse_moment(left)
        except ValueError:
            return False
    if fold and isinstance(left, str) and isinstance(right, str):
        left, right = left.casefold(), right.casefold()
    if op == "eq":
        return bool(left == right)
    if op == "ne":
        return bool(left != right)
    if left is None or right is None:
        return False
    try:
        return bool({"gt": left > right, "ge": left >= right, "lt": left < right,
                     "le": left <= right}[op])
    except TypeError:
        return False


class FilterParser:
    """$filter: comparisons, and/or/not, parentheses and ``path/any(v: ...)``.

    Paths are resolved by the caller's resolver; inside ``any`` a path starting with the
    lambda variable resolves against each element (a dict)."""

    def __init__(self, text: str, fold: frozenset[str] = frozenset()) -> None:
        self.fold = fold  # top-level paths compared case-insensitively
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise ODataError(f"Syntax error at position {pos} in '{text}'.")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.pos = 0
        self.comparisons: list[Comparison] = []
        self.anys: list[str] = []

    def parse(self) -> Predicate:
        pred = self._or(set())
        if self.pos != len(self.tokens):
            raise ODataError(f"Syntax error: unexpected '{self.tokens[self.pos][1]}'.")
        return pred

    def _peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ODataError("Syntax error: the filter ends too early.")
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _expect(self, text: str) -> None:
        _, got = self._take()
        if got != text:
            raise ODataError(f"Syntax error: expected '{text}', found '{got}'.")

    def _or(self, bound: set[str]) -> Predicate:
        parts = [self._and(bound)]
        while (self._peek() or "").lower() == "or":
            self.pos += 1
            parts.append(self._and(bound))
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def _and(self, bound: set[str]) -> Predicate:
        parts = [self._unary(bound)]
        while (self._peek() or "").lower() == "and":
            self.pos += 1
            parts.append(self._unary(bound))
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def _unary(self, bound: set[str]) -> Predicate:
        kind, tok = self._take()
        if tok.lower() == "not":
            inner = self._unary(bound)
            return lambda r: not inner(r)
        if tok == "(":
            inner = self._or(bound)
            self._expect(")")
            return inner
        if kind != "ident":
            raise ODataError(f"Syntax error: unexpected '{tok}'.")
        if tok.lower().endswith("/any") and self._peek() == "(":
            return self._any(tok[: -len("/any")], bound)
        op = self._take()[1].lower()
        if op not in _OPS:
            raise ODataError(f"Syntax error: '{op}' is not a comparison operator.")
        vkind, vtext = self._take()
        if vkind == "ident" and vtext not in ("true", "false", "null"):
            raise ODataError(f"Invalid filter clause: '{vtext}' is not a value.")
        value = _literal(vkind, vtext)
        path = tok
        self.comparisons.append(Comparison(path, op, value))
        head, _, rest = path.partition("/")
        if head in bound:
            fold = rest.lower() == "id"  # extended property ids compare case-insensitively
            return lambda r: _compare(r(path), op, value, fold)
        top_fold = path.lower() in self.fold
        return lambda r: _compare(r(path), op, value, top_fold)

    def _any(self, collection: str, bound: set[str]) -> Predicate:
        self.anys.append(collection)
        self._expect("(")
        _, var = self._take()
        self._expect(":")
        inner = self._or(bound | {var})
        self._expect(")")

        def pred(resolve: Resolver) -> bool:
            items = resolve(collection) or []
            for item in items:
                def scoped(path: str, item: Any = item) -> Any:
                    head, _, rest = path.partition("/")
                    if head == var:
                        return _get_ci(item, rest)
                    return resolve(path)
                if inner(scoped):
                    return True
            return False

        return pred


def _get_ci(obj: Any, path: str) -> Any:
    """A nested value by a /-separated path, property names matched case-insensitively."""
    for part in path.split("/") if path else []:
        if not isinstance(obj, dict):
            return None
        obj = next((v for k, v in obj.items() if k.lower() == part.lower()), None)
    return obj


def resolver_for(record: dict[str, Any]) -> Resolver:
    return lambda path: _get_ci(record, path)


def parse_filter(text: str, fold: frozenset[str] = frozenset(),
                 ) -> tuple[Predicate, FilterParser]:
    parser = FilterParser(text, fold)
    return parser.parse(), parser


# -- records and state of delta rounds ---------------------------------------------------
@dataclass
class Request:
    """One request the fake answered (status 0: the connection was dropped)."""

    method: str
    path: str
    query: dict[str, list[str]]  # every value of each parameter
    target: str  # path and query as sent
    headers: dict[str, str]  # lower-case names; Authorization left out
    body: bytes = b""
    status: int = 0
    fault: str | None = None
    api: bool = True  # False for the identity endpoints
    scheme: str = "http"

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def reply(self) -> Reply:
        rid = str(uuid.uuid4())
        inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": rid,
                 "client-request-id": rid}
        return json_reply(self.status, {"error": {"code": self.code, "message": self.message,
                                                  "innerError": inner}}, self.headers)


def not_found() -> GraphError:
    """Graph's answer for an id it does not have."""
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")



@dataclass
class Sync:
    """What a delta token stands for: a folder or window synced up to ``stamp``."""

    kind: str  # "calendar" or a mail folder name
    path: str  # the request path links point back to
    stamp: int
    window: tuple[datetime, datetime] | None = None
    select: list[str] | None = None
    received: tuple[str, datetime] | None = None  # ("ge"|"gt", moment) from $filter
    expand: Callable[[dict[str, Any]], bool] | None = None
    expand_text: str | None = None
    change_type: str | None = None


@dataclass
class Pending:
    """What a skip token stands for: the rest of a round."""

    sync: Sync
    items: list[tuple[str, Any]]  # ("item", record copy) or ("removed", id)
    offset: int



# -- one request -----------------------------------------------------------------------------
@dataclass
class Ctx:
    """A Graph request being answered: its record, the root links point to, its Prefer."""

    rec: Request
    root: str
    prefer: Prefer
    headers_out: dict[str, str] = field(default_factory=dict)

    def one(self, name: str) -> str | None:
        values = self.rec.query.get(name)
        return values[0] if values else None

    def latest(self) -> bool:
        """$deltatoken=latest: no items, just a delta link from now on."""
        return self.one("$deltatoken") == "latest"

    def allow(self, *names: str) -> None:
        for key in self.rec.query:
            if key.startswith("$") and key not in names:
                raise GraphError(400, "BadRequest", f"Query option '{key}' is not allowed.")

    def json_object(self, optional: bool = False) -> dict[str, Any]:
        kind = self.rec.headers.get("content-type", "application/json")
        if not self.rec.body.strip():
            if optional:
                return {}
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        if "json" not in kind.lower():
            raise GraphError(415, "UnsupportedMediaType", "A supported MIME type could not be "
                             "found that matches the content type of the response.")
        try:
            value = json.loads(self.rec.body)
        except ValueError:
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please "
                             "ensure Content-Type header is set and payload is of valid JSON "
                             "format.") from None
        if not isinstance(value, dict):
            raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
        return value

    def ok(self, obj: Any, status: int = 200) -> Reply:
        headers = {"request-id": str(uuid.uuid4()),
                   "client-request-id": self.rec.headers.get("client-request-id",
                                                             str(uuid.uuid4()))}
        applied = self.prefer.applied()
        if applied:
            headers["Preference-Applied"] = applied
        return json_reply(status, obj, headers, "application/json;odata.metadata=minimal;"
                          "odata.streaming=true;IEEE754Compatible=false;charset=utf-8")


def int_param(ctx: Ctx, name: str, default: int) -> int:
    text = ctx.one(name)
    if text is None:
        return default
    if not text.isdigit():
        raise GraphError(400, "BadRequest", f"Invalid value '{text}' for {name}.")
    return min(int(text), 1000)


def address_of(recipient: Any) -> str:
    if not isinstance(recipient, dict):
        return ""
    return str((recipient.get("emailAddress") or {}).get("address", "")).lower()


def expand_filter(text: str | None) -> tuple[Callable[[dict[str, Any]], bool] | None, str | None]:
    if text is None:
        return None, None
    m = _EXPAND_RE.match(text.strip())
    if not m:
        raise ODataError(f"Parsing OData Select and Expand failed: could not expand '{text}'.")
    if m["f"] is None:
        return (lambda prop: True), text
    pred, _ = parse_filter(m["f"], frozenset({"id"}))
    return (lambda prop: pred(resolver_for(prop))), text


def received_filter(text: str | None) -> tuple[str, datetime] | None:
    """Message delta takes only ``receivedDateTime ge|gt <date-time>``."""
    if text is None:
        return None
    _, parser = parse_filter(text)
    if len(parser.comparisons) != 1 or parser.anys:
        raise ODataError("The query filter contains one or more invalid nodes.", "BadRequest")
    (only,) = parser.comparisons
    if only.path.lower() != "receiveddatetime" or only.op not in ("ge", "gt") \
            or not isinstance(only.value, datetime):
        raise ODataError("The query filter contains one or more invalid nodes.", "BadRequest")
    return only.op, only.value


def received_ok(msg: dict[str, Any], received: tuple[str, datetime] | None) -> bool:
    if received is None:
        return True
    moment = parse_moment(str(msg["receivedDateTime"]))
    return moment >= received[1] if received[0] == "ge" else moment > received[1]



# -- HTTP ------------------------------------------------------------------------------------
# (method, target, lower-case headers, body, scheme) -> the answer; None drops the connection.
Dispatch = Callable[[str, str, dict[str, str], bytes, str], "Reply | None"]

class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 dispatch: Dispatch, scheme: str, context: ssl.SSLContext | None) -> None:
        super().__init__(address, handler)
        self.dispatch = dispatch
        self.scheme = scheme
        self.context = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the request's own thread, not in the accept loop.
        if self.context is None:
            super().finish_request(request, client_address)
            return
        assert isinstance(request, socket)
        request.settimeout(10)
        secure = self.context.wrap_socket(request, server_side=True)
        try:
            super().finish_request(secure, client_address)
        finally:
            secure.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("fake graph: connection from %s ended with an error", client_address,
                     exc_info=True)


class Handler(FakeHandler):
    server: Server

    def answer(self, body: bytes) -> Reply | None:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():  # a repeated name: values joined, as HTTP allows
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return self.server.dispatch(self.command, self.path, headers, body, self.server.scheme)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake graph: " + format, *args)
