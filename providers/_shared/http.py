"""HTTP for every backend over requests: Microsoft Graph, the iCalendar feed and CalDAV.

One :class:`requests.Session` per account and one retry loop over
:class:`providers._shared.retry.Retry`; what failed is translated here, once, into the
errors of :mod:`providers.errors` (no requests or urllib3 exception reaches a caller)::

    connection never made                    -> retried by urllib3 itself (nothing was sent)
    dropped connection, timeout, TLS error,
    429, 500, 502, 503, 504 (Retry-After)    -> retried by :meth:`Http.retrying`, then
                                                RateLimited (429) or ProviderUnavailable
    a request that cannot be made at all
    (invalid URL, header or JSON body)       -> ProviderUnavailable at once
    any other status                         -> returned: the backend decides
                                                (401 -> AuthExpired, 410 -> DeltaExpired ...)

urllib3 retries only a connection that was never made, for any method: a POST that may
have reached the server is never sent again below the backend, which for a draft creation
looks for the draft's marker first (``before_retry``). :mod:`providers.microsoft.graph`
adds the bearer token, Graph's error codes and paging on top; Google's client library
needs httplib2 and keeps its own transport (:mod:`providers.google.api`).

A request is described to the log and in errors by ``what`` only, never by its URL:
a feed's URL is a secret (Google's "secret address in iCal format"). urllib3 itself
logs each request line at DEBUG; :func:`hide` registers a secret so that those lines
show ``…`` in its place (a filter on urllib3's loggers, installed with the first session).

Testing knob: ``FOLLOWUP_HTTP_RETRY_BASE`` (seconds) lowers the backoff base
(``FOLLOWUP_GRAPH_RETRY_BASE`` for Graph).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from urllib3.util.retry import Retry as Urllib3Retry

from ..errors import ProviderUnavailable
from .retry import Failure, Retry, retry_after

logger = logging.getLogger(__name__)

T = TypeVar("T")
Headers = Mapping[str, str] | Callable[[], Mapping[str, str]]

TIMEOUT = (10.0, 60.0)  # connect, read (seconds)
USER_AGENT = "interview-followup"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# What making a request or reading its answer raises (requests' own errors are OSErrors;
# urllib3's are caught too, should one slip past requests' wrapping).
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, urllib3.exceptions.HTTPError)
# Errors in the request itself (raised before anything is sent): another try cannot help.
_MALFORMED = (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
              requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader,
              requests.exceptions.URLRequired, requests.exceptions.InvalidJSONError)


def new_session(*, pool_maxsize: int = DEFAULT_POOLSIZE) -> requests.Session:
    """A session whose adapter retries only connections that were never made."""
    _install_filter()
    session = requests.Session()
    # Nothing that may have reached the server is sent again here: no read, status or
    # other retries for any method, and only GET even allowed them. A POST whose answer
    # was lost may have made its draft; the backend's loop decides (it looks for the
    # marker first). An empty allowed_methods would mean every method in urllib3 2.
    adapter = HTTPAdapter(max_retries=Urllib3Retry(total=2, connect=2, read=0, status=0,
                                                   other=0, redirect=0, backoff_factor=0.5,
                                                   allowed_methods=frozenset({"GET"}),
                                                   raise_on_status=False),
                          pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def transport_failure(account: str, what: str, exc: BaseException) -> Failure:
    """``exc``, raised while a request was made or its answer read, as a :class:`Failure`
    to retry. Only the type is kept: a requests error's text holds the URL.

    :raises ProviderUnavailable: the request could not be made at all.
    """
    if isinstance(exc, _MALFORMED):
        raise ProviderUnavailable(account, f"{what}: {type(exc).__name__}") from None
    return Failure(type(exc).__name__, rate=False)


def status_failure(response: requests.Response, detail: str = "") -> Failure | None:
    """The failure a throttling or outage status stands for (closing ``response``);
    None for any other status. ``detail``: the service's own error code, for the log."""
    status = response.status_code
    if status not in RETRY_STATUSES:
        return None
    response.close()
    return Failure(f"HTTP {status} {detail}".strip(), rate=status == 429,
                   retry_after=retry_after(response.headers.get("Retry-After")))


