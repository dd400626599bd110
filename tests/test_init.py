"""`followup init`: by flags (scripts) and by a scripted terminal, end to end."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import load_config
from interview_followup.daemon.demo import _ics
from interview_followup.providers.base import Attendee, Response
from tests.contract import interview
from tests.fakes.calendar_feed import serve_calendar
from tests.keyring_backend import stored, use_file_keyring
from tests.test_caldav import PASSWORD, USER, Radicale, Writer
from tests.test_imap import Server, running_server
from tests.test_parts_e2e import drafts_in


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user: no config; the demo's calendar as theirs."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / ".local" / "state"))
    monkeypatch.delenv("FOLLOWUP_CONFIG", raising=False)
    monkeypatch.setenv("FOLLOWUP_NOTIFY", "off")
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "personal.ics").write_text(_ics(datetime.now(UTC)), newline="")
    return tmp_path


FLAGS = ["--name", "Alex Rivera", "--email", "Alex.Rivera@example.org",
         "--timezone", "America/New_York", "--signature", "Alex Rivera\\n+1 555 0100",
         "--kind", "local", "--calendar", "~/calendars/personal.ics", "--maildir", "~/Mail"]


def test_init_by_flags_writes_a_config_doctor_accepts_and_that_runs(home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--no-input", *FLAGS])
    assert result.exit_code == 0, result.output
    path = home / ".config" / "interview-followup" / "config.toml"
    assert f"Wrote {path}:" in result.output
    assert f"Created an empty Maildir at {home / 'Mail'}" in result.output
    assert "ok    account home (local): calendar: 5 events in the window" in result.output
    assert "would write 3 draft(s)" in result.output
    assert path.stat().st_mode & 0o777 == 0o600
    raw = tomllib.loads(path.read_text())
    assert raw == {  # only what was chosen
        "me": {"name": "Alex Rivera", "email": "alex.rivera@example.org",
               "signature": "Alex Rivera\n+1 555 0100", "timezone": "America/New_York"},
        "accounts": [{"name": "home", "provider": "local",
                      "calendar": str(home / "calendars" / "personal.ics"),
                      "maildir": str(home / "Mail")}],
    }
    assert "# signs the drafts" in path.read_text()
    config = load_config(path)
    assert config.daemon.state_dir == home / ".local" / "state" / "interview-followup"
    assert list((home / "Mail" / ".Drafts" / "cur").iterdir()) == []
    once = runner.invoke(cli, ["run", "--once"])
    assert once.exit_code == 0, once.output
    assert once.stdout.splitlines()[0] == "wrote 3 draft(s)"
    assert len(list((home / "Mail" / ".Drafts" / "cur").iterdir())) == 3


def test_init_in_a_scripted_terminal(home: Path) -> None:
    for leaf in ("cur", "new", "tmp"):  # an existing Maildir is used as it is
        (home / "Mail" / leaf).mkdir(parents=True)
    answers = "\n".join([
        "Alex Rivera",
        "not-an-address",  # asked again
        "alex.rivera@example.org",
        "Mars/Olympus",  # asked again
        "Europe/Berlin",
        "",  # signature: the default, the name
        "",  # kind: local
        "",  # account name: home
        str(home / "calendars" / "personal.ics"),
        str(home / "Mail"),
        "n",  # no desktop notifications
        "y",  # a command
        "ntfy publish my-topic",
    ]) + "\n"
    result = CliRunner().invoke(cli, ["init"], input=answers)
    assert result.exit_code == 0, result.output
    assert "not an email address: 'not-an-address'" in result.output
    assert "unknown time zone 'Mars/Olympus'" in result.output
    assert "Created an empty Maildir" not in result.output
    raw = tomllib.loads((home / ".config" / "interview-followup" / "config.toml").read_text())
    assert raw["me"] == {"name": "Alex Rivera", "email": "alex.rivera@example.org",
                         "timezone": "Europe/Berlin"}
    assert raw["notify"] == {"desktop": False, "command": "ntfy publish my-topic"}
    config = load_config(home / ".config" / "interview-followup" / "config.toml")
    assert config.notify.command == ("ntfy", "publish", "my-topic")


def test_init_never_overwrites_without_a_yes(home: Path) -> None:
    path = home / "mine.toml"
    path.write_text("# my own config\n")
    args = ["--config", str(path), "init"]
    refused = CliRunner().invoke(cli, [*args, "--no-input", *FLAGS])
    assert refused.exit_code == 2
    assert refused.output == (f"error: {path} exists; pass --force to replace it (the old one "
                              "is kept as mine.toml.bak)\n")
    kept = CliRunner().invoke(cli, [*args, *FLAGS, "--no-desktop"], input="n\n")
    assert kept.exit_code == 2
    assert f"error: kept {path} as it is; nothing was written" in kept.output
    assert path.read_text() == "# my own config\n"
    forced = CliRunner().invoke(cli, [*args, "--no-input", "--force", *FLAGS])
    assert forced.exit_code == 0, forced.output
    assert (home / "mine.toml.bak").read_text() == "# my own config\n"
    assert load_config(path).me.name == "Alex Rivera"


def test_without_a_terminal_every_missing_answer_is_named(home: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "--no-input", "--name", "Alex"])
    assert result.exit_code == 2
    assert result.output == ("error: without a terminal every answer needs its flag; missing: "
                             "--email, --calendar-path, --mailbox-path\n")
    bad = CliRunner().invoke(cli, ["init", "--no-input", *FLAGS, "--timezone", "Nowhere/Land"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --timezone: unknown time zone 'Nowhere/Land'")
    assert not (home / ".config" / "interview-followup" / "config.toml").exists()


def test_a_provider_without_its_extra_says_which_extra(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = home / "client_secret.json"
    secrets.write_text("{}")
    monkeypatch.setattr("interview_followup.daemon.init.missing_extra",
                        lambda kind, modules=None: "googleapiclient")
    result = CliRunner().invoke(cli, ["init", "--no-input", "--name", "Alex", "--email",
                                      "alex@example.org", "--kind", "google",
                                      "--client-secrets", str(secrets)])
    assert result.exit_code == 2
    assert ("error: the 'google' provider is not installed: run pipx install --force "
            "'interview-followup[google]', then `followup auth gmail` and `followup doctor`"
            in result.output)
    raw = tomllib.loads((home / ".config" / "interview-followup" / "config.toml").read_text())
    assert raw["accounts"] == [{"name": "gmail", "provider": "google",
                                "client_secrets": str(secrets)}]


def test_a_google_account_not_yet_authorised_fails_doctor_with_the_fix(home: Path) -> None:
    secrets = home / "client_secret.json"
    secrets.write_text("{}")
    result = CliRunner().invoke(cli, ["init", "--no-input", "--no-auth", "--name", "Alex",
                                      "--email", "alex@example.org", "--kind", "google",
                                      "--client-secrets", str(secrets)])
    assert "Not authorised yet: run `followup auth gmail`" in result.output
    # No token yet (and, on a machine without one, no keyring): doctor says what to fix.
    assert "\nFAIL  " in result.output
    assert "Fix what FAILed above, then run `followup doctor` again." in result.output
    assert "would write" not in result.output
    assert result.exit_code == 1


def test_example_is_the_shipped_commented_config() -> None:
    result = CliRunner().invoke(cli, ["init", "--example"])
    assert result.exit_code == 0
    root = Path(__file__).parent.parent
    assert result.output == (root / "config.example.toml").read_text()
    assert (root / "daemon" / "config.example.toml").read_text() == result.output


# -- every backend: IMAP + CalDAV against real servers, a feed + a Maildir -----------

ME = "alex.rivera@example.org"
CONFIG = Path(".config") / "interview-followup" / "config.toml"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Server]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def radicale(home: Path) -> Iterator[Radicale]:
    """A CalDAV server with a calendar "Work" holding an interview that ended 2 hours ago."""
    (home / "radicale").mkdir()
    running = Radicale(home / "radicale")
    writer = Writer(running)
    writer.make("Work")
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    writer.put(interview(
        "iv-init@acme.example", start=end - timedelta(hours=1), end=end,
        organizer=Attendee("dana@acme.example", "Dana Recruiter"),
        attendees=(Attendee(ME, "Alex Rivera", Response.ACCEPTED),
                   Attendee("jane.kim@acme.example", "Jane Kim", Response.ACCEPTED))))
    yield running
    running.stop()


@pytest.fixture
def keyring(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_file_keyring(monkeypatch, home / "keyring.json")


def _runs_and_drafts_land_in_imap(home: Path, dovecot: Server, user: str) -> None:
    once = CliRunner().invoke(cli, ["run", "--once"])
    assert once.exit_code == 0, once.output
    assert once.stdout.startswith("wrote 1 draft(s)"), once.output
    (marker, header), = drafts_in(dovecot, user)
    assert marker.endswith("/thank_you/jane.kim@acme.example")
    assert b"To: Jane Kim <jane.kim@acme.example>" in header


def test_imap_and_caldav_chosen_apart_by_flags(home: Path, dovecot: Server,
                                               radicale: Radicale, keyring: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = dovecot.add_user()
    monkeypatch.setenv("FOLLOWUP_CALENDAR_SECRET", PASSWORD)
    monkeypatch.setenv("FOLLOWUP_MAILBOX_SECRET", password)
    result = CliRunner().invoke(cli, [
        "init", "--no-input", "--name", "Alex Rivera", "--email", ME, "--no-desktop",
        "--calendar", "caldav", "--mailbox", "imap", "--account", "fm",
        "--calendar-url", radicale.url, "--calendar-username", USER,
        "--calendar-calendars", "Work", "--mailbox-host", "127.0.0.1",
        "--mailbox-port", str(dovecot.port), "--mailbox-security", "plain",
        "--mailbox-username", user])
    assert result.exit_code == 0, result.output
    assert "  calendars read: Work" in result.output
    assert "  drafts go to: Drafts" in result.output
    assert "ok    account fm calendar (caldav): calendars read: Work" in result.output
    assert "ok    account fm mailbox (imap): drafts go to: Drafts" in result.output
    assert "would write 1 draft(s)" in result.output
    text = (home / CONFIG).read_text()
    assert tomllib.loads(text)["accounts"] == [{
        "name": "fm",
        "calendar": {"type": "caldav", "url": radicale.url, "username": USER,
                     "calendars": ["Work"]},
        "mailbox": {"type": "imap", "host": "127.0.0.1", "port": dovecot.port,
                    "security": "plain", "username": user}}]
    assert "# The password is not in this file: `followup auth fm` keeps it" in text
    assert stored(keyring) == {"fm/caldav": PASSWORD, "fm/imap": password}
    for secret in (PASSWORD, password):
        assert secret not in text and secret not in result.output
    _runs_and_drafts_land_in_imap(home, dovecot, user)


def test_imap_and_caldav_in_a_scripted_terminal(home: Path, dovecot: Server,
                                                radicale: Radicale, keyring: Path) -> None:
    user, password = dovecot.add_user()
    answers = "\n".join([
        "Alex Rivera", ME, "Europe/Berlin", "",
        "imap-caldav",  # any IMAP + CalDAV server
        "fm",
        "",  # calendar preset: none
        "ftp://127.0.0.1/",  # refused by the backend's settings, asked again below
        USER,
        radicale.url,
        "",  # mailbox preset: none
        "127.0.0.1", "plain", str(dovecot.port), user,
        "n", "n",  # no desktop notification, no command
        "wrong horse",  # the CalDAV password: refused, asked again
        PASSWORD,
        "n",  # not the same password for the mailbox
        password,
    ]) + "\n"
    result = CliRunner().invoke(cli, ["init"], input=answers)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "url: `url` must start with https://" in out
    assert "refused: account 'fm': access expired or revoked" in out
    assert "The same password as the one just typed? [Y/n]: n" in out
    assert "ok    account fm mailbox (imap): drafts go to: Drafts" in out
    assert "would write 1 draft(s)" in out
    text = (home / CONFIG).read_text()
    raw = tomllib.loads(text)
    assert raw["accounts"][0]["calendar"] == {"type": "caldav", "url": radicale.url,
                                              "username": USER}
    assert raw["accounts"][0]["mailbox"] == {"type": "imap", "host": "127.0.0.1",
                                             "security": "plain", "port": dovecot.port,
                                             "username": user}
    assert stored(keyring) == {"fm/caldav": PASSWORD, "fm/imap": password}
    for secret in (PASSWORD, password, "wrong horse"):
        assert secret not in text and secret not in out
    _runs_and_drafts_land_in_imap(home, dovecot, user)


def test_a_preset_setup_asks_only_what_the_preset_leaves(home: Path) -> None:
    answers = "\n".join([
        "Alex Rivera", ME, "", "",
        "1",  # the first setup: iCloud
        "",  # account name: icloud
        "",  # calendar username: the address
        "alex.r@icloud.com",  # mailbox username
        "y", "n",
    ]) + "\n"
    result = CliRunner().invoke(cli, ["init", "--no-auth"], input=answers)
    out = result.output
    assert "   1  icloud       iCloud (IMAP + CalDAV, with an app password)" in out
    assert "The calendar: caldav, a CalDAV server (iCloud, Fastmail, Nextcloud, ...), " \
           "preset icloud" in out
    assert "Calendar url" not in out and "Mailbox host" not in out  # the preset's
    assert "Not authorised yet: run `followup auth icloud`" in out
    raw = tomllib.loads((home / CONFIG).read_text())
    assert raw["accounts"] == [{
        "name": "icloud",
        "calendar": {"type": "caldav", "preset": "icloud", "username": ME},
        "mailbox": {"type": "imap", "preset": "icloud", "username": "alex.r@icloud.com"}}]
    assert "FAIL  account icloud calendar (caldav):" in out  # nothing in the keyring yet
    assert result.exit_code == 1


@pytest.fixture
def feed() -> Iterator[str]:
    """The demo's calendar at a secret address on 127.0.0.1."""
    with serve_calendar(_ics(datetime.now(UTC)).encode(), "/secret-77ab/basic.ics") as url:
        yield url


