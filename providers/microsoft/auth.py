"""Microsoft sign-in with msal, and msal's token cache kept in the system keyring.

``followup auth`` runs the device-code flow (works over SSH and on headless
machines) or, with ``--browser``, the interactive flow with a loopback redirect.
Either way the serialised msal token cache goes to the keyring
(:mod:`providers._shared.secrets`), split across entries ``NAME``, ``NAME#1``, ...
because some backends hold only a few KB per entry. :class:`TokenSource` hands
the provider access tokens, refreshing them silently and writing a changed
cache back. Failures become the project's errors: a grant that only a new
sign-in can fix is :class:`~providers.errors.AuthExpired`, an unreachable
sign-in service :class:`~providers.errors.ProviderUnavailable`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import webbrowser
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from .._shared import secrets
from ..errors import AuthExpired, ProviderError, ProviderUnavailable

# Delegated permissions, the narrowest that work: read events; create and edit our
# drafts (Mail.ReadWrite is the only scope that allows drafts); read the profile.
# msal adds openid, profile and offline_access (the refresh token) itself.
# Never Mail.Send: the tool cannot send even if it tried.
SCOPES = ["Calendars.Read", "Mail.ReadWrite", "User.Read"]

# cloud -> (sign-in host, Graph root)
CLOUDS: dict[str, tuple[str, str]] = {
    "global": ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
    "usgov": ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
    "usgov-dod": ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us"),
    "china": ("https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn"),
}

# Characters per keyring entry. Windows Credential Manager holds 2,560 bytes of UTF-16,
# i.e. 1,280 characters, so 1,000 leaves room; the cache is ASCII JSON.
CHUNK_SIZE = 1000
TIMEOUT = (10, 60)  # seconds: connect, read (msal's own client has no timeout)
FLOW_TIMEOUT = 600  # seconds the browser flow waits for the redirect

# Answers that only a new sign-in (or a fixed app registration) cures.
_REAUTHORISE = {"invalid_grant", "interaction_required", "login_required", "consent_required",
                "invalid_client", "unauthorized_client", "invalid_scope", "access_denied"}
_HEADER = "msal-token-cache"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# At DEBUG msal logs the device code and the authorisation code it redeems (tokens
# it masks): keep its DEBUG output out of our logs.
logging.getLogger("msal").setLevel(logging.INFO)

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Authorised:
    """What a finished sign-in reports: who signed in and what was granted."""

    username: str
    scopes: frozenset[str]


# -- where msal talks to ------------------------------------------------------
def authority_for(cloud: str, tenant: str, authority: str | None = None) -> str:
    """The authority URL for msal. Raises ValueError naming the problem.

    ``authority`` (a test server) replaces the cloud's sign-in host and tenant;
    plain http is accepted only on this machine.
    """
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r} (known: {', '.join(CLOUDS)})")
    if authority:
        parts = urlsplit(authority)
        if parts.scheme not in ("http", "https") or not parts.hostname or \
                not parts.path.strip("/"):
            raise ValueError(f"authority {authority!r} must look like https://HOST/TENANT")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError(f"authority {authority!r}: plain http only on 127.0.0.1/localhost")
        return authority.rstrip("/")
    if not tenant or "/" in tenant:
        raise ValueError(f"tenant {tenant!r} must be common, organizations, consumers, "
                         "a tenant id or a domain")
    return f"{CLOUDS[cloud][0]}/{tenant}"


def graph_root(cloud: str) -> str:
    """The Graph root URL of a cloud (the provider's default endpoint)."""
    return CLOUDS[cloud][1]


class _Http(requests.Session):
    """msal's HTTP client: a timeout on every request.

    msal only accepts https authorities. For a test authority on http://127.0.0.1
    msal is given the https form, requests go out as plain http, and the
    discovery document's http addresses are shown to msal as https.
    """

    def __init__(self, plain_netloc: str | None = None) -> None:
        super().__init__()
        self._plain = plain_netloc
        # One retry of a failed connection, as msal's own client does.
        adapter = requests.adapters.HTTPAdapter(max_retries=1)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        secure = f"https://{self._plain}/"
        text = url.decode() if isinstance(url, bytes) else url
        if self._plain and text.startswith(secure):
            text = f"http://{self._plain}/" + text[len(secure):]
        verb = method.decode() if isinstance(method, bytes) else method
        response = super().request(verb, text, *args, **kwargs)
        if self._plain:
            response._content = response.content.replace(
                f"http://{self._plain}/".encode(), secure.encode())
        return response


def _application(client_id: str, authority: str,
                 cache: msal.SerializableTokenCache) -> msal.PublicClientApplication:
    """A PublicClientApplication; it fetches the authority's discovery document now."""
    parts = urlsplit(authority)
    plain = parts.netloc if parts.scheme == "http" else None
    if plain:
        authority = "https://" + authority[len("http://"):]
    return msal.PublicClientApplication(
        client_id, authority=authority, token_cache=cache, http_client=_Http(plain),
        # The built-in clouds are known to msal; a custom authority is not checked
        # against Microsoft's instance list (it would be a request to the internet).
        instance_discovery=False if plain or parts.hostname not in _known_hosts() else None,
    )


def _known_hosts() -> set[str]:
    return {urlsplit(login).hostname or "" for login, _ in CLOUDS.values()}


# -- the token cache in the keyring -------------------------------------------
def read_cache(account: str) -> str | None:
    """The account's serialised msal cache joined from its keyring entries; None if none.

    Raises AuthExpired when what is stored cannot be read back whole (written by
    something else, or a write cut short), NoKeyring when there is no keyring.
    """
    first = secrets.get_secret(account)
    if first is None:
        return None
    head, _, data = first.partition("\n")
    try:
        header = json.loads(head)
        count, digest = int(header["chunks"]), str(header["sha256"])
        if header.get("format") != _HEADER or count < 1:
            raise ValueError(head)
    except (ValueError, TypeError, KeyError):
        raise AuthExpired(account, "the keyring entry is not an msal token cache; run: "
                          f"followup auth {account}") from None
    pieces = [data]
    for index in range(1, count):
        piece = secrets.get_secret(f"{account}#{index}")
        if piece is None:
            raise AuthExpired(account, f"the token cache in the keyring is incomplete (no "
                              f"entry {account}#{index}); run: followup auth {account}")
        pieces.append(piece)
    text = "".join(pieces)
    if _digest(text) != digest:
        raise AuthExpired(account, "the token cache in the keyring is damaged; run: "
                          f"followup auth {account}")
    return text


def write_cache(account: str, text: str, *, chunk_size: int = CHUNK_SIZE) -> int:
    """Store ``text`` as entries NAME, NAME#1, ... of at most ``chunk_size`` characters.

    The first entry (a one-line JSON header, then the start of the text) is
    written last, so a reader never joins a header with pieces it does not
    describe; entries beyond the new count are then removed. Returns the count.
    """
    # The count has at most as many digits as the text's length: size the header for that.
    widest = json.dumps({"format": _HEADER, "chunks": len(text), "sha256": _digest(text)})
    room = chunk_size - len(widest) - 1  # the header line and its newline come first
    if room < 1:
        raise ValueError(f"chunk_size {chunk_size} leaves no room after the header")
    pieces = [text[:room], *_split(text[room:], chunk_size)]
    for index, piece in enumerate(pieces[1:], start=1):
        secrets.set_secret(f"{account}#{index}", piece, quiet=True)
    header = json.dumps({"format": _HEADER, "chunks": len(pieces), "sha256": _digest(text)})
    secrets.set_secret(account, header + "\n" + pieces[0], quiet=True)
    _delete_from(account, len(pieces))
    log.debug("account %s: token cache stored in %d keyring entries", account, len(pieces))
    return len(pieces)


def delete_cache(account: str) -> None:
    """Forget the account's token cache, every entry of it."""
    secrets.delete_secret(account)
    _delete_from(account, 1)


def _delete_from(account: str, start: int) -> None:
    index = start
    while secrets.get_secret(f"{account}#{index}") is not None:
        secrets.delete_secret(f"{account}#{index}")
        index += 1


def _split(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- tokens for the provider ----------------------------------------------------
class TokenSource:
    """Access tokens for one account, from the cache in the keyring; thread-safe.

    The keyring is read on first use and again only when the cached grant stops
    working (``followup auth`` may have stored a new one meanwhile); a cache that
    msal changed (a refreshed token) is written back.
    """

    def __init__(self, account: str, client_id: str, tenant: str = "common",
                 cloud: str = "global", authority: str | None = None, *,
                 chunk_size: int = CHUNK_SIZE) -> None:
        self.account = account
        self.client_id = client_id
        self.authority = authority_for(cloud, tenant, authority)
        self.chunk_size = chunk_size
        self._cache = msal.SerializableTokenCache()
        self._app: msal.PublicClientApplication | None = None
        self._stored: str | None = None  # the cache text last read from / written to the keyring
        self._lock = threading.Lock()

    def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token; ``force_refresh`` after Graph rejected the last one.

        Raises AuthExpired, ProviderUnavailable, NoKeyring.
        """
        return str(self._acquire(force_refresh)["access_token"])

    def refresh(self) -> frozenset[str]:
        """Redeem the refresh token now (for `followup doctor`); the scopes granted."""
        return granted(self._acquire(True).get("scope", ""))

    def username(self) -> str:
        """Who signed in (their sign-in name), from the stored cache; no request."""
        with self._lock:
            if self._stored is None:
                self._load()
            accounts = json.loads(self._stored or "{}").get("Account", {})
        return next((str(a.get("username", "")) for a in accounts.values()), "")

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        with self._lock:
            if self._stored is None:
                self._load()
            result = self._silent(force_refresh)
            if (result is None or "error" in result) and self._reload():
                result = self._silent(force_refresh)
            self._save_if_changed()
            if result is None:
                raise AuthExpired(self.account, "no signed-in account in the stored token "
                                  f"cache; run: followup auth {self.account}")
            if "error" in result:
                raise refresh_error(self.account, result)
            log.debug("account %s: access token from %s", self.account,
                      result.get("token_source", "msal"))
            return result

    def _silent(self, force_refresh: bool) -> dict[str, Any] | None:
        accounts = self._accounts()
        if not accounts:
            return None
        app = self._application()
        try:
            result: dict[str, Any] | None = app.acquire_token_silent_with_error(
                SCOPES, accounts[0], force_refresh=force_refresh)
        except (requests.RequestException, msal.exceptions.MsalServiceError, ValueError) as exc:
            raise _unreachable(self.account, exc) from None
        return result

    def _accounts(self) -> list[dict[str, Any]]:
        return list(self._application().get_accounts())  # the cache only: no request

    def _application(self) -> msal.PublicClientApplication:
        if self._app is None:  # built on first use: it fetches the discovery document
            try:
                self._app = _application(self.client_id, self.authority, self._cache)
            except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
                raise _unreachable(self.account, exc) from None
            except ValueError as exc:  # an unknown tenant, a wrong authority
                raise ProviderError(self.account, f"cannot use the sign-in authority "
                                    f"{self.authority}: {_first_line(str(exc))}") from None
        return self._app

    def _load(self) -> None:
        text = read_cache(self.account)
        if text is None:
            raise AuthExpired(self.account, f"not authorised yet; run: followup auth "
                              f"{self.account}")
        self._use(text)

    def _reload(self) -> bool:
        """Adopt what the keyring holds when it changed since we read it."""
        text = read_cache(self.account)
        if text is None or text == self._stored:
            return False
        log.info("account %s: using the token cache stored meanwhile", self.account)
        self._use(text)
        return True

    def _use(self, text: str) -> None:
        try:
            self._cache.deserialize(text)
        except ValueError:
            raise AuthExpired(self.account, "the stored token cache is unreadable; run: "
                              f"followup auth {self.account}") from None
        self._stored = text

    def _save_if_changed(self) -> None:
        if not self._cache.has_state_changed:
            return
        text = self._cache.serialize()  # resets has_state_changed
        current = read_cache(self.account)
        if current is not None and current != self._stored:
            # Someone else wrote meanwhile (`followup auth`, or another process that
            # refreshed): theirs is as good or newer, so it wins over ours.
            log.info("account %s: the stored token cache changed meanwhile; keeping it",
                     self.account)
            self._use(current)
            return
        write_cache(self.account, text, chunk_size=self.chunk_size)
        self._stored = text
        log.debug("account %s: token cache written back to the keyring", self.account)


def refresh_error(account: str, result: dict[str, Any]) -> ProviderError:
    """The project's error for msal's error answer to a silent token request."""
    code = str(result.get("error", ""))
    detail = _first_line(str(result.get("error_description", "")))
    if code in ("invalid_client", "unauthorized_client"):
        return AuthExpired(account, f"Microsoft no longer accepts the app registration "
                           f"({code}: {detail}); check client_id and the app's settings "
                           f"(docs/microsoft.md), then run: followup auth {account}")
    if code in _REAUTHORISE:
        return AuthExpired(account, f"run: followup auth {account}")
    return ProviderUnavailable(account, f"token refresh failed: {code or 'no answer'}; "
                               "retrying next cycle")


def granted(scope: str | Iterable[str]) -> frozenset[str]:
    """Scope names without a resource prefix ('https://graph.microsoft.com/User.Read')."""
    names = scope.split() if isinstance(scope, str) else scope
    return frozenset(name.rsplit("/", 1)[-1] for name in names)


def missing_scopes(scopes: Iterable[str]) -> list[str]:
    have = {s.lower() for s in scopes}
    return [s for s in SCOPES if s.lower() not in have]


def _unreachable(account: str, exc: Exception) -> ProviderUnavailable:
    return ProviderUnavailable(account, "cannot reach Microsoft's sign-in service "
                               f"({type(exc).__name__}); retrying next cycle")


# -- `followup auth` -----------------------------------------------------------
def authorize(account: str, client_id: str, tenant: str = "common", cloud: str = "global", *,
              browser: bool = False, echo: Echo, authority: str | None = None,
              chunk_size: int = CHUNK_SIZE) -> Authorised:
    """Sign in (device code, or the browser with ``browser``) and store a fresh cache.

    ``echo`` shows the user what to do. Raises ValueError (a config problem),
    NoKeyring (checked before the sign-in, so nobody signs in for nothing) or
    ProviderError.
    """
    url = authority_for(cloud, tenant, authority)
    secrets.get_secret(account)  # a missing or locked keyring fails here, before sign-in
    cache = msal.SerializableTokenCache()  # fresh: the new grant replaces the old one whole
    try:
        app = _application(client_id, url, cache)
        flow = _browser_flow if browser else _device_flow
        result = flow(account, app, echo)
    except (requests.RequestException, msal.exceptions.MsalServiceError) as exc:
        raise ProviderError(account, "cannot reach Microsoft's sign-in service at "
                            f"{url} ({type(exc).__name__}: {_first_line(str(exc))})") from None
    except ValueError as exc:  # unknown tenant, unusable discovery document
        raise ProviderError(account, f"sign-in failed: {_first_line(str(exc))}") from None
    if "error" in result:
        raise ProviderError(account, _refused(result))
    scopes = granted(result.get("scope", ""))
    if missing_scopes(scopes):
        raise ProviderError(account, f"Microsoft did not grant {', '.join(missing_scopes(scopes))}"
                            "; nothing was stored (an administrator may have to consent: see "
                            "docs/microsoft.md)")
    count = write_cache(account, cache.serialize(), chunk_size=chunk_size)
    username = str((result.get("id_token_claims") or {}).get("preferred_username", ""))
    log.info("account %s: signed in%s; token cache stored in %s (%d entries)", account,
             f" as {username}" if username else "", secrets.backend_name(), count)
    return Authorised(username=username, scopes=scopes)


def _device_flow(account: str, app: msal.PublicClientApplication, echo: Echo) -> dict[str, Any]:
    flow = app.initiate_device_flow(scopes=SCOPES)
    if "user_code" not in flow:
        raise ProviderError(account, _refused(flow))
    echo(str(flow["message"]))  # msal's text: the address to open and the code to enter
    log.info("account %s: waiting for the device-code sign-in", account)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    return result


def _browser_flow(account: str, app: msal.PublicClientApplication, echo: Echo) -> dict[str, Any]:
    try:
        webbrowser.get()
    except webbrowser.Error:
        raise ProviderError(account, "no web browser found on this machine; run the command "
                            "without --browser to sign in with a code instead") from None
    echo("Opening Microsoft's sign-in page in your browser; waiting up to "
         f"{FLOW_TIMEOUT // 60} minutes ...")
    log.info("account %s: waiting for the browser sign-in", account)
    try:
        result: dict[str, Any] = app.acquire_token_interactive(
            SCOPES, prompt="select_account", timeout=FLOW_TIMEOUT,
            success_template="interview-followup is signed in. You can close this tab.")
    except msal.oauth2cli.oauth2.BrowserInteractionTimeoutError:
        raise ProviderError(account, f"no sign-in within {FLOW_TIMEOUT // 60} minutes; run "
                            "the command again") from None
    return result


def _refused(answer: dict[str, Any]) -> str:
    code = str(answer.get("error", "unknown_error"))
    detail = _first_line(str(answer.get("error_description", "")))
    text = f"Microsoft refused the sign-in: {code}" + (f": {detail}" if detail else "")
    if "AADSTS7000218" in detail:  # the app registration does not allow public client flows
        text += ("; in the app registration, set Authentication -> Allow public client "
                 "flows to Yes (docs/microsoft.md)")
    return text


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""
