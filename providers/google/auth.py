"""Google OAuth: the installed-app flow, and credentials kept in the system keyring.

The credentials JSON (``Credentials.to_json()``) lives only in the keyring
(:mod:`providers._shared.secrets`); a refreshed access token is written back there.
Failures become the project's errors: a revoked or expired grant is
:class:`~providers.errors.AuthExpired` (the account pauses until ``followup
auth``), an unreachable token endpoint :class:`~providers.errors.ProviderUnavailable`.
"""

from __future__ import annotations

import json
import logging
import webbrowser
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from google.auth.exceptions import RefreshError, TransportError
from google.auth.transport import Request
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from .._shared import secrets
from ..errors import AuthExpired, ProviderError, ProviderUnavailable

# The narrowest set that works: read events; create drafts; read inbox and sent
# mail (gmail.metadata cannot be combined with search queries, so it is not enough).
SCOPES = [
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/gmail.compose",
    "https://www.googleapis.com/auth/gmail.readonly",
]
TOKENINFO = "https://www.googleapis.com/oauth2/v1/tokeninfo"
FLOW_TIMEOUT = 600  # seconds the loopback server waits for Google's redirect

# Grant errors that only a new authorisation fixes.
_REAUTHORISE = {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope",
                "access_denied", "invalid_rapt", "rapt_required"}

# requests_oauthlib logs token responses at DEBUG and the flow's loopback server
# logs the redirect (with the authorisation code) at INFO: keep both out of our logs.
for _name in ("requests_oauthlib", "google_auth_oauthlib"):
    logging.getLogger(_name).setLevel(logging.WARNING)

log = logging.getLogger(__name__)

Echo = Callable[[str], None]

_saved: dict[str, str] = {}  # account -> the credentials JSON last read or written


class ClientSecretsError(ValueError):
    """The client_secrets file is missing or is not a Desktop OAuth client."""