def test_a_feed_calendar_and_a_maildir_by_flags(home: Path, feed: str, keyring: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_CALENDAR_SECRET", feed)
    result = CliRunner().invoke(cli, ["init", "--no-input", "--name", "Alex Rivera",
                                      "--email", ME, "--calendar", "feed", "--mailbox",
                                      "maildir", "--mailbox-path", "~/Mail"])
    assert result.exit_code == 0, result.output
    assert f"Created an empty Maildir at {home / 'Mail'}" in result.output
    assert "events in the next 90 days\n  the address is in the system keyring" in result.output
    assert "ok    account mail calendar (feed): http://127.0.0.1:" in result.output
    assert "would write 3 draft(s)" in result.output
    text = (home / CONFIG).read_text()
    assert tomllib.loads(text)["accounts"] == [{
        "name": "mail", "calendar": {"type": "feed"},
        "mailbox": {"type": "maildir", "path": str(home / "Mail")}}]
    assert "# The secret address is not in this file" in text
    assert stored(keyring) == {"mail/feed-url": feed}
    assert "secret-77ab" not in text and "secret-77ab" not in result.output
    once = CliRunner().invoke(cli, ["run", "--once"])
    assert once.stdout.startswith("wrote 3 draft(s)"), once.output
    assert len(list((home / "Mail" / ".Drafts" / "cur").iterdir())) == 3


def test_gmail_with_an_app_password_needs_no_cloud_project(home: Path) -> None:
    result = CliRunner().invoke(cli, ["init", "--no-input", "--name", "Alex", "--email",
                                      "alex@gmail.com", "--setup", "gmail-app"])
    out = result.output
    assert "Not authorised yet: the calendar (feed) needs its address: set " \
           "FOLLOWUP_CALENDAR_SECRET, or run `followup auth gmail`" in out
    assert "Not authorised yet: the mailbox (imap) needs its password: set " \
           "FOLLOWUP_MAILBOX_SECRET" in out
    assert tomllib.loads((home / CONFIG).read_text())["accounts"] == [{
        "name": "gmail", "calendar": {"type": "feed"},
        "mailbox": {"type": "imap", "preset": "gmail", "username": "alex@gmail.com"}}]
    assert result.exit_code == 1  # doctor: nothing in the keyring yet


def test_wrong_or_missing_backend_answers_exit_2_naming_the_flag(home: Path) -> None:
    base = ["init", "--no-input", "--name", "Alex", "--email", ME]
    cases = {
        ("--calendar", "caldav", "--mailbox", "imap"):
            "error: without a terminal every answer needs its flag; missing: "
            "--calendar-url, --mailbox-host\n",
        ("--calendar", "caldav", "--mailbox", "imap", "--calendar-url", "http://example.org/",
         "--mailbox-host", "imap.example.org", "--mailbox-port", "993x"):
            "error: --mailbox-port: not a whole number: '993x'\n",
        ("--calendar", "caldav", "--mailbox", "imap", "--calendar-url", "http://example.org/",
         "--mailbox-host", "imap.example.org", "--mailbox-security", "ssl"):
            "error: --calendar-url: `url` must start with https:// (a password would travel "
            "unencrypted); --mailbox-security: must be one of tls, starttls, plain\n",
        ("--setup", "aol"): "error: --setup: unknown 'aol' (known: ",
        ("--calendar", "google", "--mailbox", "microsoft"):
            "error: a google calendar and a microsoft mailbox need two sign-ins: make them "
            "two accounts\n",
        ("--setup", "icloud", "--mailbox-preset", "outlook"):
            "error: --mailbox-preset: unknown preset 'outlook' (known: ",
    }
    for flags, message in cases.items():
        result = CliRunner().invoke(cli, [*base, *flags])
        assert result.exit_code == 2, (flags, result.output)
        assert result.output.startswith(message), (flags, result.output)
        assert "Traceback" not in result.output
    assert not (home / CONFIG).exists()
