"""Facts about an interview read from its event: company, role, interviewers, the user's notes.

Company and role come with where they were read (:class:`Source`) and how sure they
are (:class:`Confidence`): the subject line of a draft takes only SURE facts, a body
sentence LIKELY ones, and anything less leaves the template's placeholder, because a
wrong company in a subject line is the worst mistake a draft can make. What counts as a
job title, a kind of meeting, a team's name or a recruitment agency is kept in tables
below, each tested entry by entry (tests/test_infer.py).

Event text is hostile data: it is only matched, never evaluated. The work is
bounded (a long description is read at its head and tail, lines are cut, every
pattern is compiled once and has no nested repetition), so a 100 KB
description costs milliseconds. Nothing returned contains control characters.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

from ..providers.base import Event
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


class Confidence(IntEnum):
    """How sure a fact is. The subject line takes only SURE facts, a body sentence
    LIKELY ones; a GUESS is never written: the draft keeps its placeholder."""

    NONE = 0
    GUESS = 1
    LIKELY = 2
    SURE = 3


class Source(StrEnum):
    """Where a fact was read, in the order a tie between equally sure facts is broken."""

    NOTE = "note"  # the user's `followup note ID "Role: ..."`
    CONFIG = "config"  # reserved for a per-interview setting; no config key sets it yet
    DESCRIPTION_KEY = "description key line"  # "Position: Data Engineer"
    TITLE = "title"
    DESCRIPTION_SENTENCE = "description sentence"  # "... for the Data Engineer role"
    ORGANIZER = "organizer name"  # "Acme Talent Team"
    SIGNATURE = "signature line"  # "Director of Partnerships | Brightwater Conservancy"
    DESCRIPTION_FIRST_LINE = "description first line"  # "Research Associate, Assay ..."
    MAIL_SUBJECT = "mail subject"  # "Interview confirmation: Data Engineer at Acme"
    ATTENDEE_DOMAIN = "attendee domain"


_SOURCE_ORDER = {s: i for i, s in enumerate(Source)}


@dataclass(frozen=True)
class Fact:
    """One value and where it came from; ``Fact()`` is "unknown"."""

    value: str = ""
    source: str = ""
    confidence: Confidence = Confidence.NONE

    def at_least(self, level: Confidence) -> str:
        """The value when it is at least ``level`` sure, else ""."""
        return self.value if self.value and self.confidence >= level else ""

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "source": str(self.source),
                "confidence": self.confidence.name.lower()}

    @classmethod
    def from_json(cls, data: Any) -> Fact:
        if not isinstance(data, dict):
            return cls()
        level = Confidence.__members__.get(str(data.get("confidence", "")).upper(),
                                           Confidence.NONE)
        return cls(str(data.get("value", "")), str(data.get("source", "")), level)


@dataclass(frozen=True)
class Facts:
    company: str = ""  # at least LIKELY: fit for a body sentence
    company_domain: str = ""
    role: str = ""  # at least LIKELY
    interviewer_names: tuple[str, ...] = ()
    discussed: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()
    company_fact: Fact = Fact()  # with its source and confidence (any level)
    role_fact: Fact = Fact()
    # "Danielle Brooks (Design Director)": (name, title) pairs from the description.
    interviewer_titles: tuple[tuple[str, str], ...] = ()
    # "Jane: the on-call rotation": (who, kind, text), kind "discussed"/"concerns"/"strengths".
    person_notes: tuple[tuple[str, str, str], ...] = ()


# -- vocabulary ----------------------------------------------------------------
# Knowledge as data: each table says what its words are for; tests/test_infer.py
# checks entries of each one by one.

def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# The head of a job title: the noun a title ends with ("Senior Backend *Engineer*") or,
# in the Romance languages, starts with ("*Ingeniero* de Datos"). A candidate role
# without one ("Security", "Flight Software", "Payments") is a team or a topic, never
# put in a draft as the role.
ROLE_HEADS = _set("""
engineer engineers developer developers programmer architect designer scientist analyst
researcher manager lead director head vp svp evp president chief officer cto ceo cfo coo cmo
cpo ciso cio founder co-founder partner principal owner consultant specialist coordinator
administrator admin associate representative rep executive accountant auditor controller
bookkeeper actuary underwriter economist statistician mathematician writer copywriter editor
journalist reporter producer marketer strategist planner buyer technician technologist
mechanic electrician machinist operator nurse physician surgeon pharmacist therapist
counselor counsellor teacher instructor professor lecturer tutor trainer librarian curator
advisor adviser counsel attorney lawyer paralegal solicitor assistant fellow postdoc intern
internship apprentice apprenticeship trainee graduate generalist recruiter sourcer agent
broker banker trader investigator inspector estimator surveyor chemist biologist physicist
geologist illustrator animator artist photographer videographer translator interpreter
evangelist advocate steward clerk officer sre swe sde devops qa tester ux ui pm tpm epm
csm sdr bdr pmm
""") | _set("""
ingeniero ingeniera desarrollador desarrolladora programador programadora diseñador
diseñadora analista científico científica gerente jefe jefa director directora responsable
consultor consultora coordinador coordinadora técnico técnica becario becaria asistente
ingénieur ingénieure développeur développeuse concepteur conceptrice chef chargé chargée
directeur directrice responsable stagiaire alternant alternante consultante analyste
entwickler entwicklerin ingenieur ingenieurin berater beraterin leiter leiterin referent
referentin architekt architektin werkstudent werkstudentin praktikant praktikantin
sachbearbeiter sachbearbeiterin managerin designerin
engenheiro engenheira desenvolvedor desenvolvedora projetista cientista gerente estagiário
estagiária coordenador coordenadora diretor diretora
""")
# German compounds end with their head: "Softwareentwickler", "Datenanalystin".
_HEAD_SUFFIXES = ("entwickler", "entwicklerin", "ingenieur", "ingenieurin", "berater",
                  "beraterin", "leiter", "leiterin", "manager", "managerin", "analyst",
                  "analystin", "architekt", "architektin", "designer", "designerin",
                  "engineer", "developer")
# Words that may stand in a title before its head ("Senior Data ...") but are no role alone.
ROLE_WORDS = ROLE_HEADS | _set("""
engineering software hardware firmware embedded backend back-end frontend front-end
fullstack full-stack mobile ios android data platform infrastructure security cloud product
ml ai staff senior junior sr jr mid-level principal
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
informational informative exploratory networking catch-up catchup check-in checkin 1:1 1-1
one-on-one touchpoint touch-base meet-and-greet screener virtual-onsite walkthrough
problem-solving homework
entrevista entrevistas entretien entretiens entrevue vorstellungsgespräch gespräch
bewerbungsgespräch kennenlernen kennenlerngespräch colloquio sollicitatiegesprek técnica
técnico tecnica tecnico technique technisches telefonica telefónica téléphonique llamada
videollamada appel visio chamada reunión reunion réunion rh final finale segunda primera
premier deuxième erste zweite primeira
""")
KIND_WORDS = frozenset(fold(w) for w in KIND_WORDS)  # compared with folded words
KIND_PHRASES = re.compile(
    r"\b(?:phone\s+screen|hiring\s+manager|system\s+design|case\s+study|bar\s+raiser|"
    r"meet\s+(?:and|&)\s+greet|super\s+day|on\s+site|google\s+meet|microsoft\s+teams|"
    r"portfolio\s+review|take\s+home|in\s+person|catch\s+up|check\s+in|"
    r"(?:recruiter|recruiting|hr|talent|team|values|leadership|culture|founder|"
    r"ceo|cto|peer|reference)\s+(?:screen|call|chat|interview|fit|match|round)s?|"
    r"\d+\s*(?:-\s*)?(?:min(?:ute)?s?|h(?:ou)?rs?)\b)",
    re.IGNORECASE,
)
# Meetings that are social rather than an interview: "Coffee with Priya" names a person.
_SOCIAL_KINDS = _set("coffee lunch dinner chat catch-up catchup 1:1 intro informational "
                     "networking check-in drinks breakfast walk")
# Words that make a candidate company the meeting itself ("Informational Chat").
_MEETING_NOUNS = _SOCIAL_KINDS | _set("""
interview interviews screen screening call meeting conversation session sync exploratory
introductory introduction informative touchpoint onsite on-site loop debrief
""")
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
conservancy bio
""")
# Legal forms: a name carrying one is a company's name, whatever else the event says.
LEGAL_FORMS = _set("inc inc. llc ltd ltd. gmbh ag sa sas sarl bv nv plc corp corp. "
                   "corporation pty srl spa oy ab kk limited lp llp se")
