"""Rule 3: who gets a thank-you note, and who is the main contact for the status check."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..providers.base import Attendee, Event, Response
from .config import Config
from .domains import domain_of, is_automated, local_part, own_company_domains, registrable_domain

_EMAIL = re.compile(r"[^@\s<>,;\"'()\[\]]+@[^@\s<>,;\"'()\[\]]+\.[^@\s<>,;\"'()\[\]]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ROOM_NAME = re.compile(
    r"\b(?:conf(?:erence)?\.?\s*room|meeting\s*room|room|boardroom|huddle\s*(?:room|space)|"
    r"phone\s*booth|focus\s*room)\b", re.IGNORECASE)
_ROOM_LOCAL = re.compile(r"^(?:room|rooms|conf|confroom|conference|mtgroom|meetingroom)[-_.]?")
_NOT_A_NAME = re.compile(r"@|\{\{|\{%|\$\{")  # an address, template or lookup syntax
_TRAILING_DIGITS = re.compile(r"\d+$")
_DIGITS = re.compile(r"\d+")
_LOCAL_SEP = re.compile(r"[._-]+")
_NON_LETTERS = re.compile(r"[^a-z]+")
_BRACKETED = re.compile(r"\([^)]{0,200}\)|\[[^\]]{0,200}\]")
_NAME_END = re.compile(r"\s[-|–—/]\s|\s+via\s+")
_HONORIFICS = frozenset({
    "dr", "mr", "mrs", "ms", "miss", "mx", "prof", "professor", "sir", "dame", "rev", "herr",
    "frau", "mme", "mlle", "m", "sr", "sra", "srta", "dott", "ing", "mag",
})
_SUFFIXES = frozenset({
    "phd", "md", "mba", "jr", "sr", "ii", "iii", "iv", "esq", "cpa", "pe", "rn", "msc", "bsc",
    "ma", "ba", "dds", "cfa", "pmp", "phr", "sphr", "shrm-cp", "shrm-scp", "she/her", "he/him",
    "they/them",
})
# Words that make a display name or mailbox a team or function rather than a person.
NOT_A_PERSON = frozenset({
    "team", "recruiting", "recruitment", "talent", "hiring", "careers", "career", "jobs", "job",
    "hr", "people", "admin", "support", "info", "office", "calendar", "scheduling", "noreply",
    "notifications", "interviews", "interview", "acquisition", "staffing", "room", "hello",
    "contact", "sales", "team's", "group", "department", "desk", "help", "mail", "inbox",
    # a firm's name in the display name: "Ellis Hart Studio" is no Ellis to greet
    "studio", "studios", "lab", "labs", "inc", "llc", "ltd", "gmbh", "agency", "partners",
    "ventures", "consulting", "foundation", "company", "corp", "corporation", "limited",
})
# Two-letter starts a first name can have; "jdoe" or "mlee" are initials plus a surname.
_ONSETS = frozenset((
    "bl", "br", "ch", "cl", "cr", "dr", "dw", "fl", "fr", "gl", "gn", "gr", "kh", "kl", "kn",
    "kr", "ph", "pl", "pr", "qu", "rh", "sc", "sh", "sk", "sl", "sm", "sn", "sp", "st", "sv",
    "sw", "th", "tr", "ts", "tw", "wh", "wr", "zh",
))
_NAME_TOKEN = re.compile(r"^[^\W\d_]+(?:[-'’][^\W\d_]+)*\.?$")


def fold(text: str) -> str:
    """Case- and accent-insensitive form for comparing names: 'Zoë Bäcker' -> 'zoe backer'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def clean_name(name: str) -> str:
    """A display name fit for a header: no control characters, no quotes, single spaces."""
    name = _CONTROL.sub(" ", unicodedata.normalize("NFC", name))
    name = " ".join(name.replace('"', " ").split())
    return "" if _NOT_A_NAME.search(name) else name[:200]


def valid_email(email: str) -> bool:
    return len(email) <= 254 and bool(_EMAIL.fullmatch(email))


def _titlecase(token: str) -> str:
    if token.isupper() or token.islower():
        return "-".join(p[:1].upper() + p[1:].lower() for p in token.split("-"))
    return token


def _first_name_from_email(email: str) -> str:
    local = _TRAILING_DIGITS.sub("", local_part(email))
    tokens = [t for t in _LOCAL_SEP.split(local) if t]
    if not tokens or not tokens[0].isalpha() or tokens[0] in NOT_A_PERSON:
        return ""
    first = tokens[0]
    if is_automated(email) or len(first) < 2 or len(first) > 12:
        return ""
    if len(tokens) == 1 and (len(first) > 8 or not (
        first[0] in "aeiouy" or first[1] in "aeiouy" or first[:2] in _ONSETS
    )):
        return ""  # "jdoe", "mlee": an initial glued to a surname
    return _titlecase(first)


