"""End to end: `followup run --once` processes against the fake Graph server.

The token cache gets into the test keyring the way a user's does: a real msal
device-code sign-in (``providers.microsoft.auth.authorize``) against the fake's
identity endpoints. Each run is a separate process with that keyring, so tokens
are read from it and refreshed by msal exactly as in the daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interview_followup.providers.microsoft.auth import authorize, read_cache
from interview_followup.providers.microsoft.mailbox import MARKER_PROPERTY
from tests.fakes.graph_server import FakeGraph
from tests.keyring_backend import use_file_keyring

ROOT = Path(__file__).resolve().parent.parent
ME = "alex@home.example"


@dataclass
class World:
    fake: FakeGraph
    config: Path
    keyring: Path
    folder: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "PYTHON_KEYRING_BACKEND": "tests.keyring_backend.FileKeyring",
               "FOLLOWUP_TEST_KEYRING": str(self.keyring),
               "FOLLOWUP_GRAPH_RETRY_BASE": "0.01"}
        return subprocess.run(
            [sys.executable, "-c", "from interview_followup.daemon.cli import main; main()",
             "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=60, env=env)

    def cycle(self, *, until_clean: int = 1) -> subprocess.CompletedProcess[str]:
        """`run --once`; with faults injected, again (as the daemon's next poll would) until
        a cycle has no errors, at most ``until_clean`` times."""
        for _ in range(until_clean):
            result = self.run("run", "--once")
            if result.returncode == 0:
                return result
            assert "Traceback" not in result.stderr, result.stderr
        return result


def marker_of(message: dict[str, Any]) -> str:
    return next((str(p["value"]) for p in message.get("singleValueExtendedProperties") or []
                 if p["id"].lower() == MARKER_PROPERTY.lower()), "")


def drafts_by_marker(fake: FakeGraph) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for message in fake.drafts.values():
        marker = marker_of(message)
        assert marker not in found, f"two drafts carry {marker!r}"
        found[marker] = message
    return found


def kinds(fake: FakeGraph) -> list[str]:
    """'<recipient> <kind>' of every draft, sorted."""
    return sorted(f"{m.rsplit('/', 1)[1]} {m.split('/')[1]}" for m in drafts_by_marker(fake))


def at(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC"}


def person(email: str, name: str, kind: str = "required") -> dict[str, Any]:
    return {"emailAddress": {"address": email, "name": name}, "type": kind,
            "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"}}


def sign_in(fake: FakeGraph, account: str) -> None:
    fake.auto_approve = True  # the user types the code on another device at once
    shown: list[str] = []
    authorize(account, fake.client_id, fake.tenant_id, echo=shown.append,
              authority=fake.authority_url)
    assert any("code" in text for text in shown)


def write_config(folder: Path, accounts: str) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[me]\nname = "Alex Rivera"\nemail = "{ME}"\ntimezone = "UTC"\n'
        'signature = "Alex Rivera"\n'
        # Due times an hour apart, at any hour of any day: the runs below need no waiting.
        '[timing]\nstatus_check_after = "1h"\n'
        'working_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]\n'
        'working_hours = "00:00-24:00"\n'
        f'[daemon]\nstate_dir = "{folder / "state"}"\n'
        f"{accounts}")
    return config


def graph_account(fake: FakeGraph, name: str = "work") -> str:
    return (f'[[accounts]]\nname = "{name}"\nprovider = "microsoft"\n'
            f'client_id = "{fake.client_id}"\nendpoint = "{fake.url}"\n'
            f'authority = "{fake.authority_url}"\n')


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    fake = FakeGraph(seed=11, email=ME)
    fake.start()
    fake.retry_after = 0  # Retry-After is honoured (tests/test_microsoft_provider.py): 0 s here
    keyring = use_file_keyring(monkeypatch, tmp_path / "keyring.json")
    sign_in(fake, "work")
    now = datetime.now(UTC)
    # Acme: the interviewer organised it; they get the thank-you and the status check.
    fake.put_event({
        "id": "acme-1", "subject": "Interview: Platform Engineer (Acme)",
        "body": {"contentType": "text", "content": "Discussed: the on-call rotation"},
        "start": at(now - timedelta(hours=3)), "end": at(now - timedelta(hours=2)),
        "organizer": {"emailAddress": {"address": "sam@acme.example", "name": "Sam Lee"}},
        "attendees": [person(ME, "Alex Rivera"),
                      person("room-4b@acme.example", "Room 4B", "resource")],
        "responseStatus": {"response": "accepted"}, "categories": ["Interview"],
    })
    # Globex: answered before the status check is due.
    fake.put_event({
        "id": "globex-1", "subject": "Phone screen with Globex",
        "start": at(now - timedelta(hours=4)), "end": at(now - timedelta(hours=3)),
        "organizer": {"emailAddress": {"address": "lee@globex.example", "name": "Lee Park"}},
        "attendees": [person(ME, "Alex Rivera")],
        "responseStatus": {"response": "accepted"},
    })
    # Neither: all day, declined, cancelled.
    fake.put_event({"id": "allday", "subject": "Interview day", "isAllDay": True,
                    "start": at(now.replace(hour=0, minute=0, second=0, microsecond=0)),
                    "end": at(now.replace(hour=0, minute=0, second=0, microsecond=0)
                              + timedelta(days=1))})
    fake.put_event({"id": "declined", "subject": "Interview: Initech",
                    "start": at(now - timedelta(hours=5)), "end": at(now - timedelta(hours=4)),
                    "organizer": {"emailAddress": {"address": "bo@initech.example"}},
                    "attendees": [person(ME, "Alex Rivera")],
                    "responseStatus": {"response": "declined"}})
    fake.put_event({"id": "cancelled", "subject": "Interview: Hooli", "isCancelled": True,
                    "start": at(now - timedelta(hours=5)), "end": at(now - timedelta(hours=4)),
                    "organizer": {"emailAddress": {"address": "gav@hooli.example"}},
                    "attendees": [person(ME, "Alex Rivera")]})
    config = write_config(tmp_path, graph_account(fake))
    yield World(fake, config, keyring, tmp_path)
    fake.stop()
    assert fake.errors == []


def send_as_user(fake: FakeGraph, draft: dict[str, Any], minutes_ago: int) -> str:
    """The user sends the draft from Outlook, ``minutes_ago``."""
    real: Callable[[], datetime] = fake.now
    fake.now = lambda: datetime.now(UTC) - timedelta(minutes=minutes_ago)
    try:
        return fake.send_draft_as_user(draft["id"])
    finally:
        fake.now = real


def answer(fake: FakeGraph, sender: str, name: str, subject: str) -> None:
    fake.deliver({
        "subject": subject, "from": {"emailAddress": {"address": sender, "name": name}},
        "toRecipients": [{"emailAddress": {"address": ME}}],
        "receivedDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "internetMessageId": f"<answer-{sender}>",
        "body": {"contentType": "text", "content": "Thanks!"},
    }, "inbox")


def test_drafts_answers_and_one_status_check_as_a_reply(world: World) -> None:
    fake = world.fake
    first = world.cycle()
    assert first.returncode == 0, first.stderr
    assert "wrote 2 draft(s)" in first.stdout
    assert kinds(fake) == ["lee@globex.example thank_you", "sam@acme.example thank_you"]
    drafts = drafts_by_marker(fake)
    thanks = next(d for m, d in drafts.items() if m.endswith("/sam@acme.example"))
    assert [r["emailAddress"]["address"] for r in thanks["toRecipients"]] == [
        "sam@acme.example"]
    assert "on-call rotation" in thanks["body"]["content"]

    # Sam's note was sent 90 minutes ago; Lee answered (their note still unsent).
    sent_id = send_as_user(fake, thanks, minutes_ago=90)
    answer(fake, "lee@globex.example", "Lee Park", "Re: Phone screen")
    second = world.cycle()
    assert second.returncode == 0, second.stderr
    assert "wrote 1 draft(s)" in second.stdout
    checks = [d for m, d in drafts_by_marker(fake).items() if "/status_check/" in m]
    assert len(checks) == 1
    [check] = checks
    assert marker_of(check).endswith("/status_check/sam@acme.example")
    assert check["conversationId"] == fake.messages[sent_id]["conversationId"]
    assert check["subject"].lower().startswith("re:")
    assert [r["emailAddress"]["address"] for r in check["toRecipients"]] == [
        "sam@acme.example"]

    world.config.write_text(world.config.read_text().replace(
        "[daemon]\n", '[daemon]\nlog_level = "DEBUG"\n'))
    third = world.cycle()
    assert third.returncode == 0, third.stderr
    assert "wrote 0 draft(s)" in third.stdout
    assert " DEBUG " in third.stderr
    # Rule 10: no token and no message body in any output, even at DEBUG.
    said = "".join(r.stdout + r.stderr for r in (first, second, third))
    cache = read_cache("work")
    assert cache is not None
    tokens = {e["secret"] for kind in ("AccessToken", "RefreshToken")
              for e in json.loads(cache)[kind].values()}
    assert tokens and not [t for t in tokens if t in said]
    assert "on-call rotation" not in said and "Thanks!" not in said
    assert kinds(fake) == ["lee@globex.example thank_you", "sam@acme.example status_check"]
    assert fake.send_attempts == []
    assert fake.non_draft_changes == []  # nothing read, flagged, moved or edited but drafts


def test_twenty_percent_faults_still_end_with_exactly_the_right_drafts(world: World) -> None:
    fake = world.fake
    # The worst cases for certain: drafts made whose answers never arrive ...
    fake.inject("drop-after", at=[0], paths="/v1.0/me/messages", method="POST")
    fake.inject("drop-after", at=[0], paths="/createReply")
    # ... and 20% of all Graph requests failing, one way or another.
    for fault in ("429", "503", "500", "drop", "drop-after"):
        fake.inject(fault, rate=0.04)
    world.cycle(until_clean=4)
    thanks = drafts_by_marker(fake)
    assert kinds(fake) == ["lee@globex.example thank_you", "sam@acme.example thank_you"]
    send_as_user(fake, next(d for m, d in thanks.items() if m.endswith("/sam@acme.example")),
                 minutes_ago=90)
    answer(fake, "lee@globex.example", "Lee Park", "Re: Phone screen")
    world.cycle(until_clean=4)
    world.cycle(until_clean=4)
    fake.clear_faults()
    last = world.cycle()
    assert last.returncode == 0, last.stderr
    assert kinds(fake) == ["lee@globex.example thank_you", "sam@acme.example status_check"]
    assert len(fake.drafts) == 2  # no stray half-made reply either
    lost = [r.path.rsplit("/", 1)[-1] for r in fake.api_requests if r.fault == "drop-after"
            and r.method == "POST"]
    assert "messages" in lost and "createReply" in lost
    assert fake.send_attempts == []


def test_an_access_token_rejected_early_is_refreshed_and_saved(world: World) -> None:
    before = world.keyring.read_text()
    world.fake.expire_access_tokens()  # Graph rejects the cached token msal still trusts
    result = world.cycle()
    assert result.returncode == 0, result.stderr
    assert kinds(world.fake) == ["lee@globex.example thank_you", "sam@acme.example thank_you"]
    assert [r.status for r in world.fake.api_requests][:1] == [401]
    assert world.keyring.read_text() != before  # the refreshed cache went back to the keyring


def test_expired_token_pauses_only_that_account(world: World) -> None:
    fake = world.fake
    other = FakeGraph(seed=12, email="alex@other.example")
    other.start()
    try:
        sign_in(other, "other")
        now = datetime.now(UTC)
        other.put_event({
            "id": "x-1", "subject": "Interview with Umbrella",
            "start": at(now - timedelta(hours=3)), "end": at(now - timedelta(hours=2)),
            "organizer": {"emailAddress": {"address": "ada@umbrella.example"}},
            "attendees": [person(ME, "Alex Rivera")],
        })
        world.config.write_text(world.config.read_text() + graph_account(other, "other"))
        fake.revoke()  # the user revoked the app's access to the "work" mailbox
        fake.expire_access_tokens()
        result = world.cycle()
        assert result.returncode == 1
        assert "account work paused: access expired or revoked; run: followup auth work" in \
            result.stderr
        assert fake.drafts == {}
        assert [marker_of(d).rsplit("/", 1)[1] for d in other.drafts.values()] == [
            "ada@umbrella.example"]
        status = world.run("status")
        assert "followup auth work" in status.stdout
        assert "followup auth other" not in status.stdout
        asked = len(fake.api_requests)
        again = world.cycle()
        assert again.returncode == 0, again.stderr
        assert "account 'work' is paused" in again.stdout
        assert "paused:" not in again.stderr  # the log said it once, in the first run
        assert len(fake.api_requests) == asked  # a paused account is left alone
        # ... while the other account goes on (its status check was due by now).
        assert kinds(other) == ["ada@umbrella.example status_check",
                                "ada@umbrella.example thank_you"]
    finally:
        other.stop()
