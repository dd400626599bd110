from __future__ import annotations

import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

import pytest

from interview_followup.daemon.mime import MARKER_HEADER, build_message
from interview_followup.providers.base import Address, ReplyTo

NOW = datetime(2025, 3, 4, 15, 30, tzinfo=timezone(timedelta(hours=-5)))
MARKER = "iv-7f3a9c/thank_you/jane.doe@acme.example"
OUTLOOK_ID = (
    "<AM0PR07MB6243D3A8B1C2E4F5A6B7C8D9E0F1A2B3C4D5@AM0PR07MB6243.eurprd07.prod.outlook.com>")


def build(**changes: object) -> EmailMessage:
    args: dict[str, object] = {
        "from_name": "Alex Rivera",
        "from_email": "alex.rivera@example.org",
        "to": [Address("jane.doe@acme.example", "Jane Doe")],
        "subject": "Thank you — Senior Backend Engineer interview",
        "body": "Dear Jane,\n\nThank you for your time.\n\nBest regards,\nAlex\n",
        "marker": MARKER,
        "now": NOW,
    }
    args.update(changes)
    return build_message(**args)  # type: ignore[arg-type]


def parse(msg: EmailMessage) -> EmailMessage:
    parsed = BytesParser(policy=email.policy.default).parsebytes(msg.as_bytes())
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_headers_and_body_round_trip() -> None:
    parsed = parse(build())

    assert parsed["From"].addresses[0].display_name == "Alex Rivera"
    assert parsed["From"].addresses[0].addr_spec == "alex.rivera@example.org"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["jane.doe@acme.example"]
    assert parsed["Subject"] == "Thank you — Senior Backend Engineer interview"
    assert parsedate_to_datetime(parsed["Date"]) == NOW
    assert parsed["Message-ID"].endswith("@example.org>")
    assert parsed[MARKER_HEADER] == MARKER
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content() == "Dear Jane,\n\nThank you for your time.\n\nBest regards,\nAlex\n"
    assert "Auto-Submitted" not in parsed
    assert "In-Reply-To" not in parsed and "References" not in parsed


def test_non_ascii_names_are_encoded_and_round_trip() -> None:
    msg = build(from_name="José Núñez", to=[Address("zoe@acme.example", "Zoë Ångström")],
                body="Merci beaucoup, Zoë.\n")
    raw = msg.as_bytes()

    assert raw.isascii()  # RFC 2047 names and quoted-printable body
    parsed = parse(msg)
    assert parsed["From"].addresses[0].display_name == "José Núñez"
    assert parsed["To"].addresses[0].display_name == "Zoë Ångström"
    assert parsed.get_content() == "Merci beaucoup, Zoë.\n"


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r", "\u2028", "\x85", "\x0b", "\x0c"])
def test_line_breaks_in_subject_or_names_cannot_add_headers(newline: str) -> None:
    msg = build(
        subject=f"Interview{newline}Bcc: spy@evil.example",
        from_name=f"Alex{newline}Cc: spy@evil.example",
        to=[Address("jane.doe@acme.example", f"Jane{newline}Reply-To: spy@evil.example")],
    )
    parsed = parse(msg)

    for header in ("Bcc", "Cc", "Reply-To"):
        assert header not in parsed
    assert parsed["Subject"] == "Interview Bcc: spy@evil.example"
    assert [a.addr_spec for a in parsed["To"].addresses] == ["jane.doe@acme.example"]


def test_control_characters_in_the_subject_become_spaces() -> None:
    parsed = parse(build(subject="Thanks\x00\x1b[31m\t today\u202e"))

    assert parsed["Subject"] == "Thanks [31m today"


def test_empty_recipient_list_gives_no_to_header() -> None:
    parsed = parse(build(to=[]))

    assert "To" not in parsed
    assert parsed[MARKER_HEADER] == MARKER


def test_unusable_recipient_is_left_out_and_duplicates_merged() -> None:
    parsed = parse(build(to=[
        Address("not an address", "Bad"),
        Address("jane.doe@acme.example", "Jane Doe"),
        Address("jane.doe@acme.example", "Jane D."),
        Address("bob@acme.example", ""),
    ]))

    assert [a.addr_spec for a in parsed["To"].addresses] == [
        "jane.doe@acme.example", "bob@acme.example"]


def test_reply_sets_threading_headers_verbatim() -> None:
    reply_to = ReplyTo(message_id=OUTLOOK_ID, references=("<root@acme.example>", "not an id x"))
    msg = build(reply_to=reply_to)
    raw = msg.as_bytes().decode("ascii")
    parsed = parse(msg)

    assert parsed["In-Reply-To"] == OUTLOOK_ID
    assert parsed["References"].split() == ["<root@acme.example>", OUTLOOK_ID]
    # Never RFC 2047-encoded, or mail clients cannot thread the reply.
    assert f"In-Reply-To: {OUTLOOK_ID}\n" in raw
    assert f"References: <root@acme.example>\n {OUTLOOK_ID}\n" in raw


def test_reply_without_brackets_or_references_still_threads() -> None:
    parsed = parse(build(reply_to=ReplyTo(message_id="abc@mail.example")))

    assert parsed["In-Reply-To"] == "<abc@mail.example>"
    assert parsed["References"] == "<abc@mail.example>"


def test_long_marker_stays_on_one_unencoded_line_under_any_line_ending() -> None:
    marker = "a" * 120 + "/thank_you/jane.doe@acme.example"
    msg = build(marker=marker)

    assert f"{MARKER_HEADER}: {marker}\n".encode() in msg.as_bytes()
    assert f"{MARKER_HEADER}: {marker}\r\n".encode() in msg.as_bytes(policy=email.policy.SMTP)
    assert parse(msg)[MARKER_HEADER] == marker


def test_message_ids_are_unique() -> None:
    ids = {build()["Message-ID"] for _ in range(200)}

    assert len(ids) == 200


def test_the_message_id_starts_with_the_markers_stem() -> None:
    """So a mailbox finds the draft by Message-ID alone (a server that does not search our
    own header, a process that did not write it)."""
    from interview_followup.providers._shared.headers import draft_id_stem

    msg = build()
    assert msg["Message-ID"].startswith(draft_id_stem(msg[MARKER_HEADER]))
    assert not msg["Message-ID"].startswith(draft_id_stem(msg[MARKER_HEADER] + "x"))


@pytest.mark.parametrize("marker", ["has space", "line\nbreak", "", "ümlaut"])
def test_bad_marker_is_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="marker"):
        build(marker=marker)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(now=datetime(2025, 3, 4, 15, 30))


def test_body_control_characters_are_dropped_and_newline_ended() -> None:
    parsed = parse(build(body="Hello\r\nthere\x00\x07", now=datetime(2025, 3, 4, tzinfo=UTC)))

    assert parsed.get_content() == "Hello\nthere\n"
