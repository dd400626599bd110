"""Company, role, interviewers and the user's notes, read from an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config import Config
from daemon.infer import Facts, company_from_domain, infer
from daemon.people import fold
from providers.base import Attendee, Event
from tests.configs import make_config

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
ME = Attendee("alex.rivera@gmail.com", "Alex Rivera")
JANE = Attendee("jane.doe@acme-robotics.com", "Jane Doe")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def event(title: str = "Interview", description: str = "", **kw: Any) -> Event:
    return Event(uid="e1", title=title, start=START, end=START + timedelta(hours=1),
                 description=description, **kw)


# -- company and domain ------------------------------------------------------

def test_company_from_most_common_attendee_domain(config: Config) -> None:
    people = (
        ME, Attendee("sam@talentfirm.com", "Sam Fox"), JANE,
        Attendee("bob.lee@mail.acme-robotics.com", "Bob Lee"),
        Attendee("fred@fireflies.ai", "Fireflies.ai Notetaker"),
        Attendee("friend@gmail.com", "A Friend"),
        Attendee("x@resource.calendar.google.com", "Room"),
    )
    facts = infer(event(attendees=people), config)
    assert (facts.company, facts.company_domain) == ("Acme Robotics", "acme-robotics.com")


def test_company_from_organizer_alone(config: Config) -> None:
    facts = infer(event(organizer=Attendee("pat@globex.co.uk", "Pat")), config)
    assert (facts.company, facts.company_domain) == ("Globex", "globex.co.uk")


@pytest.mark.parametrize("domain, name", [
    ("acme-robotics.com", "Acme Robotics"), ("ibm.com", "IBM"), ("eu.stripe.com", "Stripe"),
    ("globex.co.uk", "Globex"), ("acme-ai.io", "Acme AI"),
])
def test_company_from_domain(domain: str, name: str) -> None:
    assert company_from_domain(domain) == name


@pytest.mark.parametrize("title, company, role", [
    ("Acme - Onsite interview", "Acme", ""),
    ("Alex <> Acme | Technical Interview", "Acme", ""),
    ("Interview with Acme for Senior Engineer", "Acme", "Senior Engineer"),
    ("Acme: Senior Backend Engineer - Phone Screen", "Acme", "Senior Backend Engineer"),
    ("Senior Engineer Interview - Acme", "Acme", "Senior Engineer"),
    ("Interview: Alex Rivera for Backend Engineer at Acme", "Acme", "Backend Engineer"),
    ("Onsite Interview - Staff Data Scientist at Initech", "Initech", "Staff Data Scientist"),
    ("Technical Interview (Acme)", "Acme", ""),
    ("Acme Robotics Onsite Interview", "Acme Robotics", ""),
    ("Updated invitation: Interview with Globex Inc. @ Tue Mar 4, 2025 10am - 11am (EST)",
     "Globex Inc", ""),
    ("Senior Engineer (Remote) - Interview - Acme", "Acme", "Senior Engineer"),
    ("Hiring Manager Interview - Data Scientist", "", "Data Scientist"),
])
def test_title_patterns(config: Config, title: str, company: str, role: str) -> None:
    facts = infer(event(title), config)
    assert (facts.company, facts.role) == (company, role)


def test_title_name_beats_domain_name_when_it_fits(config: Config) -> None:
    facts = infer(event("ACME Robotics - Phone Screen", attendees=(ME, JANE)), config)
    assert (facts.company, facts.company_domain) == ("ACME Robotics", "acme-robotics.com")


def test_calendly_between_gives_names_not_company(config: Config) -> None:
    facts = infer(event("Phone Screen between Jane Doe and Alex Rivera"), config)
    assert (facts.company, facts.interviewer_names) == ("", ("Jane Doe",))


def test_person_in_title_is_not_the_company(config: Config) -> None:
    facts = infer(event("Interview with Jane Doe", attendees=(ME, JANE)), config)
    assert facts.company == "Acme Robotics"
    assert infer(event("Interview with Jane Doe"), config).company == ""
    assert infer(event("Alex Rivera <> Priya Patel"), config).interviewer_names == \
        ("Priya Patel",)


def test_never_the_users_own_name(config: Config) -> None:
    for title in ("Alex Rivera - Interview", "Interview with Alex", "Alex <> Interview"):
        facts = infer(event(title, "Interviewers: Alex Rivera, Alex"), config)
        assert facts.company == "" and facts.interviewer_names == (), title


# -- description -------------------------------------------------------------

GREENHOUSE = (
    "Hi Alex,\r\n\r\nThank you for your interest in Acme Robotics! You'll be meeting with "
    "Dr. José Núñez (Engineering Manager) and Zoë Bäcker from our platform team.\r\n\r\n"
    "Company: Acme Robotics GmbH\r\nPosition: Senior Backend Engineer\r\n"
    "Interviewers:\r\n- Jane Doe, Engineering Manager\r\n- Bob Lee\r\n\r\n"
    "Join Zoom Meeting\r\nhttps://acme.zoom.us/j/123456789\r\nMeeting ID: 123 456 789\r\n"
)


def test_description_lines(config: Config) -> None:
    facts = infer(event("Interview", GREENHOUSE), config)
    assert facts.company == "Acme Robotics GmbH"
    assert facts.role == "Senior Backend Engineer"
    assert facts.interviewer_names == ("José Núñez", "Zoë Bäcker", "Jane Doe", "Bob Lee")


@pytest.mark.parametrize("line, role", [
    ("Role: Product Designer", "Product Designer"),
    ("JOB: QA Lead", "QA Lead"),
    ("Title: Staff Engineer", "Staff Engineer"),
    ("Thanks for applying for the Senior SRE role at Acme.", "Senior SRE"),
])
def test_role_lines(config: Config, line: str, role: str) -> None:
    assert infer(event("Interview", line), config).role == role


def test_interviewer_phrases(config: Config) -> None:
    text = ("Priya Patel is inviting you to a scheduled Zoom meeting.\n"
            "Your interviewer will be Kenji Sato.\nInterviewer: Mary-Jane O'Neil\n"
            "Interviewers: Tom Ng & Ana de la Cruz; Hiring Team")
    assert infer(event("Interview", text), config).interviewer_names == (
        "Priya Patel", "Kenji Sato", "Mary-Jane O'Neil", "Tom Ng", "Ana de la Cruz")


def test_notes_lines_any_case(config: Config) -> None:
    text = ("Zoom link\n**Discussed:** their Kafka migration\r\nconcern: no Go experience\n"
            "STRENGTHS: led a similar migration\n- Strength: mentoring\nDiscussed:\n"
            "- on-call rotation\n- team size\n\nSomething else: x")
    facts = infer(event("Interview", text), config)
    assert facts.discussed == ("their Kafka migration", "on-call rotation", "team size")
    assert facts.concerns == ("no Go experience",)
    assert facts.strengths == ("led a similar migration", "mentoring")


def test_html_description(config: Config) -> None:
    text = ("<p>Interviewers: Jane Doe &amp; Bob Lee</p><br>Role: <b>Data Scientist</b>"
            "<br/>Discussed: churn model")
    facts = infer(event("Interview", text), config)
    assert facts.interviewer_names == ("Jane Doe", "Bob Lee")
    assert (facts.role, facts.discussed) == ("Data Scientist", ("churn model",))


def test_nothing_known(config: Config) -> None:
    assert infer(event("Interview"), config) == Facts("", "", "", (), (), (), ())


# -- hostile input -----------------------------------------------------------

def test_template_syntax_is_never_a_company(config: Config) -> None:
    facts = infer(event("{{ config }} - Interview", "Company: {% include 'x' %}"), config)
    assert facts.company == ""
    notes = infer(event("Interview", "Discussed: {{ config.me }}"), config)
    assert notes.discussed == ("{{ config.me }}",)  # kept as plain text, never evaluated


def test_crlf_injection_in_title_gives_one_line_values(config: Config) -> None:
    facts = infer(event("Acme\r\nBcc: evil@x.test - Interview\r\n",
                        "Role: Engineer\r\nBcc: evil@x.test\r\nDiscussed: a\x00b\x1bc"),
                  config)
    for value in (facts.company, facts.role, *facts.discussed):
        assert not any(ord(c) < 32 for c in value)
    assert "@" not in facts.company and facts.role == "Engineer"


def test_huge_description_is_bounded(config: Config) -> None:
    filler = ("lorem ipsum dolor sit amet, {{ x }} " * 30 + "\n") * 3000
    text = "Discussed: the API\n" + filler + "(" * 50_000 + "\nConcern: latency"
    assert len(text) > 3_000_000
    facts = infer(event("Interview " + "a" * 100_000, text), config)
    assert facts.discussed == ("the API",) and facts.concerns == ("latency",)


def test_long_note_is_cut(config: Config) -> None:
    facts = infer(event("Interview", "Discussed: " + "x" * 5000), config)
    assert len(facts.discussed[0]) == 500


_TEXT = st.text(
    alphabet=st.sampled_from(list("Interview with Acme - | : <> ( ) { } % \r\n\t\x00 é Zoë for at "
                                  "Alex Rivera Jane Doe Discussed Concern Role Company *-•,;&@")),
    max_size=300,
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=_TEXT, description=_TEXT)
def test_any_text_gives_clean_facts(config: Config, title: str, description: str) -> None:
    facts = infer(event(title, description, attendees=(ME, JANE)), config)
    values = (facts.company, facts.role, *facts.interviewer_names, *facts.discussed,
              *facts.concerns, *facts.strengths)
    assert not any(c in value for value in values for c in "\r\n\t\x00")
    assert fold(facts.company) not in ("alex rivera", "alex", "rivera")
    assert all(fold(n) not in ("alex rivera", "alex", "rivera") for n in facts.interviewer_names)
    assert "{" not in facts.company and "{" not in facts.role
