"""Microsoft sign-in (msal) against the fake identity platform of tests/fakes/graph_server.py:
the device-code flow end to end (a thread plays the user), the token cache split across keyring
entries, silent refresh written back, revoked grants, no tokens in output or logs, and the
microsoft branches of `followup auth` and `followup doctor`."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import webbrowser
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
import requests
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import load_config
from interview_followup.daemon.doctor import run_checks
from interview_followup.daemon.state import Store
from interview_followup.providers._shared import secrets
from interview_followup.providers.errors import AuthExpired, ProviderUnavailable
from interview_followup.providers.microsoft import auth as microsoft_auth
from interview_followup.providers.microsoft.auth import (
    CHUNK_SIZE,
    SCOPES,
    Authorised,
    TokenSource,
    authority_for,
    authorize,
    graph_root,
    read_cache,
    write_cache,
)
from tests.fakes.graph_server import FakeGraph
from tests.keyring_backend import stored, use_file_keyring

ACCOUNT = "work"


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "keyring").mkdir()
    return use_file_keyring(monkeypatch, tmp_path / "keyring" / "keyring.json")


def cache_like(size: int) -> str:
    """Text shaped like a serialised msal cache (JSON, quotes, dots, dashes) of ``size`` chars."""
    text = json.dumps({"RefreshToken": {f"key-{i}": {"secret": "0.AXk" + "é-_." * 7}
                                        for i in range(size // 20 + 1)}})
    return text[:size]


# -- the cache split across keyring entries --------------------------------------
def test_a_large_cache_is_split_into_small_entries_and_joined_exactly(keyring_file: Path) -> None:
    text = cache_like(5000)
    count = write_cache(ACCOUNT, text, chunk_size=300)

    entries = stored(keyring_file)
    names = [ACCOUNT] + [f"{ACCOUNT}#{i}" for i in range(1, count)]
    assert sorted(entries) == sorted(names)
    assert count > 5000 // 300
    assert all(len(value) <= 300 for value in entries.values())
    header = json.loads(entries[ACCOUNT].split("\n", 1)[0])
    assert header["chunks"] == count
    assert read_cache(ACCOUNT) == text


def test_a_small_cache_is_one_entry(keyring_file: Path) -> None:
    assert write_cache(ACCOUNT, '{"Account": {}}') == 1
    assert list(stored(keyring_file)) == [ACCOUNT]
    assert read_cache(ACCOUNT) == '{"Account": {}}'


def test_shrinking_removes_stale_chunks_and_leaves_other_accounts_alone(
        keyring_file: Path) -> None:
    write_cache("work2", cache_like(900), chunk_size=200)
    before_other = {k: v for k, v in stored(keyring_file).items() if k.startswith("work2")}
    write_cache(ACCOUNT, cache_like(3000), chunk_size=200)
    big = len([k for k in stored(keyring_file) if k.startswith(f"{ACCOUNT}#")])

    small = cache_like(500)
    count = write_cache(ACCOUNT, small, chunk_size=200)

    entries = stored(keyring_file)
    mine = sorted(k for k in entries if k == ACCOUNT or k.startswith(f"{ACCOUNT}#"))
    assert big > count - 1 and count > 1
    assert mine == sorted([ACCOUNT] + [f"{ACCOUNT}#{i}" for i in range(1, count)])
    assert read_cache(ACCOUNT) == small
    assert {k: v for k, v in entries.items() if k.startswith("work2")} == before_other


def test_default_entries_fit_windows_credential_manager(keyring_file: Path) -> None:
    write_cache(ACCOUNT, cache_like(9000))
    for value in stored(keyring_file).values():
        # CRED_MAX_CREDENTIAL_BLOB_SIZE: 2,560 bytes, and keyring stores UTF-16.
        assert len(value.encode("utf-16-le")) <= 2560


def test_nothing_stored_reads_as_none(keyring_file: Path) -> None:
    assert read_cache(ACCOUNT) is None


@pytest.mark.parametrize("damage", ["missing chunk", "changed chunk", "not a cache"])
def test_a_damaged_cache_asks_to_authorise_again(keyring_file: Path, damage: str) -> None:
    write_cache(ACCOUNT, cache_like(2000), chunk_size=300)
    if damage == "missing chunk":
        secrets.delete_secret(f"{ACCOUNT}#2")
    elif damage == "changed chunk":
        secrets.set_secret(f"{ACCOUNT}#2", "x" * 250)
    else:
        secrets.set_secret(ACCOUNT, '{"token": "a Google credential"}')
    with pytest.raises(AuthExpired) as caught:
        read_cache(ACCOUNT)
    assert caught.value.how_to_fix.endswith(f"run: followup auth {ACCOUNT}")


def test_delete_cache_removes_every_entry(keyring_file: Path) -> None:
    write_cache(ACCOUNT, cache_like(3000), chunk_size=250)
    microsoft_auth.delete_cache(ACCOUNT)
    assert stored(keyring_file) == {}


# -- against the fake identity platform -------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph(seed=4)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env(fake: FakeGraph, keyring_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test keyring, and trust in the fake's self-signed TLS certificate."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
    return keyring_file


def approving_user(fake: FakeGraph) -> threading.Thread:
    """The person at another device: approves the code while the command is polling."""

    def act() -> None:
        for _ in range(1000):
            if any(form(r).get("grant_type", "").endswith("device_code")
                   for r in oauth(fake, "token")):
                break  # msal has polled once (and heard authorization_pending)
            time.sleep(0.01)
        fake.approve_device_code(fake.device_user_code)

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


def sign_in(fake: FakeGraph, shown: list[str] | None = None, *, threaded: bool = False,
            chunk_size: int = CHUNK_SIZE) -> Authorised:
    """`followup auth`: the person approves while msal polls (``threaded``), or, quicker,
    as soon as the code is shown, so that msal's first poll succeeds."""
    shown = [] if shown is None else shown

    def echo(text: str) -> None:
        shown.append(text)
        if not threaded:
            fake.approve_device_code(fake.device_user_code)

    thread = approving_user(fake) if threaded else None
    result = authorize(ACCOUNT, fake.client_id, fake.tenant_id, echo=echo,
                       authority=fake.https_authority_url, chunk_size=chunk_size)
    if thread:
        thread.join(10)
    return result


