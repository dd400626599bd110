"""Calls to Google APIs: credentials, clients built on first use, retries, error translation.

Used by the "google" provider (:mod:`providers.google.calendar`, :mod:`providers.google.mailbox`);
every Google or transport exception is translated here, at one place::

    401 after the library's own refresh, RefreshError (invalid_grant ...),
    403 insufficient scopes                          -> AuthExpired (the account pauses)
    429, 403 rateLimitExceeded/userRateLimitExceeded -> retried, Retry-After honoured,
                                                        then RateLimited
    403 dailyLimitExceeded/quotaExceeded             -> RateLimited at once
    5xx, dropped connections, socket/httplib2 errors,
    an answer that is not JSON                       -> retried, then ProviderUnavailable
    other 4xx                                        -> ProviderUnavailable naming the method

Retries back off exponentially with jitter from a base of 1 s, at most
:attr:`Retry.tries` attempts. Testing knob: ``FOLLOWUP_GOOGLE_RETRY_BASE``
(seconds) lowers that base for test runs against a fake server; it is not a
user setting.

Only :meth:`GoogleApi.call` tries a request again. Below it, google-api-python-client
makes one attempt (``execute()`` with its default ``num_retries=0``), and httplib2,
which sends a request a second time by itself when the connection closes before the
answer (it takes that for a stale keep-alive connection, whatever the method), is
:class:`SendOnceHttp`: it still does so for a GET, never for a POST. The connection may
close after Gmail made the draft; the caller's retry looks for the marker first
(:meth:`providers.google.mailbox.Gmail.create_draft`), httplib2's would make a second draft.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httplib2
from google.auth.exceptions import RefreshError, TransportError
from googleapiclient.errors import HttpError

from .._shared.retry import ExpectedStatus, Failure, Retry, retry_after
from ..errors import AuthExpired, ProviderError, ProviderUnavailable, RateLimited

logger = logging.getLogger(__name__)

# With api_endpoint set the client drops the discovery document's rootUrl + servicePath.
SERVICE_PATHS = {"calendar": "calendar/v3/", "gmail": ""}
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
QUOTA_REASONS = frozenset({"dailyLimitExceeded", "quotaExceeded"})
SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
# Connection-level failures: worth another try (httplib2 already retried a stale
# connection once by itself, for a GET). A garbled body is one too.
TRANSIENT = (OSError, http.client.HTTPException, httplib2.HttpLib2Error, TransportError,
             json.JSONDecodeError)
# Sending one of these twice does no more than sending it once (RFC 9110, 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

CredentialsLoader = Callable[[str], Any]


class GoogleApi:
    """One account's credentials and API clients, and the one place calls are made."""

    def __init__(self, account: str, endpoint: str | None = None, *,
                 retry: Retry | None = None, credentials: CredentialsLoader | None = None,
                 timeout: float = 30.0) -> None:
        self.account = account
        self.endpoint = endpoint.rstrip("/") + "/" if endpoint else None
        self.retry = retry or Retry.from_env("FOLLOWUP_GOOGLE_RETRY_BASE")
        self._load = credentials
        self._timeout = timeout
        self._creds: Any = None
        self._http: Any = None
        self._services: dict[str, Any] = {}

    def calendar(self) -> Any:
        return self._service("calendar", "v3")

    def gmail(self) -> Any:
        return self._service("gmail", "v1")

    def _service(self, name: str, version: str) -> Any:
        if name not in self._services:
            import google_auth_httplib2
            from googleapiclient.discovery import build

            if self._creds is None:
                if self._load is None:
                    from .auth import load_credentials

                    self._load = load_credentials
                self._creds = self._load(self.account)
                self._http = google_auth_httplib2.AuthorizedHttp(
                    self._creds, http=SendOnceHttp(timeout=self._timeout))
            options = ({"api_endpoint": self.endpoint + SERVICE_PATHS[name]}
                       if self.endpoint else None)
            self._services[name] = build(name, version, http=self._http, static_discovery=True,
                                         cache_discovery=False, client_options=options)
        return self._services[name]

    def call(self, method: str, request: Callable[[], Any], *,
             expect: tuple[int, ...] = ()) -> Any:
        """``request()`` (one API call), retried on rate limits and outages.

        A status in ``expect`` is raised as :class:`ExpectedStatus` for the caller.
        :raises: AuthExpired, RateLimited, ProviderUnavailable.
        """
        attempt = 0
        while True:
            try:
                result = request()
            except HttpError as exc:
                status = int(exc.resp.status)
                if status in expect:
                    raise ExpectedStatus(status) from None
                failure = self._http_failure(method, status, exc)
            except RefreshError as exc:
                if not exc.retryable:
                    from .auth import refresh_error

                    logger.warning("account %s: Google refused the stored token (%s)",
                                   self.account, _refresh_error(exc))
                    raise refresh_error(self.account, exc) from None
                failure = Failure("token refresh failed", rate=False)
            except TRANSIENT as exc:
                failure = Failure(f"{type(exc).__name__}: {exc}".strip(": "), rate=False)
            else:
                if not isinstance(result, str | bytes):
                    return result
                # The client library hands back a body that is not JSON as it came (a
                # captive portal's page, a proxy's error, a cut answer): garbled, not data.
                failure = Failure(f"an answer that is not JSON ({len(result)} bytes)",
                                  rate=False)
            attempt += 1
            self.retry.sleep(self.retry.wait_after(failure, attempt, self.account, method))

    def _http_failure(self, method: str, status: int, exc: HttpError) -> Failure:
        reason = _error_reason(exc)
        retry_after = _retry_after(exc.resp)
        if status == 401:
            raise AuthExpired(self.account) from None
        if status == 429 or (status == 403 and reason in RATE_REASONS):
            return Failure(f"HTTP {status} {reason}".strip(), rate=True, retry_after=retry_after)
        if status == 403 and reason in QUOTA_REASONS:
            raise RateLimited(self.account, retry_after)
        if status == 403 and reason in SCOPE_REASONS:
            raise AuthExpired(self.account, f"run: followup auth {self.account} "
                              "(and allow every permission it asks for)")
        if status >= 500:
            return Failure(f"HTTP {status}", rate=False, retry_after=retry_after)
        raise ProviderUnavailable(self.account, f"{method}: HTTP {status} {reason}".strip())

    def pages(self, method: str, request: Callable[[str | None], Any], *,
              expect: tuple[int, ...] = ()) -> Iterator[dict[str, Any]]:
        """Every page of a list call; ``request(page_token)`` builds one page's request."""
        token: str | None = None
        while True:
            def one(at: str | None = token) -> Any:
                return request(at).execute()

            page: dict[str, Any] = self.call(method, one, expect=expect)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def save(self) -> None:
        """Write a refreshed token back to the keyring; never fails the cycle."""
        if self._creds is None:
            return
        from .auth import save_if_changed

        try:
            save_if_changed(self.account, self._creds)
        except ProviderError as exc:
            logger.warning("%s (the refreshed token was not saved)", exc)

    def close(self) -> None:
        self.save()
        if self._http is not None:
            self._http.close()


