"""What an IMAP mailbox and a CalDAV calendar cost as they grow, against real servers.

The same data as bench/run_bench.py (bench/generate.py), served by a private Dovecot (the
Maildir, moved into its user's home) and a Radicale in this process (one .ics object per
event or series, written into its storage). Measured through the providers' own classes,
as the engine calls them: the first read, an idle read, a read after one new message,
after one message marked read by another client, after one event edited; CPU and wall
milliseconds, and IMAP round trips (commands sent before the client waited).

    python bench/remote_bench.py                     # 2,000 and 20,000 messages
    python bench/remote_bench.py --sizes 2000,20000,200000 --json out.json

Needs Dovecot (Debian: dovecot-imapd) and the test extra (radicale). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.generate import generate  # noqa: E402
from interview_followup.providers._shared.http import Http  # noqa: E402
from interview_followup.providers.caldav.calendar import CalDAVCalendar  # noqa: E402
from tests.dovecot import NS_ID  # noqa: E402
from tests.test_caldav import PASSWORD, USER, Radicale  # noqa: E402
from tests.test_imap import _stop, make_mailbox, start_server  # noqa: E402

LOOKBACK = timedelta(days=16)  # the engine's window: 16 days back, 60 ahead
AHEAD = timedelta(days=60)
ZONE = ZoneInfo("Europe/Berlin")


class RoundTrips:
    """Counts flights of IMAP commands: those sent before the client next read a line."""

    def __init__(self) -> None:
        self.flights = 0
        self._waiting = True
        send, get_line = imaplib.IMAP4.send, imaplib.IMAP4._get_line  # type: ignore[attr-defined]
        counter = self

        def counted_send(imap: imaplib.IMAP4, data: bytes) -> None:
            if counter._waiting:
                counter.flights += 1
                counter._waiting = False
            send(imap, data)

        def counted_get_line(imap: imaplib.IMAP4) -> bytes:
            counter._waiting = True
            line: bytes = get_line(imap)
            return line

        imaplib.IMAP4.send = counted_send  # type: ignore[method-assign]
        imaplib.IMAP4._get_line = counted_get_line  # type: ignore[attr-defined]


def _measure(call: Callable[[], Any]) -> tuple[Any, float, float]:
    # This thread only: Radicale answers from threads of this process.
    cpu, wall = time.thread_time(), time.perf_counter()
    result = call()
    return result, (time.thread_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def bench_imap(data: Path, now: datetime, trips: RoundTrips) -> dict[str, Any]:
    server = start_server()
    try:
        user, _ = server.add_user()
        home = server.base / "home" / user
        home.mkdir(exist_ok=True)
        shutil.move(str(data / "Maildir"), str(home / "Maildir"))
        if os.geteuid() == 0:  # the mail process runs as NS_ID (tests/dovecot.py)
            for folder, dirs, files in os.walk(home):
                for name in (*dirs, *files):
                    os.chown(os.path.join(folder, name), NS_ID, NS_ID)
            os.chown(home, NS_ID, NS_ID)
        box = make_mailbox(server, user)
        since = now - LOOKBACK
        before = trips.flights
        batch, cpu, wall = _measure(lambda: box.messages_since(None, since))
        out: dict[str, Any] = {"first_cpu_ms": cpu, "first_wall_ms": wall,
                               "first_messages": len(batch.messages),
                               "first_round_trips": trips.flights - before}
        checkpoint = batch.checkpoint
        idle = []
        for _ in range(10):
            before = trips.flights
            batch, cpu, wall = _measure(lambda c=checkpoint: box.messages_since(c, since))
            idle.append((cpu, wall, trips.flights - before))
            checkpoint = batch.checkpoint
        out["idle_cpu_ms"] = statistics.median(c for c, _, _ in idle)
        out["idle_wall_ms"] = statistics.median(w for _, w, _ in idle)
        out["idle_round_trips"] = max(t for _, _, t in idle)
        with server.client(user) as other:
            msg = EmailMessage()
            msg["From"], msg["To"] = "dana@acme.example", "alex@example.org"
            msg["Subject"], msg["Message-ID"] = "Next steps", "<bench-new@acme.example>"
            msg.set_content("Thanks!")
            other.append("INBOX", msg.as_bytes())
            before = trips.flights
            batch, cpu, wall = _measure(lambda: box.messages_since(checkpoint, since))
            out.update(new_cpu_ms=cpu, new_wall_ms=wall, new_round_trips=trips.flights - before,
                       new_messages=len(batch.messages))
            checkpoint = batch.checkpoint
            other.select_folder("INBOX")
            uids = other.search(["UNSEEN"])
            other.add_flags(uids[:1], [b"\\Seen"])  # another client reads one message
            before = trips.flights
            batch, cpu, wall = _measure(lambda: box.messages_since(checkpoint, since))
            out.update(read_cpu_ms=cpu, read_wall_ms=wall,
                       read_round_trips=trips.flights - before)
        box.close()
        return out
    finally:
        _stop(server.master)
        shutil.rmtree(server.base, ignore_errors=True)


_BLOCK = re.compile(r"BEGIN:(VEVENT|VTIMEZONE)\r\n.*?END:\1\r\n", re.S)
_UID = re.compile(r"^UID:(.*?)\r$", re.M)


def _objects(calendar_text: str) -> dict[str, str]:
    """One iCalendar object per UID (a series with its overrides), each with every
    VTIMEZONE of the file, as a CalDAV server stores them."""
    zones, events = [], {}
    for block in _BLOCK.finditer(calendar_text):
        if block.group(1) == "VTIMEZONE":
            zones.append(block.group(0))
            continue
        uid = _UID.search(block.group(0))
        key = uid.group(1) if uid else f"no-uid-{len(events)}"
        events[key] = events.get(key, "") + block.group(0)
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n" + "".join(zones)
    return {uid: head + body + "END:VCALENDAR\r\n" for uid, body in events.items()}


def bench_caldav(data: Path, now: datetime, root: Path) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    server = Radicale(root)
    try:
        calendar_dir = root / "collections" / "collection-root" / USER / "work"
        calendar_dir.mkdir(parents=True)
        (calendar_dir / ".Radicale.props").write_text(json.dumps(
            {"C:supported-calendar-component-set": "VEVENT", "D:displayname": "Work",
             "tag": "VCALENDAR"}))
        objects = _objects((data / "calendar.ics").read_bytes().decode("utf-8"))
        names = {}
        for i, (uid, text) in enumerate(objects.items()):
            names[uid] = f"e{i}.ics"
            (calendar_dir / names[uid]).write_text(text, encoding="utf-8", newline="")
        # Radicale indexes the objects written behind its back on the first request that
        # lists them (minutes for 10,000 under load, past the client's read timeout); a
        # real server has done so long before: not counted in the first read.
        requests.request("PROPFIND", f"{server.url}{USER}/", auth=(USER, PASSWORD),
                         headers={"Depth": "1"}, timeout=3600,
                         data=b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop>'
                              b"<sync-token/></prop></propfind>").raise_for_status()
        calendar = CalDAVCalendar("dav", server.url, USER, lambda: PASSWORD, http=Http("dav"))
        start, end = now - LOOKBACK, now + AHEAD
        requests_before = len(server.log)
        changes, cpu, wall = _measure(lambda: calendar.changes(None, start, end, ZONE))
        out: dict[str, Any] = {"objects": len(objects), "first_cpu_ms": cpu,
                               "first_wall_ms": wall, "first_events": len(changes.events),
                               "first_requests": len(server.log) - requests_before}
        checkpoint, first_events = changes.checkpoint, changes.events
        idle = []
        for _ in range(10):
            requests_before = len(server.log)
            changes, cpu, wall = _measure(
                lambda c=checkpoint: calendar.changes(c, start, end, ZONE))
            idle.append((cpu, wall, len(server.log) - requests_before))
            checkpoint = changes.checkpoint
        out["idle_cpu_ms"] = statistics.median(c for c, _, _ in idle)
        out["idle_wall_ms"] = statistics.median(w for _, w, _ in idle)
        out["idle_requests"] = max(r for _, _, r in idle)
        # Another client edits one event of the window (not a series): a new title.
        uid = next(e.uid for e in first_events if e.uid in objects)
        edited = re.sub(r"^SUMMARY:.*$", "SUMMARY:Edited by the bench", objects[uid],
                        count=1, flags=re.M)
        answer = requests.put(f"{server.url}{USER}/work/{names[uid]}", data=edited.encode(),
                              auth=(USER, PASSWORD),
                              headers={"Content-Type": "text/calendar"}, timeout=30)
        answer.raise_for_status()
        requests_before = len(server.log)
        changes, cpu, wall = _measure(lambda: calendar.changes(checkpoint, start, end, ZONE))
        out.update(edited_cpu_ms=cpu, edited_wall_ms=wall,
                   edited_requests=len(server.log) - requests_before,
                   edited_seen=any(e.title == "Edited by the bench" for e in changes.events))
        return out
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="2000,20000",
                        help="message counts; the calendar has half as many events")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    trips = RoundTrips()
    results = []
    for messages in (int(s) for s in args.sizes.split(",")):
        events = messages // 2
        scratch = Path(tempfile.mkdtemp(prefix="followup-remote-bench-"))
        try:
            meta = generate(scratch / "data", events=events, messages=messages)
            now = datetime.fromisoformat(meta["now"])
            row = {"messages": messages, "events": events,
                   "caldav": bench_caldav(scratch / "data", now, scratch / "radicale"),
                   "imap": bench_imap(scratch / "data", now, trips)}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        results.append(row)
        imap, dav = row["imap"], row["caldav"]
        print(f"{messages:>7,} messages: IMAP first {imap['first_wall_ms']:.0f} ms "
              f"({imap['first_messages']} read, {imap['first_round_trips']} round trips), "
              f"idle {imap['idle_wall_ms']:.1f} ms / {imap['idle_cpu_ms']:.1f} ms CPU "
              f"({imap['idle_round_trips']} round trips), new message "
              f"{imap['new_wall_ms']:.1f} ms ({imap['new_round_trips']}), marked read "
              f"{imap['read_wall_ms']:.1f} ms ({imap['read_round_trips']})")
        print(f"{events:>7,} events:   CalDAV first {dav['first_wall_ms']:.0f} ms "
              f"({dav['objects']} objects, {dav['first_requests']} requests), idle "
              f"{dav['idle_wall_ms']:.1f} ms / {dav['idle_cpu_ms']:.1f} ms CPU "
              f"({dav['idle_requests']} requests), event edited "
              f"{dav['edited_wall_ms']:.0f} ms / {dav['edited_cpu_ms']:.1f} ms CPU "
              f"({dav['edited_requests']} requests, "
              f"seen: {dav['edited_seen']})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
