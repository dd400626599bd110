"""The feed calendar: one conditional GET per cycle, the body parsed only when it changed.

A cycle sends ``If-None-Match`` (the ETag) and ``If-Modified-Since`` (the
Last-Modified) of the last answer: ``304 Not Modified`` means unchanged, nothing
parsed. A server without validators (Google's secret address sends none) answers
200 every time; the body's SHA-256 then tells an unchanged calendar from a changed
one, still without parsing. The body is kept in memory only (never on disk): a
304 after the window moved to a new day, or a look-up of an event that left the
window (rule 8), reads it from there.

Errors::

    no address stored, 401, 403      -> AuthExpired (store the address: followup auth)
    404, 410                         -> AuthExpired (the address was reset or unpublished)
    outage, 5xx, 429                 -> retried, then ProviderUnavailable / RateLimited
    other 4xx, too many redirects    -> ProviderUnavailable
    not iCalendar (a login page)     -> BadData
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, tzinfo
from urllib.parse import urljoin, urlsplit, urlunsplit

from .._shared import checkpoint as checkpoints
from .._shared.http import Http, hide, redacted
from .._shared.ical import read_event, read_events
from ..base import CalendarChanges, CalendarSource, Event
from ..errors import AuthExpired, BadData, ProviderUnavailable

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
MAX_BYTES = 64 * 1024 * 1024  # a calendar of 100,000 events is ~40 MB
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def normalise_url(text: str) -> str:
    """The address as fetched: ``webcal://`` becomes ``https://``; plain ``http://`` only
    for this machine (tests, a local server): anywhere else it would show the secret
    address to the network. :raises ValueError: not such an address (no URL in the text).
    """
    text = text.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in {"webcal", "webcals"}:
        scheme = "https"
    if not parts.hostname:
        raise ValueError("not a web address (expected https://...)")
    if scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        raise ValueError("an http:// address would travel unencrypted; use https://")
    if scheme not in {"https", "http"}:
        raise ValueError(f"unsupported scheme {parts.scheme!r} (expected https://)")
    return urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


class FeedCalendar(CalendarSource):
    def __init__(self, account: str, url: Callable[[], str | None], *,
                 http: Http | None = None) -> None:
        self.account = account
        self._url_getter = url
        self.http = http or Http(account)
        # The last body and its validators, in memory only.
        self._body: bytes | None = None
        self._etag = ""
        self._modified = ""

    # -- CalendarSource --------------------------------------------------------------
    def changes(self, checkpoint: str | None, start: datetime, end: datetime,
                default_tz: tzinfo) -> CalendarChanges:
        url = self._url()
        label = redacted(url)
        old = _load(checkpoint)
        window = [start.isoformat()[:10], end.isoformat()[:10], str(default_tz)]
        same = old is not None and old["window"] == window and old["url"] == _digest(url)
        validators: tuple[str, str] | None
        if same and old is not None:
            validators = (str(old.get("etag", "")), str(old.get("modified", "")))
        else:
            validators = self._held()
        body = self._fetch(url, label, validators)
        if body is None:  # 304
            if same:
                logger.debug("account %s: %s not modified", self.account, label)
                return CalendarChanges((), (), checkpoint, complete=False, unchanged=True)
            if self._body is None:  # validators of an earlier process: fetch it whole
                body = self._fetch(url, label, None)
            body = body if body is not None else self._body
            assert body is not None
        digest = hashlib.sha256(body).hexdigest()
        # ETag and Last-Modified are not secret: kept, a restarted service still asks
        # conditionally.
        new_checkpoint = checkpoints.dump("feed", window=window, url=_digest(url), sha=digest,
                                          etag=self._etag, modified=self._modified)
        if same and old is not None and old.get("sha") == digest:
            logger.debug("account %s: %s unchanged (same content)", self.account, label)
            return CalendarChanges((), (), new_checkpoint, complete=False, unchanged=True)
        try:
            events, problems = read_events(body, start, end, default_tz, source=label)
        except BadData as exc:
            raise BadData(self.account, label, exc.problem) from None
        logger.debug("account %s: read %s: %d events in window, %d problems",
                     self.account, label, len(events), len(problems))
        return CalendarChanges(tuple(events), (), new_checkpoint, complete=True,
                               problems=tuple(problems))

    def lookup(self, uid: str, default_tz: tzinfo) -> Event | None:
        url = self._url()
        label = redacted(url)
        body = self._fetch(url, label, self._held())
        body = body if body is not None else self._body
        assert body is not None  # None only after validators, which only a held body has
        try:
            event, problems = read_event(body, uid, default_tz, source=label)
        except BadData as exc:
            raise BadData(self.account, label, exc.problem) from None
        for problem in problems:
            logger.debug("account %s: looking up %s: %s", self.account, uid, problem)
        return None if event is None or event.cancelled else event

    # -- fetching ----------------------------------------------------------------------
    def _url(self) -> str:
        raw = self._url_getter()
        if not raw:
            raise AuthExpired(self.account, f"no calendar address stored; run: followup auth "
                              f"{self.account} (and paste the feed's address)")
        try:
            url = normalise_url(raw)
        except ValueError as exc:
            raise AuthExpired(self.account, f"the stored calendar address is unusable ({exc});"
                              f" run: followup auth {self.account}") from None
        hide(url)
        hide(raw)
        return url

    def _held(self) -> tuple[str, str] | None:
        """The validators of the body held in memory, if any."""
        return (self._etag, self._modified) if self._body is not None else None

    def _fetch(self, url: str, label: str,
               validators: tuple[str, str] | None) -> bytes | None:
        """The body, or None for 304 Not Modified (only when ``validators``, the ETag and
        Last-Modified of an earlier answer, were sent)."""
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if validators is not None:
            etag, modified = validators
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
        what = f"fetching {label}"
        for _ in range(MAX_REDIRECTS + 1):
            response = self.http.send(what, "GET", url, headers=headers)
            status = response.status_code
            if status in {301, 302, 303, 307, 308} and response.headers.get("Location"):
                target = urljoin(url, response.headers["Location"])
                response.close()
                try:
                    url = normalise_url(target)
                except ValueError:
                    raise ProviderUnavailable(self.account, f"{label}: redirected to an "
                                              "address that is not https://") from None
                hide(url)
                continue
            if status == 304:
                if "If-None-Match" in headers or "If-Modified-Since" in headers:
                    return None
                raise ProviderUnavailable(self.account, f"{label}: 304 to an unconditional GET")
            self._raise_for(status, label)
            body = response.content
            if len(body) > MAX_BYTES:
                raise BadData(self.account, label, f"more than {MAX_BYTES} bytes")
            self._body = body
            self._etag = response.headers.get("ETag", "")
            self._modified = response.headers.get("Last-Modified", "")
            return body
        raise ProviderUnavailable(self.account, f"{label}: more than {MAX_REDIRECTS} redirects")

    def _raise_for(self, status: int, label: str) -> None:
        if status < 300:
            return
        if status in {401, 403}:
            raise AuthExpired(self.account, f"{label} refused the stored address (HTTP "
                              f"{status}); if the calendar's secret address was reset, run: "
                              f"followup auth {self.account} and paste the new one")
        if status in {404, 410}:
            raise AuthExpired(self.account, f"no calendar at {label} any more (HTTP {status}):"
                              f" its address was reset or unpublished; run: followup auth "
                              f"{self.account} and paste the current address")
        raise ProviderUnavailable(self.account, f"{label}: HTTP {status}")

    def close(self) -> None:
        self.http.close()


def _digest(url: str) -> str:
    """Which address a checkpoint belongs to, without writing the address into the state."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _load(checkpoint: str | None) -> dict[str, object] | None:
    return checkpoints.load(checkpoint, "feed", kind="feed")
