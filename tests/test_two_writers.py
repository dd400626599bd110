"""One writer per state (issue 7): real `followup` processes started together on one state.

Two `run --once` at once, or the service and a `run --once`: the drafts are
written once, and the process that finds the state taken says what it found
(it waits for a one-shot step; it stops when the service runs). `note`,
`skip` and `done` work while the service runs, and what they change stays.
"""

from __future__ import annotations

import mailbox
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from functools import partial
from pathlib import Path

from interview_followup.daemon.config import load_config
from interview_followup.daemon.demo import scratch_account
from interview_followup.daemon.lock import StateLock, read_owner
from interview_followup.daemon.state import Store

TRIALS = 30
MARKER = "X-Interview-Followup"
COMPANIES = [("Acme Robotics", "acme-robotics.com", ["Jane Doe", "Samuel Lee"], 2),
             ("Globex", "globex.com", ["Tom Becker", "Mia Wong", "Ravi Nair"], 5),
             ("Initech", "initech.com", ["Joanna Park"], 20)]
STATUS_CHECK = ("Umbrella", "umbrella.io", ["Alice Abernathy"], 9 * 24)
EXPECTED = sum(len(p) for _, _, p, _ in COMPANIES) + 1  # a note per interviewer, one check


def _ics(now: datetime) -> str:
    def t(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//interview-followup//test//EN"]
    for n, (company, domain, people, ago) in enumerate([*COMPANIES, STATUS_CHECK]):
        end = now - timedelta(hours=ago)
        lines += ["BEGIN:VEVENT", f"UID:two-{n}@example.org", f"DTSTAMP:{t(now)}",
                  f"DTSTART:{t(end - timedelta(hours=1))}", f"DTEND:{t(end)}",
                  f"SUMMARY:{company} - Onsite interview (Backend Engineer)",
                  f"ORGANIZER;CN=Recruiter:mailto:recruiting@{domain}",
                  "ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@example.org"]
        lines += [f"ATTENDEE;CN={p};PARTSTAT=ACCEPTED:mailto:"
                  f"{p.lower().replace(' ', '.')}@{domain}" for p in people]
        lines.append("END:VEVENT")
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def _command() -> list[str]:
    script = Path(sys.executable).with_name("followup")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from interview_followup.daemon.cli import main; main()"]


def _start(config: Path, *args: str, stderr: Path | None = None) -> subprocess.Popen[str]:
    """``followup --config CONFIG ARGS``; its stderr to a file when given (read while it runs)."""
    env = {k: v for k, v in os.environ.items() if k not in ("FOLLOWUP_CONFIG", "NOTIFY_SOCKET")}
    err = stderr.open("w") if stderr is not None else subprocess.PIPE
    try:
        return subprocess.Popen([*_command(), "--config", str(config), *args], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
    finally:
        if stderr is not None:
            err.close()  # type: ignore[union-attr]


def _markers(folder: Path) -> list[str]:
    parser = BytesHeaderParser()
    found = []
    for leaf in ("cur", "new"):
        for path in (folder / "Maildir" / ".Drafts" / leaf).iterdir():
            with path.open("rb") as f:
                found.append("".join(str(parser.parse(f)[MARKER]).split()))
    return found


def _no_duplicates(folder: Path, context: str) -> list[str]:
    found = _markers(folder)
    twice = sorted(m for m, n in Counter(found).items() if n > 1)
    assert not twice, f"{context}: written twice: {twice}"
    return found


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def test_two_run_once_together_write_each_draft_once(tmp_path: Path) -> None:
    """Started together, 30 times. In every other trial the test itself holds the state
    (as a `run --once` would) until both processes have said they are waiting, then lets
    go: both want the state at the same instant, whatever the machine's speed."""
    now = datetime.now(UTC)
    waited = 0
    for trial in range(TRIALS):
        folder = tmp_path / f"trial{trial}"
        config = scratch_account(folder, _ics(now), account="home", log_level="WARNING")
        held = trial % 2 == 1
        lock = StateLock(load_config(config).daemon.state_dir, "run --once")
        if held:
            lock.acquire(wait=0)
        logs = [folder / "first.err", folder / "second.err"]
        procs = [_start(config, "run", "--once", stderr=log) for log in logs]
        try:
            if held:
                _wait_for(partial(_all_say, logs, "waiting for"), "both to wait")
        finally:
            lock.release()
        results = [_finish(p) for p in procs]
        errors = [log.read_text() for log in logs]
        for (code, out, _), err in zip(results, errors, strict=True):
            assert code == 0, f"trial {trial}: exit {code}\n{out}\n{err}"
            assert "Traceback" not in err and "IntegrityError" not in err, err
        found = _no_duplicates(folder, f"trial {trial}")
        assert len(found) == EXPECTED, f"trial {trial}: {len(found)} drafts"
        # One process wrote them all; the other found them written.
        assert sorted(out.splitlines()[0] for _, out, _ in results) == [
            "wrote 0 draft(s)", f"wrote {EXPECTED} draft(s)"]
        # Whoever waited said for whom.
        for err in errors:
            if "waiting for" in err:
                waited += 1
                assert "waiting for `followup run --once` (pid " in err, err
        if held:
            assert all(f"(pid {os.getpid()})" in err for err in errors), errors
    print(f"two run --once together: {TRIALS} trials, 0 duplicates, {waited} waits")
    assert waited >= TRIALS  # at least both of every held trial


def _all_say(logs: list[Path], text: str) -> bool:
    return all(log.exists() and text in log.read_text() for log in logs)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _all_written(folder: Path) -> bool:
    return len(_markers(folder)) >= EXPECTED


def _holds(state_dir: Path, service: subprocess.Popen[str]) -> bool:
    return read_owner(state_dir).get("pid") == service.pid


def test_run_once_beside_the_service_stops_and_says_so(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    refused = 0
    for trial in range(TRIALS):
        folder = tmp_path / f"trial{trial}"
        config = scratch_account(folder, _ics(now), account="home", log_level="WARNING")
        state_dir = load_config(config).daemon.state_dir
        service = _start(config, "run")
        try:
            # Every third trial starts them together (either may take the state first);
            # the others wait until the service holds it.
            if trial % 3:
                _wait_for(partial(_holds, state_dir, service), "the service to hold the state")
            once = _start(config, "run", "--once")
            code, out, err = _finish(once)
            if code == 1:
                refused += 1
                assert err.strip() == (
                    f"error: the service (pid {service.pid}) is running on the state in "
                    f"{state_dir}; it writes the drafts itself: use `followup status` to see "
                    "what it is doing (stop the service first to run a cycle by hand)")
                assert out == ""
            else:  # it took the state before the service: the service waited for it
                assert code == 0 and trial % 3 == 0, f"trial {trial}: {code}\n{out}\n{err}"
            # A service that waited for the run --once takes the state once it ended.
            _wait_for(partial(_holds, state_dir, service), "the service to hold the state")
            _wait_for(partial(_all_written, folder), "the service's drafts")
        finally:
            service.send_signal(signal.SIGTERM)
            code, _, err = _finish(service)
        assert code == 0, err
        assert "Traceback" not in err, err
        found = _no_duplicates(folder, f"trial {trial}")
        assert len(found) == EXPECTED
    print(f"service + run --once: {TRIALS} trials, 0 duplicates, {refused} refused")
    assert refused >= TRIALS * 2 // 3


def test_note_skip_and_done_work_while_the_service_runs_and_stay(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    config = scratch_account(tmp_path, _ics(now), account="home", log_level="INFO")
    # The poll is an hour: the cycles below come from SIGHUP (a reload runs a cycle).
    config.write_text(config.read_text().replace("[daemon]", '[daemon]\npoll_interval = "1h"'))
    state_dir = load_config(config).daemon.state_dir
    service = _start(config, "run")
    try:
        _wait_for(partial(_all_written, tmp_path), "the first cycle's drafts")
        store = Store.open(state_dir)
        try:
            ids = {iv.company: iv.id for iv in store.interviews()}
        finally:
            store.close()
        # An answer from Umbrella arrives while notes are added: the service records the
        # answer and the commands their changes, each without undoing the other.
        inbox = mailbox.Maildir(tmp_path / "Maildir", create=False)
        message = mailbox.MaildirMessage()
        message["From"] = "Alice Abernathy <alice.abernathy@umbrella.io>"
        message["To"] = "alex.rivera@example.org"
        message["Subject"] = "Next steps"
        message["Date"] = now.strftime("%a, %d %b %Y %H:%M:%S +0000")
        message["Message-ID"] = "<next-steps@umbrella.io>"
        message.set_payload("Could you do Thursday?")
        inbox.add(message)
        notes = [f"point {n}" for n in range(8)]
        for n, text in enumerate(notes):
            if n % 2 == 0:
                service.send_signal(signal.SIGHUP)
            done = subprocess.run([*_command(), "--config", str(config), "note",
                                   ids["Umbrella"], text], capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0, done.stderr
        for company, command in (("Acme Robotics", "skip"), ("Globex", "done")):
            done = subprocess.run([*_command(), "--config", str(config), command, ids[company]],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        service.send_signal(signal.SIGHUP)

        def answered() -> bool:
            store = Store.open(state_dir)
            try:
                iv = store.interview(ids["Umbrella"])
                return iv is not None and iv.answered_at is not None
            finally:
                store.close()

        _wait_for(answered, "the service to record the answer")
    finally:
        service.send_signal(signal.SIGTERM)
        code, _, err = _finish(service)
    assert code == 0, err
    store = Store.open(state_dir)
    try:
        umbrella = store.interview(ids["Umbrella"])
        acme = store.interview(ids["Acme Robotics"])
        globex = store.interview(ids["Globex"])
    finally:
        store.close()
    assert umbrella is not None and umbrella.notes == notes
    assert umbrella.answered_by == "from alice.abernathy@umbrella.io (interviewer)"
    assert acme is not None and (acme.closed, acme.closed_reason) == ("skipped", "by hand")
    assert globex is not None and (globex.closed, globex.closed_reason) == ("done", "by hand")
    _no_duplicates(tmp_path, "after the commands")
