"""Count what the Google provider asks of Google per cycle, against the fake Google server.

    python bench/google_requests.py [--events 5000] [--messages 50000] [--json FILE]

Part 1 runs the real engine (``Engine.open`` on a config whose google account
points at the fake) over a realistic account: a first cycle, idle cycles, a
cycle after one new message and a cycle that writes a draft, counting the
fake's request log per API method. Part 2 re-lists a large account from
scratch through the provider (what a first cycle or a lost checkpoint would
cost at ``--events`` events in the window and ``--messages`` messages in the
lookback). Part 3 calls the provider as the engine does for answers (issue 8):
with an interest, idle reads, an answer archived or filed under a label before
the next cycle, a message that is no candidate, the final search and an event
looked up by id; the idle cycle before issue 8 is printed beside it. Gmail quota
units per method are Google's published figures; the Calendar API counts
requests. Prints markdown for docs/benchmarks.md.

It needs the test fakes, so run it from a checkout (the project root is put on
sys.path). Nothing leaves the machine: the fake serves on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "gmail"
ME = "alex.rivera@gmail.com"
POLL = timedelta(minutes=5)  # the default [daemon] poll_interval

# Gmail quota units per method (developers.google.com/gmail/api/reference/quota).
GMAIL_UNITS = {"getProfile": 1, "history.list": 2, "messages.list": 5, "messages.get": 5,
               "labels.list": 1, "threads.get": 10, "drafts.list": 5, "drafts.get": 5,
               "drafts.create": 10}
# The idle cycle before issue 8 (commit 1bd36b8, docs/benchmarks.md of 2026-11-25): one
# events.list with the sync token and one history.list.
IDLE_BEFORE = {"requests": 2, "units": 2}
# Per user: 15,000 units per minute (250 per second, moving average); per project:
# 1,200,000 units per minute. Calendar: 600 requests per minute per user, 10,000 per
# minute per project.
GMAIL_USER_PER_SECOND = 250
GMAIL_PROJECT_PER_MINUTE = 1_200_000
CALENDAR_USER_PER_MINUTE = 600


def method_of(method: str, path: str) -> str:
    """The API method a request of the fake's log was (Google's names)."""
    if path.startswith("/calendar/"):
        return "events.get" if path.rstrip("/").split("/")[-1] != "events" else "events.list"
    rest = path.split("/users/me/", 1)[-1]
    head, _, item = rest.partition("/")
    name = {"profile": "getProfile", "history": "history.list", "labels": "labels.list",
            "threads": "threads.get"}.get(head)
    if name:
        return name
    if head in ("messages", "drafts"):
        if method == "POST":
            return f"{head}.create" if head == "drafts" else f"{head}.send"
        return f"{head}.get" if item else f"{head}.list"
    return f"{method} {path}"


def tally(requests: list[Any]) -> Counter[str]:
    return Counter(method_of(r.method, r.path) for r in requests)


def units(counts: Counter[str]) -> int:
    return sum(GMAIL_UNITS.get(m, 0) * n for m, n in counts.items())


def describe(counts: Counter[str]) -> str:
    return ", ".join(f"{m} {n}" for m, n in sorted(counts.items())) or "none"


def setup_keyring(folder: Path) -> None:
    os.environ["FOLLOWUP_TEST_KEYRING"] = str(folder / "keyring.json")
    os.environ["PYTHON_KEYRING_BACKEND"] = "tests.keyring_backend.FileKeyring"
    os.environ.setdefault("FOLLOWUP_GOOGLE_RETRY_BASE", "0.01")


def store_credentials(fake: Any) -> None:
    from interview_followup.providers._shared import secrets
    from interview_followup.providers.google import auth as google_auth

    tokens = fake.issue_tokens(google_auth.SCOPES)
    expiry = datetime.now(UTC) + timedelta(hours=1)
    secrets.set_secret(ACCOUNT, json.dumps({
        "token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
        "token_uri": fake.url + "token", "client_id": fake.client_id,
        "client_secret": fake.client_secret, "scopes": google_auth.SCOPES,
        "expiry": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}))


def event(uid: str, title: str, end: datetime, *,
          people: tuple[str, ...] = ()) -> dict[str, Any]:
    attendees = [{"email": ME, "self": True, "responseStatus": "accepted"}]
    attendees += [{"email": p, "displayName": p.split("@")[0].title(),
                   "responseStatus": "accepted"} for p in people]
    return {"id": uid, "summary": title,
            "start": {"dateTime": (end - timedelta(hours=1)).isoformat()},
            "end": {"dateTime": end.isoformat()}, "attendees": attendees}


def message(n: int, when: datetime, sender: str = "news@letters.example") -> bytes:
    from email.utils import format_datetime

    return (f"From: {sender}\r\nTo: {ME}\r\nSubject: Message {n}\r\n"
            f"Date: {format_datetime(when)}\r\nMessage-ID: <bench-{n}@letters.example>\r\n"
            "\r\nHello\r\n").encode()


def fill(fake: Any, events: int, messages: int, now: datetime) -> None:
    """``events`` events spread over the engine's window, ``messages`` over its lookback."""
    span = timedelta(days=76)  # 16 days back, 60 ahead
    for n in range(events):
        end = now - timedelta(days=16) + span * (n + 0.5) / max(events, 1)
        fake.put_event("primary", event(f"ev{n:06d}", f"Meeting {n}", end))
    for n in range(messages):
        when = now - timedelta(days=15) * (n + 0.5) / max(messages, 1)
        fake.deliver(message(n, when), ["INBOX"], internal_date=when)


