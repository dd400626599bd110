"""`followup demo`: the real engine, once, on a sample calendar and Maildir in a scratch folder.

The calendar is made relative to the moment the folder is first set up and
then kept, so running the demo again in the same folder (``--dir``) shows that
nothing is drafted twice. Without ``--dir`` every run gets a fresh folder of
its own (private to the user), so two runs or two users never meet.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .config import Notify, load_config
from .engine import Engine
from .errors import UsageError
from .lock import StateLock
from .notify import Notifier

Echo = Callable[[str], None]

_CONFIG = """\
# A local calendar file and a local Maildir, in this folder.
[me]
name = "Alex Rivera"
email = "alex.rivera@example.org"
signature = "Alex Rivera\\n+1 555 0100\\nlinkedin.com/in/alexrivera"
timezone = "America/New_York"

[timing]
# Every hour counts as working time here, so a status check never waits for Monday.
working_days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
working_hours = "00:00-24:00"

[daemon]
state_dir = "state"
log_level = "{log_level}"

[[accounts]]
name = "{account}"
provider = "local"
calendar = "calendar.ics"
maildir = "Maildir"
"""


def _ics(now: datetime) -> str:
    def t(delta: timedelta) -> str:
        return (now + delta).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

    stamp = t(timedelta(days=-20))
    events = [
        # 1. Ended an hour ago: thank-you notes to both interviewers (not the room).
        f"""BEGIN:VEVENT
UID:demo-acme-onsite@example.org
DTSTAMP:{stamp}
DTSTART:{t(timedelta(hours=-2, minutes=-15))}
DTEND:{t(timedelta(hours=-1, minutes=-5))}
SUMMARY:Acme Robotics - Onsite interview (Senior Backend Engineer)
DESCRIPTION:Interviewers: Jane Doe, Samuel Lee\\nRole: Senior Backend Engi
 neer\\nDiscussed: moving the fleet telemetry pipeline to event streaming\\nS
 trength: five years running Kafka in production\\nJoin Zoom Meeting https:
 //zoom.us/j/5550100
ORGANIZER;CN=Priya Shah:mailto:priya.shah@acme-robotics.com
ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@example.org
ATTENDEE;CN=Jane Doe;PARTSTAT=ACCEPTED:mailto:jane.doe@acme-robotics.com
ATTENDEE;CN=Samuel Lee;PARTSTAT=ACCEPTED:mailto:samuel.lee@acme-robotics.com
ATTENDEE;CN=Orion (4th floor);CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:orion@r
 esource.calendar.google.com
END:VEVENT""",
        # 2. Ended nine days ago, no answer since: one status check to the recruiter.
        f"""BEGIN:VEVENT
UID:demo-globex-screen@example.org
DTSTAMP:{stamp}
DTSTART:{t(timedelta(days=-9, hours=-1))}
DTEND:{t(timedelta(days=-9, minutes=-30))}
SUMMARY:Phone screen: Globex (Data Engineer)
DESCRIPTION:Recruiter call with Tom Becker.
ORGANIZER;CN=Tom Becker:mailto:tom.becker@globex.com
ATTENDEE;CN=Tom Becker;PARTSTAT=ACCEPTED:mailto:tom.becker@globex.com
ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@example.org
END:VEVENT""",
        # 3. Cancelled: nothing.
        f"""BEGIN:VEVENT
UID:demo-initech@example.org
DTSTAMP:{stamp}
DTSTART:{t(timedelta(hours=-5))}
DTEND:{t(timedelta(hours=-4))}
STATUS:CANCELLED
SUMMARY:Initech - Technical interview
ORGANIZER;CN=Bill Lumbergh:mailto:bill@initech.com
ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@example.org
ATTENDEE;CN=Bill Lumbergh;PARTSTAT=ACCEPTED:mailto:bill@initech.com
END:VEVENT""",
        # 4. A mock interview: practice, not an interview.
        f"""BEGIN:VEVENT
UID:demo-mock@example.org
DTSTAMP:{stamp}
DTSTART:{t(timedelta(hours=-4))}
DTEND:{t(timedelta(hours=-3))}
SUMMARY:Mock interview with the career center
ATTENDEE;CN=Chris Coach;PARTSTAT=ACCEPTED:mailto:chris@careers.example.edu
END:VEVENT""",
        # 5. Not an interview at all.
        f"""BEGIN:VEVENT
