"""Facts about an interview read from its event: company, role, interviewers, the user's notes.

Event text is hostile data: it is only matched, never evaluated. The work is
bounded (a long description is read at its head and tail, lines are cut, every
pattern is compiled once and has no nested repetition), so a 100 KB
description costs milliseconds. Nothing returned contains control characters.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from providers.base import Event

from .config import Config
from .domains import (
    domain_of,
    is_automated,
    is_freemail,
    local_part,
    own_company_domains,
    registrable_domain,
)
from .people import NOT_A_PERSON, clean_name, fold, valid_email

HEAD, TAIL = 48_000, 12_000  # characters of a long description that are read
MAX_LINE = 1_000
MAX_TITLE = 300
MAX_ITEMS = 10
MAX_NOTE = 500


@dataclass(frozen=True)
class Facts:
    company: str = ""
    company_domain: str = ""
    role: str = ""
    interviewer_names: tuple[str, ...] = ()
    discussed: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()


# -- vocabulary ----------------------------------------------------------------

def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


ROLE_WORDS = _set("""
engineer engineers engineering developer developers dev manager designer scientist analyst
lead architect consultant specialist coordinator administrator researcher sre devops
programmer officer associate representative executive head vp president accountant writer
editor marketer strategist technician nurse teacher advisor adviser counsel attorney paralegal
assistant fellow intern internship principal staff director owner swe sde ml ai backend
frontend front-end back-end fullstack full-stack mobile ios android qa tester recruiter
product data platform infrastructure security cloud software hardware firmware embedded
""")
# Words that name the kind of meeting, not the company or the role.
KIND_WORDS = _set("""
interview interviews interviewing screen screening phone video onsite on-site virtual technical
tech behavioral behavioural culture cultural fit final round rounds loop panel call chat
conversation intro introduction introductory initial first second third fourth 1st 2nd 3rd 4th
next follow-up followup meeting sync session assessment exercise coding pairing pair
take-home presentation superday debrief whiteboard live challenge demo discussion q&a
coffee lunch dinner zoom teams meet hangout hangouts webex remote hybrid in-person min mins
minute minutes hour hours hr confirmed rescheduled tentative tbd update updated invitation
prep deep dive review mock practice candidate
""")
KIND_PHRASES = re.compile(
    r"\b(?:phone\s+screen|hiring\s+manager|system\s+design|case\s+study|bar\s+raiser|"
    r"meet\s+(?:and|&)\s+greet|super\s+day|on\s+site|google\s+meet|microsoft\s+teams|"
    r"portfolio\s+review|take\s+home|in\s+person|\d+\s*(?:-\s*)?(?:min(?:ute)?s?|h(?:ou)?rs?)\b)",
    re.IGNORECASE,
)
STOP_WORDS = _set("with for the a an at of and & to on in via x <> # - – — : @ by from your our my")
GENERIC = _set("""
zoom teams meet hangouts webex phone call video tbd remote hybrid virtual onsite confirmed
tentative canceled cancelled updated invitation reminder interview meeting busy hold
bcc cc to from subject reply-to sender content-type
""")
COMPANY_SUFFIX = _set("""
inc inc. llc ltd ltd. gmbh ag sa sas bv nv plc corp corp. corporation co co. company labs lab
technologies technology tech systems group holdings health healthcare bank ai io studio studios
software partners ventures capital solutions networks robotics games media industries
enterprises consulting associates international global financial insurance motors airlines
pharma pharmaceuticals foods energy logistics analytics digital interactive entertainment
dynamics research institute university college hospital clinic agency foundation trust fund
securities brands retail stores markets works design press publishing telecom communications
electric electronics semiconductor biosciences therapeutics medical services traders trading
""")
_PARTICLES = _set("van von de der den da di du del della la le bin al el dos das ten ter y")
_HONORIFIC = re.compile(r"^(?:dr|mr|mrs|ms|mx|prof|miss)\.?\s+", re.IGNORECASE)

# -- patterns ----------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_HTML_HINT = re.compile(r"<(?:br|p|div|li|ul|ol|b|i|u|a|span|strong|em|html|body|table)\b",
                        re.IGNORECASE)
_HTML_BREAK = re.compile(r"<br\s*/?>|</(?:p|div|li|h\d|tr|ul|ol)\s*>|<li\b[^>]{0,500}>",
                         re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^<>]{0,1000}>")
# Applied after _BULLET is stripped, so no two parts compete for the same "*".
_KEY_LINE = re.compile(
    r"^[*_]{0,3}(?P<key>[^\W\d_][\w ()/'’&.-]{0,40}?)[*_]{0,3}\s*[:：][*_]{0,3}(?P<value>.*)$"
)
_BULLET = re.compile(r"^[\s\-*•·>]+(?=[^\s\-*•·>]|$)")
_PARENS = re.compile(r"\(([^()]{0,200})\)|\[([^\[\]]{0,200})\]")
_KEYS = {
    **dict.fromkeys(("company", "company name", "organization", "organisation", "employer",
                     "hiring company"), "company"),
    **dict.fromkeys(("role", "position", "job", "title", "job title", "position title",
                     "role title", "opening", "job opening", "vacancy", "applying for",
                     "job role", "position applied for", "req", "requisition"), "role"),
    **dict.fromkeys(("interviewer", "interviewers", "interviewer(s)", "interviewer name",
                     "interviewer names", "interview panel", "panel", "panelists",
                     "panellists", "your interviewer", "your interviewers", "interviewing with",
                     "meeting with", "you'll meet", "you will meet", "you'll be meeting with",
                     "you will be meeting with", "hiring manager"), "names"),
    **dict.fromkeys(("discussed", "topics discussed", "we discussed", "discussion"),
                    "discussed"),
    **dict.fromkeys(("concern", "concerns"), "concerns"),
    **dict.fromkeys(("strength", "strengths"), "strengths"),
}
_LIST_KEYS = frozenset({"names", "discussed", "concerns", "strengths"})
_MEETING_WITH = re.compile(
    r"\b(?:you(?:'|’)?ll|you\s+will|you\s+are\s+going\s+to)\s+(?:be\s+)?(?:meeting|meet|"
    r"speaking|speak|talking|talk|chatting|chat|interviewing)\s+with\s+(?P<who>.{1,300})"
    r"|\byour\s+interviewers?\s+(?:today\s+)?(?:will\s+be|is|are)\s+(?P<who2>.{1,300})"
    r"|^(?P<host>[^\W\d_][^\n]{0,80}?)\s+is\s+inviting\s+you\s+to\s+a\s+scheduled\s+Zoom",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<![A-Z])[.!?;](?:\s|$)")
_PHRASE_ROLE = re.compile(
    r"\bfor\s+(?:the|our|an?|this)\s+(?P<role>[^\n.,;:()]{2,80}?)\s+(?:role|position|opening)\b"
    r"(?:\s+(?:at|with)\s+(?P<company>[^\W\d_][^\n.,;:()!?]{0,60}))?",
    re.IGNORECASE,
)
_PHRASE_COMPANY = re.compile(
    r"\b(?:[Ii]nterest\s+in(?:\s+joining)?|[Ii]nterview(?:ing)?\s+(?:with|at)|"
    r"(?:[Rr]ole|[Pp]osition|[Oo]pportunity|[Oo]pening)\s+at)\s+(?P<company>[A-Z][^\n.,;:()!?]{0,60})"
)
_TITLE_PREFIX = re.compile(
    r"^(?:\s*\[[^\]]{0,40}\]|\s*(?:updated\s+invitation(?:\s+with\s+note)?|invitation|invite|"
    r"new\s+event|updated\s+event|updated|accepted|declined|tentative(?:ly\s+accepted)?|"
    r"cancell?ed(?:\s+event)?|rescheduled|reminder|confirmed|fwd?|re|aw|wg|tr)\s*:)+\s*",
    re.IGNORECASE,
)
_TITLE_WHEN = re.compile(r"\s+@\s+(?:mon|tue|wed|thu|fri|sat|sun)\w*\b.*$", re.IGNORECASE)
_BOUNDARY = r"(?=$|[|(\[:]|\s[-–—/]\s|\s<>\s)"
_BETWEEN = re.compile(r"\bbetween\s+(?P<a>[^|:()]{1,80}?)\s+(?:and|&)\s+(?P<b>[^|:()]{1,80}?)"
                      + _BOUNDARY, re.IGNORECASE)
_FOR_AT = re.compile(
    r"\bfor\s+(?:the\s+|an?\s+)?(?P<role>[^|:()\[\]]{2,80}?)\s+(?:role\s+|position\s+)?(?:at|@)\s+"
    r"(?P<company>[^|:()\[\]]{1,80}?)\s*" + _BOUNDARY, re.IGNORECASE)
_WITH = re.compile(
    r"\b(?:interview(?:s|ing)?|screen(?:ing)?|onsite|on-site|call|chat|conversation|meeting|"
    r"session|intro)\s+(?:with|at)\s+(?P<x>[^|:()\[\]]{1,80}?)"
    r"(?:\s+for\s+(?:the\s+|an?\s+)?(?P<role>[^|:()\[\]]{2,80}?))?\s*" + _BOUNDARY,
    re.IGNORECASE)
_ROLE_AT = re.compile(r"^(?P<role>.{2,80}?)\s+(?:at|@)\s+(?P<company>.{1,80})$")
_FOR_ROLE = re.compile(r"^(?P<left>.{0,80}?)\s*\bfor\s+(?:the\s+|an?\s+)?(?P<role>.{2,80})$")
_GENDER_TAG = re.compile(r"\(\s*(?:[mwfdx]\s*/\s*){1,3}[mwfdx]\s*\)|\(all genders\)", re.I)
_SEPARATORS = re.compile(r"\s*(?:\||::|:(?=\s)|—|–|\s-\s|\s/\s|•|·)\s*")
_PAIR = re.compile(r"\s*<>\s*|\s+x\s+|\s+<->\s+|\s+&lt;&gt;\s+")
_NON_TOKEN = re.compile(r"[^a-z0-9&#-]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]")
_LOCAL_SEP = re.compile(r"[._-]+")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:[-'’.][^\W\d_]+)*\.?")
_NUMBER = re.compile(r"#?\d+(?:/\d+)?[.)]?|\(?\d+\)?")
_UNSAFE = re.compile(r"[{}<>@\\]|://")  # template syntax, markup, addresses, links
_LETTER = re.compile(r"[^\W\d_]")
_ANGLED = re.compile(r"<[^<>]{0,300}>")
_TITLE_DOT = re.compile(r"\b(Dr|Mr|Mrs|Ms|Mx|Prof)\.")
_NAME_TAIL = re.compile(r"\s[-–—:]\s?|\s[-–—]")
_AND_LIST = re.compile(r"\s*,\s*|\s+and\s+")
_SPLIT_NAMES = re.compile(r"\s*(?:,|;|/|&|\+|\||•|·|\band\b|\bund\b)\s*", re.IGNORECASE)


# -- small helpers -----------------------------------------------------------

def sane(text: str, limit: int = MAX_NOTE) -> str:
    """One line of printable text, at most ``limit`` characters."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit].strip()


