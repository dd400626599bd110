"""Requests to Microsoft Graph: the bearer token, Graph's error codes, paging.

Used by the "microsoft" backend (its calendar.py and mailbox.py). The session, the retry
loop and the translation of transport errors and throttling are the shared ones of
:mod:`providers._shared.http`; what is Graph's own is translated here::

    401 (once more with a fresh token first), token refresh refused,
    403 ErrorAccessDenied / Authorization_RequestDenied  -> AuthExpired (the account pauses)
    429, 503 (Retry-After honoured), 500, 502, 504,
    dropped connections, timeouts, unreadable bodies     -> retried, then RateLimited (429)
                                                            or ProviderUnavailable
    410, syncStateNotFound, resyncRequired (delta links) -> DeltaExpired: the caller reads anew
    a status the caller expects (404 on createReply)     -> ExpectedStatus
    other 4xx                                            -> ProviderUnavailable naming the call

At most :data:`MAX_IN_FLIGHT` requests of one mailbox are on the wire at once
(Outlook allows four concurrent requests per mailbox and app); a retry waits
outside that limit. Connection set-up failures (nothing was sent) are retried by
urllib3 itself; everything else by the shared loop only, at most
:attr:`Retry.tries` attempts, and for a draft creation after ``before_retry`` has
looked for the draft by its marker. Testing knob: ``FOLLOWUP_GRAPH_RETRY_BASE``
(seconds) lowers the backoff base for test runs against a fake server; it is not a
user setting.

Also here, shared by the calendar and the mailbox: Graph's time formats and the
checkpoints that keep delta links.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from .._shared import checkpoint as checkpoints
from .._shared.http import Http, new_session, status_failure
from .._shared.retry import ExpectedStatus, Failure, Retry
from ..errors import AuthExpired, ProviderUnavailable

logger = logging.getLogger(__name__)

MAX_IN_FLIGHT = 4
# Codes Graph gives when a delta token can no longer be used (besides HTTP 410).
RESYNC_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid",
                          "invaliddeltatoken", "errorinvalidsyncstatedata"})
ACCESS_CODES = frozenset({"erroraccessdenied", "accessdenied", "authorization_requestdenied"})
_UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "tzone://microsoft/utc",
                        "coordinated universal time"})


class TokenProvider(Protocol):
    def access_token(self, *, force_refresh: bool = False) -> str: ...


class DeltaExpired(Exception):
    """A delta or next link Graph no longer accepts: the caller starts a new round."""


class GraphHttp(Http):
    """One account's HTTP session to Graph, and the one place its requests are made."""

    RETRY_ENV = "FOLLOWUP_GRAPH_RETRY_BASE"

    def __init__(self, account: str, root: str, tokens: TokenProvider, *,
                 retry: Retry | None = None, session: requests.Session | None = None,
                 max_in_flight: int = MAX_IN_FLIGHT) -> None:
        super().__init__(account, session=session, retry=retry, max_in_flight=max_in_flight)
        self.root = root.rstrip("/") + "/"
        self.tokens = tokens

    def url(self, path: str) -> str:
        """``path`` under the v1.0 API of this account's Graph root."""
        return f"{self.root}v1.0/{path.lstrip('/')}"

    # -- one request -----------------------------------------------------------
    def request(self, what: str, method: str, url: str, *,
                params: Mapping[str, str] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None, expect: tuple[int, ...] = (),
                delta: bool = False,
                before_retry: Callable[[], dict[str, Any] | None] | None = None,
                ) -> dict[str, Any]:
        """The JSON answer to one request, retried on throttling and outages.

        ``delta``: a 410 or a resync code raises :class:`DeltaExpired`.
        ``before_retry`` (for requests that are not idempotent) runs before
        each retry; a result from it ends the retries and is returned, so a
        create whose answer was lost is not made twice.
        :raises: AuthExpired, RateLimited, ProviderUnavailable, ExpectedStatus, DeltaExpired.
        """
        self._check_origin(url)
        refreshed = fresh = False

        def sent_headers() -> dict[str, str]:
            # Asked for every request: msal answers from its cache until the token is
            # about to expire, then refreshes it (and the token source saves the cache).
            token = self.tokens.access_token(force_refresh=fresh)
            return {"Authorization": f"Bearer {token}", "Accept": "application/json",
                    **(headers or {})}

        def attempt() -> dict[str, Any] | Failure:
            nonlocal refreshed, fresh
            while True:
                response = self.exchange(what, method, url, params=params, json=json,
                                         headers=sent_headers)
                if isinstance(response, Failure):
                    return response
                fresh = False
                status = response.status_code
                if status < 300:
                    try:
                        return _body(response)
                    except ValueError:
                        return Failure("unreadable JSON in the answer", rate=False)
                code = _error_code(response)
                if status == 401 and not refreshed:
                    # Revoked or expired early: at once with another, not counted as a try.
                    refreshed = fresh = True
                    continue
                return self._failure(what, status, code, response, expect, delta)

        return self.retrying(what, attempt, before_retry=before_retry)

    def _failure(self, what: str, status: int, code: str, response: requests.Response,
                 expect: tuple[int, ...], delta: bool) -> Failure:
        lowered = code.lower()
        if delta and (status == 410 or lowered in RESYNC_CODES):
            raise DeltaExpired(f"HTTP {status} {code}".strip())
        if status in expect:
            raise ExpectedStatus(status, code)
        if status == 401:
            logger.warning("account %s: Graph refused the access token twice (%s)",
                           self.account, code or "HTTP 401")
            raise AuthExpired(self.account)
        if status == 403 and lowered in ACCESS_CODES:
            raise AuthExpired(self.account, f"run: followup auth {self.account} "
                              "(and allow every permission it asks for)")
        failure = status_failure(response, code)
        if failure is not None:
            return failure
        raise ProviderUnavailable(self.account, f"{what}: HTTP {status} {code}".strip())

    def _check_origin(self, url: str) -> None:
        # The bearer token goes to the configured Graph root only, whatever a link says.
        wanted, got = urlsplit(self.root), urlsplit(url)
        if (got.scheme, got.netloc) != (wanted.scheme, wanted.netloc):
            raise ProviderUnavailable(self.account, f"Graph answered with a link to another "
                                      f"host ({got.scheme}://{got.netloc}); not followed")

    # -- collections -------------------------------------------------------------
    def pages(self, what: str, url: str, *, params: Mapping[str, str] | None = None,
              headers: Mapping[str, str] | None = None, delta: bool = False,
              max_pages: int = 10_000) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink``.

        The last page carries ``@odata.deltaLink`` for delta requests.
        :raises: as :meth:`request`; ProviderUnavailable when the pages never end.
        """
        seen: set[str] = set()
        next_params = params
        for _ in range(max_pages):
            page = self.request(what, "GET", url, params=next_params, headers=headers,
                                delta=delta)
            yield page
            link = page.get("@odata.nextLink")
            if not link:
                return
            if link in seen:  # Graph has been seen to hand out a nextLink loop
                break
            seen.add(link)
            url, next_params = str(link), None
        raise ProviderUnavailable(self.account, f"{what}: the pages never ended")


def _session() -> requests.Session:
    """The session a GraphHttp makes for itself (the shared one, a pool per slot)."""
    return new_session(pool_maxsize=MAX_IN_FLIGHT)


def _body(response: requests.Response) -> dict[str, Any]:
    if response.status_code == 204 or not response.content:
        return {}
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def _error_code(response: requests.Response) -> str:
    """Graph's error code ("syncStateNotFound"); '' when the body has none."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, dict):
        return ""
    code = str(error.get("code") or "")
    inner = error.get("innerError") or error.get("innererror")
    # Delta tokens that expired come as 410 with the precise reason one level down.
    if isinstance(inner, dict) and str(inner.get("code") or "").lower() in RESYNC_CODES:
        return str(inner["code"])
    return code