def source(fake: FakeGraph, **kwargs: Any) -> TokenSource:
    return TokenSource(ACCOUNT, fake.client_id, fake.tenant_id,
                       authority=kwargs.pop("authority", fake.https_authority_url), **kwargs)


def form(request: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.body.decode()).items()}


def oauth(fake: FakeGraph, endpoint: str) -> list[Any]:
    return [r for r in fake.requests if r.path.endswith(f"/oauth2/v2.0/{endpoint}")]


def graph_me(fake: FakeGraph, token: str) -> int:
    answer = requests.get(fake.url + "v1.0/me", headers={"Authorization": f"Bearer {token}"},
                          timeout=10)
    return answer.status_code


def secrets_of(cache_text: str) -> set[str]:
    """Every token in a serialised msal cache."""
    data = json.loads(cache_text)
    return {entry["secret"] for kind in ("AccessToken", "RefreshToken", "IdToken")
            for entry in data.get(kind, {}).values()}


def test_device_code_sign_in_stores_the_cache_and_asks_exactly_our_scopes(
        fake: FakeGraph, env: Path) -> None:
    shown: list[str] = []
    result = sign_in(fake, shown, threaded=True)

    assert result.username == fake.email
    assert set(SCOPES) <= result.scopes
    polls = [r for r in oauth(fake, "token") if "device_code" in form(r)]
    assert polls[0].status == 400 and polls[-1].status == 200  # pending, then approved
    (asked,) = oauth(fake, "devicecode")
    scopes = set(form(asked)["scope"].split())
    assert scopes == {*SCOPES, "offline_access", "openid", "profile"}
    assert "Mail.Send" not in " ".join(form(r).get("scope", "") for r in fake.requests
                                       if r.method == "POST")
    assert form(asked)["client_id"] == fake.client_id
    text = "\n".join(shown)
    assert fake.device_user_code in text and fake.verification_uri in text  # msal's message

    cache = read_cache(ACCOUNT)
    assert cache is not None and json.loads(cache)["RefreshToken"]
    assert graph_me(fake, source(fake).access_token()) == 200