def _tokens(text: str) -> list[str]:
    return [t for t in _NON_TOKEN.split(fold(text)) if t]


class _Context:
    """Who the user is and who the event names, for telling people from companies."""

    def __init__(self, event: Event, config: Config, domain: str) -> None:
        me_words = set(_tokens(config.me.name))
        for address in config.me.addresses:
            me_words.update(t for t in _LOCAL_SEP.split(local_part(address)) if t.isalpha())
        self.me_words = frozenset(me_words)
        self.label = _NON_ALNUM.sub("", domain.split(".")[0]) if domain else ""
        known: set[str] = set()
        for person in (event.organizer, *event.attendees):
            if person is None or not person.name or self.is_me(person.name):
                continue
            name = fold(clean_name(person.name))
            if name:
                known.add(name)
                known.add(name.split()[0])
        self.known = known

    def is_me(self, text: str) -> bool:
        words = [w for w in _tokens(text) if len(w) > 1]
        return bool(words) and all(w in self.me_words for w in words)

    def is_known_person(self, text: str) -> bool:
        return fold(text) in self.known

    def fits_domain(self, name: str) -> bool:
        compact = _NON_ALNUM.sub("", fold(name))
        if not self.label or len(compact) < 3:
            return bool(self.label) and compact == self.label
        return compact in self.label or self.label in compact


