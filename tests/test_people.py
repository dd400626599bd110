"""Rule 3: who gets a note; the main contact of rule 7; greeting names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interview_followup.daemon.config import Config
from interview_followup.daemon.domains import is_automated, is_freemail
from interview_followup.daemon.people import Recipient, main_contact, who_gets_a_note
from interview_followup.providers.base import Attendee, Event, Response
from tests.configs import make_config

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
ME = Attendee("alex.rivera@gmail.com", "Alex Rivera", Response.ACCEPTED)
JANE = Attendee("jane.doe@acme.com", "Jane Doe", Response.ACCEPTED)
BOB = Attendee("bob.lee@acme.com", "Bob Lee", Response.NEEDS_ACTION)
RECRUITER = Attendee("pat@acme.com", "Pat Kim")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, aliases=("alex@rivera.dev",))


def event(**kw: Any) -> Event:
    return Event(uid="e1", title="Interview", start=START, end=START + timedelta(hours=1), **kw)


def emails(recipients: list[Recipient]) -> list[str]:
    return [r.email for r in recipients]


def test_attendees_minus_me_in_calendar_order(config: Config) -> None:
    alias = Attendee("alex@rivera.dev", "Alex")
    found, how = who_gets_a_note(event(attendees=(BOB, ME, alias, JANE)), config)
    assert (emails(found), how) == (["bob.lee@acme.com", "jane.doe@acme.com"], "attendees")
    assert found[0] == Recipient("bob.lee@acme.com", "Bob Lee")


def test_self_flag_rooms_groups_declined_and_bots_are_dropped(config: Config) -> None:
    people = (
        Attendee("alex.r@work.example", "Alex", is_self=True),
        Attendee("room-3a@acme.com", "Conf Room 3A (8)", is_resource=True),
        Attendee("c_1889@resource.calendar.google.com", "Acme-HQ-2-Blue (6)"),
        Attendee("hiring@acme.com", "Hiring panel", is_group=True),
        Attendee("sam@acme.com", "Sam Fox", Response.DECLINED),
        Attendee("fred@fireflies.ai", "Fireflies.ai Notetaker"),
        Attendee("calendar-notification@google.com", ""),
        Attendee("acme.com_abc123@group.calendar.google.com", "Acme Interviews"),
        Attendee("no-reply@greenhouse.io", "Greenhouse"),
        Attendee("scheduling@goodtime.io", ""),
        Attendee("otter@otter.ai", "Otter.ai"),
        Attendee("outlook_3F2A9C1B7E4D5A60@outlook.com", "Jane"),
        Attendee("", "Someone without an address"),
        Attendee("jane.doe@acme.com\r\nbcc: x@evil.test", "Injected"),
        JANE,
    )
    found, how = who_gets_a_note(event(attendees=people), config)
    assert (emails(found), how) == (["jane.doe@acme.com"], "attendees")


def test_duplicates_are_merged(config: Config) -> None:
    again = Attendee("Jane.Doe@acme.com", "Jane D.")
    found, _ = who_gets_a_note(event(attendees=(JANE, again)), config)
    assert emails(found) == ["jane.doe@acme.com"]


def test_organizer_when_no_attendee_remains(config: Config) -> None:
    found, how = who_gets_a_note(event(organizer=RECRUITER, attendees=(ME,)), config)
    assert (found, how) == ([Recipient("pat@acme.com", "Pat Kim")], "organizer")


def test_organizer_who_is_me_or_automated_gives_none(config: Config) -> None:
    assert who_gets_a_note(event(organizer=ME, attendees=(ME,)), config) == ([], "none")
    bot = Attendee("noreply@calendly.com", "Calendly")
    assert who_gets_a_note(event(organizer=bot), config) == ([], "none")
    assert who_gets_a_note(event(), config) == ([], "none")


def test_named_interviewer_fills_a_missing_display_name(config: Config) -> None:
    bare = (Attendee("jdoe@acme.com"), Attendee("bob.lee@acme.com", "bob.lee@acme.com"),
            Attendee("znunez@acme.com"))
    found, _ = who_gets_a_note(event(attendees=bare), config,
                               ["Jane Doe", "Bob Lee", "José Núñez"])
    assert [(r.email, r.name) for r in found] == [
        ("jdoe@acme.com", "Jane Doe"), ("bob.lee@acme.com", "Bob Lee"), ("znunez@acme.com", ""),
    ]


def test_named_match_must_be_unambiguous(config: Config) -> None:
    found, _ = who_gets_a_note(event(attendees=(Attendee("jane@acme.com"),)), config,
                               ["Jane Doe", "Jane Roe"])
    assert found == [Recipient("jane@acme.com", "")]


def test_display_name_is_cleaned_for_headers(config: Config) -> None:
    odd = Attendee("kim@acme.com", 'Kim "The Boss"\r\nBcc: x@evil.test')
    found, _ = who_gets_a_note(event(attendees=(odd,)), config)
    assert "\n" not in found[0].name and '"' not in found[0].name


# -- main contact ----------------------------------------------------------

def test_main_contact_is_external_organizer(config: Config) -> None:
    found, _ = who_gets_a_note(event(organizer=RECRUITER, attendees=(JANE, BOB)), config)
    assert main_contact(event(organizer=RECRUITER, attendees=(JANE, BOB)), found, config) == \
        Recipient("pat@acme.com", "Pat Kim")


def test_main_contact_reuses_recipient_entry(config: Config) -> None:
    organizer = Attendee("jane.doe@acme.com", "")
    ev = event(organizer=organizer, attendees=(BOB, JANE))
    found, _ = who_gets_a_note(ev, config)
    assert main_contact(ev, found, config) == Recipient("jane.doe@acme.com", "Jane Doe")


def test_main_contact_falls_back_to_first_interviewer(config: Config) -> None:
    ev = event(organizer=ME, attendees=(BOB, JANE))
    found, _ = who_gets_a_note(ev, config)
    assert main_contact(ev, found, config) == Recipient("bob.lee@acme.com", "Bob Lee")
    relay = event(organizer=Attendee("no-reply@ashbyhq.com", "Ashby"), attendees=(JANE,))
    assert main_contact(relay, who_gets_a_note(relay, config)[0], config) == \
        Recipient("jane.doe@acme.com", "Jane Doe")
    assert main_contact(event(), [], config) is None


def test_main_contact_same_domain_organizer_counts_only_for_freemail(tmp_path: Path) -> None:
    corp = make_config(tmp_path, email="alex@acme.com")
    ev = event(organizer=RECRUITER, attendees=(JANE,))
    assert main_contact(ev, [Recipient(JANE.email, JANE.name)], corp) == \
        Recipient(JANE.email, JANE.name)
    gmail_recruiter = Attendee("pat.kim@gmail.com", "Pat Kim")
    (tmp_path / "other").mkdir()
    freemail = make_config(tmp_path / "other", email="alex@gmail.com")
    ev = event(organizer=gmail_recruiter, attendees=(JANE,))
    assert main_contact(ev, [Recipient(JANE.email, JANE.name)], freemail) == \
        Recipient("pat.kim@gmail.com", "Pat Kim")


# -- greeting names ----------------------------------------------------------

@pytest.mark.parametrize("name, email, expected", [
    ("Jane Doe", "x@acme.com", "Jane"),
    ("Dr. Jane Doe", "x@acme.com", "Jane"),
    ("Doe, Jane", "x@acme.com", "Jane"),
    ("Jane Doe, PhD", "x@acme.com", "Jane"),
    ("JANE DOE", "x@acme.com", "Jane"),
    ("jean-luc picard", "x@acme.com", "Jean-Luc"),
    ("José Núñez (he/him)", "x@acme.com", "José"),
    ("Zoë Bäcker", "x@acme.com", "Zoë"),
    ("Jane Doe - Acme", "x@acme.com", "Jane"),
    ("J. Robert Oppenheimer", "x@acme.com", "Robert"),
    ("J. Doe", "jane.doe@acme.com", "Jane"),
    ("Dr. Doe", "x@acme.com", ""),
    ("Acme Recruiting Team", "x@acme.com", ""),
    ("Ellis Hart Studio", "ellis@hartstudio.example", ""),  # a firm, not Ellis
    ("Northwind Labs", "x@acme.com", ""),
    ("Brightline Ventures, Inc.", "x@acme.com", ""),
    ("jane.doe@acme.com", "jane.doe@acme.com", "Jane"),
    ("", "jane.doe@acme.com", "Jane"),
    ("", "jane_doe2@acme.com", "Jane"),
    ("", "chris@acme.com", "Chris"),
    ("", "jdoe@acme.com", ""),
    ("", "recruiting@acme.com", ""),
    ("", "no-reply@acme.com", ""),
    ("{{ config.me }}", "x@acme.com", ""),
    ("", "", ""),
])
def test_greeting_name(name: str, email: str, expected: str) -> None:
    assert Recipient(email, name).greeting_name == expected


# -- domains ---------------------------------------------------------------

@pytest.mark.parametrize("domain", ["gmail.com", "GMX.de", "gmx.net", "yandex.ru", "web.de",
                                    "yahoo.co.uk", "hotmail.fr", "proton.me", "icloud.com"])
def test_freemail(domain: str) -> None:
    assert is_freemail(domain)


@pytest.mark.parametrize("domain", ["acme.com", "gmail.acme.com", "mycorp.de", "google.com"])
def test_not_freemail(domain: str) -> None:
    assert not is_freemail(domain)


@pytest.mark.parametrize("email, name", [
    ("noreply@acme.com", ""), ("do-not-reply@acme.com", ""), ("donotreply+x@acme.com", ""),
    ("calendar-notification@google.com", ""), ("x@resource.calendar.google.com", "Room"),
    ("acme_abc@group.calendar.google.com", "Acme Hiring"),
    ("scheduling@greenhouse.io", ""), ("interviews@lever.co", ""), ("schedule@ashbyhq.com", ""),
    ("scheduling@goodtime.io", ""), ("notifications@calendly.com", ""),
    ("jane@acme.com", "Jane Doe via Greenhouse"), ("fred@fireflies.ai", ""),
    ("assistant@otter.ai", ""), ("notetaker@fathom.video", ""), ("bot@read.ai", ""),
    ("x@acme.com", "Read.ai meeting notes"), ("y@acme.com", "Fathom Notetaker"),
    ("MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@acme.com", ""),
    ("teams@acme.com", "Microsoft Teams"), ("zoom@acme.com", "Zoom"),
    ("interviews@acme.com", "Acme Interviews"), ("hiring-calendar@acme.com", ""),
    ("acme@us.greenhouse-mail.io", "Acme"), ("mailer-daemon@googlemail.com", ""),
])
def test_automated(email: str, name: str) -> None:
    assert is_automated(email, name)


@pytest.mark.parametrize("email, name", [
    ("jane.doe@acme.com", "Jane Doe"), ("pat@greenhouse.io", "Pat Smith"),
    ("mia@calendly.com", "Mia Chen"), ("jane@zoom.us", "Jane Zoomer"), ("", ""),
    ("calendly.fan@gmail.com", "Sam"), ("noreen@acme.com", "Noreen Ply"),
])
def test_not_automated(email: str, name: str) -> None:
    assert not is_automated(email, name)