def test_the_token_comes_from_the_cache_until_it_is_due(fake: FakeGraph, env: Path) -> None:
    sign_in(fake)
    tokens = source(fake)
    before = len(oauth(fake, "token"))
    inode = env.stat().st_ino

    first, second = tokens.access_token(), tokens.access_token()

    assert first == second and graph_me(fake, first) == 200
    assert len(oauth(fake, "token")) == before  # no refresh while the token is fresh
    assert env.stat().st_ino == inode  # and nothing written back: the cache did not change


def test_a_rejected_token_is_refreshed_and_the_new_cache_written_back(
        fake: FakeGraph, env: Path) -> None:
    sign_in(fake)
    tokens = source(fake)
    old = tokens.access_token()
    fake.expire_access_tokens()
    assert graph_me(fake, old) == 401

    new = tokens.access_token(force_refresh=True)

    assert new != old and graph_me(fake, new) == 200
    refresh = oauth(fake, "token")[-1]
    assert form(refresh)["grant_type"] == "refresh_token"
    assert "Mail.Send" not in form(refresh)["scope"]
    stored_cache = read_cache(ACCOUNT)
    assert stored_cache is not None and new in secrets_of(stored_cache)
    assert old not in secrets_of(stored_cache)
    # A new process starts from the written-back cache: no request to the token endpoint.
    count = len(oauth(fake, "token"))
    assert source(fake).access_token() == new
    assert len(oauth(fake, "token")) == count


def test_a_token_near_its_expiry_is_refreshed_silently(fake: FakeGraph, env: Path) -> None:
    fake.access_ttl = 120  # msal treats a token with under 5 minutes left as expired
    sign_in(fake)
    tokens = source(fake)
    first = tokens.access_token()
    second = tokens.access_token()
    assert first != second and graph_me(fake, second) == 200
    stored_cache = read_cache(ACCOUNT)
    assert stored_cache is not None and second in secrets_of(stored_cache)


def test_a_big_cache_is_split_and_refreshes_keep_it_whole(
        fake: FakeGraph, env: Path, caplog: pytest.LogCaptureFixture) -> None:
    sign_in(fake, chunk_size=250)
    assert len(stored(env)) > 2
    assert all(len(value) <= 250 for value in stored(env).values())
    tokens = source(fake, chunk_size=250)
    old = tokens.access_token()
    fake.expire_access_tokens()
    caplog.set_level(logging.INFO)
    caplog.clear()
    new = tokens.access_token(force_refresh=True)

    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []  # routine: quiet

    entries = stored(env)
    assert all(len(value) <= 250 for value in entries.values())
    cache = read_cache(ACCOUNT)
    assert cache is not None and new in secrets_of(cache) and old not in secrets_of(cache)
    count = json.loads(entries[ACCOUNT].split("\n", 1)[0])["chunks"]
    assert sorted(entries) == sorted([ACCOUNT] + [f"{ACCOUNT}#{i}" for i in range(1, count)])


def test_a_revoked_grant_asks_to_authorise_again(fake: FakeGraph, env: Path) -> None:
    sign_in(fake)
    tokens = source(fake)
    tokens.access_token()
    fake.revoke()

    with pytest.raises(AuthExpired) as caught:
        tokens.access_token(force_refresh=True)

    assert caught.value.account == ACCOUNT
    assert caught.value.how_to_fix == f"run: followup auth {ACCOUNT}"
    assert f"run: followup auth {ACCOUNT}" in str(caught.value)


