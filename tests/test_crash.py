"""Rule 5 under real crashes: `followup run --once` killed with SIGKILL at random moments.

A cycle claims each draft in the state, writes it to the Maildir, then records
it. A SIGKILL can land between any two of those steps (the dangerous moment is
after the write and before the record). However often that happens, the next
clean run must leave exactly one draft per marker, and every draft that is due.

The CLI reads the system clock, so the calendar is built relative to now, with
every due time at least an hour away from any edge: the few seconds the test
takes cannot change what is due.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

from daemon.config import load_config
from daemon.demo import scratch_account
from daemon.state import Store

MARKER = "X-Interview-Followup"
KILLS = 50
MAX_ATTEMPTS = 200  # runs that finish before their kill do not count
SEED = 20240611


# (company, domain, interviewers, hours ago the interview ended); one company each,
# so no interview counts as an answer to another (rule 6).
INTERVIEWS = [
    ("Acme Robotics", "acme-robotics.com", ["Jane Doe", "Samuel Lee", "Ana Ruiz"], 2),
    ("Globex", "globex.com", ["Tom Becker", "Mia Wong"], 3),
    ("Initech", "initech.com", ["Bill Lumbergh", "Joanna Park", "Peter Gibbons"], 5),
    ("Umbrella", "umbrella.io", ["Alice Abernathy", "Carlos Oliveira"], 8),
    ("Hooli", "hooli.xyz", ["Gavin Belson", "Jian Yang", "Monica Hall"], 20),
    ("Stark Industries", "stark.example", ["Pepper Potts", "Happy Hogan"], 30),
]
# Ended nine days ago with no answer: the thank-you window passed, a status check is due.
STATUS_CHECK = ("Wayne Enterprises", "wayne.example", ["Lucius Fox", "Rachel Dawes"], 9 * 24)


def _ics(now: datetime) -> str:
    def t(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//interview-followup//crash test//EN"]
    for n, (company, domain, people, ago) in enumerate([*INTERVIEWS, STATUS_CHECK]):
        end = now - timedelta(hours=ago)
        lines += [
            "BEGIN:VEVENT",
            f"UID:crash-{n}@example.org",
            f"DTSTAMP:{t(now - timedelta(days=20))}",
            f"DTSTART:{t(end - timedelta(hours=1))}",
            f"DTEND:{t(end)}",
            f"SUMMARY:{company} - Onsite interview (Backend Engineer)",
            "DESCRIPTION:Discussed: the on-call rotation",
            f"ORGANIZER;CN=Recruiter:mailto:recruiting@{domain}",
            "ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@example.org",
        ]
        for person in people:
            address = person.lower().replace(" ", ".") + "@" + domain
            lines.append(f"ATTENDEE;CN={person};PARTSTAT=ACCEPTED:mailto:{address}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def _scenario(folder: Path, now: datetime) -> Path:
    return scratch_account(folder, _ics(now), account="home", log_level="WARNING")


def _command() -> list[str]:
    """The installed console script when there is one, else the same entry point."""
    script = Path(sys.executable).with_name("followup")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from daemon.cli import main; main()"]


def _env(config: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FOLLOWUP_CONFIG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if config is not None:
        env["FOLLOWUP_CONFIG"] = str(config)
    return env


def _clean_run(config: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*_command(), "--config", str(config), "run", "--once"],
                            env=_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"clean run failed:\n{result.stdout}\n{result.stderr}"
    return result


def _markers(maildir: Path) -> list[str]:
    """The marker of every draft file (tmp/ holds unfinished writes, never drafts)."""
    parser = BytesHeaderParser()
    found = []
    for leaf in ("cur", "new"):
        for path in sorted((maildir / ".Drafts" / leaf).iterdir()):
            with path.open("rb") as f:
                headers = parser.parse(f)
            values = headers.get_all(MARKER) or []
            assert len(values) == 1, f"{path.name}: {len(values)} marker headers"
            found.append("".join(str(values[0]).split()))
    return found


def _killed_run(config: Path, delay: float) -> bool:
    """Start a run, SIGKILL it after ``delay`` seconds; False when it finished first."""
    proc = subprocess.Popen([*_command(), "run", "--once"], env=_env(config),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True
    return False


def _check(work: Path, expected: set[str], context: str) -> None:
    found = _markers(work / "Maildir")
    duplicates = sorted(m for m, c in Counter(found).items() if c > 1)
    assert not duplicates, f"{context}: written twice: {duplicates}"
    assert set(found) == expected, f"{context}: missing {expected - set(found)}"
    store = Store.open(load_config(work / "config.toml").daemon.state_dir)
    try:
        rows = store.drafts()
    finally:
        store.close()
    assert {r.marker for r in rows} == expected, context
    assert all(r.state == "created" for r in rows), f"{context}: a claim was left open"


def test_sigkill_at_random_moments_never_duplicates_or_loses_a_draft(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    template = tmp_path / "template"
    _scenario(template, now)

    # The reference: clean runs on untouched copies, timed to aim the kills. The
    # fastest counts: the first run in a test session pays for cold caches.
    durations: list[float] = []
    references: list[list[str]] = []
    for n in range(2):
        reference = tmp_path / f"reference{n}"
        shutil.copytree(template, reference)
        started = time.monotonic()
        _clean_run(reference / "config.toml")
        durations.append(time.monotonic() - started)
        references.append(_markers(reference / "Maildir"))
    expected = references[0]
    assert len(expected) == len(set(expected)), "a clean run wrote a marker twice"
    assert sorted(references[1]) == sorted(expected)
    thank_yous = sum(len(people) for _, _, people, _ in INTERVIEWS)
    assert len(expected) == thank_yous + 1  # one per interviewer, and the status check
    assert sum("/status_check/" in m for m in expected) == 1
    duration = min(durations)
    # A run with nothing left to write: its length is about when drafting starts.
    started = time.monotonic()
    _clean_run(tmp_path / "reference0" / "config.toml")
    drafting_starts = time.monotonic() - started
    assert sorted(_markers(tmp_path / "reference0" / "Maildir")) == sorted(expected)

    # Kills accumulate on one state + Maildir until a run gets to finish on its
    # own; then a clean run, the checks, and a fresh copy for the next round.
    rng = random.Random(SEED)
    kills = attempts = rounds = 0
    while kills < KILLS and attempts < MAX_ATTEMPTS:
        work = tmp_path / f"round{rounds}"
        shutil.copytree(template, work)
        config = work / "config.toml"
        partial: list[int] = []  # drafts present after each kill: where the kills landed
        while kills < KILLS and attempts < MAX_ATTEMPTS:
            attempts += 1
            # Every other kill aims at the drafting phase, where the narrow moment
            # between a draft's write and its record is.
            if attempts % 2:
                delay = rng.uniform(0, 1.2 * duration)
            else:
                delay = rng.uniform(0.9 * drafting_starts, 1.1 * duration)
            if not _killed_run(config, delay):
                break
            kills += 1
            partial.append(len(_markers(work / "Maildir")))
        _clean_run(config)
        _check(work, set(expected), f"round {rounds}, drafts after each kill: {partial}")
        rounds += 1
    assert kills >= KILLS, f"only {kills} of {attempts} runs were killed before they ended"