def read_client_secrets(path: Path) -> dict[str, Any]:
    """The parsed client_secret.json of a Desktop ("installed") OAuth client."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClientSecretsError(f"client_secrets file not found: {path} (download it from "
                                 "the Google Cloud console; see docs/google.md)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClientSecretsError(f"cannot read client_secrets file {path}: {exc}") from None
    if not isinstance(data, dict) or "installed" not in data:
        kind = next(iter(data), "?") if isinstance(data, dict) and data else "?"
        raise ClientSecretsError(
            f"{path} is not a Desktop app OAuth client (found {kind!r}, expected 'installed'): "
            "create an OAuth client ID of type 'Desktop app' (see docs/google.md)")
    missing = {"client_id", "client_secret", "auth_uri", "token_uri"} - set(data["installed"])
    if missing:
        raise ClientSecretsError(f"{path} lacks {', '.join(sorted(missing))}")
    return data


def authorize(account: str, client_secrets: Path, *, open_browser: bool, echo: Echo,
              timeout: int = FLOW_TIMEOUT) -> Credentials:
    """Run the installed-app flow with a loopback redirect and store the result.

    ``echo`` shows the user the consent URL and what to do with it. Raises
    ClientSecretsError (a usage problem), NoKeyring (checked before the
    browser step, so nobody consents for nothing) or ProviderError.
    """
    config = read_client_secrets(client_secrets)
    secrets.get_secret(account)  # a missing or locked keyring fails here, before consent
    if open_browser:
        try:
            webbrowser.get()
        except webbrowser.Error:
            echo("No web browser found on this machine; open the address below elsewhere.")
            open_browser = False
    flow = _Flow.from_client_config(config, scopes=SCOPES)
    flow.show_url = lambda url, port: echo(_instructions(url, port, open_browser, timeout))
    log.info("account %s: waiting for Google's consent", account)
    try:
        creds = flow.run_local_server(
            host="localhost", port=0, open_browser=open_browser,
            authorization_prompt_message=None, timeout_seconds=timeout,
            success_message="interview-followup is authorised. You can close this tab.",
            prompt="consent",  # Google returns a refresh token only on a consent screen
        )
    except WSGITimeoutError:
        raise ProviderError(account, f"no answer from Google within {_minutes(timeout)}; "
                            "run the command again") from None
    except OAuth2Error as exc:
        raise ProviderError(account, f"Google refused the authorisation: {_oauth_error(exc)}"
                            ) from None
    except Warning as exc:  # oauthlib: Google granted fewer scopes than asked
        raise ProviderError(account, _missing_text(getattr(exc, "new_scope", None) or [])
                            ) from None
    except (OSError, ValueError) as exc:  # requests errors are OSErrors
        raise ProviderError(account, f"authorisation failed: {type(exc).__name__}: "
                            f"{_first_line(exc)}") from None
    granted = set(creds.granted_scopes or SCOPES)
    if not set(SCOPES) <= granted:
        raise ProviderError(account, _missing_text(granted))
    if not creds.refresh_token:
        raise ProviderError(account, "Google returned no refresh token; remove the app's "
                            "access at https://myaccount.google.com/permissions and run again")
    text = creds.to_json()
    secrets.set_secret(account, text)
    _saved[account] = text
    return creds


class _Flow(InstalledAppFlow):
    """Hands the consent URL to the caller instead of printing it to stdout."""

    show_url: Callable[[str, int], None] | None = None

    def authorization_url(self, **kwargs: Any) -> tuple[str, str]:
        url, state = super().authorization_url(**kwargs)
        if self.show_url is not None:
            # run_local_server has chosen the loopback port (redirect_uri) by now.
            self.show_url(url, urlsplit(self.redirect_uri).port or 0)
        return url, state


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} seconds"


def _instructions(url: str, port: int, open_browser: bool, timeout: int) -> str:
    if open_browser:
        return ("Opening Google's consent page in your browser. If it does not open, visit:\n\n"
                f"    {url}\n\nWaiting for Google's answer on http://localhost:{port}/ ...")
    return (
        "Open this address in a web browser (on this machine or any other), sign in and "
        f"allow access:\n\n    {url}\n\n"
        f"Google then sends that browser to http://localhost:{port}/, where this command "
        "waits.\nIf the browser runs on another machine, either forward the port first, "
        f"from that machine:\n\n    ssh -N -L {port}:127.0.0.1:{port} YOU@THIS-MACHINE\n\n"
        "or, when the browser says it cannot connect to localhost, copy the whole address "
        f"it tried\n(http://localhost:{port}/?state=...&code=...) and fetch it on this "
        "machine, in a second terminal:\n\n    curl 'THE-ADDRESS-YOU-COPIED'\n\n"
        f"Waiting up to {_minutes(timeout)} ...")


def _missing_text(granted: Iterable[str]) -> str:
    missing = sorted(set(SCOPES) - set(granted))
    return (f"Google did not grant {', '.join(missing)}; nothing was stored. Run the "
            "command again and allow every permission asked (each is needed)")


def load_credentials(account: str, *, force_refresh: bool = False) -> Credentials:
    """The account's credentials from the keyring, refreshed when expired (or when forced).

    Raises AuthExpired (nothing stored, unreadable, revoked), ProviderUnavailable
    (token endpoint unreachable) or NoKeyring.
    """
    text = secrets.get_secret(account)
    if text is None:
        raise AuthExpired(account, f"not authorised yet; run: followup auth {account}")
    try:
        info = json.loads(text)
        creds = Credentials.from_authorized_user_info(info)
        # google-auth resets token_uri to Google's own. Ours came from the user's
        # client_secrets (a private or test endpoint); whoever could rewrite it in
        # the keyring could read the refresh token there anyway.
        if info.get("token_uri") and info["token_uri"] != creds.token_uri:
            expiry = creds.expiry
            creds = creds.with_token_uri(str(info["token_uri"]))
            creds.expiry = expiry  # the copy forgets it
    except (ValueError, TypeError, KeyError, AttributeError):
        raise AuthExpired(account, f"the stored credentials are unreadable; run: followup "
                          f"auth {account}") from None
    _saved[account] = text
    if force_refresh or not creds.valid:
        refresh(account, creds)
        save_if_changed(account, creds)
    return creds


def refresh(account: str, creds: Credentials) -> None:
    """Get a new access token now; errors translated as in load_credentials."""
    if not creds.refresh_token:
        raise AuthExpired(account, f"no refresh token stored; run: followup auth {account}")
    try:
        creds.refresh(_request())
    except (RefreshError, TransportError) as exc:
        raise refresh_error(account, exc) from None
    log.debug("account %s: access token refreshed", account)


def refresh_error(account: str, exc: Exception) -> ProviderError:
    """The project's error for a failed token refresh (also raised inside API calls)."""
    if isinstance(exc, RefreshError) and not exc.retryable:
        data = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        code = str(data.get("error", ""))
        if code in ("invalid_client", "unauthorized_client"):
            return AuthExpired(account, "Google no longer accepts the OAuth client (deleted, "
                               "or its secret changed): download client_secret.json again, "
                               f"then run: followup auth {account}")
        if code in _REAUTHORISE or "reauthentication" in str(exc.args[0]).lower():
            return AuthExpired(account, f"run: followup auth {account}")
        if code:
            return ProviderUnavailable(account, f"token refresh failed: {code}")
    return ProviderUnavailable(account, "cannot reach Google's token endpoint "
                               f"({type(exc).__name__}); retrying next cycle")


