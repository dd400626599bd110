"""The CalDAV calendar: one sync-collection REPORT per calendar while nothing changed.

Discovery (python-caldav finds the principal and its calendar home; one PROPFIND of
the home then lists the calendars with their names, component sets and sync tokens)
runs on the first read and again when the window moves to a new day, so a renamed or
new calendar is picked up within a day. The calendars found go into the checkpoint.

A cycle then sends, per calendar::

    sync-collection REPORT (RFC 6578) with the last sync token    servers with tokens
    PROPFIND Depth 1 of every getetag, compared with the last     servers without
                                                                  (an ETag diff)

and nothing more when nothing changed. When something did, both answers name the
members that changed (their hrefs; a removed one comes as a 404 in the sync answer, or
is missing from the ETag list) and one ``calendar-multiget`` REPORT (RFC 4791 7.9)
fetches only those: the parsed events of every other object are held in memory from
this process's last read (per href, never on disk), and the read reports only the
events that changed (``complete=False``) when the engine hands back the checkpoint of
that read. An object is a series with its overrides, so re-reading it whole keeps a
changed override right, and an object moved out of the window reports its events gone.
A ``calendar-query`` REPORT with a time-range filter reads a calendar whole (a complete
read, as the local .ics file gives) when memory does not match the checkpoint (the
first read of a process), when the window moved to another day, or when most of the
calendar changed. :mod:`providers._shared.ical` expands recurrences (never the server's
``expand``, which servers implement unevenly). An invalid sync token (403/409
DAV:valid-sync-token) or a calendar gone (404) means discovery again.

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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

import requests
from requests.auth import HTTPBasicAuth

from .._shared import checkpoint as checkpoints
from .._shared.http import TRANSPORT_ERRORS, Http, transport_failure
from .._shared.ical import read_event, read_events
from .._shared.retry import Failure
from ..base import CalendarChanges, CalendarSource, Event
from ..errors import AuthExpired, BadData, ProviderUnavailable

logger = logging.getLogger(__name__)

DAV = "{DAV:}"
CAL = "{urn:ietf:params:xml:ns:caldav}"
_XML = {"Content-Type": "application/xml; charset=utf-8"}
_PROPS_OF_CALENDARS = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:prop><d:resourcetype/><d:displayname/><d:sync-token/>"
    "<c:supported-calendar-component-set/></d:prop></d:propfind>"
)
# A calendar whose changed members are more than this and more than half of the objects
# it holds is queried whole: one query then costs less than a multiget of most of it.
_FEW = 16
_ETAGS = ('<?xml version="1.0" encoding="utf-8"?>'
          '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>')


@dataclass(frozen=True)
class RemoteCalendar:
    url: str
    name: str
    token: str = ""  # the sync token; "" for a server without them
    etags: str = ""  # a digest of every (href, ETag) where there is no token


@dataclass
class _Held:
    """A calendar as this process last read it (memory only, never on disk)."""

    key: tuple[str, str, tuple[str, ...]]  # (token, etags, window) of that read
    # By _key(href): the events in the window of each object that has any. An object
    # is a series with its overrides: re-read whole when any part of it changes.
    objects: dict[str, tuple[Event, ...]] = field(default_factory=dict)
    problems: dict[str, tuple[str, ...]] = field(default_factory=dict)  # objects with any
    uids: dict[str, str] = field(default_factory=dict)  # event uid -> _key(href)
    # Servers without sync tokens: every member, _key(href) -> (href, ETag), to diff.
    listing: dict[str, tuple[str, str]] | None = None

    def event(self, uid: str) -> Event | None:
        key = self.uids.get(uid)
        if key is None:
            return None
        return next((e for e in self.objects[key] if e.uid == uid), None)

    def put(self, key: str, events: tuple[Event, ...], problems: tuple[str, ...]) -> bool:
        """Hold one object's read; False when one of its uids is another object's
        (against RFC 4791 5.3.2): which one a whole read shows is then up to the
        server's order, so such a calendar is always read whole."""
        if events:
            self.objects[key] = events
        if problems:
            self.problems[key] = problems
        clash = False
        for event in events:
            clash = self.uids.setdefault(event.uid, key) != key or clash
        return not clash

    def drop(self, key: str) -> tuple[Event, ...]:
        self.problems.pop(key, None)
        events = self.objects.pop(key, ())
        for event in events:
            if self.uids.get(event.uid) == key:
                del self.uids[event.uid]
        return events


