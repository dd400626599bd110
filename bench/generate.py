"""Make a large synthetic calendar and Maildir for the benchmark.

    python bench/generate.py TARGET [--events 10000] [--interviews 200] [--messages 20000]

TARGET gets ``config.toml`` (a local account, state in ``TARGET/state``),
``calendar.ics`` and ``Maildir/`` (INBOX, .Sent, .Drafts), plus ``meta.json``
with the moment everything was made relative to (the benchmark's clock).

The calendar spans one year either side of that moment: mostly ordinary
meetings (some recurring, some all-day, some in a named zone), the interviews,
and a few look-alikes the rules must leave alone (mock interviews, the user
interviewing a candidate). A handful of interviews ended recently, so a first
cycle has real drafts to write: thank-you notes for the last two days,
status checks for the week before. The mail spans the past year.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from interview_followup.daemon.demo import scratch_account

ME = ("Alex Rivera", "alex.rivera@example.org")
COLLEAGUES = [f"{first}.{last}@example.org" for first, last in [
    ("sam", "ortiz"), ("li", "wei"), ("noor", "haddad"), ("ben", "carter"), ("ivy", "nguyen"),
    ("omar", "farouk"), ("kate", "miller"), ("raj", "patel"), ("eva", "schmidt"),
    ("tom", "jensen"),
]]
FIRST = ["Jane", "Samuel", "Priya", "Tom", "Mia", "Carlos", "Ana", "Jian", "Monica", "Lucius",
         "Rachel", "Peter", "Joanna", "Gavin", "Pepper", "Olu", "Hana", "Marek", "Sofia", "Dev"]
LAST = ["Doe", "Lee", "Shah", "Becker", "Wong", "Oliveira", "Ruiz", "Yang", "Hall", "Fox",
        "Dawes", "Gibbons", "Park", "Belson", "Potts", "Adeyemi", "Sato", "Novak", "Rossi", "Rao"]
ROLES = ["Backend Engineer", "Data Engineer", "Site Reliability Engineer", "Platform Engineer",
         "Senior Software Engineer", "Engineering Manager"]
MEETINGS = ["Team standup", "1:1", "Sprint planning", "Design review", "Lunch", "Dentist",
            "Gym", "Book club", "Retro", "All hands", "Coffee chat", "Architecture sync",
            "Parent-teacher meeting", "Call with the bank", "Yoga", "Incident review"]
NEWSLETTERS = ["Weekly digest", "Your order has shipped", "New jobs matching your search",
               "Security alert", "Your statement is ready", "Event reminder"]

RECENT = 12  # interviews that ended in the last two weeks (the first ones made)

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:DAYLIGHT
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
TZNAME:EDT
DTSTART:19700308T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
TZNAME:EST
DTSTART:19701101T020000
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
END:VTIMEZONE"""



def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> list[str]:
    """RFC 5545 lines of at most 75 octets (ASCII here, so characters)."""
    out = [line[:75]]
    out += [" " + line[i:i + 74] for i in range(75, len(line), 74)]
    return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


class _Calendar:
    def __init__(self, now: datetime, rng: random.Random) -> None:
        self.now = now
        self.rng = rng
        self.lines: list[str] = [
            "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//interview-followup//bench//EN",
            *VTIMEZONE.splitlines(),
        ]
        self.count = 0

    def event(self, props: list[tuple[str, str]]) -> None:
        self.count += 1
        self.lines.append("BEGIN:VEVENT")
        self.lines.append(f"UID:bench-{self.count:05d}@example.org")
        self.lines.append(f"DTSTAMP:{_utc(self.now - timedelta(days=400))}")
        for name, value in props:
            self.lines.extend(_fold(f"{name}:{value}"))
        self.lines.append("END:VEVENT")

    def text(self) -> str:
        return "\r\n".join([*self.lines, "END:VCALENDAR"]) + "\r\n"

    def slot(self, days_from_now: float) -> datetime:
        """A start on a quarter hour, in (New York) working hours, ``days_from_now`` away."""
        day = (self.now + timedelta(days=days_from_now)).replace(minute=0, second=0)
        return day.replace(hour=self.rng.randint(13, 21), minute=self.rng.choice((0, 15, 30, 45)))


def _person(rng: random.Random, domain: str) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return f"{first} {last}", f"{first}.{last}@{domain}".lower()