def save_if_changed(account: str, creds: Credentials) -> None:
    """Write the credentials back to the keyring when they changed (a refreshed token)."""
    text = creds.to_json()
    known = _saved.get(account)
    if known is not None and _token_fields(known) == _token_fields(text):
        return
    stored = secrets.get_secret(account)
    if _token_fields(stored) != _token_fields(text):
        ours = {creds.refresh_token, _token_fields(known)[1] if known else None}
        if stored and _token_fields(stored)[1] not in ours:
            # `followup auth` ran meanwhile: its new grant wins over our refreshed old one.
            log.info("account %s was re-authorised meanwhile; keeping the new grant", account)
            _saved[account] = stored
            return
        secrets.set_secret(account, text)
    _saved[account] = text


def granted_scopes(creds: Credentials, endpoint: str | None = None) -> set[str]:
    """The scopes the access token carries, as Google's tokeninfo reports them.

    Falls back on what the last token response said. The token goes in a POST
    body, never in a URL that an HTTP debug log would show.
    """
    base = endpoint.rstrip("/") + "/oauth2/v1/tokeninfo" if endpoint else TOKENINFO
    try:
        response = _request()(url=base, method="POST", body=urlencode(
            {"access_token": creds.token or ""}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if response.status == 200:
            scope = json.loads(response.data).get("scope", "")
            return set(str(scope).split())
        log.debug("tokeninfo answered %s", response.status)
    except (TransportError, ValueError) as exc:
        log.debug("tokeninfo failed: %s", type(exc).__name__)
    return set(creds.granted_scopes or ())


def _request() -> Request:
    try:
        from google.auth.transport.requests import Request as RequestsRequest
    except ImportError:  # requests missing: the httplib2 transport the API client uses
        import google_auth_httplib2
        import httplib2

        return google_auth_httplib2.Request(httplib2.Http(timeout=60))
    return RequestsRequest()


def _token_fields(text: str | None) -> tuple[Any, ...]:
    """(access token, refresh token, expiry) of a credentials JSON."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return (data.get("token"), data.get("refresh_token"), data.get("expiry"))


def _oauth_error(exc: OAuth2Error) -> str:
    return f"{exc.error}: {exc.description}" if exc.description else str(exc.error)


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""