# Words of a team's display name ("Acme Talent Team", "Recruiting @ Acme"): what is left
# once they are gone may be the company.
_TEAM_WORDS = _set("team recruiting recruitment talent acquisition careers career hiring hr "
                   "people jobs staffing scheduling coordinator coordination ta")
# Recruitment agencies: their domain names the agency, never the employer. A domain
# whose label carries one of these words is treated the same way.
AGENCY_DOMAINS = _set("""
roberthalf.com hays.com hays.co.uk randstad.com adecco.com michaelpage.com pagegroup.com
teksystems.com kforce.com insightglobal.com aerotek.com manpower.com manpowergroup.com
kellyservices.com harveynash.com hudson.com kornferry.com spencerstuart.com heidrick.com
russellreynolds.com egonzehnder.com modis.com akkodis.com experis.com allegisgroup.com
apexsystems.com cybercoders.com motionrecruitment.com jeffersonfrank.com nigelfrank.com
""")
_AGENCY_LABEL = re.compile(r"recruit|staffing|talent|headhunt|search|placement|careers|"
                           r"resourcing|hiring|executive")
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
    # Calendly and similar tools: the event type's name, often with the role in it.
    **dict.fromkeys(("event name", "event type", "event type name"), "event"),
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
    r"\b(?P<kind>interview(?:s|ing)?|screen(?:ing)?|onsite|on-site|call|chat|conversation|"
    r"meeting|session|intro|coffee|lunch|dinner|breakfast|drinks|catch[- ]?up|1:1|check-in|"
    r"informational|networking)\s+(?:with|at)\s+(?P<x>[^|:()\[\]]{1,80}?)"
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


# Key lines inside a sentence: "Live debugging exercise. Role: Site Reliability Engineer."
_INLINE_KEY = re.compile(
    r"(?:^|[.!?;]\s+|\s[-–—|•]\s+|\(\s*)(?P<key>role|position|job\s+title|job|company|"
    r"employer|opening)\s*[:：]\s*(?P<value>[^\n.;!?|()]{2,80})",
    re.IGNORECASE)
# "the X role / position / opening / loop / team": X is read back from the noun.
_ROLE_NOUN = re.compile(
    r"\b(?P<before>(?:[^\s.,;:!?()\[\]\"“”]+\s+){1,8}?)(?P<noun>role|position|opening|loop|"
    r"vacancy|req|requisition|job|opportunity)s?\b(?!\s*[:：])",
    re.IGNORECASE)
_ROLE_LEAD_IN = _set("""
the our this your a an for to about as on in regarding re applying applied apply with discuss
discussing interviewing interview interviews open opened new exciting current of at run runs
running will be is was are were conversation chat
""")
# Other languages: the role follows a fixed phrase, head first ("puesto de Data Engineer").
_FOREIGN_ROLE = re.compile(
    r"\b(?:puesto|cargo|posici[oó]n|vacante|plaza|poste|emploi|offre|Stelle|Rolle|Position|"
    r"vaga|posi[cç][aã]o|fun[cç][aã]o)\s+(?:de\s+|d['’]\s*|como\s+|als\s+|en\s+tant\s+que\s+|"
    r"para\s+)(?P<role>[^\n.,;:!?()]{2,80})",
    re.IGNORECASE)
_FOREIGN_STOP = re.compile(
    r"\s+(?:en|at|chez|bei|na|no|em|in|with|con|pour|für|y|et|und|e|dans|im|am|que|qui|"
    r"with|del\s+equipo|au\s+sein)\b.*$", re.IGNORECASE)
