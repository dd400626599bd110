"""Rules 1 and 2: which events are interviews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interview_followup.daemon.config import Config
from interview_followup.daemon.detect import Decision, classify
from interview_followup.providers.base import Attendee, Event, Response
from tests.configs import make_config

START = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
ME = Attendee("alex.rivera@gmail.com", "Alex Rivera", Response.ACCEPTED)
JANE = Attendee("jane.doe@acme.com", "Jane Doe", Response.ACCEPTED)


def event(title: str = "Interview", **kw: Any) -> Event:
    kw.setdefault("attendees", (ME, JANE))
    kw.setdefault("organizer", JANE)
    return Event(uid="e1", title=title, start=START, end=START + timedelta(hours=1), **kw)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture
def corp(tmp_path: Path) -> Config:
    """A user whose own address is at a company domain."""
    return make_config(tmp_path, email="alex@mycorp.com")


# -- rule 1: tagged --------------------------------------------------------

@pytest.mark.parametrize("title, keyword", [
    ("Interview with Acme", "interview"),
    ("ACME ONSITE", "onsite"),
    ("Acme: phone screen", "phone screen"),
    ("Acme: Phone\t  Screen", "phone screen"),
    ("Acme phone\nscreen", "phone screen"),
    ("Technical Screen (Acme)", "technical screen"),
    ("Interview: Acme", "interview"),
])
def test_keyword_in_title_any_case_any_whitespace(config: Config, title: str,
                                                  keyword: str) -> None:
    assert classify(event(title), config) == Decision(True, f"keyword '{keyword}' in title")


@pytest.mark.parametrize("title", [
    "Interviewer training", "Pre-screening paperwork", "Phonescreen", "Lunch", "Onsites review",
])
def test_keywords_match_whole_words_only(config: Config, title: str) -> None:
    assert classify(event(title), config) == Decision(False, "not tagged")


def test_keyword_in_description_alone_is_not_a_tag(config: Config) -> None:
    decision = classify(event("Catch-up", description="we may talk about an interview"), config)
    assert decision == Decision(False, "not tagged")


def test_category_case_insensitive(config: Config) -> None:
    decision = classify(event("Acme chat", categories=("Blue", "INTERVIEW")), config)
    assert decision == Decision(True, "category 'INTERVIEW'")


def test_provider_tag_counts_as_category(tmp_path: Path) -> None:
    config = make_config(tmp_path, sections='[detect]\ncategories = ["Tangerine"]')
    assert classify(event("Acme chat", tags=("tangerine",)), config).is_interview
    assert not classify(event("Acme chat", tags=("Sage",)), config).is_interview


def test_hash_interview_in_description(config: Config) -> None:
    decision = classify(event("Acme chat", description="Notes\n#Interview round 2"), config)
    assert decision == Decision(True, "#interview in description")
    assert not classify(event("Acme chat", description="#interviews #interviewer"),
                        config).is_interview


def test_configured_keywords_replace_the_defaults(tmp_path: Path) -> None:
    config = make_config(tmp_path, sections='[detect]\nkeywords = ["Vorstellungsgespräch"]')
    assert classify(event("Vorstellungsgespräch bei Acme"), config).is_interview
    assert not classify(event("Interview with Acme"), config).is_interview


# -- rule 2: exclusions ----------------------------------------------------

def test_all_day_is_excluded(config: Config) -> None:
    assert classify(event(all_day=True), config) == Decision(False, "excluded: all-day event")


def test_cancelled_is_excluded(config: Config) -> None:
    assert classify(event(cancelled=True), config) == Decision(False, "excluded: cancelled")


def test_declined_by_address(config: Config) -> None:
    me = Attendee("alex.rivera@gmail.com", "Alex", Response.DECLINED)
    assert classify(event(attendees=(me, JANE)), config) == Decision(False, "excluded: declined")


def test_declined_by_self_flag(config: Config) -> None:
    me = Attendee("other@example.com", "Alex", Response.DECLINED, is_self=True)
    assert classify(event(attendees=(me, JANE)), config).reason == "excluded: declined"


def test_declined_alias_copy_next_to_accepted_one_is_no_decline(tmp_path: Path) -> None:
    config = make_config(tmp_path, aliases=("alex@rivera.dev",))
    copies = (Attendee("alex@rivera.dev", "", Response.DECLINED),
              Attendee("alex.rivera@gmail.com", "", Response.ACCEPTED), JANE)
    assert classify(event(attendees=copies), config).is_interview


def test_someone_else_declining_does_not_exclude(config: Config) -> None:
    bob = Attendee("bob@acme.com", "Bob", Response.DECLINED)
    assert classify(event(attendees=(ME, JANE, bob)), config).is_interview


@pytest.mark.parametrize("title, description", [
    ("Mock Interview with Sam", ""),
    ("MOCK   INTERVIEW", ""),
    ("Interview practice", "This is a mock interview with the career centre"),
    ("Interview with Acme", "#nofollowup please"),
    ("Interview with Acme #NoFollowUp", ""),
])
def test_ignore_rules(config: Config, title: str, description: str) -> None:
    decision = classify(event(title, description=description), config)
    assert not decision.is_interview
    assert decision.reason.startswith("excluded: ignore rule")


def test_ignore_tag_is_a_whole_tag(config: Config) -> None:
    assert classify(event("Interview", description="#nofollowups are fine"), config).is_interview


def test_ignore_tag_as_category(config: Config) -> None:
    decision = classify(event("Interview", categories=("nofollowup",)), config)
    assert decision == Decision(False, "excluded: ignore rule '#nofollowup'")


def test_no_ignore_rules_configured(tmp_path: Path) -> None:
    config = make_config(tmp_path, sections="[detect]\nignore = []")
    assert classify(event("Mock interview"), config).is_interview


# -- hiring side -----------------------------------------------------------

def test_colleague_organizer_is_hiring_side(corp: Config) -> None:
    bob = Attendee("bob@mycorp.com", "Bob", Response.ACCEPTED)
    me = Attendee("alex@mycorp.com", "Alex", Response.ACCEPTED)
    candidate = Attendee("sam.candidate@gmail.com", "Sam")
    decision = classify(event("Interview: Sam Candidate", organizer=bob,
                              attendees=(bob, me, candidate)), corp)
    assert decision == Decision(
        False, "excluded: hiring side (organizer bob@mycorp.com is a colleague)")


def test_colleague_at_subdomain_is_a_colleague(corp: Config) -> None:
    bob = Attendee("bob@eu.mycorp.com", "Bob")
    assert not classify(event(organizer=bob, attendees=(bob,)), corp).is_interview


def test_user_organized_and_invited_outsider_is_hiring_side(corp: Config) -> None:
    me = Attendee("alex@mycorp.com", "Alex", Response.ACCEPTED)
    candidate = Attendee("sam@gmail.com", "Sam")
    decision = classify(event(organizer=me, attendees=(me, candidate)), corp)
    assert decision == Decision(
        False, "excluded: hiring side (you organized it and invited sam@gmail.com)")


def test_user_entry_alone_or_with_a_room_is_an_interview(corp: Config) -> None:
    me = Attendee("alex@mycorp.com", "Alex", Response.ACCEPTED)
    room = Attendee("room-4@mycorp.com", "Room 4", is_resource=True)
    bot = Attendee("fred@fireflies.ai", "Fireflies.ai Notetaker")
    assert classify(event(organizer=me, attendees=()), corp).is_interview
    assert classify(event(organizer=None, attendees=()), corp).is_interview
    assert classify(event(organizer=me, attendees=(me, room, bot)), corp).is_interview


def test_external_organizer_with_company_user_is_an_interview(corp: Config) -> None:
    me = Attendee("alex@mycorp.com", "Alex", Response.ACCEPTED)
    assert classify(event(organizer=JANE, attendees=(JANE, me)), corp).is_interview


def test_tool_made_event_with_colleagues_is_hiring_side(corp: Config) -> None:
    relay = Attendee("no-reply@greenhouse.io", "Greenhouse")
    bob = Attendee("bob@mycorp.com", "Bob")
    decision = classify(event(organizer=relay, attendees=(bob, JANE)), corp)
    assert decision.reason == "excluded: hiring side (colleague bob@mycorp.com is invited)"


def test_freemail_user_is_never_hiring_side(config: Config) -> None:
    friend = Attendee("sam.lee@gmail.com", "Sam Lee")
    me = Attendee("alex.rivera@gmail.com", "Alex")
    assert classify(event(organizer=friend, attendees=(friend, me)), config).is_interview
    assert classify(event(organizer=me, attendees=(me, JANE)), config).is_interview


def test_company_alias_makes_the_rule_apply(tmp_path: Path) -> None:
    config = make_config(tmp_path, aliases=("alex@mycorp.com",))
    bob = Attendee("bob@mycorp.com", "Bob")
    assert not classify(event(organizer=bob, attendees=(bob,)), config).is_interview


def test_untagged_reason_wins_over_exclusions(config: Config) -> None:
    assert classify(event("Holiday", all_day=True), config) == Decision(False, "not tagged")