class NotResent(httplib2.HttpLib2Error):
    """The connection closed before the answer to a request that is not idempotent: it may
    have been carried out, so it is not sent again here."""

    def __init__(self, method: str, failure: BaseException | None) -> None:
        why = f"{type(failure).__name__}: {failure}" if failure is not None else "no answer"
        super().__init__(f"{method}: the connection closed before the answer ({why}); "
                         "not sent again")


class SendOnceHttp(httplib2.Http):
    """``httplib2.Http`` that sends a request which is not idempotent (POST, PATCH) once.

    httplib2 sends a request again when the answer's status line does not come (in
    ``_conn_request``: "the connection just went stale"). For a GET that is harmless and
    stays. For drafts.create the answer may have been lost after Gmail made the draft: such
    a request goes through a connection that sends once and raises :class:`NotResent` when
    httplib2 wants to send it again, so that :meth:`GoogleApi.call` (and the marker lookup
    before its retry) decides instead. httplib2 has no setting for this, hence the hook on
    its internal ``_conn_request``; tests/test_lost_replies.py fails should a later httplib2
    send a POST twice again.
    """

    def _conn_request(self, conn: Any, request_uri: str, method: str, body: Any,
                      headers: Any) -> Any:
        if method.upper() not in IDEMPOTENT:
            conn = _SendOnce(conn, method.upper())
        return super()._conn_request(conn, request_uri, method, body, headers)


class _SendOnce:
    """A connection of httplib2 that refuses a second ``request()`` (see SendOnceHttp)."""

    def __init__(self, conn: Any, method: str) -> None:
        self._conn = conn
        self._method = method
        self._sent = False
        self._failure: BaseException | None = None

    def connect(self) -> None:
        if not self._sent:  # a connection for a second send would go unused
            self._conn.connect()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self._sent:
            self._conn.close()
            raise NotResent(self._method, self._failure)
        self._sent = True
        return self._conn.request(*args, **kwargs)

    def getresponse(self) -> Any:
        try:
            return self._conn.getresponse()
        except Exception as exc:
            self._failure = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _error_reason(exc: HttpError) -> str:
    """The machine-readable reason in a Google error body ('' when there is none)."""
    try:
        error = json.loads(exc.content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return ""
    if not isinstance(error, dict):
        return ""
    for item in [*(error.get("errors") or []), *(error.get("details") or [])]:
        if isinstance(item, dict) and item.get("reason"):
            return str(item["reason"])
    return str(error.get("status") or "")


def _retry_after(resp: Any) -> float | None:
    return retry_after(resp.get("retry-after") if hasattr(resp, "get") else None)


def _refresh_error(exc: RefreshError) -> str:
    """The OAuth error code ('invalid_grant'); never the token or the whole response."""
    data = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return type(exc).__name__