_FOREIGN_AT = re.compile(r"\s+(?:en|at|chez|bei|na|no|em|der|die|in)\s+(?P<company>[A-Z].*)$")
# A signature or an organiser line: "Program Director | Brightwater Conservancy".
_TITLE_AT_COMPANY = re.compile(
    r"^(?P<title>[^|,@]{2,60}?)\s*(?:\||,|\s@\s|\bat\b|—|–|\s-\s)\s*"
    r"(?P<company>[^\W\d_][^|,@]{1,60})$")
_TEAM_LINE = re.compile(
    r"^(?:the\s+)?(?P<company>[A-Z][^\n|,]{1,50}?)\s+(?:talent|recruiting|recruitment|hiring|"
    r"people|careers)(?:\s+(?:acquisition|operations|ops))?\s+team\b", re.IGNORECASE)
_ROLE_QUESTION = re.compile(
    r"\b(?:which|what)\s+(?:role|position|job|opening)s?\b[^?]{0,80}\?\s*$", re.IGNORECASE)
_FORMER = re.compile(r"(?:ex|former(?:ly)?|previously|prev|alum(?:nus|na)?)\b[-\s.]*",
                     re.IGNORECASE)
_REQ_ID = re.compile(r"^\(?(?:[A-Za-z]{1,4}[-_]?)?#?\d{3,}[A-Za-z]?\)?[.,:]?$")
_TIME = r"\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?m\.?)?"
_SCHEDULE_LINE = re.compile(
    rf"^{_TIME}\s*[-–—]\s*{_TIME}\s*(?-i:\(?[A-Z]{{2,5}}\)?(?=[\s:|,]|$))?\s*[:|,–—-]?\s*"
    r"(?P<rest>\S.{2,200})$",
    re.IGNORECASE)
_CLIENT = re.compile(r"\b(?:my|our)\s+client,?\s+(?P<company>[A-Z][^\n.,;:()!?]{0,60})")
_CONFIDENTIAL = re.compile(r"\bconfidential\b|\bstealth\b|\bundisclosed\b", re.IGNORECASE)


# -- small helpers -----------------------------------------------------------

def sane(text: str, limit: int = MAX_NOTE) -> str:
    """One line of printable text, at most ``limit`` characters."""
    return " ".join(_CONTROL.sub(" ", text).split())[:limit].strip()


def _tokens(text: str) -> list[str]:
    return [t for t in _NON_TOKEN.split(fold(text)) if t]


def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", fold(text))


class _Context:
    """Who the user is and who the event names, for telling people from companies."""

    def __init__(self, event: Event, config: Config, domain: str) -> None:
        me_words = set(_tokens(config.me.name))
        for address in config.me.addresses:
            me_words.update(t for t in _LOCAL_SEP.split(local_part(address)) if t.isalpha())
        self.me_words = frozenset(me_words)
        self.domain = domain
        self.label = _NON_ALNUM.sub("", registrable_domain(domain).split(".")[0]) if domain else ""
        known: set[str] = set()
        for person in (event.organizer, *event.attendees):
            if (person is None or not person.name or person.is_group or person.is_resource
                    or self.is_me(person.name)):
                continue
            name = fold(clean_name(person.name))
            if name and not any(w.strip(",") in _TEAM_WORDS | NOT_A_PERSON
                                for w in name.split()):
                known.add(name)
                known.update(person_keys(person.name))  # "Doe, Jane" is also "jane"
        self.known = known

    def is_me(self, text: str) -> bool:
        words = [w for w in _tokens(text) if len(w) > 1]
        return bool(words) and all(w in self.me_words for w in words)

    def is_known_person(self, text: str) -> bool:
        return fold(text) in self.known

    def fits_domain(self, name: str) -> bool:
        compact = _compact(name)
        if not self.label or len(compact) < 3:
            return bool(self.label) and compact == self.label
        if compact in self.label or self.label in compact:
            return True
        # Initials: "Société Générale Tech" at sgtech.fr, "International Business Machines"
        words = [_compact(w) for w in name.split() if fold(w) not in _CONNECTORS]
        words = [w for w in words if w]
        if len(words) < 2:
            return False
        rest = self.label[len(words[0]):]
        if self.label.startswith(words[0]) and len(words[0]) >= 4 and 0 < len(rest) <= 3 \
                and rest[0] == words[1][0]:
            return True  # an abbreviated last word: "Cobalt Therapeutics" at cobalttx.com
        return any("".join(w[0] for w in words[:i]) + "".join(words[i:]) == self.label
                   for i in range(1, len(words) + 1))


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
    """'acme-robotics.com' -> 'Acme Robotics'; 'ibm.com' -> 'IBM'; 'orbitalmesh.io' ->
    'Orbitalmesh' (words run together are not split: a wrong split is worse)."""
    label = registrable_domain(domain).split(".")[0]
    parts = [p for p in label.split("-") if p]
    return " ".join(p.upper() if len(p) <= 3 and p.isalpha() else p.capitalize() for p in parts)


def is_agency_domain(domain: str) -> bool:
    """A recruitment agency's domain names the agency, not the employer."""
    registered = registrable_domain(domain)
    return registered in AGENCY_DOMAINS or bool(_AGENCY_LABEL.search(registered.split(".")[0]))


def _meaningful(words: Iterable[str]) -> list[str]:
    """Words left once the kind of meeting, numbers and filler are removed."""
    kept = [w for w in words if fold(w).strip(".,;:!?()#") not in KIND_WORDS
            and not _NUMBER.fullmatch(w)]
    while kept and fold(kept[0]) in STOP_WORDS:
        kept.pop(0)
    while kept and fold(kept[-1]) in STOP_WORDS:
        kept.pop()
    return kept