class Http:
    """One account's requests: the session, the retry loop, a count of round trips.

    ``max_in_flight`` bounds the requests on the wire at once (from threads sharing this
    object); a retry waits outside that bound.
    """

    RETRY_ENV = "FOLLOWUP_HTTP_RETRY_BASE"

    def __init__(self, account: str, *, session: requests.Session | None = None,
                 retry: Retry | None = None, max_in_flight: int | None = None) -> None:
        self.account = account
        self.session = session or new_session(pool_maxsize=max_in_flight or DEFAULT_POOLSIZE)
        self.retry = retry or Retry.from_env(self.RETRY_ENV)
        self.requests_made = 0  # every request put on the wire, retries included
        self._slots: contextlib.AbstractContextManager[Any] = (
            threading.BoundedSemaphore(max_in_flight) if max_in_flight
            else contextlib.nullcontext())

    def send(self, what: str, method: str, url: str, *, headers: Headers | None = None,
             data: bytes | None = None, auth: Any = None) -> requests.Response:
        """The answer to one request, after retries on outages and throttling.

        Never follows redirects (the caller does, so that it sees every Location).
        :raises: RateLimited, ProviderUnavailable.
        """
        def attempt() -> requests.Response | Failure:
            answer = self.exchange(what, method, url, headers=headers, data=data, auth=auth)
            if isinstance(answer, Failure):
                return answer
            return status_failure(answer) or answer

        return self.retrying(what, attempt)

    def retrying(self, what: str, attempt: Callable[[], T | Failure], *,
                 before_retry: Callable[[], T | None] | None = None) -> T:
        """The result of ``attempt``, called again after each :class:`Failure` it returns,
        with :attr:`retry`'s backoff or the service's Retry-After in between.

        ``before_retry`` (for requests that are not idempotent) runs before each retry;
        a result from it ends the retries and is returned, so that a create whose answer
        was lost is not made twice.
        :raises: RateLimited, ProviderUnavailable when the tries run out; what
            ``attempt`` raises.
        """
        failures = 0
        while True:
            if failures and before_retry is not None:
                earlier = before_retry()
                if earlier is not None:
                    return earlier
            outcome = attempt()
            if not isinstance(outcome, Failure):
                return outcome
            failures += 1
            self.retry.sleep(self.retry.wait_after(outcome, failures, self.account, what))

    def exchange(self, what: str, method: str, url: str, *, headers: Headers | None = None,
                 params: Mapping[str, str] | None = None, data: bytes | None = None,
                 json: Any = None, auth: Any = None) -> requests.Response | Failure:
        """One request on the wire, any status; a transport error as a :class:`Failure`.

        ``headers`` may be a function, called for each request inside the translation
        (a token source that fails on the network is an outage like any other).
        :raises ProviderUnavailable: the request could not be made at all.
        """
        try:
            sent = dict(headers() if callable(headers) else headers or {})
            with self._slots:
                self.requests_made += 1
                return self.session.request(method, url, params=params, data=data,
                                            json=json, headers=sent, auth=auth,
                                            timeout=TIMEOUT, allow_redirects=False)
        except TRANSPORT_ERRORS as exc:
            return transport_failure(self.account, what, exc)

    def close(self) -> None:
        self.session.close()


def redacted(url: str) -> str:
    """``url`` fit for a log line: scheme, host and the last path segment only
    (``https://calendar.google.com/…/basic.ics``); no user, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    last = parts.path.rstrip("/").rpartition("/")[2]
    return f"{parts.scheme}://{host}/…/{last}" if last else f"{parts.scheme}://{host}/…"


# -- keeping secrets out of urllib3's DEBUG lines ------------------------------------

class _HideSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self.lock:
            secrets = sorted(self.secrets, key=len, reverse=True)
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        hidden = message
        for secret in secrets:
            hidden = hidden.replace(secret, "…")
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


_FILTER = _HideSecrets()
# urllib3 logs "GET /path?query" (connectionpool) and the proxy's URL; requests logs nothing.
_SECRET_LOGGERS = ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry")
_installed = False
_install_lock = threading.Lock()


def _install_filter() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            for name in _SECRET_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True


def hide(url: str) -> None:
    """Keep ``url`` (and its path and query, which urllib3 logs alone) out of every log."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    with _FILTER.lock:
        _FILTER.secrets.update(s for s in (url, path if len(path) > 1 else "") if s)
    _install_filter()
