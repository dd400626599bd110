"""The CalDAV calendar: one sync-collection REPORT per calendar while nothing changed.

Discovery (python-caldav finds the principal and its calendar home; one PROPFIND of
the home then lists the calendars with their names, component sets and sync tokens)
runs on the first read and again when the window moves to a new day, so a renamed or
new calendar is picked up within a day. The calendars found go into the checkpoint.

A cycle then sends, per calendar::

    sync-collection REPORT (RFC 6578) with the last sync token    servers with tokens
    PROPFIND Depth 1 of every getetag, compared with the last     servers without
                                                                  (an ETag diff)

and nothing more when nothing changed. When something did, one ``calendar-query``
REPORT with a time-range filter fetches the objects that touch the window, for each
calendar that changed (the others' events of this process's last query are held in
memory, never on disk), and :mod:`providers._shared.ical` expands their recurrences
(never the server's ``expand``, which servers implement unevenly): a complete read, as
the local .ics file gives. An invalid sync token (403/409 DAV:valid-sync-token) or a calendar gone
(404) means discovery again.

Look-up of an event that left the window (rule 8): a ``calendar-query`` with a UID
text-match per calendar; :func:`providers._shared.ical.read_event` picks the instance.

Errors::

    401, 403 (login refused)             -> AuthExpired (followup auth NAME)
    outage, 5xx, 429                     -> retried, then ProviderUnavailable / RateLimited
    other 4xx, a calendar named in the
    config that does not exist           -> ProviderUnavailable
    unreadable XML (python-caldav's too) -> BadData

Each error names the server (host and port) that failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

import requests
from requests.auth import HTTPBasicAuth

from .._shared.http import TRANSPORT_ERRORS, Http, transport_failure
from .._shared.ical import read_event, read_events
from .._shared.retry import Failure
from ..base import CalendarChanges, CalendarSource, Event
from ..errors import AuthExpired, BadData, ProviderUnavailable

logger = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"
_XML = {"Content-Type": "application/xml; charset=utf-8"}
_PROPS_OF_CALENDARS = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:resourcetype/><d:displayname/><d:sync-token/>"
    "<c:supported-calendar-component-set/></d:prop></d:propfind>"
)
_ETAGS = ('<?xml version="1.0" encoding="utf-8"?>'
          '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>')


@dataclass(frozen=True)
class RemoteCalendar:
    url: str
    name: str
    token: str = ""  # the sync token; "" for a server without them
    etags: str = ""  # a digest of every (href, ETag) where there is no token


class _Restart(Exception):
    """The checkpoint no longer fits the server: discover and read everything again."""


class CalDAVCalendar(CalendarSource):
    def __init__(self, account: str, url: str, username: str,
                 password: Callable[[], str | None], *, calendars: tuple[str, ...] = (),
                 http: Http | None = None) -> None:
        self.account = account
        self.url = url
        self.username = username
        self._password = password
        self.names = calendars
        # The server as errors name it: host and port, never a user or a path.
        self.server = urlsplit(url).netloc.rpartition("@")[2] or url
        self.http = http or Http(account)
        self._known: tuple[RemoteCalendar, ...] = ()  # from the last read, for look-ups
        # url -> ((token, etags, window), events, problems) of the last query:
        # in memory only; a calendar that did not change is not queried again.
        self._held: dict[str, tuple[tuple[str, str, tuple[str, ...]], tuple[Event, ...],
                                    tuple[str, ...]]] = {}

    # -- CalendarSource --------------------------------------------------------------
    def changes(self, checkpoint: str | None, start: datetime, end: datetime,
                default_tz: tzinfo) -> CalendarChanges:
        auth = self._auth()
        window = [start.isoformat()[:10], end.isoformat()[:10], str(default_tz)]
        old = self._load(checkpoint)
        if old is None or old["window"] != window:
            return self._read_all(self._discover(auth), start, end, default_tz, window, auth)
        calendars: list[RemoteCalendar] = []
        changed = False
        try:
            for calendar in old["calendars"]:
                now, moved = self._probe(calendar, auth)
                calendars.append(now)
                changed = changed or moved
        except _Restart as why:
            logger.info("account %s: %s; reading the calendars anew", self.account, why)
            return self._read_all(self._discover(auth), start, end, default_tz, window, auth)
        self._known = tuple(calendars)
        if not changed:
            return CalendarChanges((), (), self._dump(window, calendars), complete=False,
                                   unchanged=True)
        return self._read_all(calendars, start, end, default_tz, window, auth)

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        auth = self._auth()
        calendars = self._known or tuple(self._discover(auth))
        base = uid.rpartition("/")[0] or uid
        # text-match is a substring match: the series UID finds the whole UID too.
        query = _query(f'<c:prop-filter name="UID"><c:text-match collation="i;octet">'
                       f"{escape(base)}</c:text-match></c:prop-filter>")
        for calendar in calendars:
            # A server that cannot filter by UID gives every event once (a rare, dear read).
            for href, data in self._objects(calendar, query, auth, fallback=_query("")):
                try:
                    event, _ = read_event(data, uid, default_tz, source=_source(calendar, href))
                except BadData as exc:
                    # Unknown is not deleted: ask again next cycle.
                    raise ProviderUnavailable(self.account, f"{_source(calendar, href)}: "
                                              f"{exc.problem}; looking for {uid} again next "
                                              "cycle") from None
                if event is not None:
                    return None if event.cancelled else event
        return None

    def calendars(self) -> list[RemoteCalendar]:
        """The calendars this account reads (for `followup auth` and `doctor`)."""
        return self._discover(self._auth())

    def close(self) -> None:
        self.http.close()

    # -- reading -----------------------------------------------------------------------
    def _read_all(self, calendars: list[RemoteCalendar], start: datetime, end: datetime,
                  default_tz: tzinfo, window: list[str], auth: HTTPBasicAuth) -> CalendarChanges:
        """Every event of the window in ``calendars``: a calendar whose token (or ETags)
        and window are those of a read this process made is not queried again."""
        events: dict[str, Event] = {}
        problems: list[str] = []
        queried = 0
        for calendar in calendars:
            key = (calendar.token, calendar.etags, tuple(window))
            held = self._held.get(calendar.url)
            if held is None or held[0] != key:
                held = (key, *self._read_calendar(calendar, start, end, default_tz, auth))
                self._held[calendar.url] = held
                queried += 1
            _, found, skipped = held
            problems.extend(skipped)
            for event in found:
                events.setdefault(event.uid, event)  # one invitation in two calendars
        for gone in set(self._held) - {c.url for c in calendars}:
            del self._held[gone]
        self._known = tuple(calendars)
        logger.debug("account %s: %d calendars (%d queried): %d events in window, "
                     "%d problems", self.account, len(calendars), queried, len(events),
                     len(problems))
        ordered = sorted(events.values(), key=lambda e: (e.start.astimezone(UTC), e.uid))
        return CalendarChanges(tuple(ordered), (), self._dump(window, calendars),
                               complete=True, problems=tuple(problems))

    def _read_calendar(self, calendar: RemoteCalendar, start: datetime, end: datetime,
                       default_tz: tzinfo, auth: HTTPBasicAuth,
                       ) -> tuple[tuple[Event, ...], tuple[str, ...]]:
        """(events of the window, problems). An object that is not iCalendar at all is a
        problem; servers check what they store, so it is not one that held an interview
        before (a look-up of such an event asks again next cycle instead)."""
        query = _query(f'<c:time-range start="{_utc(start)}" end="{_utc(end)}"/>')
        events: list[Event] = []
        problems: list[str] = []
        for href, data in self._objects(calendar, query, auth):
            source = _source(calendar, href)
            try:
                # One small object per event: no block cache to reuse.
                found, skipped = read_events(data, start, end, default_tz, source=source,
                                             cache=False)
            except BadData as exc:
                problems.append(f"{source}: {exc.problem}")
                continue
            problems.extend(skipped)
            events.extend(found)
        return tuple(events), tuple(problems)

    def _objects(self, calendar: RemoteCalendar, query: str, auth: HTTPBasicAuth,
                 fallback: str | None = None) -> Iterator[tuple[str, bytes]]:
        what = f"querying calendar {calendar.name!r}"
        response = self._send(what, "REPORT", calendar.url, query, auth, depth="1")
        status = response.status_code
        if fallback is not None and (status in {400, 415, 422, 501} or (
                status == 403 and b"supported-filter" in response.content)):
            logger.info("account %s: %s: the server refused the filter (HTTP %s); reading "
                        "every event instead", self.account, what, status)
            response = self._send(what, "REPORT", calendar.url, fallback, auth, depth="1")
        if response.status_code == 404:
            raise ProviderUnavailable(self.account, f"{self._at(what)}: the calendar is gone "
                                      "(HTTP 404)")
        self._check(response, what, (207,))
        for href, _, props in _responses(self._xml(response, what)):
            data = props.get(CAL + "calendar-data")
            if data is not None and data.text:
                yield href, data.text.encode("utf-8")

    def _probe(self, calendar: RemoteCalendar,
               auth: HTTPBasicAuth) -> tuple[RemoteCalendar, bool]:
        """The calendar's state now, and whether anything in it changed."""
        if not calendar.token:
            now = RemoteCalendar(calendar.url, calendar.name,
                                 etags=self._etag_digest(calendar.url, calendar.name, auth))
            return now, now.etags != calendar.etags
        what = f"syncing calendar {calendar.name!r}"
        body = ('<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">'
                f"<d:sync-token>{escape(calendar.token)}</d:sync-token>"
                "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop>"
                "</d:sync-collection>")
        response = self._send(what, "REPORT", calendar.url, body, auth, depth="0")
        if response.status_code in {403, 409, 412} and b"valid-sync-token" in response.content:
            raise _Restart(f"calendar {calendar.name!r}: the server no longer knows its "
                           "sync token")
        if response.status_code == 404:
            raise _Restart(f"calendar {calendar.name!r} is gone")
        if response.status_code in {400, 405, 415, 422, 501}:
            # Offers tokens but not the report (seen behind some proxies): ETags from now on.
            logger.info("account %s: calendar %r: sync-collection refused (HTTP %s); "
                        "comparing ETags instead", self.account, calendar.name,
                        response.status_code)
            return RemoteCalendar(calendar.url, calendar.name, etags=self._etag_digest(
                calendar.url, calendar.name, auth)), True
        self._check(response, what, (207,))
        tree = self._xml(response, what)
        token = tree.findtext(DAV + "sync-token") or ""
        members = tree.findall(DAV + "response")
        if not token:
            raise BadData(self.account, self._at(what), "no sync-token in the answer")
        return RemoteCalendar(calendar.url, calendar.name, token=token), bool(members)

    def _etag_digest(self, url: str, name: str, auth: HTTPBasicAuth) -> str:
        what = f"listing calendar {name!r}"
        response = self._send(what, "PROPFIND", url, _ETAGS, auth, depth="1")
        if response.status_code == 404:
            raise _Restart(f"calendar {name!r} is gone")
        self._check(response, what, (207,))
        pairs = sorted((href, _text(props, DAV + "getetag"))
                       for href, _, props in _responses(self._xml(response, what))
                       if unquote(href).rstrip("/") != unquote(_path(url)).rstrip("/"))
        return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:32]

    # -- discovery -----------------------------------------------------------------------
    def _discover(self, auth: HTTPBasicAuth) -> list[RemoteCalendar]:
        home = self._calendar_home(auth)
        what = "listing the calendars"
        response = self._send(what, "PROPFIND", home, _PROPS_OF_CALENDARS, auth, depth="1")
        self._check(response, what, (207,))
        found: list[RemoteCalendar] = []
        names: list[str] = []
        for href, _, props in _responses(self._xml(response, what)):
            kinds = props.get(DAV + "resourcetype")
            if kinds is None or kinds.find(CAL + "calendar") is None:
                continue
            url = urljoin(home, href)
            name = _text(props, DAV + "displayname") or unquote(
                href.rstrip("/").rpartition("/")[2])
            names.append(name)
            components = props.get(CAL + "supported-calendar-component-set")
            if components is not None and len(components) and not any(
                    c.get("name", "").upper() == "VEVENT" for c in components):
                continue  # a task list
            if self.names and name not in self.names:
                continue
            calendar = RemoteCalendar(url, name, token=_text(props, DAV + "sync-token"))
            if not calendar.token:
                calendar = RemoteCalendar(url, name,
                                          etags=self._etag_digest(url, name, auth))
            found.append(calendar)
        missing = [n for n in self.names if n not in {c.name for c in found}]
        if missing:
            raise ProviderUnavailable(self.account, f"no event calendar named "
                                      f"{', '.join(map(repr, missing))} on the server "
                                      f"(found: {', '.join(map(repr, names)) or 'none'})")
        logger.debug("account %s: calendars %s", self.account, [c.name for c in found])
        return found

    def _calendar_home(self, auth: HTTPBasicAuth) -> str:
        """The calendar home URL, found by python-caldav (principal, calendar-home-set)."""
        import caldav
        from caldav.lib import error as caldav_error
        from lxml import etree

        what = self._at("CalDAV discovery")

        def attempt() -> str | Failure:
            client = caldav.DAVClient(url=self.url, auth=auth, timeout=30)
            client.session.close()
            client.session = self.http.session  # one session: pooling, proxies, user agent
            try:
                principal = client.principal()
                return str(principal.calendar_home_set.url)
            except caldav_error.AuthorizationError:
                raise self._refused(401) from None
            except TRANSPORT_ERRORS as exc:
                return transport_failure(self.account, what, exc)
            except caldav_error.DAVError as exc:
                text = str(getattr(exc, "reason", "") or "")
                if any(f" {code}" in f" {text}" for code in ("500", "502", "503", "504")):
                    return Failure(f"discovery: {text[:80]}", rate=False)
                raise ProviderUnavailable(self.account, f"CalDAV discovery at {self.url} "
                                          f"failed: {type(exc).__name__} "
                                          f"{text[:200]}".strip()) from None
            except (etree.LxmlError, ValueError, LookupError, AttributeError,
                    TypeError) as exc:
                # python-caldav parses the answers itself: XML no parser reads (lxml's
                # error), or XML without what it looks for (its own look-ups fail).
                detail = (str(exc).splitlines() or [""])[0][:200]
                raise BadData(self.account, what, f"unreadable answer ({type(exc).__name__}"
                              f": {detail})") from None

        return self.http.retrying(what, attempt)

    # -- one request -----------------------------------------------------------------------
    def _send(self, what: str, method: str, url: str, body: str, auth: HTTPBasicAuth, *,
              depth: str) -> requests.Response:
        return self.http.send(self._at(what), method, url, data=body.encode("utf-8"),
                              auth=auth, headers={**_XML, "Depth": depth})

    def _check(self, response: requests.Response, what: str, ok: tuple[int, ...]) -> None:
        status = response.status_code
        if status in ok:
            return
        if status in {401, 403}:
            raise self._refused(status)
        raise ProviderUnavailable(self.account, f"{self._at(what)}: HTTP {status}")

    def _at(self, what: str) -> str:
        """``what`` with the server it was asked of, for errors and retries."""
        return f"{what} at {self.server}"

    def _refused(self, status: int) -> AuthExpired:
        return AuthExpired(self.account, f"the CalDAV server {self.server} refused the "
                           f"login of {self.username!r} (HTTP {status}); store the right "
                           f"password (an app-specific one for iCloud and Fastmail): followup "
                           f"auth {self.account}")

    def _xml(self, response: requests.Response, what: str) -> ET.Element:
        try:
            return ET.fromstring(response.content)
        except ET.ParseError as exc:
            raise BadData(self.account, self._at(what), f"unreadable XML: {exc}") from None

    def _auth(self) -> HTTPBasicAuth:
        # Basic from the first request: no 401 round trip to negotiate (iCloud, Fastmail
        # and Nextcloud all take Basic over TLS). Read each cycle, so `followup auth`
        # takes effect without a restart.
        password = self._password()
        if not password:
            raise AuthExpired(self.account, f"no CalDAV password stored; run: followup auth "
                              f"{self.account}")
        return HTTPBasicAuth(self.username, password)

    # -- checkpoints -----------------------------------------------------------------------
    def _who(self) -> str:
        key = json.dumps([self.url, self.username, sorted(self.names)])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _dump(self, window: list[str], calendars: list[RemoteCalendar]) -> str:
        return json.dumps({"v": CHECKPOINT_VERSION, "kind": "caldav", "who": self._who(),
                           "window": window, "calendars": [asdict(c) for c in calendars]},
                          sort_keys=True, separators=(",", ":"))

    def _load(self, checkpoint: str | None) -> dict[str, Any] | None:
        if not checkpoint:
            return None
        try:
            state = json.loads(checkpoint)
            if (state.get("v"), state.get("kind"), state.get("who")) != (
                    CHECKPOINT_VERSION, "caldav", self._who()):
                return None
            state["calendars"] = [RemoteCalendar(**c) for c in state["calendars"]]
            return dict(state)
        except (ValueError, TypeError, AttributeError, KeyError):
            logger.warning("account %s: ignoring an unusable CalDAV checkpoint", self.account)
            return None


def _query(event_filter: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f"{event_filter}</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")


def _responses(tree: ET.Element) -> Iterator[tuple[str, str, dict[str, ET.Element]]]:
    """(href, status, {property tag: element}) of each response of a multistatus; only
    the properties of a 200 propstat."""
    for response in tree.findall(DAV + "response"):
        href = response.findtext(DAV + "href") or ""
        status = response.findtext(DAV + "status") or ""
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(DAV + "propstat"):
            if " 200" not in (propstat.findtext(DAV + "status") or " 200"):
                continue
            for prop in propstat.findall(DAV + "prop"):
                for element in prop:
                    props[element.tag] = element
        yield href.strip(), status, props


def _text(props: dict[str, ET.Element], tag: str) -> str:
    # Not `props.get(tag) or ...`: an element without children is false.
    element = props.get(tag)
    return (element.text or "").strip() if element is not None else ""


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _path(url: str) -> str:
    return urlsplit(url).path


def _source(calendar: RemoteCalendar, href: str) -> str:
    """An object named for the problems list: the calendar's name and the file's."""
    return f"{calendar.name}/{unquote(href.rstrip('/').rpartition('/')[2])}"