def _strip_kind(words: Iterable[str]) -> list[str]:
    """Like _meaningful, but a kind word right before a head noun stays: 'Technical
    Writer interview' -> 'Technical Writer', 'Final Round Senior Engineer' -> 'Senior
    Engineer'."""
    kept = [w for w in words if not _NUMBER.fullmatch(w) and not _REQ_ID.match(w)]

    def noise(word: str) -> bool:
        bare = fold(word).strip(".,;:!?()#")
        return bare in KIND_WORDS or bare in STOP_WORDS

    while kept and noise(kept[-1]):
        kept.pop()
    while kept and noise(kept[0]) and not (
            fold(kept[0]) in ("technical", "tech") and len(kept) > 1 and is_head(kept[1])):
        kept.pop(0)
    return kept


def _is_role(text: str) -> bool:
    return any(t.strip(".,") in ROLE_WORDS for t in _tokens(text))


def is_head(word: str) -> bool:
    """Whether ``word`` can end (or, in Romance languages, start) a job title."""
    word = fold(word).strip(".,;:()")
    if word in ROLE_HEADS or _head_plain(word):
        return True
    return word.endswith(_HEAD_SUFFIXES) or any(
        p in ROLE_HEADS for p in word.split("-") if p)


def _head_plain(word: str) -> bool:
    # fold() drops accents; the table keeps them ("diseñador"), so compare both ways.
    return any(fold(h) == word for h in _ACCENTED_HEADS)


_ACCENTED_HEADS = frozenset(h for h in ROLE_HEADS if fold(h) != h)


def has_head(role: str) -> bool:
    """A job title, not a team or a topic: it holds a head noun ("Engineer", "Lead")."""
    return any(is_head(w) for w in role.replace("/", " ").split())


def _clean_role(text: str, company: str = "") -> str:
    text = KIND_PHRASES.sub(" ", _GENDER_TAG.sub(" ", sane(text, 200)))
    words = _strip_kind(text.strip(" \"'“”‘’.,;:-–—!?").split())
    while words and fold(words[-1]).strip(".,") in {"role", "position", "opening", "job",
                                                     "loop", "vacancy", "team"}:
        words.pop()
    while words and fold(words[0]) in {"the", "a", "an", "our"}:
        words.pop(0)
    role = " ".join(words).strip(" .,;:-–—")
    if company and fold(role).startswith(fold(company) + " "):
        role = role[len(company):].strip()
    if not role or len(role) > 100 or len(words) > 10 or _UNSAFE.search(role):
        return ""
    return role if _LETTER.search(role) else ""


def _clean_company(text: str, ctx: _Context) -> str:
    text = sane(text, 120).strip(" \"'“”‘’.,;:-–—!?*")
    if text.lower().startswith("the "):
        text = text[4:]
    if _FORMER.match(text):
        return ""  # "(ex-Stripe)": where the person used to work
    if not text or len(text) > 80 or len(text.split()) > 6:
        return ""
    if _UNSAFE.search(text) or text.lower().startswith("www.") or not _LETTER.search(text):
        return ""
    if fold(text) in GENERIC or not _meaningful(KIND_PHRASES.sub(" ", text).split()):
        return ""
    if any(fold(w).strip(".,") in _MEETING_NOUNS for w in text.split()) and not ctx.fits_domain(
            text):
        return ""  # "Informational Chat", "Coffee Chat": the meeting, not the company
    if has_head(text) and not ctx.fits_domain(text) and not _legal(text):
        return ""  # "Staff Engineer": a role
    if ctx.is_me(text) or ctx.is_known_person(text):
        return ""
    return text


def _legal(text: str) -> bool:
    return any(fold(w).strip(",") in LEGAL_FORMS for w in text.split())


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
    if not words or any(fold(w).strip(".") in bad or is_head(w) for w in words):
        return ""
    return " ".join(words)


def _job_title(text: str) -> str:
    """An interviewer's title beside their name: 'Design Director' -> itself; '' if none."""
    text = sane(text, 100).strip(" ,;:-–—|()")
    if not text or len(text.split()) > 7 or _UNSAFE.search(text) or not has_head(text):
        return ""
    return text


_NAME_WITH_TITLE = re.compile(
    r"(?P<name>[^\W\d_][^(),;/&|\n]{1,60}?)\s*(?:\((?P<p>[^()]{1,80})\)|,\s*(?P<c>[^,;()&|\n]"
    r"{2,80}?)(?=$|[;&|]|\s+and\s)|\s[-–—]\s(?P<d>[^,;()&|\n]{2,80}?)(?=$|[,;&|]|\s+and\s))",
)


def title_in_name(display_name: str) -> str:
    """The job title a display name carries: 'Jane Doe (Engineering Manager)' ->
    'Engineering Manager'; '' for 'Jane Doe (she/her)' or a plain name."""
    for m in _PARENS.finditer(display_name):
        title = _job_title(m[1] or m[2] or "")
        if title:
            return title
    return ""


def _names(value: str, ctx: _Context) -> tuple[list[str], list[tuple[str, str]]]:
    """The people a list names, and the (name, title) pairs where it gives a title."""
    titles: list[tuple[str, str]] = []
    for m in _NAME_WITH_TITLE.finditer(_TITLE_DOT.sub(r"\1", value)):
        name = _leading_name(re.sub(r"^(?:and|und|&)\s+", "", m["name"].strip()))
        title = _job_title(m["p"] or m["c"] or m["d"] or "")
        if name and title and not ctx.is_me(name):
            titles.append((name, title))
    value = _PARENS.sub(" ", value)
    value = _TITLE_DOT.sub(r"\1", value)
    found = []
    for part in _SPLIT_NAMES.split(value):
        part = _NAME_TAIL.split(part, maxsplit=1)[0]
        name = _leading_name(part)
        if name and not ctx.is_me(name):
            found.append(name)
    return found, titles


# -- candidates ----------------------------------------------------------------

@dataclass
class _Candidates:
    """Every value the event offers for one fact, in the order read."""

    items: list[Fact] = field(default_factory=list)

    def add(self, value: str, source: Source, confidence: Confidence) -> None:
        if value and confidence > Confidence.NONE:
            self.items.append(Fact(value, source, confidence))

    def best(self) -> Fact:
        if not self.items:
            return Fact()
        return max(self.items, key=lambda f: (f.confidence, -_SOURCE_ORDER[Source(f.source)]))


