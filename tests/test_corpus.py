"""Real-world invites (tests/data/invites) through the iCalendar reader and the rules.

Each .ics file has its expectations in expected.toml; see the comment at its top.
Beside the exact checks per file, ``test_accuracy`` prints how often each fact is
right, missing or wrong over the whole corpus and fails below the floors, and
``test_no_draft_names_a_wrong_company_or_role`` renders every thank-you note.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from interview_followup.daemon.calendar_sync import CalendarSync
from interview_followup.daemon.config import Config
from interview_followup.daemon.detect import classify
from interview_followup.daemon.engine import Engine
from interview_followup.daemon.infer import Facts, infer
from interview_followup.daemon.lifecycle import THANK_YOU
from interview_followup.daemon.people import Recipient, main_contact, who_gets_a_note
from interview_followup.daemon.state import Store
from interview_followup.providers._shared.ical import read_events
from interview_followup.providers.base import Event
from tests.configs import make_config

INVITES = Path(__file__).parent / "data" / "invites"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (INVITES / "expected.toml").read_text(encoding="utf-8"))
WINDOW = (datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
ZONE = ZoneInfo("America/New_York")
INTERVIEWS = sorted(name for name, spec in EXPECTED.items() if spec["interview"])
# The floors the corpus must keep (issue 9); wrong company or role: none at all.
FLOORS = {"company": 0.97, "role": 0.95, "recipients": 0.98, "greeting": 0.98}


def read(name: str) -> list[Event]:
    events, problems = read_events((INVITES / f"{name}.ics").read_bytes(), *WINDOW, ZONE,
                                   source=f"{name}.ics")
    assert problems == []
    return events


def config_for(spec: dict[str, Any], folder: Path) -> Config:
    keywords = spec.get("keywords")
    sections = ""
    if keywords:
        listed = ", ".join(f'"{k}"' for k in keywords)
        sections = f"[detect]\nkeywords = [{listed}]\n"
    return make_config(folder, spec.get("me_email", "alex.rivera@gmail.com"),
                       aliases=tuple(spec.get("me_aliases", ())),
                       timezone="America/New_York", sections=sections)


def test_corpus_is_complete() -> None:
    files = {p.stem for p in INVITES.glob("*.ics")}
    assert files == set(EXPECTED), "every invite needs an expectation, and the reverse"
    assert len(files) >= 80


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invite(name: str, tmp_path: Path) -> None:
    spec = EXPECTED[name]
    config = config_for(spec, tmp_path)
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


def greetings(recipients: list[Recipient], facts: Facts) -> list[str]:
    """Whom each draft greets: the recipients, or the one draft with an empty To."""
    if recipients:
        return [r.greeting_name for r in recipients]
    names = facts.interviewer_names
    return [Recipient("", names[0]).greeting_name if names else ""]


def check_interview(event: Event, reason: str, spec: dict[str, Any], config: Config) -> None:
    if "reason" in spec:
        assert spec["reason"] in reason
    facts = infer(event, config)
    recipients, how = who_gets_a_note(event, config, facts.interviewer_names)
    assert [r.email for r in recipients] == spec["recipients"]
    if "how" in spec:
        assert how == spec["how"]
    if "greetings" in spec:
        assert greetings(recipients, facts) == spec["greetings"]
    if "main_contact" in spec:
        contact = main_contact(event, recipients, config)
        assert (contact.email if contact else "") == spec["main_contact"]
    for key in ("company", "company_domain", "role"):
        if key in spec:
            assert getattr(facts, key) in (spec[key], *spec.get(f"{key}_accept", ())), key
    for key, attr in (("interviewers", "interviewer_names"), ("discussed", "discussed"),
                      ("concerns", "concerns"), ("strengths", "strengths")):
        if key in spec:
            assert list(getattr(facts, attr)) == spec[key], key
    for value in (facts.company, facts.role, *facts.interviewer_names, *facts.discussed,
                  *(r.name for r in recipients)):
        assert not any(ord(c) < 32 for c in value), value


# -- the corpus as a whole ------------------------------------------------------

def _grade(got: Any, want: Any, empty: Any) -> str:
    if got == want:
        return "right"
    return "missing" if got == empty else "wrong"


def _results(tmp_path: Path) -> dict[str, list[tuple[str, str]]]:
    """Per field, (invite, grade) for every interview of the corpus."""
    results: dict[str, list[tuple[str, str]]] = {f: [] for f in FLOORS}
    for name in INTERVIEWS:
        spec = EXPECTED[name]
        config = config_for(spec, tmp_path / name)
        event = next(e for e in read(name) if classify(e, config).is_interview)
        facts = infer(event, config)
        recipients, _ = who_gets_a_note(event, config, facts.interviewer_names)
        emails = [r.email for r in recipients]
        company = spec.get("company", "")
        if facts.company in spec.get("company_accept", ()):
            company = facts.company  # an accepted rendering ("Granitemutual")
        results["company"].append((name, _grade(facts.company, company, "")))
        results["role"].append((name, _grade(facts.role, spec.get("role", ""), "")))
        results["recipients"].append((name, _grade(emails, spec["recipients"], [])))
        if "greetings" in spec:
            got = greetings(recipients, facts)
            results["greeting"].append(
                (name, _grade(got, spec["greetings"], [""] * len(got))))
    return results


def test_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _results(tmp_path)
    lines = [f"{'field':<11}{'right':>7}{'missing':>9}{'wrong':>7}{'total':>7}{'right %':>9}"]
    for field_name, grades in results.items():
        counts = {g: sum(1 for _, x in grades if x == g) for g in ("right", "missing", "wrong")}
        share = counts["right"] / len(grades)
        lines.append(f"{field_name:<11}{counts['right']:>7}{counts['missing']:>9}"
                     f"{counts['wrong']:>7}{len(grades):>7}{share:>9.1%}")
    misses = [f"  {field_name} {grade}: {name}" for field_name, grades in results.items()
              for name, grade in grades if grade != "right"]
    with capsys.disabled():
        print("\n" + "\n".join(lines + misses))
    for field_name, grades in results.items():
        right = sum(1 for _, x in grades if x == "right") / len(grades)
        assert right >= FLOORS[field_name], (field_name, right)
    for field_name in ("company", "role"):
        wrong = [name for name, grade in results[field_name] if grade == "wrong"]
        assert wrong == [], f"a wrong {field_name} is never acceptable: {wrong}"


@pytest.mark.parametrize("name", INTERVIEWS)
def test_no_draft_names_a_wrong_company_or_role(name: str, tmp_path: Path) -> None:
    """Every thank-you note of the corpus, rendered as the service would: its company
    and role are the expected ones or a placeholder, and the subject states only
    what the invitation makes sure."""
    spec = EXPECTED[name]
    config = config_for(spec, tmp_path)
    event = next(e for e in read(name) if classify(e, config).is_interview)
    when = event.end + timedelta(hours=1)
    store = Store.memory()
    iv = CalendarSync(store, config)._new_interview("home", event, when)
    engine = Engine(config, store, {}, clock=lambda: when)
    drafts = engine.plan(iv, THANK_YOU)
    assert drafts
    company, role = spec.get("company", ""), spec.get("role", "")
    if iv.company in spec.get("company_accept", ()):
        company = iv.company
    for draft in drafts:
        text = draft.rendered.subject + "\n" + draft.rendered.body
        assert (company and company in text) or "[company]" in text, text
        assert (role and role in text) or "[role]" in text, text
        assert iv.company in ("", company) and iv.role in ("", role)
        subject = draft.rendered.subject
        if subject.startswith("Thank you — interview at "):
            assert subject == f"Thank you — interview at {company}"
        elif subject.startswith("Thank you — "):
            assert subject == f"Thank you — {role} interview"
    store.close()


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
