"""Building the draft as an RFC 5322 message.

Subjects and display names come from other people's calendars, so they are
cleaned here rather than trusted: every control character and line break is
collapsed to a space before a header is set, which makes header injection
impossible and never raises on odd input.

The marker and the threading headers (In-Reply-To, References) are written
verbatim, never as RFC 2047 encoded words: the stdlib would otherwise encode a
long message id or marker that cannot be folded, which breaks threading in mail
clients and any plain search for the marker.
"""

from __future__ import annotations

import email.policy
import logging
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime

from ..providers._shared.headers import MARKER_HEADER, draft_message_id
from ..providers.base import Address, ReplyTo

log = logging.getLogger(__name__)


MAX_NAME = 200
MAX_SUBJECT = 300
MAX_REFERENCES = 20  # RFC 5322 lets a long References list be trimmed
_FOLD_AT = 78
_INVISIBLE = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
_MSGID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")  # printable ASCII, no '<' '>' inside
_TOKEN = re.compile(r"[\x21-\x7e]+")


class _VerbatimHeader(UnstructuredHeader, BaseHeader):
    """An ASCII header folded only at its own spaces, never encoded."""

    # The stdlib signature is fold(self, *, policy: Policy) -> str.
    def fold(self, *, policy: Policy) -> str:
        lines: list[str] = []
        current = f"{self.name}:"
        for word in str(self).split():
            if len(current) + 1 + len(word) > _FOLD_AT and current.strip() != f"{self.name}:":
                lines.append(current)
                current = ""
            current += f" {word}"
        lines.append(current)
        return policy.linesep.join(lines) + policy.linesep


def _policy() -> email.policy.EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    for name in (MARKER_HEADER, "In-Reply-To", "References"):
        registry.map_to_type(name, _VerbatimHeader)
    return email.policy.default.clone(header_factory=registry)


POLICY = _policy()


def build_message(
    *,
    from_name: str,
    from_email: str,
    to: Sequence[Address],
    subject: str,
    body: str,
    marker: str,
    now: datetime,
    reply_to: ReplyTo | None = None,
) -> EmailMessage:
    """The draft, ready for a mailbox's ``create_draft``.

    ``to`` may be empty (a draft whose recipient the user fills in): then the
    message has no To header. Recipients whose address is unusable are left
    out with a warning. :raises ValueError: ``now`` is naive, ``from_email``
    is not an address, or ``marker`` is not printable ASCII without spaces
    (both are ours, not calendar data).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("build_message needs a timezone-aware 'now'")
    if not _TOKEN.fullmatch(marker) or len(marker) > 900:
        raise ValueError(f"marker must be printable ASCII without spaces: {marker!r}")
    sender = HeaderAddress(display_name=one_line(from_name, MAX_NAME), addr_spec=from_email)
    domain = sender.domain or "localhost"

    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    recipients = _recipients(to)
    if recipients:
        msg["To"] = recipients
    msg["Subject"] = one_line(subject, MAX_SUBJECT)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = draft_message_id(marker, domain)
    msg[MARKER_HEADER] = marker
    if reply_to is not None:
        _thread(msg, reply_to)
    # Quoted-printable keeps every line short and 7-bit safe for any transport.
    msg.set_content(_clean_body(body), subtype="plain", charset="utf-8", cte="quoted-printable")
    return msg


def one_line(text: str, limit: int) -> str:
    """Header-safe text: line breaks and control characters become spaces."""
    cleaned = "".join(
        " " if ch.isspace() or unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in text
        if ch not in _INVISIBLE
    )
    return " ".join(cleaned.split())[:limit]


def _recipients(to: Sequence[Address]) -> list[HeaderAddress]:
    result: list[HeaderAddress] = []
    seen: set[str] = set()
    for address in to:
        email = address.email.strip().lower()
        if email in seen:
            continue
        if "@" not in email:
            log.warning("leaving out recipient %r: not an email address", email)
            continue
        try:
            header = HeaderAddress(display_name=one_line(address.name, MAX_NAME), addr_spec=email)
            if not header.username or not header.domain or not email.isascii():
                raise ValueError("incomplete or non-ASCII address")
        except (ValueError, IndexError) as exc:  # the stdlib parser raises either
            log.warning("leaving out recipient %r: not a usable address (%s)", email, exc)
            continue
        seen.add(email)
        result.append(header)
    return result


def _thread(msg: EmailMessage, reply_to: ReplyTo) -> None:
    parent = _message_id(reply_to.message_id)
    chain: list[str] = []
    for item in (*reply_to.references, parent):
        msgid = _message_id(item)
        if msgid and msgid not in chain:
            chain.append(msgid)
    if len(chain) > MAX_REFERENCES:  # keep the thread's root and the latest ids
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1):]]
    if parent:
        msg["In-Reply-To"] = parent
    if chain:
        msg["References"] = " ".join(chain)


def _message_id(value: str) -> str:
    """'<id@host>' from what a provider gave ('' when it is not a usable id)."""
    value = value.strip()
    if value and not value.startswith("<"):
        value = f"<{value}>"
    return value if _MSGID.fullmatch(value) else ""


def _clean_body(body: str) -> str:
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(
        ch for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in _INVISIBLE)
    )
    return text if text.endswith("\n") else text + "\n"
