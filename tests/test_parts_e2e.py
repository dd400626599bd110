"""End to end: accounts whose calendar and mailbox come from different backends.

`followup run --once` (click's runner, this process) for an IMAP + CalDAV account: a
real Dovecot (tests/test_imap.py's server, on free ports) and a real Radicale
(tests/test_caldav.py's, in a thread on port 0); and for a mixed account, a Google
calendar through the Google fake beside an IMAP mailbox. Then `followup auth` and
`followup doctor` for IMAP and a feed, with a file keyring. Secrets never appear in
the output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.providers.base import Attendee, Response
from tests.contract import interview
from tests.fakes.calendar_feed import serve_calendar
from tests.keyring_backend import stored, use_file_keyring
from tests.test_caldav import PASSWORD, USER, Radicale, Writer
from tests.test_google_e2e import put_interview
from tests.test_google_provider import credentials_json, started_fake
from tests.test_imap import Server, running_server

ME = "alex.rivera@example.org"
MARKER = "X-Interview-Followup"


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Server]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[Radicale]:
    running = Radicale(tmp_path)
    yield running
    running.stop()


def write_config(folder: Path, accounts: str) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[me]\nname = "Alex Rivera"\nemail = "{ME}"\ntimezone = "UTC"\n'
        '[timing]\nworking_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]\n'
        'working_hours = "00:00-24:00"\n'
        '[notify]\ndesktop = false\n'
        '[daemon]\nstate_dir = "state"\n' + accounts)
    return config


def imap_part(server: Server, user: str) -> str:
    return ('[accounts.mailbox]\ntype = "imap"\nhost = "127.0.0.1"\n'
            f'port = {server.port}\nsecurity = "plain"\nusername = "{user}"\n')


def drafts_in(server: Server, user: str) -> list[tuple[str, bytes]]:
    """(marker, raw headers) of every message in the user's Drafts folder."""
    client = server.client(user)
    try:
        client.select_folder("Drafts", readonly=True)
        found = []
        for data in client.fetch(client.search(), ["BODY.PEEK[HEADER]", "FLAGS"]).values():
            header = data[b"BODY[HEADER]"]
            marker = next(line.split(b":", 1)[1].strip().decode()
                          for line in header.splitlines() if line.startswith(MARKER.encode()))
            assert b"\\Draft" in data[b"FLAGS"]
            found.append((marker, header))
        return sorted(found)
    finally:
        client.logout()