def _rate_role(role: str, source: Source) -> Confidence:
    if not role:
        return Confidence.NONE
    if not has_head(role):
        # A key line says it is a role ("Position: Payments"); elsewhere it is a topic.
        keyed = source in (Source.NOTE, Source.DESCRIPTION_KEY) and len(role.split()) <= 5
        return Confidence.LIKELY if keyed else Confidence.GUESS
    if source in (Source.DESCRIPTION_FIRST_LINE, Source.MAIL_SUBJECT):
        return Confidence.LIKELY
    return Confidence.SURE


def _rate_company(company: str, source: Source, ctx: _Context) -> Confidence:
    if not company:
        return Confidence.NONE
    if ctx.domain and is_agency_domain(ctx.domain) and ctx.fits_domain(company):
        return Confidence.GUESS  # "Hays | Interview with Quantica Bank": the agency
    if source in (Source.NOTE, Source.CONFIG, Source.DESCRIPTION_KEY) or ctx.fits_domain(company):
        return Confidence.SURE
    if source is Source.TITLE and _legal(company):
        return Confidence.SURE
    return Confidence.LIKELY


def _contains(longer: str, shorter: str) -> bool:
    a, b = _tokens(longer), _tokens(shorter)
    return len(a) > len(b) and any(a[i:i + len(b)] == b for i in range(len(a) - len(b) + 1))


def choose_role(candidates: Sequence[Fact]) -> Fact:
    """The surest role; a longer, as sure candidate that contains it wins ("Flight
    Software Engineer" over "Flight Software")."""
    best = _Candidates(list(candidates)).best()
    if not best.value:
        return best
    longer = [c for c in candidates if c.confidence >= max(best.confidence, Confidence.LIKELY)
              and _contains(c.value, best.value)]
    if longer:
        top = max(longer, key=lambda c: (len(c.value), c.confidence))
        return Fact(top.value, top.source, max(top.confidence, best.confidence))
    return best


def choose_company(candidates: Sequence[Fact]) -> Fact:
    """The surest company. When the best is not sure and another source names a company
    it does not agree with, neither is trusted: a placeholder beats a wrong name."""
    best = _Candidates(list(candidates)).best()
    if not best.value or best.confidence >= Confidence.SURE:
        return best
    for other in candidates:
        if other.source == best.source or other.confidence < Confidence.LIKELY:
            continue
        a, b = _compact(best.value), _compact(other.value)
        if not (a in b or b in a):
            return Fact(best.value, best.source, Confidence.GUESS)
    return best


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
    company: _Candidates = field(default_factory=_Candidates)
    role: _Candidates = field(default_factory=_Candidates)
    names: list[str] = field(default_factory=list)
    titles: list[tuple[str, str]] = field(default_factory=list)
    discussed: list[str] = field(default_factory=list)
    concerns: list[str] = field(default_factory=list)
    strengths: list[str] = field(default_factory=list)
    person_notes: list[tuple[str, str, str]] = field(default_factory=list)


def _scan_description(text: str, ctx: _Context) -> _Found:
    found = _Found()
    pending = ""  # a list key whose items follow on the next lines
    budget = 0  # lines such a list may still take
    first = True
    asked = False  # the previous line asked for the role
    for raw in text.splitlines():
        line = raw[:MAX_LINE].strip()
        bullet = _BULLET.match(line) is not None
        line = _BULLET.sub("", line)
        if not line:
            if pending and _items(found, pending):
                pending = ""
            continue
        if first:
            first = False
            _first_line(line, found)
        match = _KEY_LINE.match(line)
        key = ""
        if match:
            raw_key = " ".join(fold(match["key"]).replace("’", "'").split())
            key = _KEYS.get(raw_key, "")
            if not key and match["value"].strip() and _person_key(match["key"], ctx, found):
                _person_note(match["key"].strip(" *_"), match["value"], found)
                pending = ""
                continue
        if key:
            value = match["value"].strip() if match else ""
            pending = key if not value and key in _LIST_KEYS else ""
            budget = 2 * MAX_ITEMS
            if value:
                _add(found, key, value, ctx)
            continue
        if asked:
            asked = False
            role = _role_value(line)  # Calendly: "Which role are you applying for?" + answer
            found.role.add(role, Source.DESCRIPTION_KEY, _rate_role(role, Source.DESCRIPTION_KEY))
            continue
        if _ROLE_QUESTION.search(line):
            asked = True
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


def _person_key(key: str, ctx: _Context, found: _Found) -> bool:
    """'Jane: ...' or 'Jane Doe: ...' where Jane is someone on this interview."""
    key = fold(key.strip(" *_"))
    if not key or len(key.split()) > 3:
        return False
    return key in ctx.known or any(key in (fold(n), fold(n).split()[0]) for n in found.names)


def _person_note(who: str, text: str, found: _Found) -> None:
    kind, note = note_kind(text)
    if note and len(found.person_notes) < 3 * MAX_ITEMS:
        found.person_notes.append((sane(who, 80), kind, note))


_NOTE_KEY = re.compile(r"^\s*(?P<key>discussed|topics?\s+discussed|we\s+discussed|discussion|"
                       r"concerns?|strengths?)\s*[:：]\s*(?P<value>.*)$", re.IGNORECASE | re.S)


def note_kind(text: str) -> tuple[str, str]:
    """('strengths', 'ten years of SRE work') for 'Strength: ten years of SRE work'; a
    note without a key is a discussed point."""
    m = _NOTE_KEY.match(text)
    if not m:
        return "discussed", _DISCUSSED_VERB.sub("", sane(text, MAX_NOTE))
    key = fold(m["key"])
    kind = ("concerns" if key.startswith("concern") else
            "strengths" if key.startswith("strength") else "discussed")
    value = sane(m["value"], MAX_NOTE)
    return kind, _DISCUSSED_VERB.sub("", value) if kind == "discussed" else value


