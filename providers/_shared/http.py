"""Plain HTTP for the calendar backends that are not Graph: the iCalendar feed and CalDAV.

One :class:`requests.Session` per calendar with the same connection policy as
:mod:`providers.microsoft.graph` (urllib3 retries only a connection that was never made),
and one retry loop over :class:`providers._shared.retry.Retry`::

    dropped connections, timeouts, 429, 500, 502, 503, 504  -> retried, then
                                                              RateLimited (429) or
                                                              ProviderUnavailable
    any other status                                       -> returned: the caller
                                                              decides (401 -> AuthExpired ...)

A request is described to the log and in errors by ``what`` only, never by its URL:
a feed's URL is a secret (Google's "secret address in iCal format"). urllib3 itself
logs each request line at DEBUG; :func:`hide` registers a secret so that those lines
show ``…`` in its place (a filter on urllib3's logger, installed once).

Testing knob: ``FOLLOWUP_HTTP_RETRY_BASE`` (seconds) lowers the backoff base.

This is the piece issue 10 wants shared with Graph (``providers/_shared/http.py``):
graph_http keeps its own loop for now because it also refreshes tokens and limits
requests in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry as Urllib3Retry

from .retry import Failure, Retry, retry_after

logger = logging.getLogger(__name__)

TIMEOUT = (10.0, 60.0)  # connect, read (seconds)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def new_session() -> requests.Session:
    """A session whose adapter retries only connections that were never made."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=Urllib3Retry(total=2, connect=2, read=0, status=0,
                                                   other=0, redirect=0, backoff_factor=0.5,
                                                   allowed_methods=frozenset({"GET"}),
                                                   raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "interview-followup"
    return session


class Http:
    """One calendar's requests: the session, the retry loop, a count of round trips."""

    def __init__(self, account: str, *, session: requests.Session | None = None,
                 retry: Retry | None = None) -> None:
        self.account = account
        self.session = session or new_session()
        self.retry = retry or Retry.from_env("FOLLOWUP_HTTP_RETRY_BASE")
        self.requests_made = 0  # every request put on the wire, retries included

    def send(self, what: str, method: str, url: str, *,
             headers: Mapping[str, str] | None = None, data: bytes | None = None,
             auth: Any = None) -> requests.Response:
        """The answer to one request, after retries on outages and throttling.

        Never follows redirects (the caller does, so that it sees every Location).
        :raises: RateLimited, ProviderUnavailable.
        """
        attempt = 0
        while True:
            try:
                self.requests_made += 1
                response = self.session.request(method, url, headers=dict(headers or {}),
                                                data=data, auth=auth, timeout=TIMEOUT,
                                                allow_redirects=False)
            except (requests.RequestException, OSError) as exc:
                # Only the type: a requests error's text holds the URL.
                failure = Failure(type(exc).__name__, rate=False)
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = Failure(f"HTTP {response.status_code}",
                                  rate=response.status_code == 429,
                                  retry_after=retry_after(response.headers.get("Retry-After")))
                response.close()
            attempt += 1
            self.retry.sleep(self.retry.wait_after(failure, attempt, self.account, what))

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


def hide(url: str) -> None:
    """Keep ``url`` (and its path and query, which urllib3 logs alone) out of every log."""
    global _installed
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    with _FILTER.lock:
        _FILTER.secrets.update(s for s in (url, path if len(path) > 1 else "") if s)
    with _install_lock:
        if not _installed:
            for name in _SECRET_LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True
