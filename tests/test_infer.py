"""Company, role, interviewers and the user's notes, read from an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interview_followup.daemon.config import Config
from interview_followup.daemon.domains import registrable_domain
from interview_followup.daemon.infer import (
    Confidence,
    Fact,
    Facts,
    Source,
    company_from_domain,
    facts_from_subject,
    has_head,
    infer,
    is_head,
)
from interview_followup.daemon.people import fold
from interview_followup.providers.base import Attendee, Event
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


# -- facts with a source and a confidence (issue 9) -----------------------------

@pytest.mark.parametrize("title, description, attendees, company, role", [
    ("Informational interview – Dana Whitmore (Brightwater Conservancy)", "",
     (Attendee("dana@brightwaterconservancy.org", "Dana Whitmore"),),
     "Brightwater Conservancy", ""),
    ("Coffee with Priya (Lattice Bio) - interview", "", (), "Lattice Bio", ""),
    ("Coffee chat with Priya - interview", "", (), "", ""),
    ("Security interview",
     "Thank you for your interest in the Application Security Engineer role at Ironbark "
     "Security.", (), "Ironbark Security", "Application Security Engineer"),
    ("Halcyon Space Interview (Flight Software)",
     "This is the technical round for the Flight Software Engineer role.", (),
     "Halcyon Space", "Flight Software Engineer"),
    ("Technical interview", "Live debugging exercise. Role: Site Reliability Engineer.", (),
     "", "Site Reliability Engineer"),
    ("Interview", "Looking forward to talking about the Product Designer position.", (), "",
     "Product Designer"),
    ("Interview", "Thanks for applying to the ML Engineer opening!", (), "", "ML Engineer"),
    ("Interview", "Following up on our conversation about the Brand Strategist role.", (), "",
     "Brand Strategist"),
    ("Interview", "We're excited to meet you for the Customer Success Lead opening.", (), "",
     "Customer Success Lead"),
    ("Interview", "Research Associate, Assay Development.\nLab tour after.", (), "",
     "Research Associate"),
    ("Onsite", "Maya will run the Payments Backend Engineer loop.", (), "",
     "Payments Backend Engineer"),
    ("Interview", "Te confirmo la entrevista del puesto de Data Engineer.", (), "",
     "Data Engineer"),
    ("Interview", "Notre entretien pour le poste de Développeur Backend chez Arvel.", (),
     "Arvel", "Développeur Backend"),
    ("Interview", "Ihre Bewerbung für die Stelle als Softwareentwickler (m/w/d).", (), "",
     "Softwareentwickler"),
    ("Interview", "Sua entrevista para a vaga de Engenheiro de Dados na Lumo.", (), "Lumo",
     "Engenheiro de Dados"),
    ("Nina Petrova <> Alex Rivera (Technical Writer interview)", "", (), "",
     "Technical Writer"),
    ("Interview with Mercedes Ford", "",
     (Attendee("mercedes.ford@tallgrass.io", "Mercedes Ford"),), "Tallgrass", ""),
    ("Interview with Ellis Hart", "", (Attendee("rosa@ellishart.com", "Rosa Lind"),),
     "Ellis Hart", ""),
    ("Hays | Interview with Quantica Bank - Credit Analyst", "",
     (Attendee("laura.finch@hays.com", "Laura Finch"),), "Quantica Bank", "Credit Analyst"),
    ("Informational interview w/ Marcus (ex-Stripe)", "", (), "", ""),
    ("Interview - R-10234 Senior Accountant - Alex Rivera", "", (), "", "Senior Accountant"),
    ("Alex Rivera and Sofia Lindqvist - Zoom Interview", "",
     (Attendee("sofia@nordvik.se", "Sofia Lindqvist"),), "Nordvik", ""),
    ("Phone Interview between Helen Ortiz and Alex Rivera",
     "Event Name: Data Scientist Interview\n\nPowered by Calendly.com", (), "",
     "Data Scientist"),
])
def test_real_shapes(config: Config, title: str, description: str,
                     attendees: tuple[Attendee, ...], company: str, role: str) -> None:
    facts = infer(event(title, description, attendees=(ME, *attendees)), config)
    assert (facts.company, facts.role) == (company, role)


def test_facts_carry_source_and_confidence(config: Config) -> None:
    facts = infer(event("ACME Robotics - Phone Screen", "Position: Data Engineer",
                        attendees=(ME, JANE)), config)
    assert facts.company_fact == Fact("ACME Robotics", Source.TITLE, Confidence.SURE)
    assert facts.role_fact == Fact("Data Engineer", Source.DESCRIPTION_KEY, Confidence.SURE)
    only_domain = infer(event("Phone screen", attendees=(ME, JANE)), config)
    assert only_domain.company_fact == Fact("Acme Robotics", Source.ATTENDEE_DOMAIN,
                                            Confidence.LIKELY)
    assert Fact.from_json(only_domain.company_fact.to_json()) == only_domain.company_fact


def test_a_topic_is_no_role(config: Config) -> None:
    facts = infer(event("Security interview"), config)
    assert facts.role == "" and facts.role_fact.confidence <= Confidence.GUESS


def test_disagreeing_unsure_companies_give_a_placeholder(config: Config) -> None:
    facts = infer(event("Instagram - Interview", attendees=(ME, JANE)), config)
    assert facts.company == "" and facts.company_fact.confidence is Confidence.GUESS


def test_agency_domain_is_not_the_employer(config: Config) -> None:
    recruiter = Attendee("tom@harbourtalent.com", "Tom Reid")
    assert infer(event("Interview prep", attendees=(ME, recruiter)), config).company == ""
    facts = infer(event("Call", "Ahead of your interview with my client, Bellweather "
                        "Insurance.", attendees=(ME, recruiter)), config)
    assert facts.company == "Bellweather Insurance"


def test_interviewer_titles_and_person_lines(config: Config) -> None:
    facts = infer(event("Interview", "Interviewers: Danielle Brooks (Design Director), "
                        "Omar Haddad - Staff Designer\nDanielle: discussed the roadmap",
                        attendees=(ME,)), config)
    assert facts.interviewer_titles == (("Danielle Brooks", "Design Director"),
                                        ("Omar Haddad", "Staff Designer"))
    assert facts.person_notes == (("Danielle", "discussed", "the roadmap"),)


@pytest.mark.parametrize("word", ["Engineer", "lead", "Diseñador", "Ingénieur",
                                  "Softwareentwickler", "Backend-Entwicklerin", "Engenheiro",
                                  "SRE", "Recruiter"])
def test_job_title_heads(word: str) -> None:
    assert is_head(word)


@pytest.mark.parametrize("word", ["Security", "Payments", "Software", "Flight", "Growth",
                                  "Informational", "Coffee"])
def test_words_that_are_no_job_title(word: str) -> None:
    assert not is_head(word) and not has_head(word)


@pytest.mark.parametrize("word", ["Informational", "Coffee", "Chat", "Entrevista",
                                  "Vorstellungsgespräch", "Screen", "Onsite"])
def test_meeting_kinds_are_never_a_company(config: Config, word: str) -> None:
    assert infer(event(f"{word} - Interview"), config).company == ""


@pytest.mark.parametrize("domain, registered", [
    ("eu.mail.acme.co.uk", "acme.co.uk"), ("mail.acme.com.au", "acme.com.au"),
    ("hr.acme.com.br", "acme.com.br"), ("acme.com", "acme.com"), ("localhost", "localhost"),
])
def test_registrable_domain(domain: str, registered: str) -> None:
    assert registrable_domain(domain) == registered


@pytest.mark.parametrize("domain, registered", [
    ("acme.github.io", "acme.github.io"), ("jobs.acme.co.za", "acme.co.za"),
    ("mail.acme.gov.scot", "acme.gov.scot"), ("a.b.acme.kawasaki.jp", "b.acme.kawasaki.jp"),
])
def test_registrable_domain_uses_the_public_suffix_list(domain: str, registered: str) -> None:
    pytest.importorskip("publicsuffixlist")  # a dependency (pyproject.toml) since issue 9
    assert registrable_domain(domain) == registered


def test_facts_from_a_mail_subject(config: Config) -> None:
    company, role = facts_from_subject(
        "Interview confirmation: Senior Data Engineer at Acme", config)
    assert (company.value, role.value) == ("Acme", "Senior Data Engineer")
    assert role.confidence is Confidence.LIKELY and role.source == Source.MAIL_SUBJECT


def test_itinerary_lines_give_interviewers_and_titles(config: Config) -> None:
    text = ("Interview Schedule\n9:00 - 9:40 Danielle Brooks (Customer Success Director)\n"
            "9:40 AM - 10:20 AM EST: Omar Haddad, Senior CSM\n10:20 - 10:30 Break\n"
            "10:30 - 11:00 Office Tour\n")
    omar = Attendee("omar@harborline.com", "Omar Haddad")
    facts = infer(event("Interview", text, attendees=(ME, omar)), config)
    assert facts.interviewer_names == ("Danielle Brooks", "Omar Haddad")
    assert facts.interviewer_titles == (("Danielle Brooks", "Customer Success Director"),
                                        ("Omar Haddad", "Senior CSM"))
