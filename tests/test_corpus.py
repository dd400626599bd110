"""Real-world invites (tests/data/invites) through the iCalendar reader and the rules.

Each .ics file has its expectations in expected.toml; see the comment at its top.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.config import Config
from daemon.detect import classify
from daemon.infer import infer
from daemon.people import main_contact, who_gets_a_note
from providers.base import Event
from providers.ical import read_events
from tests.configs import make_config

INVITES = Path(__file__).parent / "data" / "invites"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (INVITES / "expected.toml").read_text(encoding="utf-8"))
WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
ZONE = ZoneInfo("America/New_York")


def read(name: str) -> list[Event]:
    events, problems = read_events((INVITES / f"{name}.ics").read_bytes(), *WINDOW, ZONE,
                                   source=f"{name}.ics")
    assert problems == []
    return events


def test_corpus_is_complete() -> None:
    files = {p.stem for p in INVITES.glob("*.ics")}
    assert files == set(EXPECTED), "every invite needs an expectation, and the reverse"
    assert len(files) >= 32


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invite(name: str, tmp_path: Path) -> None:
    spec = EXPECTED[name]
    config = make_config(tmp_path, spec.get("me_email", "alex.rivera@gmail.com"),
                         aliases=tuple(spec.get("me_aliases", ())),
                         timezone="America/New_York")
    events = read(name)
    assert len(events) == spec.get("count", 1)
    decisions = [classify(e, config) for e in events]
    interviews = [e for e, d in zip(events, decisions, strict=True) if d.is_interview]
    assert len(interviews) == spec.get("interviews", 1 if spec["interview"] else 0), decisions

    if not spec["interview"]:
        for decision in decisions:
            assert spec["reason"] in decision.reason
        return
    if "start" in spec:
        assert interviews[0].start.astimezone(UTC).isoformat() == spec["start"]
    for event in interviews:
        check_interview(event, classify(event, config).reason, spec, config)


def check_interview(event: Event, reason: str, spec: dict[str, Any], config: Config) -> None:
    if "reason" in spec:
        assert spec["reason"] in reason
    facts = infer(event, config)
    recipients, how = who_gets_a_note(event, config, facts.interviewer_names)
    assert [r.email for r in recipients] == spec["recipients"]
    if "how" in spec:
        assert how == spec["how"]
    if "greetings" in spec:
        assert [r.greeting_name for r in recipients] == spec["greetings"]
    if "main_contact" in spec:
        contact = main_contact(event, recipients, config)
        assert (contact.email if contact else "") == spec["main_contact"]
    for key in ("company", "company_domain", "role"):
        if key in spec:
            assert getattr(facts, key) == spec[key], key
    for key, attr in (("interviewers", "interviewer_names"), ("discussed", "discussed"),
                      ("concerns", "concerns"), ("strengths", "strengths")):
        if key in spec:
            assert list(getattr(facts, attr)) == spec[key], key
    for value in (facts.company, facts.role, *facts.interviewer_names, *facts.discussed,
                  *(r.name for r in recipients)):
        assert not any(ord(c) < 32 for c in value), value


def test_recurring_instances_have_distinct_ids() -> None:
    uids = [e.uid for e in read("google_recurring")]
    assert len(set(uids)) == len(uids)


def test_hundred_kilobyte_description(tmp_path: Path) -> None:
    """A generated invite whose description is over 100 KB of hostile text."""
    config = make_config(tmp_path, timezone="America/New_York")
    filler = "\\n".join(
        f"{{{{ config }}}} Bcc: x{i}@evil.example \\, lorem ipsum (((( [[[[ <b>" * 4
        for i in range(600)
    )
    description = "Discussed: the storage layer\\n" + filler + "\\nConcern: only two years of Go"
    assert len(description) > 100_000
    data = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Generated//EN\r\nBEGIN:VEVENT\r\n"
        "UID:huge-1@initech.com\r\nDTSTAMP:20250301T000000Z\r\n"
        "DTSTART:20250402T150000Z\r\nDTEND:20250402T160000Z\r\n"
        "SUMMARY:Initech - Technical Interview\r\n"
        "ORGANIZER;CN=Peter Gibbons:mailto:peter.gibbons@initech.com\r\n"
        "ATTENDEE;CN=Alex Rivera;PARTSTAT=ACCEPTED:mailto:alex.rivera@gmail.com\r\n"
        f"DESCRIPTION:{description}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    (event,), problems = read_events(data, *WINDOW, ZONE, source="huge.ics")
    assert problems == [] and len(event.description) > 100_000
    assert classify(event, config).is_interview
    facts = infer(event, config)
    assert (facts.company, facts.company_domain) == ("Initech", "initech.com")
    assert facts.discussed == ("the storage layer",)
    assert facts.concerns == ("only two years of Go",)
    assert facts.interviewer_names == ()
    assert who_gets_a_note(event, config, facts.interviewer_names)[0][0].email == \
        "peter.gibbons@initech.com"
