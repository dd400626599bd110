"""Accounts as a calendar part and a mailbox part, each checked against its backend's
own option table (providers.REGISTRY); `provider = ...` as the shorthand for both."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_followup import providers
from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import AccountConfig, PartConfig, load_config, open_account
from interview_followup.daemon.errors import ConfigError
from tests.test_config import GOOD, write_config

ME = '[me]\nname = "Alex Rivera"\nemail = "alex@fastmail.example"\n'

FASTMAIL = ME + """
[[accounts]]
name = "fastmail"

[accounts.calendar]
type = "caldav"
preset = "fastmail"
username = "alex@fastmail.example"
calendars = ["Job search"]

[accounts.mailbox]
type = "imap"
preset = "fastmail"
timeout = 30
"""


def test_an_imap_and_caldav_account(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, FASTMAIL))
    (entry,) = config.accounts
    assert entry.provider == "caldav+imap"
    assert entry.calendar == PartConfig("caldav", {"preset": "fastmail",
                                                   "username": "alex@fastmail.example",
                                                   "calendars": ["Job search"]})
    assert entry.mailbox == PartConfig("imap", {"preset": "fastmail", "timeout": 30.0})
    assert entry.parts() == (entry.calendar, entry.mailbox)


def test_the_shorthand_is_two_parts(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, GOOD))
    (entry,) = config.accounts
    assert (entry.provider, entry.calendar, entry.mailbox) == ("local", None, None)
    calendar, mailbox = entry.parts()
    assert calendar == PartConfig("local", {"path": tmp_path / "cal.ics"})
    assert mailbox == PartConfig("maildir", {"path": tmp_path / "Mail"})
    google = AccountConfig("g", "google", {"client_secrets": tmp_path / "c.json"})
    assert [p.type for p in google.parts()] == ["google", "google"]


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "cals" / "work").mkdir(parents=True)
    body = ME + ('[[accounts]]\nname = "khal"\n[accounts.calendar]\ntype = "vdir"\n'
                 'path = "cals/work"\n[accounts.mailbox]\ntype = "maildir"\npath = "Mail"\n')
    (entry,) = load_config(write_config(tmp_path, body)).accounts
    assert entry.calendar == PartConfig("vdir", {"path": tmp_path / "cals" / "work"})
    assert entry.mailbox == PartConfig("maildir", {"path": tmp_path / "Mail"})
    account = open_account(entry, load_config(tmp_path / "config.toml"))
    assert (account.provider, type(account.calendar).__name__,
            type(account.mailbox).__name__) == ("vdir+maildir", "VdirCalendar", "MaildirMailbox")
    account.close()


def test_every_problem_with_its_key_path_and_line(tmp_path: Path) -> None:
    body = ME + """
[[accounts]]
name = "home"
provider = "local"
calendar = "cal.ics"
maildir = "Mail"

[[accounts]]
name = "fastmail"

[accounts.calendar]
type = "caldv"
url = "https://dav.example.org/"

[accounts.mailbox]
type = "imap"
prest = "fastmail"
port = "993"
security = "ssl"