_CONNECTORS = _set("of and & de der des la le the für y et du van von da di del")


def _capitalised(text: str) -> bool:
    """Every word looks like part of a name ('Umbrella Corp', 'eBay'), so a sentence
    such as 'Catch up with Jane' is not taken for a company."""
    return all(
        w in _CONNECTORS or w[:1].isupper() or w[:1].isdigit() or any(c.isupper() for c in w)
        for w in text.split()
    )


def _looks_like_person(text: str) -> bool:
    words = text.split()
    if not 2 <= len(words) <= 3 or any(fold(w).strip(".") in COMPANY_SUFFIX for w in words):
        return False
    return all(_name_word(w) for w in words)


def _name_word(word: str) -> bool:
    return bool(_NAME_WORD.fullmatch(word)) and (
        word[0].isupper() or word in _PARTICLES)


def company_from_domain(domain: str) -> str:
    """'acme-robotics.com' -> 'Acme Robotics'; 'ibm.com' -> 'IBM'."""
    label = registrable_domain(domain).split(".")[0]
    parts = [p for p in label.split("-") if p]
    return " ".join(p.upper() if len(p) <= 3 and p.isalpha() else p.capitalize() for p in parts)


def _meaningful(words: Iterable[str]) -> list[str]:
    """Words left once the kind of meeting, numbers and filler are removed."""
    kept = [w for w in words if fold(w).strip(".,;:!?()#") not in KIND_WORDS
            and not _NUMBER.fullmatch(w)]
    while kept and fold(kept[0]) in STOP_WORDS:
        kept.pop(0)
    while kept and fold(kept[-1]) in STOP_WORDS:
        kept.pop()
    return kept