def engine_cycles(fake: Any, folder: Path) -> dict[str, Any]:
    """Part 1: the real engine over a realistic account."""
    from interview_followup.daemon.config import parse_config
    from interview_followup.daemon.engine import Engine

    now = datetime.now(UTC)
    fill(fake, events=300, messages=200, now=now)
    fake.put_event("primary", event("iv1", "Interview: Platform Engineer", now - timedelta(
        hours=2), people=("sam@acme.example", "jo@acme.example")))
    (folder / "client_secret.json").write_text(json.dumps(fake.client_secrets_json()))
    config = parse_config(
        f'[me]\nname = "Alex Rivera"\nemail = "{ME}"\ntimezone = "UTC"\n'
        f'[daemon]\nstate_dir = "{folder / "state"}"\n'
        '[[accounts]]\nname = "gmail"\nprovider = "google"\n'
        f'client_secrets = "client_secret.json"\nendpoint = "{fake.url}"\n',
        folder / "config.toml")
    engine = Engine.open(config)
    results: dict[str, Any] = {}

    def measure(name: str) -> None:
        before = len(fake.api_requests)
        report = engine.cycle()
        if report.errors:
            raise SystemExit(f"{name}: {report.errors}")
        counts = tally(fake.api_requests[before:])
        results[name] = {"requests": sum(counts.values()), "units": units(counts),
                         "methods": dict(counts), "drafts": len(report.created)}

    measure("first")
    for n in range(5):
        measure(f"idle{n}")
    fake.deliver(message(10_000, datetime.now(UTC), "dana@acme.example"))
    measure("new_message")
    fake.put_event("primary", event("iv2", "Phone screen with Globex", datetime.now(UTC)
                                    - timedelta(hours=2), people=("pat@globex.example",)))
    measure("new_interview")
    engine.close()
    idle = [results[f"idle{n}"] for n in range(5)]
    results["idle"] = max(idle, key=lambda r: r["requests"])
    return results