def test_signing_in_again_resumes_a_running_token_source(fake: FakeGraph, env: Path) -> None:
    """Rule 9: after `followup auth`, the running service goes on without a restart."""
    sign_in(fake)
    tokens = source(fake)
    tokens.access_token()
    fake.revoke()
    with pytest.raises(AuthExpired):
        tokens.access_token(force_refresh=True)

    sign_in(fake)

    assert graph_me(fake, tokens.access_token(force_refresh=True)) == 200


def test_a_newer_cache_stored_meanwhile_is_not_overwritten(fake: FakeGraph, env: Path) -> None:
    sign_in(fake)
    tokens = source(fake)
    tokens.access_token()
    sign_in(fake)  # `followup auth` again while the service runs
    newer = read_cache(ACCOUNT)
    fake.expire_access_tokens()

    token = tokens.access_token(force_refresh=True)  # refreshes with the old grant

    assert graph_me(fake, token) == 200
    assert read_cache(ACCOUNT) == newer


def test_not_signed_in_yet(fake: FakeGraph, env: Path) -> None:
    with pytest.raises(AuthExpired) as caught:
        source(fake).access_token()
    assert caught.value.how_to_fix == f"not authorised yet; run: followup auth {ACCOUNT}"


def test_an_unreachable_sign_in_service_is_unavailable_not_expired(
        fake: FakeGraph, env: Path) -> None:
    sign_in(fake)
    tokens = source(fake)
    tokens.access_token()
    fake.stop()

    with pytest.raises(ProviderUnavailable):
        tokens.access_token(force_refresh=True)
    with pytest.raises(ProviderUnavailable):
        source(fake).access_token()  # a new process: msal's discovery request fails
    assert read_cache(ACCOUNT) is not None  # the grant is kept for the next cycle


def test_a_plain_http_test_authority_on_this_machine_works(
        fake: FakeGraph, keyring_file: Path) -> None:
    """No CA bundle: the http authority of the fake, which msal is shown as https."""
    authorize(ACCOUNT, fake.client_id, fake.tenant_id,
              echo=lambda _: fake.approve_device_code(fake.device_user_code),
              authority=fake.authority_url)
    assert graph_me(fake, source(fake, authority=fake.authority_url).access_token()) == 200


