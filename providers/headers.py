"""RFC 5322 headers into :class:`~providers.base.MailMessage`, and the headers a draft carries.

Shared by the mailboxes that see real headers (Maildir files, Gmail metadata); never
reads a body.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from .base import Address, Folder, MailMessage, ReplyTo

MARKER_HEADER = "X-Interview-Followup"
# Headers the auto-reply rules look at, copied into MailMessage.headers.
RULE_HEADERS = (
    "auto-submitted", "x-autoreply", "x-autorespond", "precedence",
    "x-auto-response-suppress", "list-id", "x-failed-recipients",
)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def to_mail_message(msg: Message, *, id: str, folder: Folder, thread_id: str = "",
                    date: datetime | None = None) -> MailMessage:
    """``date`` stands in when the Date header is missing or unreadable."""
    senders = addresses(msg, "From")
    return MailMessage(
        id=id,
        folder=folder,
        sender=senders[0] if senders else None,
        to=tuple(addresses(msg, "To")),
        cc=tuple(addresses(msg, "Cc")),
        date=header_date(msg.get("Date")) or date,
        subject=_text(msg.get("Subject")),
        message_id=first_id(msg.get("Message-ID")),
        in_reply_to=first_id(msg.get("In-Reply-To")),
        references=tuple(_MESSAGE_ID.findall(_text(msg.get("References")))),
        thread_id=thread_id,
        marker=_text(msg.get(MARKER_HEADER)).strip(),
        headers={h: _text(msg.get(h)).strip() for h in RULE_HEADERS if h in msg},
    )


def addresses(msg: Message, name: str) -> list[Address]:
    values = [str(v) for v in msg.get_all(name) or []]
    return [Address(email=addr.strip().lower(), name=display.strip())
            for display, addr in getaddresses(values) if addr.strip()]


def header_date(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def first_id(value: Any) -> str:
    text = _text(value).strip()
    match = _MESSAGE_ID.search(text)
    return match.group(0) if match else text


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def prepared(message: EmailMessage, marker: str, reply_to: ReplyTo | None) -> EmailMessage:
    """``message`` with its marker and thread headers (a copy when they had to be added)."""
    current = message.get(MARKER_HEADER)
    if current is not None and str(current).strip() != marker:
        raise ValueError(f"draft carries {MARKER_HEADER}: {current!r}, not {marker!r}")
    threads = reply_to is not None and bool(reply_to.message_id) and "In-Reply-To" not in message
    if current is not None and not threads:
        return message
    result = copy.deepcopy(message)  # never change the caller's message
    if current is None:
        result[MARKER_HEADER] = marker
    if threads and reply_to is not None:
        result["In-Reply-To"] = reply_to.message_id
        if "References" not in result:
            chain = [r for r in reply_to.references if r != reply_to.message_id]
            result["References"] = " ".join([*chain, reply_to.message_id])
    return result