[[accounts]]
name = "files"
[accounts.calendar]
type = "local"
path = "nowhere.ics"
[accounts.mailbox]
type = "maildir"
"""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.problems == [
        "accounts[1].calendar.type (line 15): unknown calendar type 'caldv'; did you mean "
        "'caldav'? (available: local, vdir, feed, caldav, google, microsoft)",
        "accounts[1].mailbox.prest (line 20): unknown key for mailbox type 'imap'; did you "
        "mean 'preset'? (known: auth, certificate, drafts, host, port, preset, security, "
        "sent, skip_folders, timeout, type, username)",
        "accounts[1].mailbox.port (line 21): must be a whole number, not text in quotes",
        "accounts[1].mailbox.host: required (or a preset)",
        "accounts[1].mailbox.security (line 22): must be one of tls, starttls, plain",
        f"accounts[2].calendar.path (line 28): file not found: {tmp_path / 'nowhere.ics'}",
        "accounts[2].mailbox.path: required",
    ]


def test_backend_checks_report_by_option(tmp_path: Path) -> None:
    body = ME + ('[[accounts]]\nname = "x"\n[accounts.calendar]\ntype = "feed"\n'
                 'url = "https://calendar.example/secret.ics"\n'
                 '[accounts.mailbox]\ntype = "imap"\nsecurity = "ssl"\n')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.problems == [
        "accounts[0].calendar.url (line 8): unknown key for calendar type 'feed' (known: type)",
        "accounts[0].mailbox.host: required (or a preset)",
        "accounts[0].mailbox.security (line 11): must be one of tls, starttls, plain",
    ]


def test_a_missing_part_and_unknown_account_keys(tmp_path: Path) -> None:
    body = ME + ('[[accounts]]\nname = "x"\nmailboxx = 1\n[accounts.calendar]\n'
                 'type = "feed"\n')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.problems[0].startswith(
        "accounts[0].mailboxx (line 6): unknown key; did you mean 'mailbox'?")
    assert info.value.problems[1] == (
        "accounts[0].mailbox: missing [accounts.mailbox] (type = one of: maildir, imap, "
        "google, microsoft)")


def test_a_google_calendar_beside_an_imap_mailbox(tmp_path: Path) -> None:
    (tmp_path / "client.json").write_text("{}")
    body = ME + ('[[accounts]]\nname = "mixed"\n[accounts.calendar]\ntype = "google"\n'
                 'client_secrets = "client.json"\n[accounts.mailbox]\ntype = "imap"\n'
                 'preset = "fastmail"\n')
    config = load_config(write_config(tmp_path, body))
    (entry,) = config.accounts
    assert entry.calendar == PartConfig("google", {"client_secrets": tmp_path / "client.json"})
    account = open_account(entry, config)
    assert (account.provider, type(account.calendar).__name__,
            type(account.mailbox).__name__) == ("google+imap", "GoogleCalendar", "ImapMailbox")
    account.close()
    # Two sign-ins would share the account's keyring entry.
    body = body.replace('type = "imap"\npreset = "fastmail"', 'type = "microsoft"\n'
                        'client_id = "abc"')
    with pytest.raises(ConfigError, match=r"accounts\[0\]\.mailbox\.type \(line 10\): a "
                       "google calendar and a microsoft mailbox need two sign-ins"):
        load_config(write_config(tmp_path, body))


def test_a_missing_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "caldav" else real(name, *a))
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, FASTMAIL))
    assert info.value.problems == [
        "accounts[0].calendar.type (line 9): calendar type 'caldav' needs the 'caldav' extra "
        "(module 'caldav' is not installed): pipx install --force "
        "'interview-followup[caldav]', or pip install 'interview-followup[caldav]' in its "
        "virtualenv"]


def test_a_config_error_exits_2_without_a_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, FASTMAIL.replace('type = "imap"', 'type = "pop3"'))
    result = CliRunner().invoke(cli, ["--config", str(path), "doctor"])
    assert result.exit_code == 2
    assert "accounts[0].mailbox.type (line 15): unknown mailbox type 'pop3'" in result.output
    assert "Traceback" not in result.output


def test_every_backend_has_a_light_table_with_help() -> None:
    import subprocess
    import sys

    for (part, kind), backend in providers.REGISTRY.items():
        for name, kind_of, _default, text in providers.options_table(backend):
            assert name.isidentifier() and isinstance(kind_of, type) and text, (part, kind)
    # Reading every table loads no SDK (the config check stays cheap).
    code = ("import sys\nfrom interview_followup import providers\n"
            "[providers.options_table(b) for b in providers.REGISTRY.values()]\n"
            "heavy = {'caldav', 'imapclient', 'googleapiclient', 'msal', 'requests'}\n"
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"


def backends_markdown() -> str:
    """docs/guide.md's reference of every backend's keys, made from the option tables."""
    names = {str: "text", int: "whole number", float: "number", bool: "true/false",
             list: "list of text", Path: "path"}
    out = []
    for (part, kind), backend in providers.REGISTRY.items():
        out.append(f"#### `[accounts.{part}]` `type = \"{kind}\"`: {backend.help}\n")
        table = providers.options_table(backend)
        if not table:
            out.append("No keys.\n")
        else:
            out.append("| key | type | default | meaning |\n| --- | --- | --- | --- |")
            for name, kind_of, default, text in table:
                shown = "—" if default is None else (
                    "none" if default in ("", []) else f"`{default!r}`".replace("'", '"'))
                out.append(f"| `{name}` | {names.get(kind_of, kind_of.__name__)} | {shown} | "
                           f"{' '.join(text.split())} |")
            out.append("")
        if backend.secret and backend.secret != "oauth":
            out.append(f"`followup auth NAME` asks for the {backend.secret} and keeps it in "
                       "the system keyring.\n")
        elif backend.secret == "oauth":
            out.append("`followup auth NAME` signs in; the token is kept in the system "
                       "keyring under the account's name.\n")
    return "\n".join(out).rstrip() + "\n"


def test_the_guide_lists_every_backend_table() -> None:
    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide.md").read_text()
    assert backends_markdown() in guide, "regenerate with tests.test_config_parts.backends_markdown"


def test_the_shorthand_is_checked_against_the_same_tables(tmp_path: Path) -> None:
    body = ME + ('[[accounts]]\nname = "home"\nprovider = "local"\ncalendar = 3\n'
                 'mailbox = "Mail"\n\n[[accounts]]\nname = "g"\nprovider = "google"\n'
                 'client_secrets = "none.json"\ncalendars = []\n')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.problems == [
        "accounts[0].mailbox (line 8): unknown key for provider 'local' (known: calendar, "
        "drafts, endpoint, layout, maildir, name, provider, sent)",
        "accounts[0].calendar (line 7): must be text in quotes, not a whole number",
        "accounts[0].maildir: required",
        f"accounts[1].client_secrets (line 13): file not found: {tmp_path / 'none.json'} (the "
        "OAuth client JSON you downloaded)",
        "accounts[1].calendars (line 14): at least one calendar id is needed (\"primary\" is "
        "your main calendar)",
    ]


def test_opening_without_the_extra_names_it(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from interview_followup.providers.errors import ProviderUnavailable

    config = load_config(write_config(tmp_path, FASTMAIL))
    (tmp_path / "caldav_without_sdk.py").write_text(
        "def open_calendar(account, options, owner):\n"
        "    import caldav_sdk_not_installed  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    key = (providers.CALENDAR, "caldav")
    monkeypatch.setitem(providers.REGISTRY, key, replace(
        providers.REGISTRY[key], opener="caldav_without_sdk:open_calendar"))
    with pytest.raises(ProviderUnavailable) as info:
        open_account(config.accounts[0], config)
    assert "calendar type 'caldav' needs the 'caldav' extra (missing module " in str(info.value)
    assert "pip install 'interview-followup[caldav]'" in str(info.value)
