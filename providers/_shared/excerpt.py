"""A short plain-text excerpt of a message body, for the answer rules only.

The rules need a few sentences of a body: the company an applicant tracking
system writes for ("Thank you for your interest in Acme Corp"), and the day an
out-of-office sender is back. They never need the rest, so at most
:data:`MAX_EXCERPT` characters are kept, HTML is reduced to text, and nothing
here is stored or logged: the excerpt lives in a :class:`MailMessage` for one
decision and is dropped with it.
"""

from __future__ import annotations

import html
import re
from email.message import Message
from html.parser import HTMLParser

MAX_EXCERPT = 4096  # characters of plain text kept
MAX_INPUT = 64 * 1024  # characters of a part looked at: a huge HTML mail costs no more
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})
_BREAK_TAGS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\n\s*\n+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BREAK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self.skipping:
            self.skipping -= 1
        elif tag in _BREAK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def text_from_html(markup: str) -> str:
    """Visible text of an HTML body, in reading order, bounded."""
    parser = _Text()
    try:
        parser.feed(markup[:MAX_INPUT])
        parser.close()
    except Exception:  # malformed markup: fall back to stripping tags
        return tidy(html.unescape(re.sub(r"<[^>]*>", " ", markup[:MAX_INPUT])))
    return tidy("".join(parser.parts))


def tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines; at most MAX_EXCERPT characters."""
    lines = (_SPACES.sub(" ", line).strip() for line in text[:MAX_INPUT].splitlines())
    joined = _LINES.sub("\n\n", "\n".join(lines)).strip()
    return joined[:MAX_EXCERPT]


def excerpt_of(msg: Message) -> str:
    """The first text/plain part (else the first text/html one, as text), bounded.

    Attachments are never read. Undecodable bytes are replaced, never fatal.
    """
    plain = markup = None
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = part
        elif kind == "text/html" and markup is None:
            markup = part
        if plain is not None:
            break
    chosen = plain or markup
    if chosen is None:
        return ""
    text = _decoded(chosen)
    return tidy(text) if chosen is plain else text_from_html(text)


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[: MAX_INPUT * 4].decode(charset, errors="replace")
    except LookupError:  # an unknown charset name
        return payload[: MAX_INPUT * 4].decode("utf-8", errors="replace")