# "discussed the on-call rotation" reads "our discussion of the on-call rotation".
_DISCUSSED_VERB = re.compile(r"^(?:we\s+)?(?:discussed|talked\s+about|covered|went\s+over)\s+",
                             re.IGNORECASE)


def _first_line(line: str, found: _Found) -> None:
    """A short first line that reads as a job title: 'Research Associate, Assay Development.'"""
    text = line.strip(" .")
    head = text.split(",")[0].strip()
    words = head.split()
    if not 1 <= len(words) <= 6 or len(text) > 100 or ":" in text:
        return
    if any(fold(w) in _ROLE_LEAD_IN or fold(w) in {"you", "we", "i", "your"} for w in words):
        return
    if _capitalised(head) and is_head(words[-1]):
        role = _clean_role(head)
        found.role.add(role, Source.DESCRIPTION_FIRST_LINE,
                       _rate_role(role, Source.DESCRIPTION_FIRST_LINE))


def _items(found: _Found, key: str) -> list[Any]:
    items: list[Any] = getattr(found, key)
    return items


def _add(found: _Found, key: str, value: str, ctx: _Context) -> None:
    if key == "names":
        names, titles = _names(value, ctx)
        found.names.extend(names)
        found.titles.extend(titles)
    elif key == "role":
        role = _role_value(value)
        found.role.add(role, Source.DESCRIPTION_KEY, _rate_role(role, Source.DESCRIPTION_KEY))
    elif key == "event":
        for text in _parse_title(value, ctx).roles:
            role = _clean_role(text)
            found.role.add(role, Source.DESCRIPTION_KEY, _rate_role(role, Source.DESCRIPTION_KEY))
    elif key == "company":
        company = _clean_company(value, ctx)
        found.company.add(company, Source.DESCRIPTION_KEY,
                          _rate_company(company, Source.DESCRIPTION_KEY, ctx))
    else:
        note = sane(value, MAX_NOTE)
        items = _items(found, key)
        if note and len(items) < MAX_ITEMS:
            items.append(note)


def _role_value(value: str) -> str:
    """A key line's value: 'Senior Backend Engineer (Remote) - Req #1234' -> the title."""
    value = _GENDER_TAG.sub(" ", value)
    value = re.split(r"\s+[-–—|]\s+|\s+\(|\s+at\s+|\s+@\s+|\s*#", value, maxsplit=1)[0]
    return _clean_role(value)


def _phrases(line: str, found: _Found, ctx: _Context) -> None:
    for m in _MEETING_WITH.finditer(line):
        who = m["who"] or m["who2"] or m["host"] or ""
        who = _TITLE_DOT.sub(r"\1", who)
        names, titles = _names(_SENTENCE_END.split(who, maxsplit=1)[0], ctx)
        found.names.extend(names)
        found.titles.extend(titles)
    slot = _SCHEDULE_LINE.match(line)
    if slot:  # GoodTime / Greenhouse itinerary: "9:00 - 9:40 Danielle Brooks (Design Director)"
        names, titles = _names(slot["rest"], ctx)
        titled = {fold(n) for n, _ in titles}
        found.names.extend(n for n in names if ctx.is_known_person(n) or fold(n) in titled)
        found.titles.extend(titles)
    for m in _INLINE_KEY.finditer(line):
        key = fold(m["key"])
        if key in ("company", "employer"):
            company = _clean_company(m["value"], ctx)
            found.company.add(company, Source.DESCRIPTION_KEY,
                              _rate_company(company, Source.DESCRIPTION_KEY, ctx))
        elif m.start() > 0:  # at the start it was read as a key line already
            role = _role_value(m["value"])
            found.role.add(role, Source.DESCRIPTION_KEY, _rate_role(role, Source.DESCRIPTION_KEY))
    for m in _ROLE_NOUN.finditer(line):
        role = _role_before_noun(m["before"])
        if role and has_head(role):
            found.role.add(role, Source.DESCRIPTION_SENTENCE, Confidence.SURE)
    for m in _FOREIGN_ROLE.finditer(line):
        tail = _FOREIGN_STOP.search(m["role"])
        at = _FOREIGN_AT.match(tail.group(0)) if tail else None
        if at:  # "... de Data Engineer en Nubia": the company follows
            company = _clean_company(_leading_caps(at["company"]), ctx)
            found.company.add(company, Source.DESCRIPTION_SENTENCE,
                              _rate_company(company, Source.DESCRIPTION_SENTENCE, ctx))
        role = _clean_role(_FOREIGN_STOP.sub("", m["role"]))
        words = role.split()
        while words and fold(words[-1]) in {"de", "des", "da", "do", "der", "die", "del", "y"}:
            words.pop()
        role = " ".join(words)
        if role and has_head(role) and len(words) <= 6:
            found.role.add(role, Source.DESCRIPTION_SENTENCE, Confidence.SURE)
    for m in _PHRASE_COMPANY.finditer(line):
        company = _clean_company(_leading_caps(m["company"]), ctx)
        found.company.add(company, Source.DESCRIPTION_SENTENCE,
                          _rate_company(company, Source.DESCRIPTION_SENTENCE, ctx))
    for m in _CLIENT.finditer(line):
        company = _clean_company(_leading_caps(m["company"]), ctx)
        if company and not _CONFIDENTIAL.search(company):
            found.company.add(company, Source.DESCRIPTION_SENTENCE,
                              _rate_company(company, Source.DESCRIPTION_SENTENCE, ctx))
    words = line.strip(" .").split()
    if 2 <= len(words) <= 5 and _capitalised(" ".join(words)) and fold(words[-1]).strip(
            ".,") in COMPANY_SUFFIX | LEGAL_FORMS and not has_head(line):
        company = _clean_company(line, ctx)  # a signature's company line: "Cobalt Therapeutics"
        found.company.add(company, Source.SIGNATURE, _rate_company(company, Source.SIGNATURE, ctx))
    team = _TEAM_LINE.match(line)
    if team:
        company = _clean_company(team["company"], ctx)
        found.company.add(company, Source.SIGNATURE, _rate_company(company, Source.SIGNATURE, ctx))
    sig = _TITLE_AT_COMPANY.match(line)
    if sig and len(line) <= 100 and _job_title(sig["title"]) and _capitalised(sig["company"]) \
            and _signature_company(line, sig["company"], ctx):
        company = _clean_company(sig["company"], ctx)
        found.company.add(company, Source.SIGNATURE, _rate_company(company, Source.SIGNATURE, ctx))