def _interview(cal: _Calendar, company: str, domain: str, end: datetime) -> list[tuple[str, str]]:
    """One interview event ending at ``end``; returns its interviewers (name, email)."""
    rng = cal.rng
    role = rng.choice(ROLES)
    start = end - timedelta(minutes=rng.choice((30, 45, 60, 90)))
    people = [_person(rng, domain) for _ in range(rng.randint(1, 3))]
    recruiter = _person(rng, domain)
    kind = rng.randrange(5)
    title = [f"Onsite interview - {company} ({role})", f"Phone screen with {company}",
             f"{company} technical screen", f"Interview: {company} / {role}",
             f"Chat with {company} about {role}"][kind]
    names = ", ".join(n for n, _ in people)
    description = (f"Interviewers: {names}\nRole: {role}\nDiscussed: the team's roadmap\n"
                   "Join: https://meet.example.com/abc-defg-hij")
    props = [("DTSTART", _utc(start)), ("DTEND", _utc(end)), ("SUMMARY", _escape(title)),
             ("DESCRIPTION", _escape(description)),
             ("ORGANIZER;CN=" + recruiter[0], f"mailto:{recruiter[1]}"),
             ("ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED", f"mailto:{ME[1]}")]
    if kind == 4:  # no keyword in the title: the category marks it
        props.append(("CATEGORIES", "Interview"))
    for name, email in people:
        props.append((f"ATTENDEE;CN={name};PARTSTAT=ACCEPTED", f"mailto:{email}"))
    if rng.random() < 0.3:
        props.append(("ATTENDEE;CN=Room 4A;CUTYPE=ROOM;PARTSTAT=ACCEPTED",
                      "mailto:room-4a@resource.example.com"))
    cal.event(props)
    return people


def _meeting(cal: _Calendar, days: float, recurring: bool) -> None:
    rng = cal.rng
    title = rng.choice(MEETINGS)
    start = cal.slot(days)
    props: list[tuple[str, str]]
    if rng.random() < 0.05 and not recurring:  # all-day
        day = start.date()
        props = [("DTSTART;VALUE=DATE", day.strftime("%Y%m%d")),
                 ("DTEND;VALUE=DATE", (day + timedelta(days=1)).strftime("%Y%m%d")),
                 ("SUMMARY", rng.choice(["Holiday", "Conference", "Offsite", "Birthday"]))]
        cal.event(props)
        return
    length = timedelta(minutes=rng.choice((15, 30, 30, 60)))
    if rng.random() < 0.2:  # in a named zone, as many clients write them
        local = start.astimezone(_new_york())
        fmt = "%Y%m%dT%H%M%S"
        props = [("DTSTART;TZID=America/New_York", local.strftime(fmt)),
                 ("DTEND;TZID=America/New_York", (local + length).strftime(fmt))]
    else:
        props = [("DTSTART", _utc(start)), ("DTEND", _utc(start + length))]
    props.append(("SUMMARY", _escape(title)))
    if rng.random() < 0.5:
        props.append(("DESCRIPTION", _escape(f"Agenda: {title.lower()}\nNotes to follow.")))
    if rng.random() < 0.4:
        props.append(("LOCATION", _escape(rng.choice(["Room 2B", "Zoom", "Cafe", "Home"]))))
    if rng.random() < 0.6:
        organizer = rng.choice(COLLEAGUES)
        props.append((f"ORGANIZER;CN={organizer}", f"mailto:{organizer}"))
        props.append(("ATTENDEE;PARTSTAT=ACCEPTED", f"mailto:{ME[1]}"))
        for colleague in rng.sample(COLLEAGUES, rng.randint(1, 4)):
            props.append(("ATTENDEE;PARTSTAT=ACCEPTED", f"mailto:{colleague}"))
    if recurring:
        rule = rng.choice([
            "FREQ=WEEKLY;COUNT=52", "FREQ=WEEKLY;INTERVAL=2;COUNT=26",
            "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=120", "FREQ=MONTHLY;COUNT=12",
        ])
        props.append(("RRULE", rule))
        if rng.random() < 0.3:
            props.append(("EXDATE", _utc(start + timedelta(days=7 * rng.randint(1, 8)))))
    if rng.random() < 0.01:
        props.append(("STATUS", "CANCELLED"))
    cal.event(props)