# -- Graph's formats -------------------------------------------------------------
def graph_time(value: dict[str, Any]) -> datetime:
    """A dateTimeTimeZone ({"dateTime", "timeZone"}) as an aware UTC datetime.

    :raises ValueError: an unreadable time or an unknown zone.
    """
    text = re.sub(r"(\.\d{6})\d+", r"\1", str(value["dateTime"]))  # Graph sends 7 digits
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(str(value.get("timeZone") or "UTC")))
    return moment.astimezone(UTC)


def graph_timestamp(value: Any) -> datetime | None:
    """A DateTimeOffset ("2026-11-10T19:00:00Z"); None when absent or unreadable."""
    if not value:
        return None
    try:
        return graph_time({"dateTime": str(value), "timeZone": "UTC"})
    except ValueError:
        return None


def iso(moment: datetime) -> str:
    """``moment`` as Graph takes it in a query: UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zone(name: str) -> tzinfo:
    if name.strip().lower() in _UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # We ask for UTC; a Windows zone name here means the preference was ignored.
        raise ValueError(f"unknown time zone {name!r}") from None


def load_state(checkpoint: str | None, kind: str) -> dict[str, Any] | None:
    """The delta links (and what else) a checkpoint of ``kind`` holds; None: start over."""
    return checkpoints.load(checkpoint, f"Outlook {kind}", kind=kind)


def dump_state(kind: str, **values: Any) -> str:
    return checkpoints.dump(kind, **values)