def _signature_company(line: str, company: str, ctx: _Context) -> bool:
    """'Director | Acme' names a company; 'Research Associate, Assay Development' (a
    comma) only when the part after it is clearly one."""
    if "," not in line or "|" in line:
        return True
    return ctx.fits_domain(company) or any(
        fold(w).strip(".") in COMPANY_SUFFIX for w in company.split())


def _role_before_noun(before: str) -> str:
    """'Thanks for applying to the ML Engineer' -> 'ML Engineer': the words after the last
    lead-in word, when they end with a head noun."""
    words = before.split()
    start = 0
    for i, word in enumerate(words):
        if fold(word).strip("'’\"“”") in _ROLE_LEAD_IN or word.endswith(("'s", "’s")):
            start = i + 1
    words = words[start:]
    if not 1 <= len(words) <= 6 or not is_head(words[-1]):
        return ""
    if len(words) > 1 and not _capitalised(" ".join(words)) and any(
            w[:1].isupper() for w in words):
        return ""  # a mix of cases: a sentence fragment, not a title
    return _clean_role(" ".join(words))


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
        _with_whom(m["x"], fold(m["kind"]), facts, ctx)
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
        _segment(segment, facts, ctx, paired=False, qualifier=bool(facts.names))
    return facts


def _with_whom(who: str, kind: str, facts: _TitleFacts, ctx: _Context) -> None:
    parts = [p for p in _AND_LIST.split(who) if p.strip()]
    social = kind in _SOCIAL_KINDS
    if len(parts) > 1:
        facts.names.extend(n for n in map(_leading_name, parts) if n and not ctx.is_me(n))
    elif ctx.is_me(who):
        return
    elif ctx.fits_domain(who) or _legal(who):
        facts.companies.append(who)
    elif ctx.is_known_person(who) or _looks_like_person(who) or (
        social and len(who.split()) == 1 and _name_word(who)
    ) or (ctx.label and _name_word(who) and len(who.split()) == 1
          and fold(who) not in COMPANY_SUFFIX):
        # "Coffee with Priya", "Interview with Jane Doe", "Interview with Priya" at
        # latticebio.com: a person, never the company.
        name = _leading_name(who)
        if name:
            facts.names.append(name)
    elif _capitalised(who):
        facts.companies.append(who)


def _segment(segment: str, facts: _TitleFacts, ctx: _Context, *, paired: bool,
             qualifier: bool = False) -> None:
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
    words = _strip_kind(KIND_PHRASES.sub(" ", segment).split())
    if not words:
        return
    rest = " ".join(words)
    people = [p for p in _AND_LIST.split(rest) if p.strip()]
    if len(people) > 1 and all(ctx.is_me(p) or ctx.is_known_person(p) or _looks_like_person(p)
                               for p in people):
        # "Alex Rivera and Sofia Lindqvist": people, never a company
        facts.names.extend(p for p in people if not ctx.is_me(p) and _looks_like_person(p))
        return
    bare = rest == segment  # no "Interview" or "Onsite" beside it
    if _is_role(rest):
        facts.roles.append(rest)
    elif _looks_like_person(rest) and not ctx.fits_domain(rest) and not qualifier and (
        paired or ctx.label or bare
    ):  # (a qualifier: "Priya (Lattice Bio)" holds the person's organisation)
        if paired:  # "Alex Rivera <> Jane Doe": the other side is a person
            facts.names.append(rest)
    elif _capitalised(rest):
        facts.companies.append(rest)


# -- the people on the event -------------------------------------------------

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


def _display_companies(event: Event, ctx: _Context) -> list[str]:
    """Company names in display names: 'Acme Talent Team', 'Recruiting @ Acme',
    'Dana Whitmore (Brightwater Conservancy)'."""
    found: list[str] = []
    for person in (event.organizer, *event.attendees):
        if person is None or person.is_self or not person.name:
            continue
        name = clean_name(person.name)
        for m in _PARENS.finditer(name):
            inner = m[1] or m[2] or ""
            if "/" not in inner and _capitalised(inner) and not _job_title(inner):
                found.append(inner)
        plain = _PARENS.sub(" ", name)
        words = [w for w in re.split(r"[\s|@·•,:-]+", plain) if w]
        if any(fold(w) in _TEAM_WORDS for w in words):
            rest = [w for w in words if fold(w) not in _TEAM_WORDS | STOP_WORDS | {"via"}]
            if rest and _capitalised(" ".join(rest)):
                found.append(" ".join(rest))
    return found


# -- putting it together -----------------------------------------------------

def infer(event: Event, config: Config) -> Facts:
    """What the event says about the interview; "" or () for whatever it does not say."""
    domain = _company_domain(event, config)
    ctx = _Context(event, config, domain)
    title = _parse_title(event.title, ctx)
    desc = _scan_description(_description_text(event.description), ctx)

    companies = _Candidates()
    companies.items.extend(desc.company.items)
    for text in title.companies:
        value = _clean_company(text, ctx)
        companies.add(value, Source.TITLE, _rate_company(value, Source.TITLE, ctx))
    for text in _display_companies(event, ctx):
        value = _clean_company(text, ctx)
        companies.add(value, Source.ORGANIZER, _rate_company(value, Source.ORGANIZER, ctx))
    if domain:
        value = _clean_company(company_from_domain(domain), ctx)
        level = Confidence.GUESS if is_agency_domain(domain) else Confidence.LIKELY
        companies.add(value, Source.ATTENDEE_DOMAIN, level)
    company = choose_company(_first_per_source(companies.items))

    roles = _Candidates()
    roles.items.extend(desc.role.items)
    for text in title.roles:
        value = _clean_role(text, company.value)
        roles.add(value, Source.TITLE, _rate_role(value, Source.TITLE))
    role = choose_role(roles.items)

    names = _unique((*desc.names, *title.names), ctx)
    return Facts(
        company=company.at_least(Confidence.LIKELY),
        company_domain=domain,
        role=role.at_least(Confidence.LIKELY),
        interviewer_names=names,
        discussed=tuple(desc.discussed),
        concerns=tuple(desc.concerns),
        strengths=tuple(desc.strengths),
        company_fact=company,
        role_fact=role,
        interviewer_titles=tuple(dict(desc.titles).items())[:MAX_ITEMS],
        person_notes=tuple(desc.person_notes),
    )