def _new_york() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def _lookalike(cal: _Calendar, days: float) -> None:
    """Events with "interview" in them that are not the user's interviews."""
    rng = cal.rng
    start = cal.slot(days)
    if rng.random() < 0.5:
        colleague = rng.choice(COLLEAGUES)
        candidate = _person(rng, "gmail.com")
        props = [("SUMMARY", _escape(f"Interview: {candidate[0]} (candidate)")),
                 (f"ORGANIZER;CN={colleague}", f"mailto:{colleague}"),
                 ("ATTENDEE;PARTSTAT=ACCEPTED", f"mailto:{ME[1]}"),
                 ("ATTENDEE;PARTSTAT=ACCEPTED", f"mailto:{candidate[1]}")]
    else:
        props = [("SUMMARY", "Mock interview with the career center"),
                 ("ATTENDEE;PARTSTAT=ACCEPTED", "mailto:coach@careers.example.edu")]
    cal.event([("DTSTART", _utc(start)), ("DTEND", _utc(start + timedelta(hours=1))), *props])


def _calendar(now: datetime, rng: random.Random, events: int, interviews: int,
              ) -> tuple[str, list[dict[str, Any]]]:
    cal = _Calendar(now, rng)
    companies = [(f"Company{n:03d}", f"company{n:03d}.com") for n in range(max(1, interviews // 2))]
    done: list[dict[str, Any]] = []  # interviews in the past, for replies in the mail

    def add(company: tuple[str, str], end: datetime) -> None:
        people = _interview(cal, company[0], company[1], end)
        if end < now:
            done.append({"company": company[0], "domain": company[1], "end": end,
                         "people": people})

    # Recent ones give the first cycle work: thank-you notes (ended in the last
    # two days) and status checks (ended 8-14 days ago). Each has a company of
    # its own, so no later interview answers it.
    recent = min(RECENT, interviews)
    for n in range(recent):
        company = (f"Recent{n:02d} Inc", f"recent{n:02d}.com")
        ago = timedelta(hours=rng.uniform(2, 40)) if n % 2 == 0 else timedelta(
            days=rng.uniform(8, 14))
        add(company, (now - ago).replace(second=0, microsecond=0))
    for _ in range(interviews - recent):
        add(rng.choice(companies), cal.slot(rng.uniform(-365, 365)) + timedelta(hours=1))
    lookalikes = min(100, max(0, events - interviews) // 100)
    for _ in range(lookalikes):
        _lookalike(cal, rng.uniform(-365, 365))
    ordinary = max(0, events - cal.count)
    recurring = ordinary // 66  # about 1.5% of the meetings are series
    for n in range(ordinary):
        _meeting(cal, rng.uniform(-365, 365), recurring=n < recurring)
    return cal.text(), done


def _message(rng: random.Random, n: int, when: datetime, sender: tuple[str, str],
             to: tuple[str, str], subject: str, extra: dict[str, str] | None = None) -> bytes:
    domain = sender[1].rpartition("@")[2]
    headers = {
        "Return-Path": f"<{sender[1]}>",
        "From": f"{sender[0]} <{sender[1]}>",
        "To": f"{to[0]} <{to[1]}>",
        "Subject": subject,
        "Date": format_datetime(when),
        "Message-ID": f"<bench.{n}.{rng.getrandbits(40):x}@{domain}>",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Transfer-Encoding": "7bit",
        **(extra or {}),
    }
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    body = f"Hello,\r\n\r\nA short note, number {n}.\r\n\r\nBest regards,\r\n{sender[0]}\r\n"
    return (head + "\r\n" + body).encode()


class _Maildir:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0
        for sub in ("", ".Sent", ".Drafts"):
            for leaf in ("cur", "new", "tmp"):
                (root / sub / leaf).mkdir(parents=True, exist_ok=True)

    def add(self, folder: str, data: bytes, when: datetime, *, unread: bool = False) -> str:
        self.count += 1
        stamp = int(when.timestamp())
        base = f"{stamp}.M{self.count}P{os.getpid()}.bench"
        name = base if unread else f"{base}:2,S"
        path = self.root / folder / ("new" if unread else "cur") / name
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))
        return name


def _mail(root: Path, now: datetime, rng: random.Random, messages: int,
          interviews: list[dict[str, Any]]) -> dict[str, int]:
    box = _Maildir(root)
    me = ME
    year = 365 * 86400
    counts = {"inbox": 0, "sent": 0, "drafts": 0, "replies": 0, "auto_replies": 0}

    # Answers from the companies: half of the recent interviews that are due a
    # status check (the others get one), and half of the rest.
    for n, iv in enumerate(interviews):
        recent_status_check = n < RECENT and n % 2 == 1
        if (n % 4 != 1) if recent_status_check else (rng.random() < 0.5):
            continue
        when = min(iv["end"] + timedelta(days=rng.uniform(1, 4)), now - timedelta(minutes=5))
        sender = rng.choice(iv["people"])
        box.add("", _message(rng, box.count, when, sender, me,
                             f"Re: Thank you - {iv['company']}"), when)
        counts["replies"] += 1
    # Automatic replies from interviewers: never answers (rule 6).
    for iv in interviews[:20]:
        when = min(iv["end"] + timedelta(hours=2), now - timedelta(minutes=5))
        sender = iv["people"][0]
        box.add("", _message(rng, box.count, when, sender, me,
                             f"Automatic reply: Thank you - {iv['company']}",
                             {"Auto-Submitted": "auto-replied"}), when)
        counts["auto_replies"] += 1
    # A few drafts of the user's own, which find_marker must look past.
    for _ in range(30):
        when = now - timedelta(seconds=rng.uniform(0, year))
        box.add(".Drafts", _message(rng, box.count, when, me, _person(rng, "gmail.com"),
                                    "Unfinished thoughts"), when)
        counts["drafts"] += 1

    rest = max(0, messages - box.count)
    for _ in range(rest):
        when = now - timedelta(seconds=rng.uniform(60, year))
        if rng.random() < 0.3:  # sent
            if rng.random() < 0.5:
                to = (rng.choice(COLLEAGUES).split("@")[0], rng.choice(COLLEAGUES))
            else:
                to = _person(rng, rng.choice(["gmail.com", "outlook.com", "example.net"]))
            box.add(".Sent", _message(rng, box.count, when, me, to,
                                      rng.choice(MEETINGS) + " follow-up"), when)
            counts["sent"] += 1
            continue
        roll = rng.random()
        if roll < 0.4:
            sender = ("Newsletter", f"no-reply@news{rng.randint(1, 40)}.example.com")
            extra = {"Precedence": "bulk", "List-Unsubscribe": "<mailto:unsub@example.com>"}
            subject = rng.choice(NEWSLETTERS)
        elif roll < 0.7:
            colleague = rng.choice(COLLEAGUES)
            sender, extra, subject = (colleague.split("@")[0], colleague), {}, rng.choice(
                MEETINGS)
        else:
            sender = _person(rng, rng.choice(["gmail.com", "outlook.com", "example.net"]))
            extra, subject = {}, "Catching up"
        unread = when > now - timedelta(days=3) and rng.random() < 0.5
        box.add("", _message(rng, box.count, when, sender, me, subject, extra), when,
                unread=unread)
        counts["inbox"] += 1
    counts["inbox"] += counts["replies"] + counts["auto_replies"]
    return counts


def generate(target: Path, *, events: int = 10_000, interviews: int = 200,
             messages: int = 20_000, seed: int = 1, now: datetime | None = None,
             ) -> dict[str, Any]:
    """Write the data set into ``target`` (replacing one made before); returns its meta."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(seed)
    if target.exists():
        if not (target / "meta.json").is_file():
            raise SystemExit(f"{target} exists and is not a benchmark data set; not touching it")
        shutil.rmtree(target)
    target.mkdir(parents=True)
    text, past = _calendar(now, rng, events, interviews)
    scratch_account(target, text, account="bench")
    counts = _mail(target / "Maildir", now, rng, messages, past)
    drafts = sorted(p.name for p in (target / "Maildir" / ".Drafts" / "cur").iterdir())
    meta = {
        "now": now.isoformat(), "seed": seed, "events": text.count("BEGIN:VEVENT"),
        "interviews": interviews, "recurring": text.count("\r\nRRULE:FREQ"),
        "calendar_bytes": len(text), "messages": counts, "user_drafts": drafts,
    }
    (target / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--interviews", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    meta = generate(args.target, events=args.events, interviews=args.interviews,
                    messages=args.messages, seed=args.seed)
    summary = {k: v for k, v in meta.items() if k != "user_drafts"}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