def names_a_group(name: str) -> bool:
    """A display name naming a team, a function or a firm rather than a person."""
    return any(fold(t).strip(".,'") in NOT_A_PERSON for t in clean_name(name).split())


def first_name(name: str) -> str:
    """'Dr. Jane Doe' -> 'Jane'; 'Doe, Jane' -> 'Jane'; '' when it is no person's name."""
    name = clean_name(name)
    name = _BRACKETED.sub(" ", name)
    name = _NAME_END.split(name, maxsplit=1)[0]
    if "," in name:
        head, _, tail = name.partition(",")
        tail_tokens = tail.replace(".", " ").split()
        if tail_tokens and not all(t.lower() in _SUFFIXES for t in tail_tokens):
            name = f"{tail} {head}"  # "Doe, Jane"
        else:
            name = head
    tokens = name.split()
    if any(fold(t).strip(".'") in NOT_A_PERSON for t in tokens):
        return ""
    honorific = False
    while len(tokens) > 1 and tokens[0].lower().rstrip(".") in _HONORIFICS:
        tokens.pop(0)
        honorific = True
    if honorific and len(tokens) == 1:
        return ""  # "Dr. Doe": a surname is no first name
    for i, token in enumerate(tokens):
        bare = token.rstrip(".")
        if len(bare) == 1:  # an initial: "J. Robert Doe" is greeted as Robert
            continue
        if not _NAME_TOKEN.match(token) or token.endswith("."):
            return ""
        if i == len(tokens) - 1 and i > 0:
            return ""  # only initials before a surname: "J. Doe"
        return _titlecase(bare)
    return ""


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""

    @property
    def greeting_name(self) -> str:
        """The first name to greet: from the display name, else from the address."""
        if self.name:
            if "@" in self.name:
                return _first_name_from_email(self.name.strip())
            found = first_name(self.name)
            if found:
                return found
            if names_a_group(self.name):
                return ""  # "Ellis Hart Studio" <ellis@...>: the address is no safer a guess
        return _first_name_from_email(self.email) if self.email else ""


def _is_me(person: Attendee, config: Config) -> bool:
    return person.is_self or person.email.lower() in config.me.addresses


def _eligible(person: Attendee, config: Config) -> bool:
    email = person.email.strip().lower()
    return (
        valid_email(email)
        and not _is_me(person, config)
        and not person.is_resource
        and not person.is_group
        and person.response is not Response.DECLINED
        and not is_automated(email, person.name)
        and not _ROOM_NAME.search(person.name)
        and not _ROOM_LOCAL.match(local_part(email))
    )


def _name_tokens(text: str) -> list[str]:
    return [t for t in _NON_LETTERS.split(fold(text)) if t]


def match_named(email: str, named: Sequence[str]) -> str:
    """The one name in ``named`` that fits the address's local part, else ''."""
    local = _DIGITS.sub("", local_part(email))
    parts = [t for t in _LOCAL_SEP.split(local) if t]
    compact = "".join(parts)
    if not compact:
        return ""
    hits = []
    for name in named:
        tokens = _name_tokens(name)
        if not tokens:
            continue
        first, last = tokens[0], tokens[-1]
        forms = {"".join(tokens), first + last, first[0] + last, first + last[0], last + first}
        whole = len(tokens) > 1 and (compact in forms or parts == [first, last])
        if whole or (compact in (first, last) and len(compact) > 2):
            hits.append(name)
    return hits[0] if len(hits) == 1 else ""


def _recipient(person: Attendee, named: Sequence[str]) -> Recipient:
    email = person.email.strip().lower()
    name = clean_name(person.name) or clean_name(match_named(email, named))
    return Recipient(email, name)


def who_gets_a_note(
    event: Event, config: Config, named: Sequence[str] = ()
) -> tuple[list[Recipient], str]:
    """The interviewers (rule 3) and how they were found: "attendees", "organizer", "none"."""
    found: list[Recipient] = []
    seen: set[str] = set()
    for person in event.attendees:
        if _eligible(person, config):
            recipient = _recipient(person, named)
            if recipient.email not in seen:
                seen.add(recipient.email)
                found.append(recipient)
    if found:
        return found, "attendees"
    organizer = event.organizer
    if organizer is not None and _eligible(organizer, config):
        return [_recipient(organizer, named)], "organizer"
    return [], "none"


def main_contact(
    event: Event, recipients: Sequence[Recipient], config: Config
) -> Recipient | None:
    """The external organizer (often the recruiter), else the first interviewer."""
    organizer = event.organizer
    if organizer is not None and _eligible(organizer, config):
        email = organizer.email.strip().lower()
        own = own_company_domains(config.me.addresses)
        if registrable_domain(domain_of(email)) not in own:
            for recipient in recipients:
                if recipient.email == email:
                    return recipient
            return Recipient(email, clean_name(organizer.name))
    return recipients[0] if recipients else None
