"""Configuration: typed values, defaults, and every problem reported at once."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from pathlib import Path

import pytest

from interview_followup.daemon.config import load_config, parse_config, parse_duration
from interview_followup.daemon.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "cal.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (tmp_path / "Mail").mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(body)
    return path


GOOD = """
[me]
name = "Alex Rivera"
email = "Alex.Rivera@Example.org"
timezone = "Europe/Berlin"

[timing]
thank_you_after = "90m"
status_check_after = "1w"

[[accounts]]
name = "home"
provider = "local"
calendar = "cal.ics"
maildir = "Mail"
"""


def test_example_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "personal.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (tmp_path / "Mail" / "home").mkdir(parents=True)
    example = tmp_path / "config.toml"
    shutil.copy(ROOT / "config.example.toml", example)
    config = load_config(example)
    assert config.me.email == "alex.rivera@example.org"
    assert config.timing.status_check_after == timedelta(days=7)
    assert config.timing.working_start == time(9) and config.timing.working_end == time(17)
    assert config.accounts[0].options["calendar"] == tmp_path / "calendars" / "personal.ics"


def test_values_are_typed_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, GOOD))
    assert config.me.email == "alex.rivera@example.org"
    assert str(config.me.timezone) == "Europe/Berlin"
    assert config.timing.thank_you_after == timedelta(minutes=90)
    assert config.timing.thank_you_window == timedelta(hours=48)  # default
    assert config.timing.status_check_after == timedelta(days=7)
    assert config.accounts[0].options["maildir"] == tmp_path / "Mail"
    assert config.detect.ignore == ("mock interview", "#nofollowup")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90m", timedelta(minutes=90)), ("1h", timedelta(hours=1)), ("48h", timedelta(hours=48)),
     ("7d", timedelta(days=7)), ("1h30m", timedelta(minutes=90)), ("2w", timedelta(days=14))],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "7 days", "-1h", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_every_problem_listed_with_key_path_and_line(tmp_path: Path) -> None:
    body = """[me]
name = "Alex"
email = "not-an-email"
timezone = "Mars/Olympus"
colour = "blue"

[timing]
thank_you_after = "soon"
working_hours = "17:00-09:00"

[[accounts]]
name = "home"
provider = "local"
calendar = "missing.ics"
maildir = "Mail"
password = "hunter2"

[[accounts]]
name = "work"
provider = "carrier-pigeon"
"""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    problems = info.value.problems
    text = str(info.value)
    assert "me.email (line 3): not an email address: 'not-an-email'" in problems
    assert any(p.startswith("me.timezone (line 4): unknown timezone 'Mars/Olympus'")
               for p in problems)
    assert any(p.startswith("me.colour (line 5): unknown key") for p in problems)
    assert any(p.startswith("timing.thank_you_after (line 8): bad duration 'soon'")
               for p in problems)
    assert any(p.startswith("timing.working_hours (line 9)") for p in problems)
    assert any(p.startswith("accounts[0].calendar (line 14): file not found") for p in problems)
    assert any(p.startswith("accounts[0].password (line 16): unknown key") for p in problems)
    assert any(p.startswith("accounts[1].provider (line 20): unknown provider 'carrier-pigeon'")
               for p in problems)
    assert len(problems) == 8
    assert text.startswith(f"configuration error in {tmp_path / 'config.toml'}:")
    assert "hunter2" not in text  # values of unknown keys are never echoed


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, "[me]\nname = \"Alex\nemail = 3\n"))
    assert "not valid TOML" in str(info.value) and "line 2" in str(info.value)


def test_missing_sections_and_required_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("[detect]\nkeywords = 'interview'\n", tmp_path / "c.toml")
    problems = info.value.problems
    assert "me: missing section [me] (your name and email)" in problems[0]
    assert any(p.startswith("detect.keywords (line 2): must be a list of strings")
               for p in problems)
    assert any("at least one [[accounts]] entry is needed" in p for p in problems)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_remote_accounts_are_checked_too(tmp_path: Path) -> None:
    body = GOOD + """
[[accounts]]
name = "gmail"
provider = "google"
client_secrets = "nowhere.json"

