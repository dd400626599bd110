"""Each interviewer's own note (issue 9): facts with a confidence, notes in the right
paragraph, one wording per member of a panel, "today" and "yesterday"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interview_followup.daemon.calendar_sync import CalendarSync
from interview_followup.daemon.config import Config
from interview_followup.daemon.engine import Engine, PlannedDraft
from interview_followup.daemon.infer import Confidence, Fact, Source, read_notes
from interview_followup.daemon.lifecycle import THANK_YOU
from interview_followup.daemon.state import Interview, Store
from interview_followup.daemon.templates import PANEL_VARIANTS, date_style_from_env, when_text
from interview_followup.providers.base import Attendee, Event
from tests.configs import make_config

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)  # Tuesday, 10:00 in New York
ME = Attendee("alex.rivera@gmail.com", "Alex Rivera")
PANEL = (
    Attendee("danielle.brooks@pinecrest.studio", "Danielle Brooks"),
    Attendee("tom.iversen@pinecrest.studio", "Tom Iversen"),
    Attendee("aisha.bello@pinecrest.studio", "Aisha Bello"),
)
DESCRIPTION = (
    "Interviewers:\n- Danielle Brooks (Design Director)\n- Tom Iversen (Staff Engineer)\n"
    "- Aisha Bello (User Researcher)\n\nDanielle: the design-system roadmap\n"
    "Tom: handing off specs to engineering\nAisha: how we recruit research participants\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, timezone="America/New_York")


def interview(config: Config, title: str = "Pinecrest Studios - Senior Product Designer - Panel",
              description: str = DESCRIPTION, attendees: tuple[Attendee, ...] = PANEL,
              **changes: Any) -> Interview:
    event = Event(uid="panel-1", title=title, start=START, end=START + timedelta(hours=2),
                  description=description, organizer=attendees[0] if attendees else None,
                  attendees=(*attendees, ME))
    iv = CalendarSync(Store.memory(), config)._new_interview("home", event, START)
    for key, value in changes.items():
        setattr(iv, key, value)
    return iv


def drafts(config: Config, iv: Interview, now: datetime | None = None) -> list[PlannedDraft]:
    moment = now or iv.end + timedelta(hours=1)
    return Engine(config, Store.memory(), {}, clock=lambda: moment).plan(iv, THANK_YOU)


# -- one panel, three letters ------------------------------------------------------

def test_each_interviewer_of_a_panel_gets_a_different_note(config: Config) -> None:
    planned = drafts(config, interview(config))
    bodies = [p.rendered.body for p in planned]
    assert len(planned) == 3 and len(set(bodies)) == 3
    # Not only the name differs: with the names and points taken out, the wording does.
    skeletons = {b.split("\n\n", 2)[1] for b in bodies}
    assert len(skeletons) == 3


def test_each_note_has_the_persons_own_points_and_title(config: Config) -> None:
    by_email = {p.to[0].email: p.rendered.body for p in drafts(config, interview(config))}
    danielle = by_email["danielle.brooks@pinecrest.studio"]
    assert danielle.startswith("Dear Danielle,")
    assert "the design-system roadmap" in danielle and "Design Director" in danielle
    assert "handing off specs" not in danielle
    tom = by_email["tom.iversen@pinecrest.studio"]
    assert "handing off specs to engineering" in tom and "Staff Engineer" in tom
    assert "design-system" not in tom


def test_a_re_render_gives_the_same_text(config: Config) -> None:
    iv = interview(config)
    first = [(p.marker, p.rendered) for p in drafts(config, iv)]
    again = [(p.marker, p.rendered) for p in drafts(config, iv)]
    assert first == again


def test_variants_differ_for_panels_up_to_twelve(config: Config) -> None:
    people = tuple(Attendee(f"person{i}@acme.example", f"Person{i} Doe") for i in range(12))
    iv = interview(config, "Acme - Engineer - Onsite", "", people)
    bodies = [p.rendered.body.split("\n\n", 1)[1] for p in drafts(config, iv)]
    openings = [b.replace(f"Person{i}", "X") for i, b in enumerate(bodies)]
    assert len(set(openings)) == PANEL_VARIANTS == 12


# -- notes go where they belong ----------------------------------------------------

def test_strength_note_fills_the_strengths_paragraph(config: Config) -> None:
    iv = interview(config, notes=["Strength: ten years of SRE work", "Concern: no Go",
                                  "the on-call rotation"])
    body = drafts(config, iv)[0].rendered.body
    assert "Strength:" not in body and "ten years of SRE work" in body
    assert "[a strength that fits the role]" not in body
    assert "I have also given more thought to no Go" in body
    assert "the on-call rotation" in body or "design-system roadmap" in body


def test_bare_note_is_a_discussed_point(config: Config) -> None:
    iv = interview(config, "Acme - Engineer - Interview", "", (PANEL[0],),
                   notes=["the on-call rotation"])
    body = drafts(config, iv)[0].rendered.body
    assert "the on-call rotation" in body
    assert "[something specific you discussed]" not in body


def test_note_for_one_person_by_address_or_name(config: Config) -> None:
    iv = interview(config, "Acme - Engineer - Interview", "", PANEL[:2],
                   notes=["tom.iversen@pinecrest.studio: the hiring timeline",
                          "Danielle: Strength: mentoring designers"])
    by_email = {p.to[0].email: p.rendered.body for p in drafts(config, iv)}
    assert "the hiring timeline" in by_email["tom.iversen@pinecrest.studio"]
    assert "the hiring timeline" not in by_email["danielle.brooks@pinecrest.studio"]
    assert "mentoring designers" in by_email["danielle.brooks@pinecrest.studio"]
    assert "mentoring designers" not in by_email["tom.iversen@pinecrest.studio"]


def test_read_notes_sorts_every_kind() -> None:
    notes = read_notes(["Strength: ten years", "CONCERN: no Go", "Discussed: the API",
                        "the budget", "Role: Staff SRE", "company: Acme Robotics",
                        "jane@acme.com: the roadmap", "Jane: Strength: Kafka"], ["Jane Doe"])
    assert notes.strengths == ("ten years",) and notes.concerns == ("no Go",)
    assert notes.discussed == ("the API", "the budget")
    assert notes.role == Fact("Staff SRE", Source.NOTE, Confidence.SURE)
    assert notes.company.value == "Acme Robotics"
    assert notes.personal == (("jane@acme.com", "discussed", "the roadmap"),
                              ("Jane", "strengths", "Kafka"))


def test_a_role_note_corrects_the_draft(config: Config) -> None:
    iv = interview(config, "Interview", "", (PANEL[0],), notes=["Role: Design Lead"])
    assert drafts(config, iv)[0].rendered.subject == "Thank you — Design Lead interview"


# -- only sure facts in the subject --------------------------------------------------

def test_subject_uses_only_sure_facts(config: Config) -> None:
    # The company from the domain alone is likely: fine in the body, not in the subject.
    iv = interview(config, "Phone screen", "", (Attendee("kai@orbitalmesh.io", "Kai Lund"),))
    planned = drafts(config, iv)[0].rendered
    assert iv.snapshot["facts"]["company"] == {
        "value": "Orbitalmesh", "source": "attendee domain", "confidence": "likely"}
    assert planned.subject == "Thank you for your time today"
    assert "at Orbitalmesh" in planned.body


def test_informational_and_coffee_titles_never_give_a_company(config: Config) -> None:
    for title in ("Informational interview – Dana Whitmore (Brightwater Conservancy)",
                  "Coffee with Priya (Lattice Bio) - interview"):
        iv = interview(config, title, "", (Attendee("dana@gmail.com", "Dana Whitmore"),))
        subject = drafts(config, iv)[0].rendered.subject
        assert "Informational" not in subject and "Priya" not in subject
        assert iv.company in ("Brightwater Conservancy", "Lattice Bio")


def test_older_interviews_without_confidence_keep_their_subject(config: Config) -> None:
    iv = interview(config, "Interview", "", (PANEL[0],), company="Acme", role="Engineer")
    del iv.snapshot["facts"]
    assert drafts(config, iv)[0].rendered.subject == "Thank you — Engineer interview"


# -- today and yesterday -------------------------------------------------------------

def test_today_and_yesterday(config: Config) -> None:
    iv = interview(config)
    same_day = drafts(config, iv, START + timedelta(hours=4))[0].rendered.body
    next_day = drafts(config, iv, START + timedelta(hours=26))[0].rendered.body
    assert "today" in same_day and "on Tuesday" not in same_day
    assert "yesterday" in next_day


@pytest.mark.parametrize("days, text", [
    (0, "today"), (1, "yesterday"), (3, "on Tuesday"), (9, "on March 4"),
])
def test_when_text(days: int, text: str) -> None:
    day = START.date()
    assert when_text(day, day + timedelta(days=days)) == text
    assert when_text(day, None) == "on Tuesday"


@pytest.mark.parametrize("env, style", [
    ({"LANG": "en_US.UTF-8"}, "month_day"), ({"LANG": "en_GB.UTF-8"}, "day_month"),
    ({"LC_TIME": "de_DE.UTF-8", "LANG": "en_US.UTF-8"}, "day_month"), ({}, "month_day"),
    ({"LC_ALL": "C.UTF-8"}, "month_day"),
])
def test_date_style_follows_the_locale(env: dict[str, str], style: str) -> None:
    assert date_style_from_env(env) == style
    assert when_text(START.date(), START.date() + timedelta(days=9), "day_month") == \
        "on 4 March"


def test_title_in_display_name_and_surname_first(config: Config) -> None:
    people = (Attendee("j.doe@acme.example", "Doe, Jane"),
              Attendee("sam@acme.example", "Sam Ng (Engineering Manager)"))
    iv = interview(config, "Acme - Engineer - Interview", "Jane: the pager rotation", people)
    by_email = {p.to[0].email: p.rendered.body for p in drafts(config, iv)}
    assert by_email["j.doe@acme.example"].startswith("Dear Jane,")
    assert "the pager rotation" in by_email["j.doe@acme.example"]
    assert "Engineering Manager" in by_email["sam@acme.example"]
    assert "the pager rotation" not in by_email["sam@acme.example"]


def test_every_template_variable_is_documented() -> None:
    from interview_followup.daemon.templates import _context, _samples

    docs = (Path(__file__).parent.parent / "docs" / "templates.md").read_text()
    for name in _context(_samples()[0]):
        assert f"`{name}`" in docs, name


OLD_TEMPLATE = """Subject: {% if role %}Thank you — {{ role }} interview{% endif %}

Dear {{ greeting_name or "[interviewer's name]" }},

Thank you for talking with me on {{ interview_day }} about {{ role_phrase }} at {{ company }}.
We discussed {{ discussed | natural or "[something specific you discussed]" }}.

{{ signature or me_name }}
"""


def test_a_users_own_template_without_the_new_variables_keeps_working(
        tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "thank_you.txt").write_text(OLD_TEMPLATE, encoding="utf-8")
    config = make_config(tmp_path / "cfg", timezone="America/New_York",
                         sections=f'[drafts]\ntemplates = "{folder}"\n')
    planned = drafts(config, interview(config, notes=["the hiring timeline"]))
    assert len({p.rendered.body for p in planned}) == 3  # names and points still differ
    assert planned[0].rendered.subject == "Thank you — Senior Product Designer interview"
    assert "on Tuesday" in planned[0].rendered.body