def _is_role(text: str) -> bool:
    return any(t.strip(".,") in ROLE_WORDS for t in _tokens(text))


def _clean_role(text: str, company: str = "") -> str:
    text = KIND_PHRASES.sub(" ", _GENDER_TAG.sub(" ", sane(text, 200)))
    words = _meaningful(text.strip(" \"'“”‘’.,;:-–—!?").split())
    while words and fold(words[-1]) in {"role", "position", "opening", "job"}:
        words.pop()
    while words and fold(words[0]) in {"the", "a", "an", "our"}:
        words.pop(0)
    role = " ".join(words)
    if company and fold(role).startswith(fold(company) + " "):
        role = role[len(company):].strip()
    if not role or len(role) > 100 or _UNSAFE.search(role):
        return ""
    return role if _LETTER.search(role) else ""


def _clean_company(text: str, ctx: _Context) -> str:
    text = sane(text, 120).strip(" \"'“”‘’.,;:-–—!?*")
    if not text or len(text) > 80 or len(text.split()) > 6:
        return ""
    if _UNSAFE.search(text) or text.lower().startswith("www.") or not _LETTER.search(text):
        return ""
    if fold(text) in GENERIC or not _meaningful(KIND_PHRASES.sub(" ", text).split()):
        return ""
    return "" if ctx.is_me(text) else text


def _leading_name(text: str) -> str:
    """The person's name at the start of ``text``: 'Jane Doe from our team' -> 'Jane Doe'."""
    text = _HONORIFIC.sub("", _ANGLED.sub(" ", text).strip(" \"'“”‘’-–—*"))
    words: list[str] = []
    for word in text.split():
        if not _name_word(word.rstrip(",")) or len(words) == 4:
            break
        words.append(word.rstrip(","))
        if word.endswith(","):
            break
    while words and words[-1] in _PARTICLES:
        words.pop()
    bad = NOT_A_PERSON | ROLE_WORDS | KIND_WORDS | STOP_WORDS
    if not words or any(fold(w).strip(".") in bad for w in words):
        return ""
    return " ".join(words)


def _names(value: str, ctx: _Context) -> list[str]:
    value = _PARENS.sub(" ", value)
    value = _TITLE_DOT.sub(r"\1", value)
    found = []
    for part in _SPLIT_NAMES.split(value):
        part = _NAME_TAIL.split(part, maxsplit=1)[0]
        name = _leading_name(part)
        if name and not ctx.is_me(name):
            found.append(name)
    return found


# -- the description ---------------------------------------------------------

def _description_text(description: str) -> str:
    if len(description) > HEAD + TAIL:
        description = description[:HEAD] + "\n" + description[-TAIL:]
    if _HTML_HINT.search(description):
        description = _HTML_TAG.sub(" ", _HTML_BREAK.sub("\n", description))
        description = html.unescape(description)
    return description