@pytest.mark.parametrize(("cloud", "tenant", "authority", "problem"), [
    ("mars", "common", None, "unknown cloud 'mars'"),
    ("global", "a/b", None, "tenant 'a/b'"),
    ("global", "common", "http://login.example.com/common", "plain http only"),
    ("global", "common", "https://login.example.com", "https://HOST/TENANT"),
])
def test_unusable_sign_in_settings_are_refused(cloud: str, tenant: str, authority: str | None,
                                               problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        TokenSource(ACCOUNT, "client", tenant, cloud, authority)


def test_clouds_set_the_authority_and_graph_root() -> None:
    assert authority_for("global", "common") == "https://login.microsoftonline.com/common"
    assert authority_for("usgov", "contoso.onmicrosoft.com") == \
        "https://login.microsoftonline.us/contoso.onmicrosoft.com"
    assert authority_for("china", "organizations") == \
        "https://login.chinacloudapi.cn/organizations"
    assert graph_root("usgov-dod") == "https://dod-graph.microsoft.us"


def test_no_token_in_output_or_logs(fake: FakeGraph, env: Path,
                                    caplog: pytest.LogCaptureFixture,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    sign_in(fake, shown)
    tokens = source(fake)
    tokens.access_token()
    fake.expire_access_tokens()
    tokens.access_token(force_refresh=True)
    fake.revoke()
    with pytest.raises(AuthExpired) as caught:
        tokens.access_token(force_refresh=True)

    cache = read_cache(ACCOUNT)
    assert cache is not None
    values = secrets_of(cache) | {fake.last_device_code}
    out = capsys.readouterr()
    texts = [caplog.text, out.out, out.err, *shown, str(caught.value)]
    assert len(values) >= 4
    assert [v for v in values if any(v in t for t in texts)] == []


class FormPostBrowser(webbrowser.BaseBrowser):
    """Plays the person's browser: Microsoft's sign-in page ends in the redirect, which Entra
    delivers (response_mode=form_post) as a form the browser posts to the loopback address."""

    def __init__(self) -> None:
        super().__init__("interview-followup-test")
        self.opened: list[str] = []
        self.page = ""
        self.posted: dict[str, str] = {}
        self.thread: threading.Thread | None = None

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        self.thread = threading.Thread(target=self._visit, args=(url,), daemon=True)
        self.thread.start()
        return True  # a real browser returns at once; the page loads on its own

    def _visit(self, url: str) -> None:
        page = _Form()
        page.feed(requests.get(url, timeout=10).text)  # Entra's page that posts itself
        self.posted = page.fields
        self.page = requests.post(page.action, data=page.fields, timeout=10).text


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values["action"]
        elif tag == "input":
            self.fields[values["name"]] = values["value"]


def test_browser_sign_in_uses_the_loopback_redirect(fake: FakeGraph, env: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    browser = FormPostBrowser()
    monkeypatch.setattr(webbrowser, "_browsers", dict(webbrowser._browsers))
    monkeypatch.setattr(webbrowser, "_tryorder", None if webbrowser._tryorder is None
                        else list(webbrowser._tryorder))
    webbrowser.register(browser.name, None, browser, preferred=True)
    shown: list[str] = []

    result = authorize(ACCOUNT, fake.client_id, fake.tenant_id, browser=True,
                       echo=shown.append, authority=fake.https_authority_url)

    assert browser.thread is not None
    browser.thread.join(10)
    assert result.username == fake.email
    (opened,) = browser.opened
    query = dict(parse_qsl(urlsplit(opened).query))
    assert set(query["scope"].split()) == {*SCOPES, "offline_access", "openid", "profile"}
    assert query["redirect_uri"].startswith("http://localhost:")
    assert query["code_challenge_method"] == "S256"
    assert "signed in" in browser.page
    assert oauth(fake, "devicecode") == []  # the browser flow, not the device code
    cache = read_cache(ACCOUNT)
    assert cache is not None
    assert graph_me(fake, source(fake).access_token()) == 200
    assert "Opening Microsoft's sign-in page" in shown[0]
    leaks = [v for v in {browser.posted["code"], *secrets_of(cache)} if v in caplog.text]
    assert leaks == []


# -- followup auth / followup doctor -------------------------------------------------
@pytest.fixture
def config_file(tmp_path: Path, fake: FakeGraph) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    path = folder / "config.toml"
    path.write_text(
        f'[me]\nname = "Alex Rivera"\nemail = "{fake.email}"\ntimezone = "UTC"\n'
        f'[daemon]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[accounts]]\nname = "{ACCOUNT}"\nprovider = "microsoft"\n'
        f'client_id = "{fake.client_id}"\ntenant = "{fake.tenant_id}"\n'
        f'endpoint = "{fake.url}"\nauthority = "{fake.https_authority_url}"\n'
    )
    return path


def test_cli_auth_signs_in_with_a_device_code_and_resumes_the_account(
        fake: FakeGraph, env: Path, config_file: Path, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    store.pause(ACCOUNT, f"run: followup auth {ACCOUNT}", datetime.now(UTC))
    store.close()
    thread = approving_user(fake)

    result = CliRunner().invoke(cli, ["--config", str(config_file), "auth", ACCOUNT])
    thread.join(10)

    assert result.exit_code == 0, result.output
    assert f"enter the code {fake.device_user_code}" in result.output
    assert (f"Authorised 'work' (Microsoft) as {fake.email}: granted Calendars.Read, "
            "Mail.ReadWrite, User.Read; the token cache is in the system keyring. The account "
            "is no longer paused.") in result.output
    store = Store.open(tmp_path / "state")
    assert store.paused() == {}
    store.close()
    cache = read_cache(ACCOUNT)
    assert cache is not None
    assert [v for v in secrets_of(cache) if v in result.output] == []


def test_cli_auth_browser_flag_takes_the_browser_flow(
        fake: FakeGraph, env: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    browser = FormPostBrowser()
    monkeypatch.setattr(webbrowser, "_browsers", dict(webbrowser._browsers))
    monkeypatch.setattr(webbrowser, "_tryorder", None if webbrowser._tryorder is None
                        else list(webbrowser._tryorder))
    webbrowser.register(browser.name, None, browser, preferred=True)

    result = CliRunner().invoke(cli, ["--config", str(config_file), "auth", ACCOUNT,
                                      "--browser"])

    assert result.exit_code == 0, result.output
    assert "Opening Microsoft's sign-in page" in result.output
    assert "Authorised 'work' (Microsoft)" in result.output
    assert len(browser.opened) == 1 and oauth(fake, "devicecode") == []


def test_cli_auth_with_an_unknown_cloud_is_a_usage_error(fake: FakeGraph, env: Path,
                                                         config_file: Path) -> None:
    config_file.write_text(config_file.read_text().replace(
        'provider = "microsoft"\n', 'provider = "microsoft"\ncloud = "mars"\n'))
    result = CliRunner().invoke(cli, ["--config", str(config_file), "auth", ACCOUNT])
    assert result.exit_code == 2
    assert "unknown cloud 'mars'" in result.output
    assert fake.requests == []


def test_cli_auth_when_sign_in_is_declined(fake: FakeGraph, env: Path,
                                          config_file: Path) -> None:
    def decline() -> None:
        for _ in range(1000):
            if oauth(fake, "devicecode"):
                break
            time.sleep(0.01)
        fake.deny_device_code()

    thread = threading.Thread(target=decline, daemon=True)
    thread.start()
    result = CliRunner().invoke(cli, ["--config", str(config_file), "auth", ACCOUNT])
    thread.join(10)
    assert result.exit_code == 1
    assert "Microsoft refused the sign-in: authorization_declined" in result.output
    assert stored(env) == {}


def _doctor(config_file: Path) -> list[str]:
    lines: list[str] = []
    run_checks(load_config(config_file), lines.append)
    return [line for line in lines if f"account {ACCOUNT} " in line]


def test_doctor_checks_token_refresh_and_scopes(fake: FakeGraph, env: Path,
                                                config_file: Path) -> None:
    sign_in(fake)
    before = len(oauth(fake, "token"))
    lines = _doctor(config_file)
    assert lines[:3] == [
        f"ok    account work token: stored in the system keyring for {fake.email}",
        "ok    account work refresh: Microsoft issued a new access token",
        "ok    account work scopes: Calendars.Read, Mail.ReadWrite, User.Read",
    ]
    assert lines[3].startswith("ok    account work (microsoft): calendar: ")  # Graph answered
    assert len(oauth(fake, "token")) == before + 1  # a real refresh


def test_doctor_reports_a_revoked_grant_once(fake: FakeGraph, env: Path,
                                             config_file: Path) -> None:
    sign_in(fake)
    fake.revoke()
    lines = _doctor(config_file)
    assert lines[0].startswith("ok    account work token")
    assert lines[1].startswith("FAIL  account work refresh: ")
    assert lines[1].endswith("run: followup auth work")
    assert len(lines) == 2  # the access check would only repeat it


def test_doctor_without_a_stored_token(fake: FakeGraph, env: Path, config_file: Path) -> None:
    assert _doctor(config_file) == [
        "FAIL  account work token: nothing stored in the keyring; run: followup auth work"]


@pytest.mark.parametrize("fault", ["500", "503", "drop"])
def test_a_failing_token_endpoint_is_unavailable_not_expired(fake: FakeGraph, env: Path,
                                                             fault: str) -> None:
    sign_in(fake)
    tokens = source(fake)
    tokens.access_token()
    fake.inject(fault, at=[0, 1], paths="/oauth2/v2.0/token", oauth=True, retry_after=0)

    with pytest.raises(ProviderUnavailable):
        tokens.access_token(force_refresh=True)
    assert read_cache(ACCOUNT) is not None