UID:demo-dentist@example.org
DTSTAMP:{stamp}
DTSTART:{t(timedelta(hours=-3))}
DTEND:{t(timedelta(hours=-2))}
SUMMARY:Dentist
END:VEVENT""",
    ]
    body = "\n".join(events)
    text = f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//interview-followup//demo//EN\n{body}\n" \
           "END:VCALENDAR\n"
    return text.replace("\n", "\r\n")


def scratch_account(folder: Path, calendar: str, *, account: str = "demo",
                    log_level: str = "INFO") -> Path:
    """A config naming ``folder``'s calendar.ics and Maildir++; returns the config path.

    Files already there are kept (the demo, the crash test and the benchmark share this).
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    if not config.exists():
        config.write_text(_CONFIG.format(account=account, log_level=log_level),
                          encoding="utf-8")
    ics = folder / "calendar.ics"
    if not ics.exists():
        ics.write_text(calendar, encoding="utf-8", newline="")
    for sub in ("", ".Sent", ".Drafts"):
        for leaf in ("cur", "new", "tmp"):
            (folder / "Maildir" / sub / leaf).mkdir(parents=True, exist_ok=True)
    return config


def setup(folder: Path, now: datetime) -> Path:
    """The demo's scratch folder, its calendar made relative to ``now`` the first time."""
    return scratch_account(folder, _ics(now))


def run_demo(folder: Path | None, echo: Echo, now: datetime | None = None,
             on_wait: Echo | None = None, notifier: Notifier | None = None) -> int:
    """Set up (or reuse) ``folder``, run one cycle, show the drafts; returns how many.

    ``notifier`` announces the drafts as the service would (the CLI passes one).

    :raises UsageError: when ``folder`` cannot be used.
    """
    fresh = folder is None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="interview-followup-demo-"))  # mode 0700
    moment = now or datetime.now(UTC)
    try:
        config_path = setup(folder, moment)
    except OSError as exc:
        raise UsageError(f"cannot use {folder} for the demo: {exc.strerror or exc}; "
                         "pick another with --dir, or leave --dir out for a fresh "
                         "folder") from None
    config = load_config(config_path)
    with StateLock(config.daemon.state_dir, "demo", on_wait):
        engine = Engine.open(config, clock=lambda: now or datetime.now(UTC))
        try:
            report = engine.cycle()
            if notifier is not None:
                store = engine.store

                def company(interview_id: str) -> str | None:
                    found = store.interview(interview_id)
                    return (found.company or None) if found else None

                notifier.cycle(report.created, report.notices, company)
        finally:
            engine.close()
    echo(f"Demo folder: {folder}" + (" (new for this run)" if fresh else ""))
    echo("Calendar: 5 events (an onsite that just ended, a phone screen nine days ago, "
         "a cancelled interview, a mock interview, a dentist appointment)\n")
    if not report.created:
        echo("No new drafts: everything due was already written (rule: at most once).")
    for d in sorted(report.created, key=lambda d: d.kind != "thank_you"):
        to = ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in d.to)
        echo(f"=== {d.kind.replace('_', '-')} draft, in Maildir/.Drafts/cur as {d.location}")
        echo(f"To: {to or '(empty)'}\nSubject: {d.subject}\n")
        echo(d.body.rstrip() + "\n")
    echo(f"Wrote {len(report.created)} draft(s). Nothing was sent.")
    echo(f"See them all: ls {folder / 'Maildir' / '.Drafts' / 'cur'}")
    echo(f"Tracked interviews: followup --config {config_path} status")
    echo(f"Run it again on the same folder (nothing is drafted twice): "
         f"followup demo --dir {folder}")
    echo(f"Start again from scratch: followup demo (a new folder; remove this one with "
         f"rm -r {folder})")
    echo("Your own setup: followup init")
    return len(report.created)


def default_notifier() -> Notifier:
    """What the demo tells the desktop: as a default configuration would."""
    return Notifier(Notify())