@dataclass
class _Found:
    company: list[str]
    role: list[str]
    names: list[str]
    discussed: list[str]
    concerns: list[str]
    strengths: list[str]
    phrase_company: list[str]
    phrase_role: list[str]


def _scan_description(text: str, ctx: _Context) -> _Found:
    found = _Found([], [], [], [], [], [], [], [])
    pending = ""  # a list key whose items follow on the next lines
    budget = 0  # lines such a list may still take
    for raw in text.splitlines():
        line = raw[:MAX_LINE].strip()
        bullet = _BULLET.match(line) is not None
        line = _BULLET.sub("", line)
        if not line:
            if pending and _items(found, pending):
                pending = ""
            continue
        match = _KEY_LINE.match(line)
        key = ""
        if match:
            key = _KEYS.get(" ".join(fold(match["key"]).replace("’", "'").split()), "")
        if key:
            value = match["value"].strip() if match else ""
            pending = key if not value and key in _LIST_KEYS else ""
            budget = 2 * MAX_ITEMS
            if value:
                _add(found, key, value, ctx)
            continue
        if pending:
            budget -= 1
            if budget < 0 or len(_items(found, pending)) >= MAX_ITEMS or (match and not bullet):
                pending = ""  # a new "Something:" line ends the list
            else:
                _add(found, pending, line, ctx)
                continue
        _phrases(line, found, ctx)
    return found


def _items(found: _Found, key: str) -> list[str]:
    items: list[str] = getattr(found, key)
    return items


def _add(found: _Found, key: str, value: str, ctx: _Context) -> None:
    if key == "names":
        found.names.extend(_names(value, ctx))
    elif key in ("company", "role"):
        _items(found, key).append(value)
    else:
        note = sane(value, MAX_NOTE)
        items = _items(found, key)
        if note and len(items) < MAX_ITEMS:
            items.append(note)


def _phrases(line: str, found: _Found, ctx: _Context) -> None:
    for m in _MEETING_WITH.finditer(line):
        who = m["who"] or m["who2"] or m["host"] or ""
        who = _TITLE_DOT.sub(r"\1", who)
        found.names.extend(_names(_SENTENCE_END.split(who, maxsplit=1)[0], ctx))
    for m in _PHRASE_ROLE.finditer(line):
        if _is_role(m["role"]):
            found.phrase_role.append(m["role"])
        if m["company"]:
            found.phrase_company.append(_leading_caps(m["company"]))
    for m in _PHRASE_COMPANY.finditer(line):
        found.phrase_company.append(_leading_caps(m["company"]))


def _leading_caps(text: str) -> str:
    """'Acme Robotics and the team' -> 'Acme Robotics'."""
    words = []
    for word in text.split()[:6]:
        if not (word[:1].isupper() or word[:1].isdigit() or word in {"&", "of", "and"}):
            break
        words.append(word)
    while words and words[-1] in {"&", "of", "and"}:
        words.pop()
    return " ".join(words)


# -- the title ---------------------------------------------------------------

@dataclass
class _TitleFacts:
    companies: list[str]
    roles: list[str]
    names: list[str]


def _parse_title(title: str, ctx: _Context) -> _TitleFacts:
    facts = _TitleFacts([], [], [])
    text = sane(title, MAX_TITLE)
    text = _TITLE_WHEN.sub("", _TITLE_PREFIX.sub("", text))

    m = _BETWEEN.search(text)
    if m:
        for who in (m["a"], m["b"]):
            name = _leading_name(who)
            if name and not ctx.is_me(name):
                facts.names.append(name)
        text = text[: m.start()] + " | " + text[m.end():]
    m = _FOR_AT.search(text)
    if m:
        facts.roles.append(m["role"])
        facts.companies.append(m["company"])
        text = text[: m.start()] + " | " + text[m.end():]
    m = _WITH.search(text)
    if m:
        _with_whom(m["x"], facts, ctx)
        if m["role"]:
            facts.roles.append(m["role"])
        text = text[: m.start()] + " | " + text[m.end():]

    later: list[str] = []  # parenthesised qualifiers rank below the plain segments
    def keep_parens(match: re.Match[str]) -> str:
        later.append(match[1] or match[2] or "")
        return " | "

    text = _PARENS.sub(keep_parens, text)
    for segment in _SEPARATORS.split(text):
        parts = _PAIR.split(segment)
        for part in parts:
            _segment(part, facts, ctx, paired=len(parts) > 1)
    for segment in later:
        _segment(segment, facts, ctx, paired=False)
    return facts