@dataclass(frozen=True)
class _Probe:
    """A calendar's state now, and what changed since its state in the checkpoint."""

    now: RemoteCalendar
    changed: bool
    # (changed members, _key(href) -> href as the server spells it; removed members'
    # keys); None: the answer does not say (read the calendar whole).
    delta: tuple[dict[str, str], set[str]] | None = None


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
        # In memory only: each calendar's objects as last read (a calendar that did not
        # change is not queried again; one that did fetches only what changed), the
        # events the last read reported (after its changes, when it reported only
        # those), and the checkpoint it returned: a partial result fits only that one.
        self._held: dict[str, _Held] = {}
        self._result: dict[str, Event] = {}
        self._checkpoint: str | None = None
        self._listed: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}  # url -> ETags

    # -- CalendarSource --------------------------------------------------------------
    def changes(self, checkpoint: str | None, start: datetime, end: datetime,
                default_tz: tzinfo) -> CalendarChanges:
        auth = self._auth()
        window = [start.isoformat()[:10], end.isoformat()[:10], str(default_tz)]
        old = self._load(checkpoint)
        # Forgotten until this read succeeds: a read that fails half-way leaves memory
        # ahead of the engine's checkpoint, so the next one is complete.
        last, self._checkpoint = self._checkpoint, None
        if old is None or old["window"] != window:
            return self._read_all(self._discover(auth), start, end, default_tz, window, auth)
        probes: list[tuple[RemoteCalendar, _Probe]] = []
        try:
            for calendar in old["calendars"]:
                probes.append((calendar, self._probe(calendar, auth)))
        except _Restart as why:
            logger.info("account %s: %s; reading the calendars anew", self.account, why)
            return self._read_all(self._discover(auth), start, end, default_tz, window, auth)
        calendars = [probe.now for _, probe in probes]
        self._known = tuple(calendars)
        if not any(probe.changed for _, probe in probes):
            self._checkpoint = self._dump(window, calendars)
            return CalendarChanges((), (), self._checkpoint, complete=False, unchanged=True)
        # Memory holds the read that returned this checkpoint: its changes are enough.
        partial = checkpoint == last and all(c.url in self._held for c in calendars)
        affected: set[str] = set()
        for calendar, probe in probes:
            if not probe.changed:
                continue
            uids = self._read_delta(calendar, probe, start, end, default_tz, window, auth)
            if uids is None:
                partial = False  # _read_all queries it whole: its key no longer fits
            else:
                affected |= uids
        if not partial:
            return self._read_all(calendars, start, end, default_tz, window, auth)
        return self._partial(calendars, affected, start, window)

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
        and window are those of what memory holds is not queried again."""
        events: dict[str, Event] = {}
        queried = 0
        for calendar in calendars:
            held = self._held.get(calendar.url)
            if held is None or held.key != _key_of(calendar, window):
                held = self._read_calendar(calendar, start, end, default_tz, window, auth)
                self._held[calendar.url] = held
                queried += 1
            for found in held.objects.values():
                for event in found:
                    events.setdefault(event.uid, event)  # one invitation in two calendars
        for gone in set(self._held) - {c.url for c in calendars}:
            del self._held[gone]
        self._known = tuple(calendars)
        self._result = events
        problems = self._problems(calendars)
        logger.debug("account %s: %d calendars (%d queried): %d events in window, "
                     "%d problems", self.account, len(calendars), queried, len(events),
                     len(problems))
        ordered = sorted(events.values(), key=lambda e: (e.start.astimezone(UTC), e.uid))
        self._checkpoint = self._dump(window, calendars)
        return CalendarChanges(tuple(ordered), (), self._checkpoint, complete=True,
                               problems=problems)

    def _partial(self, calendars: list[RemoteCalendar], affected: set[str],
                 start: datetime, window: list[str]) -> CalendarChanges:
        """The events of ``affected`` uids that differ from the last read's result."""
        changed: list[Event] = []
        removed: list[str] = []
        for uid in sorted(affected):
            # The first calendar's copy, as a whole read picks it.
            now = next((e for e in (self._held[c.url].event(uid) for c in calendars)
                        if e is not None), None)
            before = self._result.get(uid)
            if now is None:
                if before is not None:
                    del self._result[uid]
                    # As the engine reads a complete result: gone from the window's end side.
                    if before.end >= start:
                        removed.append(uid)
            elif now != before:
                self._result[uid] = now
                changed.append(now)
        logger.debug("account %s: %d events changed, %d removed", self.account,
                     len(changed), len(removed))
        changed.sort(key=lambda e: (e.start.astimezone(UTC), e.uid))
        self._checkpoint = self._dump(window, calendars)
        return CalendarChanges(tuple(changed), tuple(removed), self._checkpoint,
                               complete=False, problems=self._problems(calendars))

    def _problems(self, calendars: list[RemoteCalendar]) -> tuple[str, ...]:
        return tuple(problem for c in calendars
                     for found in self._held[c.url].problems.values() for problem in found)

    def _read_delta(self, calendar: RemoteCalendar, probe: _Probe, start: datetime,
                    end: datetime, default_tz: tzinfo, window: list[str],
                    auth: HTTPBasicAuth) -> set[str] | None:
        """Fetch only the members that changed into what memory holds of the calendar;
        the uids of the events they had and have. None: the calendar is to be read whole
        (memory is not of the checkpoint's state, the answer named no members, or most
        of the calendar changed)."""
        held = self._held.get(calendar.url)
        if held is None or held.key != _key_of(calendar, window) or probe.delta is None:
            return None
        changed, removed = probe.delta
        if len(changed) > max(_FEW, len(held.objects) // 2):
            logger.debug("account %s: calendar %r: %d members changed; querying it whole",
                         self.account, calendar.name, len(changed))
            return None
        fetched = self._multiget(calendar, changed, auth) if changed else {}
        if fetched is None:
            return None
        read: dict[str, tuple[tuple[Event, ...], tuple[str, ...]]] = {}
        for key, data in fetched.items():
            if data is None:
                continue  # deleted since the sync answer
            source = _source(calendar, changed[key])
            try:
                found, skipped = read_events(data, start, end, default_tz, source=source,
                                             cache=False)
            except BadData as exc:
                read[key] = ((), (f"{source}: {exc.problem}",))
                continue
            read[key] = (tuple(found), tuple(skipped))
        # No request from here on: memory changes whole or not at all.
        affected: set[str] = set()
        for key in removed | set(changed):
            affected.update(e.uid for e in held.drop(key))
        clean = True
        for key, (events, problems) in read.items():
            affected.update(e.uid for e in events)
            clean = held.put(key, events, problems) and clean
        if not clean:
            del self._held[calendar.url]
            return None
        held.key = _key_of(probe.now, window)
        listed = self._listed.pop(calendar.url, None)
        held.listing = listed[1] if listed and listed[0] == probe.now.etags else None
        logger.debug("account %s: calendar %r: %d members fetched, %d removed",
                     self.account, calendar.name, len(changed), len(removed))
        return affected

    def _read_calendar(self, calendar: RemoteCalendar, start: datetime, end: datetime,
                       default_tz: tzinfo, window: list[str], auth: HTTPBasicAuth) -> _Held:
        """The objects of the window, read whole. An object that is not iCalendar at all
        is a problem; servers check what they store, so it is not one that held an
        interview before (a look-up of such an event asks again next cycle instead)."""
        query = _query(f'<c:time-range start="{_utc(start)}" end="{_utc(end)}"/>')
        held = _Held(_key_of(calendar, window))
        for href, data in self._objects(calendar, query, auth):
            source = _source(calendar, href)
            try:
                # One small object per event: no block cache to reuse.
                found, skipped = read_events(data, start, end, default_tz, source=source,
                                             cache=False)
            except BadData as exc:
                found, skipped = [], [f"{source}: {exc.problem}"]
            if not held.put(_key(href), tuple(found), tuple(skipped)):
                held.key = ("", "", ())  # never matches: read whole while uids clash
        listed = self._listed.pop(calendar.url, None)
        if listed and listed[0] == calendar.etags:
            held.listing = listed[1]
        return held

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

    def _multiget(self, calendar: RemoteCalendar, hrefs: dict[str, str],
                  auth: HTTPBasicAuth) -> dict[str, bytes | None] | None:
        """The data of ``hrefs`` (by key; None: deleted), or None when the server did
        not give each of them (then the calendar is queried whole)."""
        what = f"fetching {len(hrefs)} changed events of calendar {calendar.name!r}"
        body = ('<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" '
                'xmlns:c="urn:ietf:params:xml:ns:caldav">'
                "<d:prop><d:getetag/><c:calendar-data/></d:prop>"
                + "".join(f"<d:href>{escape(href)}</d:href>" for href in hrefs.values())
                + "</c:calendar-multiget>")
        # Depth is to be ignored here (RFC 4791 7.9); python-caldav sends 1 to every server.
        response = self._send(what, "REPORT", calendar.url, body, auth, depth="1")
        if response.status_code in {400, 404, 405, 415, 422, 501}:
            logger.info("account %s: %s: HTTP %s; querying the calendar whole",
                        self.account, what, response.status_code)
            return None
        self._check(response, what, (207,))
        found: dict[str, bytes | None] = {}
        for href, status, props in _responses(self._xml(response, what)):
            data = props.get(CAL + "calendar-data")
            if data is not None and data.text:
                found[_key(href)] = data.text.encode("utf-8")
            elif " 404" in status:
                found[_key(href)] = None
        if set(found) != set(hrefs):
            # Unknown is not deleted: an object the answer left out is read again whole.
            logger.info("account %s: %s: %d not in the answer; querying the calendar whole",
                        self.account, what, len(set(hrefs) - set(found)))
            return None
        return found

    def _probe(self, calendar: RemoteCalendar, auth: HTTPBasicAuth) -> _Probe:
        if not calendar.token:
            now = RemoteCalendar(calendar.url, calendar.name,
                                 etags=self._etag_digest(calendar.url, calendar.name, auth))
            if now.etags == calendar.etags:
                return _Probe(now, False)
            return _Probe(now, True, self._etag_delta(calendar))
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
            return _Probe(RemoteCalendar(calendar.url, calendar.name, etags=self._etag_digest(
                calendar.url, calendar.name, auth)), True)
        self._check(response, what, (207,))
        tree = self._xml(response, what)
        token = tree.findtext(DAV + "sync-token") or ""
        if not token:
            raise BadData(self.account, self._at(what), "no sync-token in the answer")
        now = RemoteCalendar(calendar.url, calendar.name, token=token)
        home = _key(calendar.url).rstrip("/")
        changed: dict[str, str] = {}
        removed: set[str] = set()
        truncated = False
        for href, status, _ in _responses(tree):
            key = _key(href)
            if key.rstrip("/") == home:
                # The collection itself: 507 when the server cut the list short (RFC
                # 6578 3.6); the members it left out are unknown.
                truncated = truncated or " 507" in status
            elif " 404" in status:
                removed.add(key)
                changed.pop(key, None)
            else:
                changed[key] = href
                removed.discard(key)
        if not changed and not removed and not truncated:
            return _Probe(now, False)
        return _Probe(now, True, None if truncated else (changed, removed))

    def _etag_delta(self, calendar: RemoteCalendar) -> tuple[dict[str, str], set[str]] | None:
        """The members whose ETag changed, appeared or disappeared since the listing
        memory holds (when it is the one of ``calendar``, the checkpoint's state)."""
        held = self._held.get(calendar.url)
        listed = self._listed.get(calendar.url)
        if held is None or held.listing is None or held.key[1] != calendar.etags or not listed:
            return None
        before, now = held.listing, listed[1]
        changed = {key: href for key, (href, etag) in now.items()
                   if before.get(key, ("", None))[1] != etag}
        return changed, set(before) - set(now)

    def _etag_digest(self, url: str, name: str, auth: HTTPBasicAuth) -> str:
        """A digest of every member's (href, ETag); the listing itself is kept for the
        read that follows, to diff against the next one."""
        what = f"listing calendar {name!r}"
        response = self._send(what, "PROPFIND", url, _ETAGS, auth, depth="1")
        if response.status_code == 404:
            raise _Restart(f"calendar {name!r} is gone")
        self._check(response, what, (207,))
        home = _key(url).rstrip("/")
        listing = {_key(href): (href, _text(props, DAV + "getetag"))
                   for href, _, props in _responses(self._xml(response, what))
                   if _key(href).rstrip("/") != home}
        pairs = sorted(listing.values())
        digest = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:32]
        self._listed[url] = (digest, listing)
        return digest

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
        return checkpoints.dump("caldav", who=self._who(), window=window,
                                calendars=[asdict(c) for c in calendars])

    def _load(self, checkpoint: str | None) -> dict[str, Any] | None:
        def read(state: dict[str, Any]) -> None:
            state["calendars"] = [RemoteCalendar(**c) for c in state["calendars"]]

        state = checkpoints.load(checkpoint, f"account {self.account}: CalDAV", kind="caldav",
                                 check=read)
        if state is None or state.get("who") != self._who():
            return None  # another server, user or calendars since: discovery again
        return state


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


def _key(href: str) -> str:
    """An href as memory knows it: servers spell one path absolute or not, quoted or not."""
    return unquote(urlsplit(href).path)


def _key_of(calendar: RemoteCalendar, window: list[str]) -> tuple[str, str, tuple[str, ...]]:
    return calendar.token, calendar.etags, tuple(window)


def _source(calendar: RemoteCalendar, href: str) -> str:
    """An object named for the problems list: the calendar's name and the file's."""
    return f"{calendar.name}/{unquote(href.rstrip('/').rpartition('/')[2])}"
