from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from interview_followup.daemon.errors import ConfigError
from interview_followup.daemon.templates import DraftFacts, check_templates, natural, render

NEW_YORK = ZoneInfo("America/New_York")
PLACEHOLDERS = (
    "[interviewer's name]",
    "[role]",
    "[company]",
    "[something specific you discussed]",
    "[a strength that fits the role]",
)


def full_facts(**changes: Any) -> DraftFacts:
    facts = DraftFacts(
        me_name="Alex Rivera",
        signature="Alex Rivera\n+1 555 0100\nlinkedin.com/in/alexrivera",
        recipient_name="Jane",
        recipient_email="jane.doe@acme.example",
        company="Acme",
        role="Senior Backend Engineer",
        interview_title="Interview: Alex Rivera / Acme",
        interview_start=datetime(2025, 3, 4, 14, 0, tzinfo=NEW_YORK),  # a Tuesday
        discussed=("The move from the monolith to event-driven billing",),
        strengths=("eight years building payment systems in Python",),
    )
    return dataclasses.replace(facts, **changes)


def empty_facts(**changes: Any) -> DraftFacts:
    facts = DraftFacts(
        me_name="",
        signature="",
        recipient_name="",
        recipient_email="",
        company="",
        role="",
        interview_title="",
        interview_start=datetime(2025, 3, 4, 14, 0, tzinfo=NEW_YORK),
    )
    return dataclasses.replace(facts, **changes)


def paragraphs_between_greeting_and_closing(body: str) -> list[str]:
    blocks = [b for b in body.strip().split("\n\n") if b.strip()]
    assert blocks[0].startswith("Dear ")
    assert blocks[-1].startswith("Best regards,")
    return blocks[1:-1]


def assert_clean(text: str) -> None:
    for bad in ("None", "{{", "}}", "{%", "%}", "{#"):
        assert bad not in text


# -- the thank-you note --------------------------------------------------------


def test_thank_you_with_full_facts_is_personal_and_complete() -> None:
    draft = render("thank_you", full_facts())

    assert draft.subject == "Thank you — Senior Backend Engineer interview"
    assert draft.body.startswith("Dear Jane,\n")
    assert "Senior Backend Engineer role at Acme" in draft.body
    assert "the move from the monolith to event-driven billing" in draft.body
    assert "eight years building payment systems in Python" in draft.body
    assert "on Tuesday" in draft.body
    assert draft.body.rstrip().endswith("Alex Rivera\n+1 555 0100\nlinkedin.com/in/alexrivera")
    assert "[" not in draft.body  # every fact known: no placeholder left
    assert 3 <= len(paragraphs_between_greeting_and_closing(draft.body)) <= 6
    assert_clean(draft.subject + draft.body)


def test_thank_you_with_nothing_known_uses_marked_placeholders() -> None:
    draft = render("thank_you", empty_facts())

    for placeholder in PLACEHOLDERS:
        assert placeholder in draft.body
    assert "[your name]" in draft.body
    assert draft.subject == "Thank you for your time on Tuesday"
    assert 3 <= len(paragraphs_between_greeting_and_closing(draft.body)) <= 6
    assert_clean(draft.subject + draft.body)


def test_subject_names_the_company_when_only_the_company_is_known() -> None:
    draft = render("thank_you", empty_facts(company="Acme"))

    assert draft.subject == "Thank you — interview at Acme"
    assert "the [role] role at Acme" in draft.body


def test_concern_gets_its_own_paragraph_only_when_given() -> None:
    without = render("thank_you", full_facts())
    with_concern = render("thank_you", full_facts(concerns=("My limited Kubernetes experience.",)))

    assert "Kubernetes" not in without.body
    concern = [p for p in paragraphs_between_greeting_and_closing(with_concern.body)
               if "Kubernetes" in p]
    assert len(concern) == 1
    assert "my limited Kubernetes experience," in concern[0]
    assert "[how you would address this concern]" in concern[0]
    assert len(paragraphs_between_greeting_and_closing(with_concern.body)) == len(
        paragraphs_between_greeting_and_closing(without.body)) + 1


def test_notes_count_as_discussed_points_joined_naturally() -> None:
    draft = render("thank_you", full_facts(
        discussed=("on-call practices", "the billing roadmap"),
        notes=("the team's Rust pilot",),
    ))

    assert "on-call practices, the billing roadmap, and the team's Rust pilot" in draft.body


def test_signature_falls_back_to_my_name() -> None:
    draft = render("thank_you", full_facts(signature=""))

    assert draft.body.rstrip().endswith("Best regards,\nAlex Rivera")


def test_an_address_is_not_used_as_a_greeting() -> None:
    draft = render("thank_you", full_facts(recipient_name="jane.doe@acme.example"))

    assert draft.body.startswith("Dear [interviewer's name],")


# -- the status check ----------------------------------------------------------


def test_status_check_is_short_and_asks_about_next_steps() -> None:
    draft = render("status_check", full_facts())

    assert draft.subject == "Following up on the Senior Backend Engineer interview"
    assert draft.body.startswith("Dear Jane,\n")
    assert "Thank you again" in draft.body
    assert "timeline" in draft.body and "next steps" in draft.body
    assert "Senior Backend Engineer role at Acme" in draft.body
    assert "on March 4" in draft.body
    assert len(draft.body.split()) < 130
    assert_clean(draft.subject + draft.body)


def test_status_check_replying_in_the_thread_reuses_the_subject() -> None:
    facts = full_facts(is_reply=True,
                       thank_you_subject="Thank you — Senior Backend Engineer interview")

    assert render("status_check", facts).subject == (
        "Re: Thank you — Senior Backend Engineer interview")
    again = dataclasses.replace(facts, thank_you_subject="RE: Thank you")
    assert render("status_check", again).subject == "RE: Thank you"