def _with_whom(who: str, facts: _TitleFacts, ctx: _Context) -> None:
    parts = [p for p in _AND_LIST.split(who) if p.strip()]
    if len(parts) > 1:
        facts.names.extend(n for n in map(_leading_name, parts) if n and not ctx.is_me(n))
    elif ctx.is_me(who):
        return
    elif ctx.is_known_person(who) or (
        _looks_like_person(who) and ctx.label and not ctx.fits_domain(who)
    ):
        facts.names.append(_leading_name(who) or sane(who, 80))
    elif _capitalised(who) and (not _looks_like_person(who) or ctx.fits_domain(who)):
        # "Interview with Jane Doe" or "... with Goldman Sachs" and no domain to tell
        # which: a placeholder beats naming a person as the company.
        facts.companies.append(who)


def _segment(segment: str, facts: _TitleFacts, ctx: _Context, *, paired: bool) -> None:
    segment = segment.strip(" -–—|:,.;")
    if not segment or ctx.is_me(segment) or ctx.is_known_person(segment):
        return
    m = _ROLE_AT.match(segment)
    if m and _is_role(m["role"]):
        facts.roles.append(m["role"])
        facts.companies.append(m["company"])
        return
    m = _FOR_ROLE.match(segment)
    if m and _is_role(m["role"]):  # "Casey Morgan for Staff Engineer"
        facts.roles.append(m["role"])
        segment = m["left"]
    words = _meaningful(KIND_PHRASES.sub(" ", segment).split())
    if not words:
        return
    rest = " ".join(words)
    bare = rest == segment  # no "Interview" or "Onsite" beside it
    if _is_role(rest):
        facts.roles.append(rest)
    elif _looks_like_person(rest) and not ctx.fits_domain(rest) and (
        paired or ctx.label or bare
    ):
        if paired:  # "Alex Rivera <> Jane Doe": the other side is a person
            facts.names.append(rest)
    elif _capitalised(rest):
        facts.companies.append(rest)


# -- putting it together -----------------------------------------------------

def _company_domain(event: Event, config: Config) -> str:
    own = own_company_domains(config.me.addresses)
    counts: Counter[str] = Counter()
    for person in (event.organizer, *event.attendees):
        if person is None or person.is_self:
            continue
        email = person.email.strip().lower()
        if not valid_email(email) or email in config.me.addresses:
            continue
        if is_automated(email, person.name):
            continue
        domain = registrable_domain(domain_of(email))
        if domain and not is_freemail(domain) and domain not in own:
            counts[domain] += 1
    return counts.most_common(1)[0][0] if counts else ""


def _first(candidates: Iterable[str], clean: Callable[[str], str]) -> str:
    for candidate in candidates:
        value = clean(candidate)
        if value:
            return value
    return ""


def _unique(names: Iterable[str], ctx: _Context) -> tuple[str, ...]:
    seen: set[str] = set()
    result = []
    for name in names:
        name = sane(name, 80)
        key = fold(name)
        if name and key not in seen and not ctx.is_me(name):
            seen.add(key)
            result.append(name)
    return tuple(result[:MAX_ITEMS])


def infer(event: Event, config: Config) -> Facts:
    """What the event says about the interview; "" or () for whatever it does not say."""
    domain = _company_domain(event, config)
    ctx = _Context(event, config, domain)
    desc = _scan_description(_description_text(event.description), ctx)
    title = _parse_title(event.title, ctx)

    def company_ok(text: str) -> str:
        return _clean_company(text, ctx)

    company = (
        _first(desc.company, company_ok)
        or _first(title.companies, company_ok)
        or _first(desc.phrase_company, company_ok)
        or (company_ok(company_from_domain(domain)) if domain else "")
    )

    def role_ok(text: str) -> str:
        return _clean_role(text, company)

    role = (_first(desc.role, role_ok) or _first(title.roles, role_ok)
            or _first(desc.phrase_role, role_ok))
    return Facts(
        company=company,
        company_domain=domain,
        role=role,
        interviewer_names=_unique((*desc.names, *title.names), ctx),
        discussed=tuple(desc.discussed),
        concerns=tuple(desc.concerns),
        strengths=tuple(desc.strengths),
    )
