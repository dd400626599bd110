"""The Microsoft identity platform half of the fake Graph server (tests/fakes/graph_server.py).

What msal's ``PublicClientApplication`` needs with its authority pointed at the fake
(``instance_discovery=False``): the OpenID configuration
(``/{tenant}/v2.0/.well-known/openid-configuration``), the device-code endpoint
(``/{tenant}/oauth2/v2.0/devicecode``), the token endpoint (``/{tenant}/oauth2/v2.0/token``:
device_code, refresh_token and authorization_code with PKCE grants), and the authorize
endpoint for the browser flow (``/{tenant}/oauth2/v2.0/authorize`` redirects at once with a
code, as after the user consented; with ``response_mode=form_post`` a page whose form posts
the answer to the redirect URI). ``/devicelogin?otc=CODE`` approves a device code like
the page a person would visit.

Tokens: access tokens are opaque; id tokens are unsigned JWTs (msal does not validate
them) with the claims msal reads; ``client_info`` is sent when asked for (``client_info=1``).
Refresh tokens rotate on use, and a rotated token stays usable (as in Entra) until its grant
is revoked. Errors have the identity platform's shape: ``{"error", "error_description":
"AADSTS...", "error_codes", "timestamp", "trace_id", "correlation_id"[, "suberror"]}``.

The TLS twin of the server uses a certificate signed by a throw-away CA made once per
process (``ca_file``, a PEM file kept until the process exits so a client configured with
it still fails with a connection error, not a missing-file error, after ``stop()``).
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import html
import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.graph_protocol import Reply, json_reply

# Scopes that are about the sign-in itself, not an API (Entra never lists them as granted).
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_AAD_TEXT = {
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is "
           "needed. The user might have changed or reset their password.",
    70016: "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    70019: "Verification code expired.",
    70000: "The provided value for the input parameter 'device_code' is not valid.",
    700016: "Application with identifier '{}' was not found in the directory.",
    65001: "The user or administrator has not consented to use the application.",
    9002313: "Invalid request. Request is malformed or invalid.",
    90008: "The user or administrator has not consented: the scope is not in the grant.",
    900144: "The request body must contain the following parameter: '{}'.",
    90014: "The request body must contain the following parameter: '{}'.",
    700082: "The refresh token has expired or is invalid.",
    54005: "OAuth2 Authorization code was already redeemed.",
    501481: "The Code_Verifier does not match the code_challenge supplied in the request.",
    70011: "The provided request must include a 'scope' input parameter.",
    90009: "Application is requesting a token for itself (unknown grant type '{}').",
}


class OAuthError(Exception):
    """An identity-platform error answer."""

    def __init__(self, status: int, error: str, code: int, *args: str,
                 suberror: str | None = None, headers: dict[str, str] | None = None) -> None:
        text = _AAD_TEXT.get(code, "Error.").format(*args)
        super().__init__(f"{status} {error} AADSTS{code}")
        self.status = status
        self.error = error
        self.code = code
        self.description = f"AADSTS{code}: {text}"
        self.suberror = suberror
        self.headers = headers or {}

    def reply(self) -> Reply:
        trace = str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        answer: dict[str, Any] = {
            "error": self.error,
            "error_description": f"{self.description}\r\nTrace ID: {trace}\r\n"
                                 f"Correlation ID: {trace}\r\nTimestamp: {now}",
            "error_codes": [self.code],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": trace,
        }
        if self.suberror:
            answer["suberror"] = self.suberror
        return json_reply(self.status, answer, self.headers)


@dataclass
class Grant:
    """One sign-in (consent) of the user: its refresh tokens rotate, its scopes stay."""

    scopes: list[str]
    revoked: bool = False


@dataclass
class Access:
    scopes: frozenset[str]  # short names ("Mail.ReadWrite"), resource prefix stripped
    grant: Grant | None
    expires_at: float
    valid: bool = True

    def usable(self) -> bool:
        return self.valid and time.time() < self.expires_at


@dataclass
class _DeviceCode:
    user_code: str
    scopes: list[str]
    expires_at: float
    approved: bool = False
    denied: bool = False
    redeemed: bool = False


@dataclass
class _AuthCode:
    scopes: list[str]
    redirect_uri: str
    challenge: str | None
    challenge_method: str
    nonce: str | None
    used: bool = False


def short_scope(scope: str) -> str:
    """'https://graph.microsoft.com/Mail.ReadWrite' -> 'Mail.ReadWrite'."""
    return scope.rsplit("/", 1)[-1] if scope.startswith("https://") else scope


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


class IdentityPlatform:
    """The identity half of FakeGraph (a mixin: FakeGraph sets up the lock and the servers)."""

    _lock: threading.RLock
    email: str
    seed: int
    now: Callable[[], datetime]

    def _init_identity(self) -> None:
        rng = random.Random(self.seed + 101)
        self._token_rng = random.Random(self.seed + 1)
        self.tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.user_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.client_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        self.access_ttl = 3599  # expires_in; msal refreshes tokens with under 300 s left
        self.device_interval = 1  # seconds msal waits between device-code polls
        self.device_expires_in = 900
        self.auto_approve = False  # device codes are approved as soon as they are issued
        self.device_user_code = ""  # the latest device code's user code (what a person types)
        self.last_device_code = ""  # the latest device_code (the secret msal polls with)
        self._grants: dict[str, Grant] = {}  # refresh token -> its grant
        self._access: dict[str, Access] = {}
        self._devices: dict[str, _DeviceCode] = {}
        self._auth_codes: dict[str, _AuthCode] = {}
        self._approve_next = False

    # -- public knobs ---------------------------------------------------------------
    @property
    def verification_uri(self) -> str:
        """Where the device-code prompt sends the person (the fake's own approval page)."""
        return self._https_root() + "devicelogin"

    def _https_root(self) -> str:  # pragma: no cover - FakeGraph overrides
        raise NotImplementedError

    def issue_tokens(self, scopes: list[str]) -> dict[str, Any]:
        """A new grant for ``scopes``, as after consent: the token endpoint's full answer
        (access_token, refresh_token, id_token, client_info, expires_in, scope, token_type)."""
        with self._lock:
            grant = Grant([short_scope(s) for s in scopes if s not in RESERVED_SCOPES])
            return self._token_answer(grant, list(scopes), None, client_info=True,
                                      issuer_root=self._https_root())

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke the grant of ``refresh_token`` (every grant when None): later refreshes
        answer 400 invalid_grant (AADSTS50173, suberror bad_token). Access tokens already
        issued stay valid until they expire, as in Entra; add expire_access_tokens() to
        cut them off too."""
        with self._lock:
            if refresh_token is None:
                for grant in self._grants.values():
                    grant.revoked = True
            else:
                self._grants[refresh_token].revoked = True

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 at Graph (msal still thinks they are
        fresh: the client must force a refresh)."""
        with self._lock:
            for info in self._access.values():
                info.valid = False

    def approve_device_code(self, user_code: str | None = None) -> None:
        """The person entered the code and consented. None: every pending code; with none
        pending, the next one issued is approved at once."""
        with self._lock:
            pending = [d for d in self._devices.values()
                       if not d.approved and not d.denied and not d.redeemed
                       and (user_code is None or d.user_code == user_code)]
            if user_code is not None and not pending:
                raise KeyError(f"no pending device code {user_code!r}")
            for device in pending:
                device.approved = True
            if not pending:
                self._approve_next = True

    def deny_device_code(self, user_code: str | None = None) -> None:
        """The person declined: the next poll answers authorization_declined."""
        with self._lock:
            for device in self._devices.values():
                if user_code is None or device.user_code == user_code:
                    device.denied = True

    # -- helpers --------------------------------------------------------------------
    def _secret(self, prefix: str, bits: int = 256) -> str:
        return prefix + b64url(self._token_rng.getrandbits(bits).to_bytes(bits // 8, "big"))

    def access_for(self, header: str) -> Access | None:
        """The access token of an ``Authorization: Bearer`` header, if known."""
        token = header[len("Bearer "):].strip() if header.startswith("Bearer ") else ""
        return self._access.get(token)

    def _token_answer(self, grant: Grant, asked: list[str], nonce: str | None, *,
                      client_info: bool, issuer_root: str) -> dict[str, Any]:
        refresh = self._secret("1.AXkA-fake-refresh-", 512)
        self._grants[refresh] = grant
        granted = [s for s in grant.scopes if s not in RESERVED_SCOPES]
        access = self._secret("EwB-fake-access-", 384)
        ttl = int(self.access_ttl)
        self._access[access] = Access(frozenset(short_scope(s) for s in granted), grant,
                                      time.time() + ttl)
        answer: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join([*granted, *(s for s in asked if s in ("openid", "profile",
                                                                     "email"))]),
            "expires_in": ttl,
            "ext_expires_in": ttl,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": self._id_token(issuer_root, nonce),
        }
        if client_info:
            answer["client_info"] = b64url(json.dumps(
                {"uid": self.user_id, "utid": self.tenant_id}).encode())
        return answer

    def _id_token(self, issuer_root: str, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iss": f"{issuer_root}{self.tenant_id}/v2.0",
            "iat": now, "nbf": now, "exp": now + 3600,
            "name": self.email.split("@")[0].title(),
            "oid": self.user_id,
            "preferred_username": self.email,
            "sub": b64url(hashlib.sha256(self.user_id.encode()).digest()),
            "tid": self.tenant_id,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        header = {"typ": "JWT", "alg": "none"}
        return (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
                + ".")

    def _tenant_ok(self, tenant: str) -> bool:
        domain = self.email.rpartition("@")[2].lower()
        return tenant.lower() in {self.tenant_id, "common", "organizations", "consumers",
                                  domain}

    # -- endpoints --------------------------------------------------------------------
    def identity(self, method: str, tenant: str, rest: str, query: dict[str, list[str]],
                 body: bytes, root: str) -> Reply:
        """Answer /{tenant}/{rest}; ``root`` is "scheme://host:port/" as the client sees us."""
        try:
            if not self._tenant_ok(tenant):
                raise OAuthError(400, "invalid_tenant", 9002313)
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                                 keep_blank_values=True).items()}
            if rest == "v2.0/.well-known/openid-configuration" and method == "GET":
                return json_reply(200, self._openid_configuration(root, tenant))
            if rest == "oauth2/v2.0/devicecode" and method == "POST":
                return self._devicecode(form)
            if rest == "oauth2/v2.0/token" and method == "POST":
                return self._token(form, root)
            if rest == "oauth2/v2.0/authorize" and method == "GET":
                return self._oauth_authorize({k: v[0] for k, v in query.items()})
            return json_reply(404, {"error": "not_found", "error_description": "Not Found"})
        except OAuthError as exc:
            return exc.reply()

    def device_login(self, query: dict[str, list[str]]) -> Reply:
        """/devicelogin?otc=CODE: the page the person visits; approves that code."""
        code = (query.get("otc") or [""])[0]
        try:
            self.approve_device_code(code)
        except KeyError:
            return Reply(400, b"That code didn't work.", {"Content-Type": "text/plain"})
        return Reply(200, b"You have signed in to the application on your device.",
                     {"Content-Type": "text/plain"})

    def _openid_configuration(self, root: str, tenant: str) -> dict[str, Any]:
        base = f"{root}{tenant}"
        issuer_tenant = self.tenant_id if tenant.lower() == self.tenant_id else "{tenantid}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{root}oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username",
                                 "name", "tid", "ver", "oid"],
            "tenant_region_scope": None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }

    def _check_client(self, form: dict[str, str]) -> None:
        client = form.get("client_id", "")
        if not client:
            raise OAuthError(400, "invalid_request", 900144, "client_id")
        if client != self.client_id:
            raise OAuthError(400, "unauthorized_client", 700016, client)

    def _scopes(self, form: dict[str, str]) -> list[str]:
        scopes = form.get("scope", "").split()
        if not scopes:
            raise OAuthError(400, "invalid_scope", 70011)
        return scopes

    def _devicecode(self, form: dict[str, str]) -> Reply:
        self._check_client(form)
        scopes = self._scopes(form)
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
        user_code = "".join(self._token_rng.choice(alphabet) for _ in range(9))
        device_code = self._secret("DAQABAAEAAAD-fake-device-")
        device = _DeviceCode(user_code, scopes, time.time() + self.device_expires_in)
        if self.auto_approve or self._approve_next:
            device.approved = True
            self._approve_next = False
        self._devices[device_code] = device
        self.device_user_code, self.last_device_code = user_code, device_code
        uri = self.verification_uri
        return json_reply(200, {
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": uri,
            "expires_in": self.device_expires_in,
            "interval": self.device_interval,
            "message": f"To sign in, use a web browser to open the page {uri} and enter the "
                       f"code {user_code} to authenticate.",
        })

    def _token(self, form: dict[str, str], root: str) -> Reply:
        self._check_client(form)
        if "client_secret" in form or "client_assertion" in form:
            # A public client holds no secret; Entra refuses one (AADSTS700025).
            raise OAuthError(401, "invalid_client", 9002313)
        grant_type = form.get("grant_type", "")
        client_info = form.get("client_info") == "1"
        if grant_type == "urn:ietf:params:oauth:grant-type:device_code":
            return self._token_by_device_code(form, root, client_info)
        if grant_type == "refresh_token":
            token = form.get("refresh_token", "")
            if not token:
                raise OAuthError(400, "invalid_request", 900144, "refresh_token")
            grant = self._grants.get(token)
            if grant is None:
                raise OAuthError(400, "invalid_grant", 9002313, suberror="bad_token")
            if grant.revoked:
                raise OAuthError(400, "invalid_grant", 50173, suberror="bad_token")
            asked = self._scopes(form)
            wanted = {short_scope(s) for s in asked} - RESERVED_SCOPES
            if not wanted <= set(grant.scopes):
                raise OAuthError(400, "invalid_grant", 65001, suberror="consent_required")
            return json_reply(200, self._token_answer(grant, asked, None, client_info=client_info,
                                                      issuer_root=root))
        if grant_type == "authorization_code":
            return self._token_by_code(form, root, client_info)
        raise OAuthError(400, "unsupported_grant_type", 90009, grant_type)

    def _token_by_device_code(self, form: dict[str, str], root: str,
                              client_info: bool) -> Reply:
        code = form.get("device_code", "")
        device = self._devices.get(code)
        if device is None or device.redeemed:
            raise OAuthError(400, "invalid_grant", 70000)
        if device.denied:
            raise OAuthError(400, "authorization_declined", 70000)
        if time.time() > device.expires_at:
            raise OAuthError(400, "expired_token", 70019)
        if not device.approved:
            raise OAuthError(400, "authorization_pending", 70016)
        device.redeemed = True
        grant = Grant([short_scope(s) for s in device.scopes if s not in RESERVED_SCOPES])
        return json_reply(200, self._token_answer(grant, device.scopes, None,
                                                  client_info=client_info, issuer_root=root))

    def _oauth_authorize(self, params: dict[str, str]) -> Reply:
        self._check_client(params)
        redirect = params.get("redirect_uri", "")
        if not redirect.startswith(("http://localhost", "http://127.0.0.1")):
            raise OAuthError(400, "invalid_request", 9002313)
        if params.get("response_type") != "code":
            raise OAuthError(400, "unsupported_response_type", 9002313)
        code = self._secret("0.AXkA-fake-code-")
        self._auth_codes[code] = _AuthCode(self._scopes(params), redirect,
                                           params.get("code_challenge"),
                                           params.get("code_challenge_method", "plain"),
                                           params.get("nonce"))
        answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        if params.get("client_info") == "1":
            answer["client_info"] = b64url(json.dumps(
                {"uid": self.user_id, "utid": self.tenant_id}).encode())
        if params.get("response_mode") == "form_post":  # a page that posts the answer back
            fields = "".join(f'<input type="hidden" name="{html.escape(k)}" '
                             f'value="{html.escape(v)}"/>' for k, v in answer.items())
            page = (f'<html><body onload="document.forms[0].submit()"><form method="POST" '
                    f'action="{html.escape(redirect)}">{fields}</form></body></html>')
            return Reply(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})
        sep = "&" if "?" in redirect else "?"
        return Reply(302, b"", {"Location": redirect + sep + urlencode(answer)})

    def _token_by_code(self, form: dict[str, str], root: str, client_info: bool) -> Reply:
        auth = self._auth_codes.get(form.get("code", ""))
        if auth is None:
            raise OAuthError(400, "invalid_grant", 9002313)
        if auth.used:
            raise OAuthError(400, "invalid_grant", 54005)
        if form.get("redirect_uri") != auth.redirect_uri:
            raise OAuthError(400, "invalid_grant", 9002313)
        if auth.challenge:
            verifier = form.get("code_verifier", "")
            if auth.challenge_method == "S256":
                verifier = b64url(hashlib.sha256(verifier.encode()).digest())
            if not form.get("code_verifier") or verifier != auth.challenge:
                raise OAuthError(400, "invalid_grant", 501481)
        auth.used = True
        grant = Grant([short_scope(s) for s in auth.scopes if s not in RESERVED_SCOPES])
        return json_reply(200, self._token_answer(grant, auth.scopes, auth.nonce,
                                                  client_info=client_info, issuer_root=root))


# -- TLS material -----------------------------------------------------------------------
@cache
def tls_material() -> tuple[str, str, str]:
    """(ca_file, cert_file, key_file): a throw-away CA and a 127.0.0.1/localhost server
    certificate it signed, made once per process and removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="fake-graph-tls-"))
    atexit.register(shutil.rmtree, folder, True)
    ca, cert, key = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    try:
        _make_with_cryptography(ca, cert, key)
    except ImportError:
        _make_with_openssl(folder, ca, cert, key)
    return str(ca), str(cert), str(key)


def _make_with_cryptography(ca_file: Path, cert_file: Path, key_file: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake graph test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))


def _make_with_openssl(folder: Path, ca_file: Path, cert_file: Path, key_file: Path) -> None:
    """A self-signed certificate that is its own CA (enough for OpenSSL's verification)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key_file), "-out", str(cert_file), "-days", "30",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, cwd=folder)
    shutil.copyfile(cert_file, ca_file)