def answers(fake: Any) -> dict[str, Any]:
    """Part 3: the provider as the engine uses it for answers (issue 8), with an interest:
    idle cycles, an answer archived before the next cycle, one filed under a user label, a
    message that is no candidate, the final search, and an event looked up by id."""
    from interview_followup.providers.base import Interest
    from interview_followup.providers.google.api import GoogleApi
    from interview_followup.providers.google.calendar import GoogleCalendar
    from interview_followup.providers.google.mailbox import Gmail

    now = datetime.now(UTC)
    fill(fake, events=50, messages=200, now=now)
    fake.put_event("primary", event("iv9", "Interview: Platform Engineer",
                                    now + timedelta(days=90)))  # beyond the window
    api = GoogleApi(ACCOUNT, fake.url)
    gmail, calendar = Gmail(api), GoogleCalendar(api)
    interest = Interest(domains=frozenset({"acme.example"}),
                        addresses=frozenset({"dana@acme.example"}))
    results: dict[str, Any] = {}

    def measure(name: str, action: Any) -> Any:
        before = len(fake.api_requests)
        value = action()
        counts = tally(fake.api_requests[before:])
        results[name] = {"requests": sum(counts.values()), "units": units(counts),
                         "methods": dict(counts)}
        return value

    checkpoint = measure("first", lambda: gmail.messages_since(
        None, now - timedelta(days=16), interest)).checkpoint
    for n in range(5):
        checkpoint = measure(f"idle{n}", lambda c=checkpoint: gmail.messages_since(
            c, now - timedelta(days=16), interest)).checkpoint
    results["idle"] = max((results[f"idle{n}"] for n in range(5)),
                          key=lambda r: r["units"])
    answer = fake.deliver(message(30_000, now, "dana@acme.example"))
    fake.archive(answer)
    checkpoint = measure("archived_answer", lambda: gmail.messages_since(
        checkpoint, now - timedelta(days=16), interest)).checkpoint
    label = fake.add_label("Jobs/Acme")
    fake.deliver(message(30_001, now, "sam@acme.example"), [label])
    checkpoint = measure("labelled_answer", lambda: gmail.messages_since(
        checkpoint, now - timedelta(days=16), interest)).checkpoint
    fake.deliver(message(30_002, now))
    measure("other_message", lambda: gmail.messages_since(
        checkpoint, now - timedelta(days=16), interest))
    thread = fake.messages[answer]["threadId"]
    found = measure("search", lambda: gmail.search_answers(
        now - timedelta(days=7), Interest(domains=interest.domains,
                                          addresses=interest.addresses,
                                          threads=frozenset({thread}))))
    results["search"]["found"] = len(found)
    measure("lookup", lambda: calendar.lookup("iv9", UTC))
    api.close()
    return results


def relist(fake: Any, events: int, messages: int) -> dict[str, Any]:
    """Part 2: reading a large account from scratch through the provider."""
    from interview_followup.providers.base import Interest
    from interview_followup.providers.google.api import GoogleApi
    from interview_followup.providers.google.calendar import GoogleCalendar
    from interview_followup.providers.google.mailbox import Gmail

    now = datetime.now(UTC)
    t0 = time.perf_counter()
    fill(fake, events, messages, now)
    api = GoogleApi(ACCOUNT, fake.url)
    result: dict[str, Any] = {"fill_s": time.perf_counter() - t0}
    before = len(fake.api_requests)
    t = time.perf_counter()
    changes = GoogleCalendar(api).changes(None, now - timedelta(days=16),
                                          now + timedelta(days=60), UTC)
    counts = tally(fake.api_requests[before:])
    result["calendar"] = {"events": len(changes.events), "requests": sum(counts.values()),
                          "seconds": time.perf_counter() - t}
    before = len(fake.api_requests)
    t = time.perf_counter()
    # An interest that matches nothing: headers only, as for mail that cannot be an answer.
    batch = Gmail(api).messages_since(None, now - timedelta(days=16), Interest())
    counts = tally(fake.api_requests[before:])
    result["gmail"] = {"messages": len(batch.messages), "requests": sum(counts.values()),
                       "units": units(counts), "methods": dict(counts),
                       "seconds": time.perf_counter() - t}
    api.close()
    return result


