"""Rule 6: what counts as an answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.config import Config
from daemon.replies import is_answer, is_auto_reply
from providers.base import Address, Folder, MailMessage
from tests.configs import make_config

STARTED = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)
LATER = STARTED + timedelta(days=2)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, aliases=("alex@rivera.dev",))


def message(sender: str | None = "jane.doe@acme.com", **kw: Any) -> MailMessage:
    kw.setdefault("folder", Folder.INBOX)
    kw.setdefault("date", LATER)
    kw.setdefault("subject", "Re: Thank you")
    return MailMessage(id="m1", sender=Address(sender) if sender is not None else None, **kw)


def answers(msg: MailMessage, config: Config, **kw: Any) -> bool:
    args: dict[str, Any] = {
        "started_at": STARTED, "people": {"jane.doe@acme.com"}, "company_domain": "acme.com",
        "thread_ids": {"t-thanks"}, "message_ids": {"<note-1@rivera.dev>"}, "config": config,
    }
    args.update(kw)
    return is_answer(msg, **args)


# -- auto replies ------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"auto-submitted": "auto-replied"}, {"Auto-Submitted": "auto-generated; type=vacation"},
    {"x-autoreply": "yes"}, {"x-autorespond": "Out of office"}, {"precedence": "bulk"},
    {"precedence": "auto_reply"}, {"precedence": "junk"},
])
def test_auto_reply_headers(headers: dict[str, str]) -> None:
    assert is_auto_reply(message(headers=headers))


@pytest.mark.parametrize("headers", [
    {"auto-submitted": "no"}, {"x-auto-response-suppress": "All"}, {"precedence": "first-class"},
    {},
])
def test_not_auto_reply_headers(headers: dict[str, str]) -> None:
    assert not is_auto_reply(message(headers=headers))


@pytest.mark.parametrize("subject", [
    "Out of office: Thank you", "Automatic reply: Thank you", "Auto-reply: hi", "Autoreply",
    "AUTO: Jane Doe is out of the office", "Abwesend: Danke", "Réponse automatique : Merci",
    "[EXTERNAL] Out of Office Re: Thank you", "Undeliverable: Thank you",
    "Delivery Status Notification (Failure)",
])
def test_auto_reply_subjects(subject: str) -> None:
    assert is_auto_reply(message(subject=subject))


def test_ordinary_subjects_are_not_auto_replies() -> None:
    for subject in ("Re: Thank you", "Next steps", "Re: out of office plans for the team"):
        assert not is_auto_reply(message(subject=subject)), subject


def test_bounce_sender_is_an_auto_reply() -> None:
    assert is_auto_reply(message("mailer-daemon@googlemail.com", subject="Returned"))


# -- answers -----------------------------------------------------------------

def test_interviewer_answer(config: Config) -> None:
    assert answers(message(), config)
    assert answers(message("Jane.Doe@Acme.com"), config)


def test_any_address_at_company_domain(config: Config) -> None:
    assert answers(message("recruiting@acme.com"), config)
    assert answers(message("pat@eu.acme.com"), config)
    assert not answers(message("pat@acme.co"), config)


def test_company_domain_that_is_freemail_or_mine_does_not_count(config: Config) -> None:
    assert not answers(message("someone@gmail.com"), config, company_domain="gmail.com")
    assert not answers(message("someone@rivera.dev"), config, company_domain="rivera.dev")


def test_thread_or_references(config: Config) -> None:
    stranger = "someone@agency.example"
    assert not answers(message(stranger), config)
    assert answers(message(stranger, thread_id="t-thanks"), config)
    assert answers(message(stranger, in_reply_to="<note-1@rivera.dev>"), config)
    assert answers(message(stranger, references=("<a@x>", "note-1@rivera.dev")), config)


def test_before_the_interview_does_not_count(config: Config) -> None:
    assert not answers(message(date=STARTED - timedelta(minutes=1)), config)
    assert not answers(message(date=STARTED), config)
    assert answers(message(date=None), config)  # undated: treated as after


def test_only_inbox_counts(config: Config) -> None:
    assert not answers(message(folder=Folder.SENT), config)
    assert not answers(message(folder=Folder.DRAFTS), config)


def test_my_own_messages_never_count(config: Config) -> None:
    for me in ("alex.rivera@gmail.com", "ALEX@rivera.dev"):
        assert not answers(message(me, thread_id="t-thanks"), config, people={me.lower()})
    assert not answers(message(marker="iv1/thank_you/jane.doe@acme.com"), config)
    assert not answers(message(None, thread_id="t-thanks"), config)


def test_auto_replies_never_count(config: Config) -> None:
    msg = message(subject="Automatic reply: Thank you", thread_id="t-thanks")
    assert not answers(msg, config)
    assert not answers(message(headers={"auto-submitted": "auto-replied"}), config)