def _first_per_source(items: list[Fact]) -> list[Fact]:
    """Each source's first, surest candidate: later title segments ("Loop Day") are
    noise that must not outvote the first."""
    best: dict[str, Fact] = {}
    for item in items:
        held = best.get(item.source)
        if held is None or item.confidence > held.confidence:
            best[item.source] = item
    return list(best.values())


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


# -- the user's notes ----------------------------------------------------------

@dataclass(frozen=True)
class NoteFacts:
    """What `followup note` notes say, sorted like description lines."""

    discussed: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    strengths: tuple[str, ...] = ()
    company: Fact = Fact()
    role: Fact = Fact()
    # (who, kind, text): who is an address or a name ("jane@acme.com: ...", "Jane: ...").
    personal: tuple[tuple[str, str, str], ...] = ()


_NOTE_FACT = re.compile(r"^\s*(?P<key>company|employer|role|position|job\s+title)\s*[:：]\s*"
                        r"(?P<value>.+)$", re.IGNORECASE | re.S)
_NOTE_WHO = re.compile(r"^\s*(?P<who>[^\s:@]{1,64}@[^\s:@]{1,200}|[^\W\d_][\w'’ .-]{0,40}?)"
                       r"\s*[:：]\s*(?P<value>.+)$", re.S)


def read_notes(notes: Iterable[str], people: Iterable[str] = ()) -> NoteFacts:
    """Sort the user's notes: 'Strength: ...' to strengths, 'Concern: ...' to concerns,
    'Discussed: ...' or a bare note to discussed, 'Role: ...'/'Company: ...' correct
    those facts, and 'ADDRESS: ...' or 'Name: ...' (a name in ``people``) are for one
    interviewer only."""
    known: set[str] = set()
    for person in people:
        known |= person_keys(person)
    lists: dict[str, list[str]] = {"discussed": [], "concerns": [], "strengths": []}
    personal: list[tuple[str, str, str]] = []
    company, role = Fact(), Fact()
    for note in notes:
        fact = _NOTE_FACT.match(note)
        if fact:
            value = sane(fact["value"], 200).strip(" .")
            if fold(fact["key"]) in ("company", "employer"):
                if value and not _UNSAFE.search(value):
                    company = Fact(value, Source.NOTE, Confidence.SURE)
            else:
                cleaned = _clean_role(value)
                if cleaned:
                    role = Fact(cleaned, Source.NOTE, Confidence.SURE)
            continue
        who = _NOTE_WHO.match(note)
        if who and not _NOTE_KEY.match(note):
            key = fold(who["who"].strip())
            if "@" in key or key in known:
                kind, text = note_kind(who["value"])
                if text:
                    personal.append((who["who"].strip(), kind, text))
                continue
        kind, text = note_kind(note)
        if text:
            lists[kind].append(text)
    return NoteFacts(tuple(lists["discussed"]), tuple(lists["concerns"]),
                     tuple(lists["strengths"]), company, role, tuple(personal))


def for_person(items: Iterable[tuple[str, str, str]], email: str, name: str,
               ) -> dict[str, list[str]]:
    """The points of ``items`` ((who, kind, text)) meant for the person at ``email``
    called ``name``: who is their address, their full name or their first name
    ('Jane', 'Jane Doe', 'Doe, Jane', 'Jane Doe (Engineering Manager)')."""
    email = email.strip().lower()
    keys = person_keys(name)
    result: dict[str, list[str]] = {"discussed": [], "concerns": [], "strengths": []}
    for who, kind, text in items:
        key = fold(who)
        if (email and key == email) or key in keys:
            result.setdefault(kind, []).append(text)
    return result


def person_keys(name: str) -> frozenset[str]:
    """The folded forms a note may use for ``name``: full name and first name."""
    plain = " ".join(_PARENS.sub(" ", clean_name(name)).split())
    if "," in plain:  # "Doe, Jane"
        last, _, first = plain.partition(",")
        plain = f"{first.strip()} {last.strip()}".strip()
    words = _HONORIFIC.sub("", plain).split()
    if not words:
        return frozenset()
    return frozenset({fold(" ".join(words)), fold(words[0])})


def facts_from_subject(subject: str, config: Config) -> tuple[Fact, Fact]:
    """(company, role) from the subject of a company's or its ATS's mail:
    'Interview confirmation: Senior Data Engineer at Acme'. Both at most LIKELY."""
    text = re.sub(r"^(?:(?:re|fwd?|aw)\s*:\s*)*(?:your\s+)?(?:interview|invitation)\s*"
                  r"(?:confirmation|confirmed|invitation|invite|scheduled|request|details)?"
                  r"\s*(?:for|:|-|–|—)\s*", "", sane(subject, MAX_TITLE), flags=re.IGNORECASE)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    ctx = _Context(Event(uid="", title="", start=epoch, end=epoch), config, "")
    parsed = _parse_title(text, ctx)
    company, role = Fact(), Fact()
    for value in parsed.companies:
        cleaned = _clean_company(value, ctx)
        if cleaned:
            company = Fact(cleaned, Source.MAIL_SUBJECT, Confidence.LIKELY)
            break
    for value in parsed.roles:
        cleaned = _clean_role(value, company.value)
        if cleaned and has_head(cleaned):
            role = Fact(cleaned, Source.MAIL_SUBJECT, Confidence.LIKELY)
            break
    return company, role