def report_answers(found: dict[str, Any]) -> str:
    lines = [
        "| Provider call (with an interest) | Requests | Gmail units | Methods |",
        "| --- | ---: | ---: | --- |",
        f"| Idle cycle before issue 8 (events.list 1, history.list 1) | "
        f"{IDLE_BEFORE['requests']} | {IDLE_BEFORE['units']} | - |",
    ]
    for key, label in (("idle", "Idle mail read now (worst of 5)"),
                       ("archived_answer", "An answer archived before the next cycle"),
                       ("labelled_answer", "An answer filed under a new user label"),
                       ("other_message", "A message that is no candidate"),
                       ("search", "The final search (query + 1 thread)"),
                       ("lookup", "events.get of an event beyond the window")):
        row = found[key]
        lines.append(f"| {label} | {row['requests']} | {row['units']} | "
                     f"{describe(Counter(row['methods']))} |")
    return "\n".join(lines)


def report(cycles: dict[str, Any], big: dict[str, Any], events: int, messages: int) -> str:
    per_day = int(timedelta(days=1) / POLL)
    idle = cycles["idle"]
    idle_units_day = idle["units"] * per_day
    user_day = GMAIL_USER_PER_SECOND * 86_400
    gmail = big["gmail"]
    lines = [
        "| Cycle (one account, one calendar) | Requests | Gmail units | Methods |",
        "| --- | ---: | ---: | --- |",
    ]
    for key, label in (("first", "First cycle (300 events, 200 messages, 2 drafts)"),
                       ("idle", "Idle cycle (nothing changed; worst of 5)"),
                       ("new_message", "After one new message"),
                       ("new_interview", "After a new interview (1 draft written)")):
        row = cycles[key]
        lines.append(f"| {label} | {row['requests']} | {row['units']} | "
                     f"{describe(Counter(row['methods']))} |")
    lines += [
        "",
        f"At the default poll interval ({int(POLL.total_seconds() // 60)} minutes, "
        f"{per_day} cycles a day) idle cycles cost {idle_units_day:,} Gmail units a day "
        f"({idle['units']} per cycle) and {per_day:,} Calendar requests a day per calendar. "
        f"Google's per-user Gmail limit is {GMAIL_USER_PER_SECOND} units per second "
        f"(15,000 per minute; {user_day:,} a day if spread evenly): the idle load is "
        f"{100 * idle_units_day / user_day:.4f}% of it. Each new message adds 5 units "
        "(messages.get) and each draft 10 (drafts.create).",
        "",
        "| Full re-list | Items | Requests | Gmail units | Time against the fake |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| Calendar, {events:,} events in the window (250 per page) | "
        f"{big['calendar']['events']:,} | {big['calendar']['requests']:,} | - | "
        f"{big['calendar']['seconds']:.1f} s |",
        f"| Gmail, {messages:,} messages in the lookback (500 ids per list page, then one "
        f"messages.get each) | {gmail['messages']:,} | {gmail['requests']:,} | "
        f"{gmail['units']:,} | {gmail['seconds']:.1f} s |",
        "",
        f"At {GMAIL_USER_PER_SECOND} units per second the Gmail re-list needs at least "
        f"{math.ceil(gmail['units'] / GMAIL_USER_PER_SECOND):,} s of one user's quota "
        f"(an idle cycle: 1 Calendar request and {idle['units']} Gmail units).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="followup-google-bench-") as tmp:
        folder = Path(tmp)
        setup_keyring(folder)
        from tests.fakes.google_server import FakeGoogle

        small = FakeGoogle(seed=1, email=ME)
        small.start()
        try:
            store_credentials(small)
            cycles = engine_cycles(small, folder)
        finally:
            small.stop()
        third = FakeGoogle(seed=3, email=ME)
        third.start()
        try:
            store_credentials(third)
            found = answers(third)
        finally:
            third.stop()
        large = FakeGoogle(seed=2, email=ME)
        large.start()
        try:
            store_credentials(large)
            big = relist(large, args.events, args.messages)
        finally:
            large.stop()
        for fake in (small, third, large):
            if fake.send_attempts or fake.errors:
                raise SystemExit(f"unexpected: {fake.send_attempts} {fake.errors}")
    print(report(cycles, big, args.events, args.messages))
    print()
    print(report_answers(found))
    if args.json:
        args.json.write_text(json.dumps({"cycles": cycles, "relist": big, "answers": found},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
