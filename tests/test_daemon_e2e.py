"""`followup run` as systemd runs it: the real engine, a real Maildir, real signals.

A draft must appear within seconds of being due, from the date job, not from the
next poll (the poll interval here is an hour).
"""

from __future__ import annotations

import mailbox
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interview_followup.daemon.demo import scratch_account

DUE_IN = 12.0  # seconds from start until the thank-you is due


def ics(now: datetime, end: datetime) -> str:
    def t(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
        "UID:daemon-e2e@example.org", f"DTSTAMP:{t(now)}", f"DTSTART:{t(end - timedelta(hours=1))}",
        f"DTEND:{t(end)}", "SUMMARY:Initech - Technical interview",
        "ORGANIZER;CN=Bill Lumbergh:mailto:bill@initech.com",
        "ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@example.org",
        "ATTENDEE;CN=Bill Lumbergh;PARTSTAT=ACCEPTED:mailto:bill@initech.com",
        "END:VEVENT", "END:VCALENDAR", "",
    ])


def drafts(folder: Path) -> list[str]:
    box = mailbox.Maildir(folder / "Maildir" / ".Drafts", create=False)
    return [str(box[key]["X-Interview-Followup"]) for key in box.iterkeys()]


def test_a_draft_appears_when_due_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    start = datetime.now(UTC)
    # iCalendar times have whole seconds: the due time is the written end plus an hour.
    end = (start - timedelta(hours=1) + timedelta(seconds=DUE_IN)).replace(microsecond=0)
    config = scratch_account(tmp_path, ics(start, end), account="home")
    config.write_text(config.read_text().replace("[daemon]", '[daemon]\npoll_interval = "1h"'))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify.sock"))
    script = Path(sys.executable).with_name("followup")
    command = [str(script)] if script.exists() else [
        sys.executable, "-c", "from interview_followup.daemon.cli import main; main()"]
    proc = subprocess.Popen([*command, "--config", str(config), "run"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = notify.recv(4096).decode()
        while "READY=1" not in ready:
            ready = notify.recv(4096).decode()
        assert drafts(tmp_path) == []  # the first cycle: detected, not yet due
        deadline = time.monotonic() + DUE_IN + 20
        while not drafts(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        (marker,) = drafts(tmp_path)
        assert marker.endswith("/thank_you/bill@initech.com")
        assert datetime.now(UTC) >= end + timedelta(hours=1)  # never early
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        notify.close()
    assert drafts(tmp_path) == [marker]  # nothing more, nothing twice
