"""Graph requests per cycle of the real engine, counted at the fake Graph server.

    python bench/graph_requests.py [--events 5000] [--messages 50000] [--json FILE]

What it measures (each against a fresh tests/fakes/graph_server.py on 127.0.0.1):

1. A typical account (60 events in the window, 10 of them interviews; 400 messages in
   Inbox and Sent Items): requests of the first cycle, of idle cycles, and of a cycle
   after one new message, through ``Engine.cycle`` with the provider as configured.
   Then the provider alone, as the engine calls it for answers (issue 8): idle reads
   (beside the idle cycle before issue 8), an answer archived or filed by a rule before
   the next cycle, a message that is no candidate, the final search, a lookup by id.
2. Requests per day at the default 5-minute poll, against Outlook's limit of 10,000
   requests per 10 minutes per mailbox.
3. A full re-list: the calendar read from scratch with ``--events`` events in the
   window, and the mailbox with ``--messages`` messages over a year, both the
   provider's bounded first read (the engine's lookback) and an unbounded one.

Prints a markdown table (docs/benchmarks.md keeps the figures).
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from interview_followup.daemon.config import AccountConfig, Config, parse_config  # noqa: E402
from interview_followup.daemon.engine import HORIZON, Engine, lookback  # noqa: E402
from interview_followup.daemon.state import Store  # noqa: E402
from interview_followup.providers._shared.retry import Retry  # noqa: E402
from interview_followup.providers.base import Interest  # noqa: E402
from interview_followup.providers.microsoft.account import open_account  # noqa: E402
from interview_followup.providers.microsoft.calendar import EVENTS_PAGE  # noqa: E402
from interview_followup.providers.microsoft.mailbox import MESSAGES_PAGE  # noqa: E402
from tests.fakes.graph_server import FakeGraph  # noqa: E402

SCOPES = ["Calendars.Read", "Mail.ReadWrite", "User.Read"]
ME = "alex@home.example"
POLL = timedelta(minutes=5)  # the default [daemon] poll_interval
OUTLOOK_LIMIT = 10_000  # requests per 10 minutes per app and mailbox


class Tokens:
    """Access tokens from the fake's issuer (msal's refreshes are not Graph requests)."""

    def __init__(self, fake: FakeGraph) -> None:
        self.fake = fake
        self.token = fake.issue_tokens(SCOPES)["access_token"]

    def access_token(self, *, force_refresh: bool = False) -> str:
        if force_refresh:
            self.token = self.fake.issue_tokens(SCOPES)["access_token"]
        return self.token


def _at(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC"}


def _person(email: str, name: str) -> dict[str, Any]:
    return {"emailAddress": {"address": email, "name": name}, "type": "required",
            "status": {"response": "accepted", "time": "0001-01-01T00:00:00Z"}}


def add_events(fake: FakeGraph, count: int, now: datetime, start: datetime, end: datetime,
               interviews: int = 0) -> None:
    span = (end - start).total_seconds() - 7200
    for n in range(count):
        begin = start + timedelta(seconds=span * n / max(1, count))
        begin = begin.replace(minute=0, second=0, microsecond=0)
        event: dict[str, Any] = {
            "id": f"ev-{n}", "subject": f"Team sync {n}",
            "body": {"contentType": "text", "content": "Agenda: updates"},
            "start": _at(begin), "end": _at(begin + timedelta(minutes=30)),
            "organizer": {"emailAddress": {"address": "lead@home.example", "name": "Lead"}},
            "attendees": [_person(ME, "Alex Rivera"), _person("kim@home.example", "Kim")],
        }
        if n < interviews:
            ended = now - timedelta(days=n % 5, hours=2)
            event.update({
                "subject": f"Interview: Engineer at Company{n}",
                "start": _at(ended - timedelta(hours=1)), "end": _at(ended),
                "organizer": {"emailAddress": {"address": f"rec@company{n}.example",
                                               "name": "Robin Recruiter"}},
                "attendees": [_person(ME, "Alex Rivera"),
                              _person(f"sam@company{n}.example", "Sam Lee")],
            })
        fake.put_event(event)


def _same(moment: datetime) -> datetime:
    return moment


def add_messages(fake: FakeGraph, count: int, now: datetime, days: float,
                 sent_share: float = 0.25) -> None:
    clock = fake.now
    for n in range(count):
        when = now - timedelta(seconds=days * 86400 * (n + 1) / (count + 1))
        fake.now = functools.partial(_same, when)  # stored (and last modified) on arrival
        sent = n % round(1 / sent_share) == 0 if sent_share else False
        who = {"emailAddress": {"address": f"person{n % 97}@news.example", "name": "News"}}
        me = {"emailAddress": {"address": ME, "name": "Alex Rivera"}}
        fake.deliver({
            "subject": f"Message {n}", "from": me if sent else who,
            "toRecipients": [who if sent else me],
            "receivedDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sentDateTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "internetMessageId": f"<bench-{n}@news.example>",
            "body": {"contentType": "text", "content": "Hello"},
            "internetMessageHeaders": [{"name": "Message-ID",
                                        "value": f"<bench-{n}@news.example>"}],
        }, "sentitems" if sent else "inbox")
    fake.now = clock


# The idle cycle before issue 8 (commit 1bd36b8, measured again from that commit): the
# calendar delta and one message delta each for Inbox and Sent Items.
IDLE_BEFORE = 3


def kind_of(method: str, path: str, query: dict[str, list[str]]) -> str:
    if "/calendarView/" in path:
        return "calendar delta"
    if "/me/events/" in path:
        return "event by id"
    if path.endswith("/createReply"):
        return "createReply"
    if "/mailFolders/" in path and path.endswith("/messages"):
        return "marker $filter"
    if "/mailFolders/" in path:
        return "folder"
    if path.endswith("/me/messages"):
        if method == "POST":
            return "draft create"
        return "message search" if "$search" in query else "message list"
    if "/me/messages/" in path:
        return "candidate body" if query.get("$select") == ["body"] else "message"
    return "other"


def counted(fake: FakeGraph, action: Callable[[], Any]) -> tuple[Counter[str], float]:
    before = len(fake.api_requests)
    started = time.perf_counter()
    action()
    seconds = time.perf_counter() - started
    made = Counter(f"{r.method} {kind_of(r.method, r.path, r.query)}"
                   for r in fake.api_requests[before:])
    return made, seconds


def answers() -> dict[str, Any]:
    """The provider as the engine uses it for answers (issue 8), with an interest: idle
    reads, an answer archived before the next cycle, one filed by a rule into a user
    folder, a message that is no candidate, the final search and an event looked up."""
    results: dict[str, Any] = {}
    fake = FakeGraph(seed=3, email=ME)
    fake.start()
    now = datetime.now(UTC)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = make_config(Path(tmp), fake)
            add_messages(fake, 400, now, days=30)
            for n in range(8):
                fake.add_folder(f"Project {n}")  # folders cost nothing while idle
            account = open_work(fake, config)
            interest = Interest(domains=frozenset({"acme.example"}))
            box = account.mailbox
            since = now - lookback(config)
            state: dict[str, Any] = {}

            def read(name: str) -> None:
                made, _ = counted(fake, lambda: state.update(
                    batch=box.messages_since(state.get("checkpoint"), since, interest)))
                state["checkpoint"] = state["batch"].checkpoint
                results[name] = made

            read("first")
            for n in range(5):
                read(f"idle{n}")
            results["idle"] = max((results[f"idle{n}"] for n in range(5)),
                                  key=lambda c: sum(c.values()))

            def acme(n: int) -> dict[str, Any]:
                return {"subject": f"Re: Interview {n}",
                        "from": {"emailAddress": {"address": "sam@acme.example"}},
                        "toRecipients": [{"emailAddress": {"address": ME}}],
                        "body": {"contentType": "text", "content": "Thanks, next steps."}}

            answer = fake.deliver(acme(1), "inbox")
            fake.file_as_user(answer, "archive")
            read("archived_answer")
            fake.deliver(acme(2), fake.add_folder("Jobs"))
            read("filed_answer")
            add_messages(fake, 1, now, days=0.01)
            read("other_message")
            results["search"], _ = counted(fake, lambda: box.search_answers(
                now - timedelta(days=7), interest))
            fake.put_event({"id": "iv9", "subject": "Interview",
                            "start": _at(now + timedelta(days=90)),
                            "end": _at(now + timedelta(days=90, hours=1))})
            results["lookup"], _ = counted(fake, lambda: account.calendar.lookup("iv9", UTC))
            account.close()
    finally:
        fake.stop()
    return results


def make_config(folder: Path, fake: FakeGraph) -> Config:
    return parse_config(
        f'[me]\nname = "Alex Rivera"\nemail = "{ME}"\ntimezone = "UTC"\n'
        f'[daemon]\nstate_dir = "{folder / "state"}"\n'
        f'[[accounts]]\nname = "work"\nprovider = "microsoft"\nclient_id = "{fake.client_id}"\n'
        f'endpoint = "{fake.url}"\n', folder / "config.toml")


def open_work(fake: FakeGraph, config: Config) -> Any:
    entry = AccountConfig("work", "microsoft", {"client_id": fake.client_id,
                                                 "endpoint": fake.url})
    return open_account(entry, config, retry=Retry(base=0.0), tokens=Tokens(fake))


def cycles(idle: int) -> dict[str, Any]:
    """Requests per engine cycle on a typical account."""
    results: dict[str, Any] = {}
    fake = FakeGraph(seed=1, email=ME)
    fake.start()
    try:
        now = datetime.now(UTC)
        with tempfile.TemporaryDirectory() as tmp:
            config = make_config(Path(tmp), fake)
            add_events(fake, 60, now, now - lookback(config), now + HORIZON, interviews=10)
            add_messages(fake, 400, now, days=30)
            store = Store.open(config.daemon.state_dir)
            engine = Engine(config, store, {"work": open_work(fake, config)})
            first, first_s = counted(fake, engine.cycle)
            results["first"] = first
            results["first_seconds"] = first_s
            idle_counts = []
            idle_kinds: Counter[str] = Counter()
            for _ in range(idle):
                made, _ = counted(fake, engine.cycle)
                idle_counts.append(sum(made.values()))
                idle_kinds += made
            results["idle_median"] = statistics.median(idle_counts)
            results["idle_max"] = max(idle_counts)
            results["idle_kinds"] = {k: v / idle for k, v in idle_kinds.items()}
            fake.deliver({
                "subject": "Re: Interview", "receivedDateTime": now.strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "from": {"emailAddress": {"address": "sam@company3.example", "name": "Sam"}},
                "toRecipients": [{"emailAddress": {"address": ME}}],
                "internetMessageId": "<answer@company3.example>",
                "body": {"contentType": "text", "content": "Thanks"}}, "inbox")
            results["new_message"] = sum(counted(fake, engine.cycle)[0].values())
            engine.close()
    finally:
        fake.stop()
    return results


def relist(events: int, messages: int) -> dict[str, Any]:
    """What reading everything from scratch costs."""
    results: dict[str, Any] = {}
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeGraph(seed=2, email=ME)
        fake.start()
        try:
            config = make_config(Path(tmp), fake)
            start, end = now - lookback(config), now + HORIZON
            add_events(fake, events, now, start, end)
            account = open_work(fake, config)
            made, seconds = counted(fake, lambda: account.calendar.changes(None, start, end, UTC))
            results["events"] = (events, sum(made.values()), seconds)
            add_messages(fake, messages, now, days=365)
            # An interest that matches nothing: headers only, as for mail that is no answer.
            made, seconds = counted(fake, lambda: account.mailbox.messages_since(
                None, now - lookback(config), Interest()))
            results["messages_bounded"] = (messages, sum(made.values()), seconds)
            made, seconds = counted(fake, lambda: account.mailbox.messages_since(
                None, now - timedelta(days=400), Interest()))
            results["messages_all"] = (messages, sum(made.values()), seconds)
            account.close()
        finally:
            fake.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=50000)
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    per_cycle = cycles(args.idle)
    found = answers()
    full = relist(args.events, args.messages)
    idle = per_cycle["idle_median"]
    per_day = idle * (timedelta(days=1) / POLL)
    per_ten = idle * (timedelta(minutes=10) / POLL)
    print("| Measure | Requests |\n| --- | ---: |")
    first = per_cycle["first"]
    drafts = first.get("POST draft create", 0)
    print(f"| First cycle (fresh state; {drafts} thank-you drafts due) | "
          f"{sum(first.values())} |")
    print(f"| Idle cycle, median of {args.idle} (max {per_cycle['idle_max']}) | {idle:g} |")
    for kind, share in sorted(per_cycle["idle_kinds"].items()):
        print(f"| - of which {kind} | {share:g} |")
    print(f"| Cycle after one new message in Inbox | {per_cycle['new_message']} |")
    print(f"| Per day at the default 5-minute poll (idle) | {per_day:g} |")
    print(f"| Per 10 minutes (idle) vs Outlook's {OUTLOOK_LIMIT:,} per mailbox | {per_ten:g} "
          f"({per_ten / OUTLOOK_LIMIT:.2%}) |")
    for key, label in (("events", "events, calendar read from scratch"),
                       ("messages_bounded", "messages over a year, first mail read (lookback)"),
                       ("messages_all", "messages over a year, every message re-listed")):
        count, requests, seconds = full[key]
        print(f"| {count:,} {label} | {requests} ({seconds:.1f} s against the fake) |")
    print(f"\nPage sizes asked for: events {EVENTS_PAGE}, messages {MESSAGES_PAGE}.")
    print("\n| Provider call (with an interest) | Requests | Kinds |\n| --- | ---: | --- |")
    print(f"| Idle cycle before issue 8 (calendar delta, Inbox and Sent Items deltas) | "
          f"{IDLE_BEFORE} | - |")
    for key, label in (("idle", "Idle mail read now (worst of 5; 15 folders)"),
                       ("archived_answer", "An answer archived before the next cycle"),
                       ("filed_answer", "An answer filed by a rule into a new folder"),
                       ("other_message", "A message that is no candidate"),
                       ("search", "The final search"),
                       ("lookup", "An event looked up by id")):
        made = found[key]
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(made.items()))
        print(f"| {label} | {sum(made.values())} | {kinds} |")
    print("First cycle by kind:", dict(per_cycle["first"]))
    if args.json:
        args.json.write_text(json.dumps({"cycles": {k: (dict(v) if isinstance(v, Counter)
                                                        else v) for k, v in per_cycle.items()},
                                         "answers": {k: dict(v) for k, v in found.items()},
                                         "relist": full}, indent=1, default=str))


if __name__ == "__main__":
    main()