[[accounts]]
name = "work"
provider = "microsoft"
client_id = "abc"
cloud = "moon"
"""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.problems == [
        f"accounts[1].client_secrets (line 20): file not found: {tmp_path / 'nowhere.json'} "
        "(the OAuth client JSON you downloaded)",
        "accounts[2].cloud (line 26): unknown cloud 'moon' (one of: global, usgov, usgov-dod, "
        "china)",
    ]


def test_the_config_knows_the_clouds_the_provider_knows() -> None:
    from interview_followup.providers.microsoft import CLOUDS
    from interview_followup.providers.microsoft.auth import CLOUDS as PROVIDER_CLOUDS

    assert set(CLOUDS) == set(PROVIDER_CLOUDS)


def test_near_misses_get_a_did_you_mean_and_types_plain_words(tmp_path: Path) -> None:
    body = GOOD.replace("[timing]", '[timing]\nthank_you_afer = "2h"\n').replace(
        'provider = "local"', 'provider = "local"\nmaildri = "Mail"') + (
        '\n[notfy]\ndesktop = false\n\n[daemon]\npoll_interval = 300\n')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    problems = info.value.problems
    assert any(p.startswith("notfy") and "did you mean 'notify'?" in p for p in problems)
    assert any(p.startswith("timing.thank_you_afer (line ")
               and "unknown key; did you mean 'thank_you_after'?" in p for p in problems)
    assert any(p.startswith("accounts[0].maildri (line ") and "did you mean 'maildir'?" in p
               for p in problems)
    assert any(p.startswith("daemon.poll_interval (line ")
               and p.endswith("must be text in quotes, not a whole number") for p in problems)


def test_notify_settings(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, GOOD))
    assert config.notify.desktop is True and config.notify.command == ()
    body = GOOD + '\n[notify]\ndesktop = false\ncommand = "ntfy publish \'my topic\'"\n'
    config = load_config(write_config(tmp_path, body))
    assert config.notify.desktop is False
    assert config.notify.command == ("ntfy", "publish", "my topic")  # split, never a shell
    listed = GOOD + '\n[notify]\ncommand = ["/usr/bin/my notifier", "--quiet"]\n'
    assert load_config(write_config(tmp_path, listed)).notify.command == (
        "/usr/bin/my notifier", "--quiet")
    for bad, says in (('command = ""', "must not be empty"),
                      ("command = 3", "must be text in quotes or a list of strings, not a whole"),
                      ('desktop = "yes"', "must be true or false, not text in quotes")):
        with pytest.raises(ConfigError) as info:
            load_config(write_config(tmp_path, GOOD + f"\n[notify]\n{bad}\n"))
        assert says in str(info.value)


def test_a_provider_whose_extra_is_missing_names_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "msal" else real(name, *a))
    body = GOOD + '\n[[accounts]]\nname = "work"\nprovider = "microsoft"\nclient_id = "abc"\n'
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.problems == [
        "accounts[1].provider (line 19): provider 'microsoft' needs the 'microsoft' extra "
        "(module 'msal' is not installed): pipx install --force "
        "'interview-followup[microsoft]', or pip install 'interview-followup[microsoft]' in "
        "its virtualenv"]


def test_the_registry_names_the_extra_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from interview_followup import providers
    from interview_followup.daemon.config import open_account
    from interview_followup.providers.errors import ProviderUnavailable

    config = load_config(write_config(tmp_path, GOOD))
    backend = tmp_path / "backend_without_sdk.py"
    backend.write_text("import an_sdk_that_is_not_installed  # noqa\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for part in (providers.CALENDAR, providers.MAILBOX):
        monkeypatch.setitem(providers.REGISTRY, (part, "google"), replace(
            providers.REGISTRY[(part, "google")], shared="backend_without_sdk:open_pair"))
    with pytest.raises(ProviderUnavailable) as info:
        open_account(replace(config.accounts[0], provider="google",
                             options={"client_secrets": "x.json"}), config)
    assert "needs the 'google' extra (missing module 'an_sdk_that_is_not_installed')" in str(
        info.value)
    assert "pipx install 'interview-followup[google]'" in str(info.value)


def test_the_package_ships_the_example_and_durations_read_as_words() -> None:
    from interview_followup.daemon.config import example_config, human_duration, plural

    assert example_config() == (ROOT / "config.example.toml").read_text()
    assert human_duration(timedelta(minutes=5)) == "5 minutes"
    assert human_duration(timedelta(hours=1, minutes=30)) == "1 hour 30 minutes"
    assert human_duration(timedelta(days=7)) == "1 week"
    assert plural(1, "message") == "1 message" and plural(0, "message") == "0 messages"
