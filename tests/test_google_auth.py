"""Google OAuth against the fake Google server: the installed-app flow end to end (a thread or a
process plays the browser), the keyring, refresh and write-back, revoked grants, no keyring,
`followup auth` and `followup doctor`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import keyring.core
import pytest
import requests
from click.testing import CliRunner
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import KeyringLocked

from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import load_config
from interview_followup.daemon.doctor import run_checks
from interview_followup.daemon.state import Store
from interview_followup.providers._shared import secrets
from interview_followup.providers.errors import (
    AuthExpired,
    NoKeyring,
    ProviderError,
    ProviderUnavailable,
)
from interview_followup.providers.google import auth as google_auth
from interview_followup.providers.google.auth import SCOPES
from tests.fakes.google_server import FakeGoogle
from tests.keyring_backend import stored, use_file_keyring

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "gmail"
FORBIDDEN = {"https://mail.google.com/", "https://www.googleapis.com/auth/gmail.send",
             "https://www.googleapis.com/auth/gmail.modify"}


@pytest.fixture
def fake() -> Iterator[FakeGoogle]:
    server = FakeGoogle(seed=3)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test keyring (outside the config and state dirs) and http allowed for OAuth."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the fake speaks http
    monkeypatch.setattr(google_auth, "_saved", {})  # each test starts with a fresh process view
    return use_file_keyring(monkeypatch, tmp_path / "keyring" / "keyring.json")


@pytest.fixture
def config_file(tmp_path: Path, fake: FakeGoogle) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "client_secret.json").write_text(json.dumps(fake.client_secrets_json()))
    path = folder / "config.toml"
    path.write_text(
        '[me]\nname = "Alex Rivera"\nemail = "me@example.com"\ntimezone = "UTC"\n'
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "{ACCOUNT}"\nprovider = "google"\n'
        f'client_secrets = "client_secret.json"\nendpoint = "{fake.url}"\n'
    )
    (tmp_path / "keyring").mkdir(exist_ok=True)
    return path


def play_browser(auth_url: str, seen: dict[str, str]) -> None:
    """What the user's browser does: consent page -> 302 -> the loopback redirect."""
    answer = requests.get(auth_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    seen["code"] = parse_qs(urlsplit(location).query)["code"][0]
    seen["page"] = requests.get(location, timeout=10).text


def auth_url_in(text: str) -> str | None:
    for word in text.split():
        if "/o/oauth2/auth?" in word:
            return word
    return None


def store_tokens(fake: FakeGoogle, scopes: list[str] = SCOPES, *,
                 expired: bool = False) -> dict[str, object]:
    """Credentials as `followup auth` would have stored them; returns Google's token answer."""
    tokens = fake.issue_tokens(scopes)
    expiry = datetime.now(UTC) + (timedelta(hours=-1) if expired else timedelta(hours=1))
    creds = Credentials(token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                        token_uri=fake.url + "token", client_id=fake.client_id,
                        client_secret=fake.client_secret, scopes=scopes,
                        expiry=expiry.replace(tzinfo=None))
    secrets.set_secret(ACCOUNT, creds.to_json())
    return tokens


def secrets_in(texts: list[str], *values: str) -> list[str]:
    return [v for v in values if v and any(v in t for t in texts)]


# -- the flow ----------------------------------------------------------------
def test_flow_stores_credentials_and_asks_exactly_our_scopes(
        fake: FakeGoogle, env: Path, config_file: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    seen: dict[str, str] = {}
    ready = threading.Event()

    def echo(text: str) -> None:
        shown.append(text)
        if auth_url_in(text):
            ready.set()

    def browser() -> None:
        if ready.wait(10):
            play_browser(auth_url_in("\n".join(shown)) or "", seen)

    thread = threading.Thread(target=browser)
    thread.start()
    creds = google_auth.authorize(ACCOUNT, config_file.parent / "client_secret.json",
                                  open_browser=False, echo=echo, timeout=20)
    thread.join(10)

    saved = json.loads(stored(env)[ACCOUNT])
    assert saved["token"] == creds.token and saved["refresh_token"] == creds.refresh_token
    assert saved["token_uri"] == fake.url + "token"
    assert set(creds.granted_scopes or ()) == set(SCOPES)
    assert "authorised" in seen["page"]

    (consent,) = [r for r in fake.requests if r.path == "/o/oauth2/auth"]
    asked = consent.query["scope"].split()
    assert sorted(asked) == sorted(SCOPES) and len(asked) == len(SCOPES)
    assert not FORBIDDEN & set(asked)
    assert consent.query["access_type"] == "offline" and consent.query["prompt"] == "consent"
    port = consent.query["redirect_uri"].rsplit(":", 1)[1].strip("/")
    text = "\n".join(shown)
    assert f"http://localhost:{port}/" in text
    assert f"ssh -N -L {port}:127.0.0.1:{port}" in text

    out = capsys.readouterr()
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    leaks = secrets_in([*logged, out.out, out.err, text],
                       creds.token or "", creds.refresh_token or "", seen["code"])
    assert leaks == []


def test_user_cancelling_consent_stores_nothing(fake: FakeGoogle, env: Path,
                                                config_file: Path) -> None:
    fake.deny_consent = True
    seen: dict[str, str] = {}

    def echo(text: str) -> None:
        url = auth_url_in(text)
        if url:
            threading.Thread(target=lambda: _deny(url, seen)).start()

    with pytest.raises(ProviderError, match="access_denied"):
        google_auth.authorize(ACCOUNT, config_file.parent / "client_secret.json",
                              open_browser=False, echo=echo, timeout=20)
    assert stored(env) == {}


def _deny(url: str, seen: dict[str, str]) -> None:
    location = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    seen["page"] = requests.get(location, timeout=10).text


def test_a_web_client_is_refused_before_anything_happens(tmp_path: Path, env: Path) -> None:
    path = tmp_path / "client_secret.json"
    path.write_text(json.dumps({"web": {"client_id": "x", "client_secret": "y"}}))
    with pytest.raises(google_auth.ClientSecretsError, match="Desktop app"):
        google_auth.authorize(ACCOUNT, path, open_browser=False, echo=print)


# -- followup auth (a real process; the browser is a thread or $BROWSER) --------
def _env(fake: FakeGoogle, keyring_file: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.FileKeyring",
            "FOLLOWUP_TEST_KEYRING": str(keyring_file), "OAUTHLIB_INSECURE_TRANSPORT": "1",
            **extra}


def _followup(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-c", "from interview_followup.daemon.cli import main; main()",
            "--config", str(config), *args]


def _files_under(*folders: Path) -> list[str]:
    return [p.read_bytes().decode("latin-1") for f in folders for p in f.rglob("*")
            if p.is_file()]


def test_cli_auth_no_browser_stores_token_and_resumes_the_account(
        fake: FakeGoogle, env: Path, config_file: Path, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    store.pause(ACCOUNT, "run: followup auth gmail", datetime.now(UTC))
    store.close()

    proc = subprocess.Popen(_followup(config_file, "auth", ACCOUNT, "--no-browser"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(fake, env))
    assert proc.stdout is not None
    lines: list[str] = []
    seen: dict[str, str] = {}
    for line in proc.stdout:
        lines.append(line)
        url = auth_url_in(line)
        if url:
            play_browser(url, seen)
            break
    rest, err = proc.communicate(timeout=30)
    out = "".join(lines) + rest
    assert proc.returncode == 0, err
    assert ("Authorised 'gmail' (Google): granted calendar.readonly, gmail.compose, "
            "gmail.readonly") in out
    assert "no longer paused" in out

    store = Store.open(tmp_path / "state")
    assert store.paused() == {}
    store.close()
    saved = json.loads(stored(env)[ACCOUNT])
    leaks = secrets_in([out, err, *_files_under(config_file.parent, tmp_path / "state")],
                       saved["token"], saved["refresh_token"], seen["code"])
    assert leaks == []


BROWSER_SCRIPT = """
import os, sys, requests
if os.fork():
    sys.exit(0)  # a real browser returns at once; the page loads on its own
location = requests.get(sys.argv[1], allow_redirects=False, timeout=10).headers["Location"]
requests.get(location, timeout=10)
"""


def test_cli_auth_opens_the_browser(fake: FakeGoogle, env: Path, config_file: Path,
                                    tmp_path: Path) -> None:
    script = tmp_path / "browser.py"
    script.write_text(BROWSER_SCRIPT)
    result = subprocess.run(_followup(config_file, "auth", ACCOUNT), capture_output=True,
                            text=True, timeout=30,
                            env=_env(fake, env, BROWSER=f"{sys.executable} {script} %s"))
    assert result.returncode == 0, result.stderr
    assert "Opening Google's consent page in your browser" in result.stdout
    assert "Authorised 'gmail' (Google)" in result.stdout
    assert "no longer paused" not in result.stdout
    assert json.loads(stored(env)[ACCOUNT])["refresh_token"]


def test_cli_auth_without_keyring_fails_before_consent(
        fake: FakeGoogle, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    keyring.core.init_backend()
    result = CliRunner().invoke(cli, ["--config", str(config_file), "auth", ACCOUNT,
                                      "--no-browser"])
    assert result.exit_code == 1
    assert "no usable system keyring" in result.output
    assert "pip install keyrings.alt" in result.output
    assert not [r for r in fake.requests if r.path == "/o/oauth2/auth"]
    assert auth_url_in(result.output) is None


def test_cli_auth_with_a_web_client_is_a_usage_error(fake: FakeGoogle, env: Path,
                                                     config_file: Path) -> None:
    (config_file.parent / "client_secret.json").write_text(json.dumps(
        {"web": fake.client_secrets_json()["installed"]}))
    result = CliRunner().invoke(cli, ["--config", str(config_file), "auth", ACCOUNT])
    assert result.exit_code == 2
    assert "not a Desktop app OAuth client" in result.output


# -- the keyring -------------------------------------------------------------
@pytest.mark.parametrize("backend", ["keyring.backends.fail.Keyring",
                                     "keyring.backends.null.Keyring"])
def test_no_keyring_backend_is_an_error_that_says_how_to_get_one(
        backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    keyring.core.init_backend()
    for call in (lambda: secrets.get_secret(ACCOUNT),
                 lambda: secrets.set_secret(ACCOUNT, "{}"),
                 lambda: google_auth.load_credentials(ACCOUNT)):
        with pytest.raises(NoKeyring) as caught:
            call()
        text = str(caught.value)
        assert "no usable system keyring" in text
        assert "pip install keyrings.alt" in text and "Secret Service" in text
        assert "loginctl enable-linger" in text and "never silently in a plain file" in text


class _LockedKeyring(KeyringBackend):
    """A Secret Service whose collection is locked (the common case under linger)."""

    @properties.classproperty
    def priority(cls) -> float:
        raise RuntimeError("only for this test")  # never chosen by keyring on its own

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


def test_a_locked_keyring_is_no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring.core, "_keyring_backend", _LockedKeyring())
    with pytest.raises(NoKeyring, match="the keyring is locked"):
        secrets.get_secret(ACCOUNT)
    with pytest.raises(NoKeyring, match="cannot write"):
        secrets.set_secret(ACCOUNT, "{}")


def test_secrets_round_trip(env: Path) -> None:
    assert secrets.get_secret(ACCOUNT) is None
    secrets.set_secret(ACCOUNT, "value")
    assert stored(env) == {ACCOUNT: "value"}
    assert secrets.get_secret(ACCOUNT) == "value"
    secrets.delete_secret(ACCOUNT)
    secrets.delete_secret(ACCOUNT)  # nothing stored is not an error
    assert secrets.get_secret(ACCOUNT) is None


# -- load_credentials: refresh, write-back, errors ----------------------------
def test_an_expired_token_is_refreshed_and_written_back(
        fake: FakeGoogle, env: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    old = store_tokens(fake, expired=True)
    creds = google_auth.load_credentials(ACCOUNT)
    assert creds.valid and creds.token != old["access_token"]
    saved = json.loads(stored(env)[ACCOUNT])
    assert saved["token"] == creds.token and saved["refresh_token"] == old["refresh_token"]
    assert [r.query_lists for r in fake.requests if r.path == "/token"]  # refreshed at Google
    assert secrets_in([caplog.text], str(creds.token), str(old["refresh_token"])) == []


def test_a_refresh_inside_an_api_call_is_written_back(fake: FakeGoogle, env: Path) -> None:
    store_tokens(fake)
    creds = google_auth.load_credentials(ACCOUNT)
    first = creds.token
    assert not [r for r in fake.requests if r.path == "/token"]  # still valid: no refresh
    fake.expire_access_tokens()
    calendar = build("calendar", "v3", credentials=creds, static_discovery=True,
                     client_options={"api_endpoint": fake.url})
    calendar.events().list(calendarId="primary", singleEvents=True).execute()
    assert creds.token != first  # the client library refreshed after a 401
    google_auth.save_if_changed(ACCOUNT, creds)
    assert json.loads(stored(env)[ACCOUNT])["token"] == creds.token


def test_a_grant_renewed_by_followup_auth_meanwhile_is_not_overwritten(
        fake: FakeGoogle, env: Path) -> None:
    store_tokens(fake)
    creds = google_auth.load_credentials(ACCOUNT)  # the daemon's copy
    renewed = store_tokens(fake)  # `followup auth` in another process
    fake.expire_access_tokens()
    google_auth.refresh(ACCOUNT, creds)  # the daemon refreshes its old grant
    google_auth.save_if_changed(ACCOUNT, creds)
    assert json.loads(stored(env)[ACCOUNT])["refresh_token"] == renewed["refresh_token"]


def test_a_revoked_grant_is_auth_expired_with_the_way_back(fake: FakeGoogle, env: Path) -> None:
    tokens = store_tokens(fake, expired=True)
    fake.revoke(str(tokens["refresh_token"]))
    with pytest.raises(AuthExpired) as caught:
        google_auth.load_credentials(ACCOUNT)
    assert caught.value.how_to_fix == "run: followup auth gmail"
    assert "run: followup auth gmail" in str(caught.value)
    assert str(tokens["refresh_token"]) not in str(caught.value)


def test_a_deleted_oauth_client_is_auth_expired(fake: FakeGoogle, env: Path) -> None:
    store_tokens(fake, expired=True)
    saved = json.loads(stored(env)[ACCOUNT])
    secrets.set_secret(ACCOUNT, json.dumps({**saved, "client_secret": "rotated"}))
    with pytest.raises(AuthExpired, match=r"download client_secret\.json again"):
        google_auth.load_credentials(ACCOUNT)


def test_nothing_stored_is_auth_expired(env: Path) -> None:
    with pytest.raises(AuthExpired, match="not authorised yet; run: followup auth gmail"):
        google_auth.load_credentials(ACCOUNT)


def test_an_unreachable_token_endpoint_is_provider_unavailable(env: Path) -> None:
    fake = FakeGoogle()
    fake.start()
    store_tokens(fake, expired=True)
    fake.stop()  # nothing listens on its port any more
    with pytest.raises(ProviderUnavailable, match="cannot reach Google's token endpoint"):
        google_auth.load_credentials(ACCOUNT)


# -- followup doctor -----------------------------------------------------------
def _doctor(config_file: Path) -> list[str]:
    lines: list[str] = []
    run_checks(load_config(config_file), lines.append)
    return [line for line in lines if f"account {ACCOUNT} " in line]


def test_doctor_checks_token_refresh_and_scopes(fake: FakeGoogle, env: Path,
                                                config_file: Path) -> None:
    store_tokens(fake)
    lines = _doctor(config_file)
    assert lines[:3] == [
        "ok    account gmail token: stored in the system keyring",
        "ok    account gmail refresh: Google issued a new access token",
        "ok    account gmail scopes: calendar.readonly, gmail.compose, gmail.readonly",
    ]
    (tokeninfo,) = [r for r in fake.requests if r.path == "/oauth2/v1/tokeninfo"]
    assert tokeninfo.method == "POST" and "access_token" not in tokeninfo.query  # not in a URL


def test_doctor_reports_missing_scopes(fake: FakeGoogle, env: Path, config_file: Path) -> None:
    store_tokens(fake, [SCOPES[0], SCOPES[2]])
    lines = _doctor(config_file)
    assert lines[2] == ("FAIL  account gmail scopes: not granted: "
                        "https://www.googleapis.com/auth/gmail.compose; run: followup auth gmail "
                        "and allow every permission")


def test_doctor_reports_a_revoked_grant_once(fake: FakeGoogle, env: Path,
                                             config_file: Path) -> None:
    tokens = store_tokens(fake)
    fake.revoke(str(tokens["refresh_token"]))
    lines = _doctor(config_file)
    assert lines[0].startswith("ok    account gmail token")
    assert lines[1].startswith("FAIL  account gmail refresh: ")
    assert lines[1].endswith("run: followup auth gmail")
    assert len(lines) == 2  # the access check would only repeat it


def test_doctor_without_a_stored_token(fake: FakeGoogle, env: Path, config_file: Path) -> None:
    assert _doctor(config_file) == [
        "FAIL  account gmail token: nothing stored in the keyring; run: followup auth gmail"]