def run_once(config: Path) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_imap_and_caldav_account_end_to_end(dovecot: Server, radicale: Radicale,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = dovecot.add_user()
    keyring = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    keyring.write_text(json.dumps({"interview-followup": {"fm/imap": password,
                                                          "fm/caldav": PASSWORD}}))
    writer = Writer(radicale)
    writer.make("Work")
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    writer.put(interview(
        "iv-e2e@acme.example", start=end - timedelta(hours=1), end=end,
        organizer=Attendee("dana@acme.example", "Dana Recruiter"),
        attendees=(Attendee(ME, "Alex Rivera", Response.ACCEPTED),
                   Attendee("jane.kim@acme.example", "Jane Kim", Response.ACCEPTED))))
    config = write_config(tmp_path, (
        '[[accounts]]\nname = "fm"\n[accounts.calendar]\ntype = "caldav"\n'
        f'url = "{radicale.url}"\nusername = "{USER}"\ncalendars = ["Work"]\n'
        + imap_part(dovecot, user)))

    result = run_once(config)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("wrote 1 draft(s)"), result.output
    (marker, header), = drafts_in(dovecot, user)
    assert marker.endswith("/thank_you/jane.kim@acme.example")
    assert b"To: Jane Kim <jane.kim@acme.example>" in header
    # At most once: a second cycle writes nothing more.
    result = run_once(config)
    assert result.stdout.startswith("wrote 0 draft(s)"), result.output
    assert len(drafts_in(dovecot, user)) == 1
    assert password not in result.output and PASSWORD not in result.output


def test_google_calendar_with_an_imap_mailbox(dovecot: Server, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = dovecot.add_user()
    fake = started_fake(seed=7, email=ME)
    try:
        (tmp_path / "client_secret.json").write_text(json.dumps(fake.client_secrets_json()))
        keyring = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
        # The Google token under the account's name, the IMAP password beside it.
        keyring.write_text(json.dumps({"interview-followup": {
            "mixed": credentials_json(fake), "mixed/imap": password}}))
        put_interview(fake, "gcal-1", timedelta(hours=2), interviewers=("Jane",))
        config = write_config(tmp_path, (
            '[[accounts]]\nname = "mixed"\n[accounts.calendar]\ntype = "google"\n'
            f'client_secrets = "client_secret.json"\nendpoint = "{fake.url}"\n'
            + imap_part(dovecot, user)))
        result = run_once(config)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("wrote 1 draft(s)"), result.output
        (marker, _), = drafts_in(dovecot, user)
        assert marker.endswith("/thank_you/jane@acme.example")
        assert fake.drafts == {}  # the calendar is Google's, the mail is not
        assert not any("/gmail/" in r.path for r in fake.api_requests)
        assert set(stored(keyring)) == {"mixed", "mixed/imap"}
    finally:
        fake.stop()
    assert fake.send_attempts == []


# -- auth and doctor ----------------------------------------------------------------

@pytest.fixture
def feed_server() -> Iterator[str]:
    from tests.test_local_provider import render

    end = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    body = render({"f": interview("feed-1@acme.example", start=end - timedelta(hours=1),
                                  end=end)})
    with serve_calendar(body, "/secret-4f2a/basic.ics", etag='"v1"') as url:
        yield url


def test_auth_and_doctor_for_an_imap_mailbox_and_a_feed(
        dovecot: Server, feed_server: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    user, password = dovecot.add_user()
    keyring = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    config = write_config(tmp_path, (
        '[[accounts]]\nname = "gmail"\n[accounts.calendar]\ntype = "feed"\n'
        + imap_part(dovecot, user)))
    runner = CliRunner()

    # Nothing stored yet: doctor says what to run, and names no secret.
    result = runner.invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code == 1
    assert "FAIL  account gmail calendar (feed):" in result.output
    assert "followup auth gmail" in result.output

    # A wrong password is refused and nothing is stored.
    result = runner.invoke(cli, ["--config", str(config), "auth", "gmail"],
                           input=f"{feed_server}\nwrong\n")
    assert result.exit_code == 1, result.output
    assert set(stored(keyring)) == {"gmail/feed-url"}
    assert "secret-4f2a" not in result.output and "wrong" not in result.output

    result = runner.invoke(cli, ["--config", str(config), "auth", "gmail"],
                           input=f"{feed_server}\n{password}\n")
    assert result.exit_code == 0, result.output
    assert stored(keyring) == {"gmail/feed-url": feed_server, "gmail/imap": password}
    assert "1 events in the next 90 days" in result.output
    assert "drafts go to: Drafts" in result.output
    assert password not in result.output and "secret-4f2a" not in result.output

    result = runner.invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("ok    account gmail calendar (feed): http://127.0.0.1:")
               and "1 events" in line for line in lines), result.output
    assert any(line.startswith("ok    account gmail mailbox (imap): drafts go to: Drafts")
               for line in lines), result.output
    assert any(line.startswith("ok    account gmail (feed+imap):") for line in lines)
    assert password not in result.output and "secret-4f2a" not in result.output


def test_auth_and_doctor_for_a_caldav_calendar(radicale: Radicale, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    Writer(radicale).make("Work")
    keyring = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "Mail" / sub).mkdir(parents=True)
    config = write_config(tmp_path, (
        '[[accounts]]\nname = "dav"\n[accounts.calendar]\ntype = "caldav"\n'
        f'url = "{radicale.url}"\nusername = "{USER}"\n'
        '[accounts.mailbox]\ntype = "maildir"\npath = "Mail"\n'))
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "auth", "dav"], input="nope\n")
    assert result.exit_code == 1 and stored(keyring) == {}
    result = runner.invoke(cli, ["--config", str(config), "auth", "dav"], input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "calendars read: Work" in result.output and PASSWORD not in result.output
    assert stored(keyring) == {"dav/caldav": PASSWORD}
    result = runner.invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code == 0, result.output
    assert "ok    account dav calendar (caldav): calendars read: Work" in result.output
