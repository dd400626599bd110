"""`followup init`: by flags (scripts) and by a scripted terminal, end to end."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import load_config
from interview_followup.daemon.demo import _ics


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
                             "--email, --calendar, --maildir\n")
    bad = CliRunner().invoke(cli, ["init", "--no-input", *FLAGS, "--timezone", "Nowhere/Land"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: --timezone: unknown time zone 'Nowhere/Land'")
    assert not (home / ".config" / "interview-followup" / "config.toml").exists()


def test_a_provider_without_its_extra_says_which_extra(home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = home / "client_secret.json"
    secrets.write_text("{}")
    monkeypatch.setattr("interview_followup.daemon.init.missing_extra",
                        lambda kind: "googleapiclient")
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