def test_status_check_with_nothing_known() -> None:
    draft = render("status_check", empty_facts())

    assert draft.subject == "Following up on our conversation"
    for placeholder in ("[interviewer's name]", "[role]", "[company]", "[your name]"):
        assert placeholder in draft.body
    assert_clean(draft.subject + draft.body)


# -- hostile and huge input ------------------------------------------------------

HOSTILE = (
    "{{ config }}",
    "{% for x in range(3) %}boom{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ 7 * 7 }}",
    "{# hidden #}",
)


@pytest.mark.parametrize("text", HOSTILE)
def test_event_text_is_data_and_never_executed(text: str) -> None:
    facts = full_facts(
        role=text, company=text, recipient_name=text, interview_title=text,
        discussed=(text,), strengths=(text,), concerns=(text,), notes=(text,),
    )
    for kind in ("thank_you", "status_check"):
        draft = render(kind, facts)
        assert text in draft.subject
        assert text in draft.body
        assert "49" not in draft.body and "boomboom" not in draft.body


def test_control_characters_and_line_breaks_are_removed_from_facts() -> None:
    facts = full_facts(
        role="Backend\r\nBcc: evil@example.com\x00\u2028Engineer",
        company="Ac\u202eme",
        discussed=("line one\nline two\x07",),
    )
    draft = render("thank_you", facts)

    assert draft.subject == "Thank you — Backend Bcc: evil@example.com Engineer interview"
    assert "\r" not in draft.body and "\x00" not in draft.body and "\x07" not in draft.body
    assert "\u202e" not in draft.body
    assert "line one line two" in draft.body


def test_huge_facts_are_cut_to_a_sane_length() -> None:
    facts = full_facts(role="x" * 100_000, discussed=("word " * 20_000,), notes=("n",) * 500)
    draft = render("thank_you", facts)

    assert len(draft.subject) <= 260
    assert len(draft.body) < 5000
    assert "…" in draft.body


# -- overrides and broken templates ----------------------------------------------


def test_override_directory_wins_and_builtins_fill_the_rest(tmp_path: Path) -> None:
    (tmp_path / "thank_you.txt").write_text(
        "Subject: Many thanks, {{ greeting_name }}\n\nHi {{ greeting_name }}, {{ role }}.\n",
        encoding="utf-8",
    )

    mine = render("thank_you", full_facts(), tmp_path)
    builtin = render("status_check", full_facts(), tmp_path)

    assert mine.subject == "Many thanks, Jane"
    assert mine.body == "Hi Jane, Senior Backend Engineer.\n"
    assert builtin.subject == "Following up on the Senior Backend Engineer interview"


def test_syntax_error_in_override_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "thank_you.txt"
    path.write_text("Subject: Thanks\n\nDear {{ greeting_name }},\n{% if %}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        render("thank_you", full_facts(), tmp_path)

    assert info.value.problems[0].startswith(f"{path}:4: template syntax error")


def test_undefined_variable_in_override_names_file_line_and_variable(tmp_path: Path) -> None:
    path = tmp_path / "status_check.txt"
    path.write_text("Subject: Hello\n\nDear {{ greeting_name }},\n{{ recruiter }}\n",
                    encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        render("status_check", full_facts(), tmp_path)

    problem = info.value.problems[0]
    assert problem.startswith(f"{path}:4: ")
    assert "'recruiter' is undefined" in problem


def test_sandbox_violation_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "thank_you.txt"
    path.write_text("Subject: x\n{{ ''.__class__.__mro__ }}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        render("thank_you", full_facts(), tmp_path)

    assert info.value.problems[0].startswith(f"{path}:2: not allowed in a template")


def test_template_without_subject_line_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "thank_you.txt"
    path.write_text("Dear {{ greeting_name }},\n\nThanks.\n", encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        render("thank_you", full_facts(), tmp_path)

    assert info.value.problems == [f"{path}:1: the first line must be 'Subject: ...'"]


def test_check_templates_reports_problems_of_each_kind(tmp_path: Path) -> None:
    assert check_templates(None) == []
    assert check_templates(tmp_path) == []  # an empty directory overrides nothing

    # The undefined name hides in a branch only the full sample facts reach.
    (tmp_path / "thank_you.txt").write_text(
        "Subject: x\nHello{% if concerns %} {{ concern_text }}{% endif %}\n", encoding="utf-8")
    (tmp_path / "status_check.txt").write_text("Subject: x\n{% endif %}\n", encoding="utf-8")

    problems = check_templates(tmp_path)

    assert len(problems) == 2
    assert problems[0].startswith(f"{tmp_path / 'thank_you.txt'}:2: ")
    assert problems[1].startswith(f"{tmp_path / 'status_check.txt'}:2: ")
    assert check_templates(tmp_path / "missing") == [
        f"{tmp_path / 'missing'}: templates directory not found"]


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown draft kind"):
        render("reminder", full_facts())


# -- helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(("items", "expected"), [
    ((), ""),
    (("a",), "a"),
    (("a", "b"), "a and b"),
    (("a", "b", "c"), "a, b, and c"),
])
def test_natural_joins_points_like_a_sentence(items: tuple[str, ...], expected: str) -> None:
    assert natural(items) == expected


def test_the_greeting_is_used_as_the_engine_chose_it() -> None:
    draft = render("thank_you", full_facts(recipient_name="Jane and Sam"))
    assert draft.body.startswith("Dear Jane and Sam,\n")
