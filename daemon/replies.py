"""Rule 6: does an inbound message answer an interview? With the reason why.

:func:`classify` judges one message for one waiting interview and returns a
:class:`Verdict`: an answer, not an answer, or an automatic reply (with the day the
sender is back, when an out-of-office says it). The reason it gives is what the log and
``followup status`` show. The order of the checks is the rule's order of precedence:

1. never an answer: drafts, Sent (the user's own mail is rule 11's), the user's own
   addresses, our own notes, mail dated before the interview started;
2. automatic: bounces, read receipts, out-of-office and other automatic replies;
3. not an answer: calendar notices, meeting-tool notices;
4. an answer: in the thread of our note or of the scheduling conversation;
5. not an answer: newsletters, bulk and business mail, job alerts, confirmations of
   applications, account notices and surveys;
6. an answer: a recruiting or scheduling service writing about this company, a
   professional network's notice of a message from this interview's people, mail from
   an interviewer, the organizer, or the company's (non-freemail) domains.

What is known about senders (tracking systems, networks, calendar and meeting tools,
bulk signals, phrasings) is data in :mod:`daemon.senders`. Pure: no I/O, no clock; the
body excerpt is read here and never kept.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from ..providers.base import Address, Folder, MailMessage
from . import senders as S
from .config import Config
from .domains import (
    bracketed,
    domain_of,
    is_freemail,
    local_part,
    own_company_domains,
    registrable_domain,
)
from .return_day import return_day


class Kind(enum.StrEnum):
    ANSWER = "answer"
    NOT_ANSWER = "not_answer"
    AUTOMATIC = "automatic"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str  # for the log and `status`: "ATS mail on behalf of Acme Corp: display name"
    clause: str  # which clause decided, a stable word for tests: "ats", "ooo", "bulk"...
    back_on: date | None = None  # out-of-office replies: the day the sender is back

    @property
    def is_answer(self) -> bool:
        return self.kind is Kind.ANSWER


@dataclass(frozen=True)
class Person:
    """Someone of the interview: an interviewer or the organizer."""

    email: str
    name: str = ""
    role: str = "interviewer"  # or "organizer": named in the reason


@dataclass(frozen=True)
class Context:
    """One waiting interview, and whose mail is whose."""

    started_at: datetime
    company: str = ""  # as the user would write it ("Acme Corp"); "" when unknown
    company_domain: str = ""  # the company's domain; "" when unknown or freemail
    people: tuple[Person, ...] = ()
    thread_ids: frozenset[str] = frozenset()  # our notes' and the scheduling conversation's
    message_ids: frozenset[str] = frozenset()  # the same, as Message-IDs (brackets optional)
    my_addresses: frozenset[str] = frozenset()  # config.me.addresses, lower-case
    own_domains: frozenset[str] = frozenset()  # own_company_domains(config.me.addresses)
    # Other domains the same organisation mails from (beyond the people's own domains,
    # which count already): a careers domain, a parent company's.
    other_domains: frozenset[str] = frozenset()

    @classmethod
    def for_config(cls, config: Config, **kw: object) -> Context:
        """A context with the user's addresses and own domains taken from ``config``."""
        kw.setdefault("my_addresses", frozenset(a.lower() for a in config.me.addresses))
        kw.setdefault("own_domains", own_company_domains(config.me.addresses))
        return cls(**kw)  # type: ignore[arg-type]


def classify(msg: MailMessage, ctx: Context) -> Verdict:
    """Rule 6 for one message and one interview."""
    return (_never(msg, ctx) or _automatic(msg) or _notice(msg) or _thread(msg, ctx)
            or _bulk(msg, ctx) or _on_behalf(msg, ctx) or _from_company(msg, ctx)
            or Verdict(Kind.NOT_ANSWER, f"not from {ctx.company or 'the company'}", "unrelated"))


def _no(reason: str, clause: str) -> Verdict:
    return Verdict(Kind.NOT_ANSWER, reason, clause)


def _yes(reason: str, clause: str) -> Verdict:
    return Verdict(Kind.ANSWER, reason, clause)


# -- 1. never ------------------------------------------------------------------

def _never(msg: MailMessage, ctx: Context) -> Verdict | None:
    if msg.folder is Folder.DRAFTS:
        return _no("a draft", "draft")
    if msg.marker:
        return _no("one of our own notes", "own")
    if msg.folder is Folder.SENT:
        return _no("in Sent: your own mail", "own")
    if msg.sender is None or not msg.sender.email:
        return _no("no sender", "own")
    if msg.sender.email.lower() in ctx.my_addresses:
        return _no("from you", "own")
    if msg.date is not None and msg.date <= ctx.started_at:
        return _no("dated before the interview", "before")
    return None


# -- 2. automatic --------------------------------------------------------------

def _automatic(msg: MailMessage) -> Verdict | None:
    headers = _headers(msg)
    ctype = msg.content_type.lower()
    sender = msg.sender.email if msg.sender else ""
    if ("report-type=delivery-status" in ctype or "x-failed-recipients" in headers
            or local_part(sender) in S.BOUNCE_LOCALS or S.BOUNCE_SUBJECT.match(msg.subject)):
        return Verdict(Kind.AUTOMATIC, "bounce", "bounce")
    if "disposition-notification" in ctype or S.RECEIPT_SUBJECT.match(msg.subject):
        return Verdict(Kind.AUTOMATIC, "read receipt", "receipt")
    if _out_of_office(msg, headers):
        when = msg.date.date() if msg.date else None
        back = return_day(msg.subject, msg.excerpt, when) if when else None
        reason = f"out-of-office, back {back.isoformat()}" if back else "out-of-office"
        return Verdict(Kind.AUTOMATIC, reason, "ooo", back)
    return None


def _out_of_office(msg: MailMessage, headers: dict[str, str]) -> bool:
    """An automatic reply. ``Auto-Submitted: auto-generated`` alone is not one: tracking
    systems mark their rejections so (rule 6); Exchange marks its out-of-office so too,
    and says "Automatic reply:" in the subject."""
    submitted = headers.get("auto-submitted", "").split(";", 1)[0].strip()
    if submitted in ("auto-replied", "auto-notified"):
        return True
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if name in headers and headers[name] not in ("no", "false", "0"):
            return True
    if headers.get("x-autogenerated") == "reply":  # older Exchange out-of-office
        return True
    if headers.get("precedence") == "auto_reply":
        return True
    if S.AUTO_SUBJECT.match(msg.subject):
        return True
    return bool(S.AUTO_BODY.search(msg.excerpt[:S.AUTO_BODY_WINDOW]))


def is_auto_reply(msg: MailMessage) -> bool:
    """An out-of-office, vacation, read receipt or delivery-failure message."""
    return _automatic(msg) is not None


# -- 3. notices ----------------------------------------------------------------

_CALENDAR_PREFIX = re.compile(
    r"^\s*" + S.SUBJECT_TAGS + "(?P<p>"
    + "|".join(re.escape(p) for p, _ in sorted(S.CALENDAR_PREFIXES, key=lambda e: -len(e[0])))
    + r")\s?:", re.IGNORECASE)
_METHOD = re.compile(r"method=\"?(\w+)", re.IGNORECASE)


def _notice(msg: MailMessage) -> Verdict | None:
    sender = msg.sender.email if msg.sender else ""
    prefix = _CALENDAR_PREFIX.match(msg.subject)
    if prefix:
        return _no(f"calendar notice ({prefix.group('p')}:)", "calendar")
    if msg.content_type.lower().startswith("text/calendar"):
        method = _METHOD.search(msg.content_type)
        if method and method.group(1).lower() in S.CALENDAR_NOTICE_METHODS:
            return _no(f"calendar notice ({method.group(1).upper()})", "calendar")
    n = _notifier(sender)
    if n is not None and n in S.CALENDAR_SENDERS:
        return _no(f"calendar notice ({n.label})", "calendar")
    if n is not None:
        return _no(f"meeting-tool notice ({n.label})", "meeting")
    if S.MEETING_SUBJECT.match(_untagged(msg.subject)):
        return _no("meeting-tool notice (recording or notes)", "meeting")
    return None


# -- 4. threads ----------------------------------------------------------------

def _thread(msg: MailMessage, ctx: Context) -> Verdict | None:
    if msg.thread_id and msg.thread_id in ctx.thread_ids:
        return _yes(f"in the thread of {_THREAD}", "thread")
    wanted = {bracketed(m) for m in ctx.message_ids} - {""}
    linked = {bracketed(m) for m in (msg.in_reply_to, *msg.references)} - {""}
    if wanted & linked:
        return _yes(f"a reply to {_THREAD}", "thread")
    return None


_THREAD = "our note or the scheduling conversation"


# -- 5. bulk -------------------------------------------------------------------

def _bulk(msg: MailMessage, ctx: Context) -> Verdict | None:
    """Mail sent to many, or about something else. What a subject says is not held
    against an interviewer or the organizer writing themselves ("Take-home: your repo
    password"); list headers are (their own newsletter)."""
    text = f"{msg.subject}\n{msg.excerpt[:600]}"
    sender = msg.sender.email.lower() if msg.sender else ""
    local = local_part(sender)
    relayed = _service(sender) is not None or _network(sender) is not None
    person = any(p.email.lower() == sender for p in ctx.people)
    if not person:
        if relayed and S.CONFIRMATION.search(text) and not S.DECISION.search(text):
            return _no("confirmation of an application", "confirmation")
        if S.JOB_ALERT.search(msg.subject) or local in S.JOB_ALERT_LOCALS:
            return _no("job alert", "job_alert")
        account = S.ACCOUNT_NOTICE.search(msg.subject)
        if account:
            return _no(f"account or survey mail ({account.group(0)!r} in the subject)",
                       "account")
        found = S.BULK_SUBJECT.search(msg.subject)
        if found:
            return _no(f"bulk mail ({found.group(0)!r} in the subject)", "bulk")
    if relayed:
        return None  # tracking systems put list headers on transactional mail too
    headers = _headers(msg)
    for name, value in S.BULK_HEADERS:
        if name in headers and (not value or headers[name] == value):
            label = "-".join(w.capitalize() for w in name.split("-")).replace("-Id", "-ID")
            shown = f"{label}: {value}" if value else label
            return _no(f"newsletter ({shown})", "bulk")
    if person:
        return None
    if local in S.BULK_LOCALS:
        return _no(f"bulk mail ({local}@)", "bulk")
    if S.CONFIRMATION.search(text) and not S.DECISION.search(text):
        return _no("confirmation of an application", "confirmation")
    return None


# -- 6. on the company's behalf, or from it -------------------------------------

def _on_behalf(msg: MailMessage, ctx: Context) -> Verdict | None:
    sender = msg.sender.email if msg.sender else ""
    service = _service(sender)
    if service is not None:
        how = _names_company(msg, ctx, service)
        if how:
            return _yes(f"{service.kind} mail on behalf of {ctx.company or ctx.company_domain}: "
                        f"{how} ({service.name})", "ats")
        person = _named_person(_display(msg.sender), ctx)
        if person is not None:
            return _yes(f"{service.kind} mail from {person.name} ({person.role}, {service.name})",
                        "ats")
        return _no(f"same {service.kind}, another company ({service.name})", "other_company")
    network = _network(sender)
    if network is not None:
        for who in _network_writers(msg):
            person = _named_person(who, ctx)
            if person is not None:
                return _yes(f"{network.name} message from {person.name} ({person.role})",
                            "network")
            if ctx.company and _names(who, ctx.company):
                return _yes(f"{network.name} message from {ctx.company}", "network")
        return _no(f"{network.name} notification, not from this interview", "network_other")
    return None


def _from_company(msg: MailMessage, ctx: Context) -> Verdict | None:
    sender = (msg.sender.email if msg.sender else "").lower()
    for p in ctx.people:
        if p.email and p.email.lower() == sender:
            return _yes(f"from {sender} ({p.role})", "person")
    domain = registrable_domain(domain_of(sender))
    if domain and domain in _organisation_domains(ctx):
        if domain == registrable_domain(ctx.company_domain):
            return _yes(f"from {sender} (the company's domain)", "domain")
        who = next((p for p in ctx.people if registrable_domain(domain_of(p.email)) == domain),
                   None)
        where = f"{who.name or who.email}'s domain" if who else "a domain the company mails from"
        return _yes(f"from {sender} ({where})", "domain")
    return None


@functools.lru_cache(maxsize=256)
def _organisation_domains(ctx: Context) -> frozenset[str]:
    """The company's domain, the domains its people mail from, and any it is known to
    mail from: never freemail, the user's own, or a tracking system's."""
    candidates = [ctx.company_domain, *ctx.other_domains,
                  *(domain_of(p.email) for p in ctx.people)]
    result = set()
    for d in candidates:
        reg = registrable_domain(d) if d else ""
        if (reg and not is_freemail(reg) and reg not in ctx.own_domains
                and _service_domain(reg) is None and _network_domain(reg) is None
                and not _known_notifier(reg)):
            result.add(reg)
    return frozenset(result)


# -- how a service names the company ---------------------------------------------

def _names_company(msg: MailMessage, ctx: Context, service: S.Service) -> str:
    orgs = _organisation_domains(ctx)
    ways = service.names_company_by
    display = _display(msg.sender)
    if S.Naming.DISPLAY_NAME in ways and ctx.company and _names(display, ctx.company):
        return "display name"
    if S.Naming.REPLY_TO in ways:
        for a in msg.reply_to:
            if registrable_domain(domain_of(a.email)) in orgs:
                return "Reply-To"
            if ctx.company and _names(a.name, ctx.company):
                return "Reply-To"
    if S.Naming.SENDER_ADDRESS in ways and msg.sender is not None:
        slugs = _slugs(ctx)
        where = msg.sender.email.lower()
        tokens = set(re.split(r"[^a-z0-9]+", where))
        if slugs & tokens:
            return "sender address"
    if S.Naming.SUBJECT in ways and ctx.company and _names(msg.subject, ctx.company):
        return "subject"
    if S.Naming.EXCERPT in ways and ctx.company and _names(msg.excerpt, ctx.company):
        return "text"
    return ""


_SUFFIXES = re.compile(
    r"[\s,]+(?:inc|incorporated|corp|corporation|co|company|llc|l\.l\.c|ltd|limited|plc|gmbh|"
    r"ag|se|sa|sas|sarl|s\.a|s\.l|bv|b\.v|nv|ab|as|oy|kg|pty|pvt|group|holdings?)\.?$",
    re.IGNORECASE)


def _core(company: str) -> str:
    """'Acme Corp.' -> 'acme': the name without its legal form, lower-case."""
    name = re.sub(r"^(?:the|die|der|la|le|les|el|los)\s+", "", _plain(company).strip(),
                  flags=re.IGNORECASE)
    for _ in range(2):
        name = _SUFFIXES.sub("", name).strip()
    return name.lower()


def _names(text: str, company: str) -> bool:
    """Whether ``text`` names ``company`` (whole words, legal form optional)."""
    pattern = _name_pattern(company)
    return bool(text) and pattern is not None and pattern.search(_plain(text).lower()) is not None


@functools.lru_cache(maxsize=256)
def _name_pattern(company: str) -> re.Pattern[str] | None:
    core = _core(company)
    if len(core) < 2:
        return None
    words = r"\s+".join(re.escape(w) for w in core.split())
    return re.compile(rf"(?<![\w@.-]){words}(?![\w-])")


# First words of company names too common to stand for one company in an address.
_GENERIC_WORDS = frozenset({
    "global", "international", "united", "general", "national", "american", "first",
    "digital", "data", "tech", "group", "north", "south", "east", "west", "city", "team",
    "careers", "talent", "jobs", "mail", "notifications", "noreply",
})


@functools.lru_cache(maxsize=256)
def _slugs(ctx: Context) -> frozenset[str]:
    """Tenant names a tracking system may put in an address: 'acme', 'acmecorp'."""
    result = set()
    if ctx.company:
        core = _core(ctx.company)
        full = re.sub(r"[^a-z0-9]", "", _plain(ctx.company).lower())
        result |= {re.sub(r"[^a-z0-9]", "", core), full}
        first = re.sub(r"[^a-z0-9]", "", core.split()[0]) if core.split() else ""
        if len(first) >= 4 and first not in _GENERIC_WORDS:
            result.add(first)  # "stark-notifications@talent.icims.com"
    for d in _organisation_domains(ctx):
        result.add(d.split(".", 1)[0])
    return frozenset(s for s in result if len(s) >= 3)


def _named_person(text: str, ctx: Context) -> Person | None:
    """The person of the interview whose full name ``text`` is or contains."""
    plain = _plain(text).lower()
    for p in ctx.people:
        words = _plain(p.name).lower().split()
        if len(words) >= 2 and re.search(
                r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", plain):
            return p
    return None


def _network_writers(msg: MailMessage) -> list[str]:
    """Who wrote the message a network notifies of: named in a "sent you a message"
    subject, or the display name ("Jane Kim via LinkedIn"; InMail: "Jane Kim"). Job
    alerts and digests name no writer this way."""
    found = []
    subject = _untagged(msg.subject)
    for pattern in S.NETWORK_MESSAGE:
        m = pattern.search(subject)
        if m:
            found.append(m.group("who").strip())
    display = _display(msg.sender)
    via = S.NETWORK_VIA.match(display)
    if via:
        found.append(via.group("who").strip())
    elif found or local_part(msg.sender.email if msg.sender else "") in S.NETWORK_MESSAGE_LOCALS:
        found.append(display)
    return found


# -- small helpers ---------------------------------------------------------------

def _headers(msg: MailMessage) -> dict[str, str]:
    return {k.lower(): v.strip().lower() for k, v in msg.headers.items()}


def _display(address: Address | None) -> str:
    return address.name if address is not None else ""


def _suffixes(domain: str) -> list[str]:
    """'us.greenhouse-mail.io' -> ['us.greenhouse-mail.io', 'greenhouse-mail.io', 'io']."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


_SERVICE_BY_DOMAIN = {d: s for s in S.SERVICES for d in s.domains}
_NETWORK_BY_DOMAIN = {d: n for n in S.NETWORKS for d in n.domains}
_NOTIFIERS_BY_DOMAIN: dict[str, list[S.Notifier]] = {}
for _n in (*S.CALENDAR_SENDERS, *S.MEETING_TOOLS):
    _NOTIFIERS_BY_DOMAIN.setdefault(_n.domain, []).append(_n)


@functools.lru_cache(maxsize=4096)
def _service_domain(domain: str) -> S.Service | None:
    return next((_SERVICE_BY_DOMAIN[d] for d in _suffixes(domain) if d in _SERVICE_BY_DOMAIN),
                None)


@functools.lru_cache(maxsize=4096)
def _network_domain(domain: str) -> S.Network | None:
    return next((_NETWORK_BY_DOMAIN[d] for d in _suffixes(domain) if d in _NETWORK_BY_DOMAIN),
                None)


def _service(email: str) -> S.Service | None:
    return _service_domain(domain_of(email))


def _network(email: str) -> S.Network | None:
    return _network_domain(domain_of(email))


def _notifier(email: str) -> S.Notifier | None:
    """The calendar or meeting-tool sender ``email`` is, if any (tables' order)."""
    domain, local = domain_of(email), local_part(email)
    for d in _suffixes(domain):
        for n in _NOTIFIERS_BY_DOMAIN.get(d, ()):
            if not n.local or (n.local == local and d == domain):
                return n
    return None


def _known_notifier(domain: str) -> bool:
    return any(not n.local for d in _suffixes(domain) for n in _NOTIFIERS_BY_DOMAIN.get(d, ()))


_TAGS = re.compile(r"^\s*" + S.SUBJECT_TAGS + r"(?:(?:re|aw|fw|fwd|wg|tr|rv)\s*:\s*)*",
                   re.IGNORECASE)


def _untagged(subject: str) -> str:
    return _TAGS.sub("", subject, count=1)


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


# -- the engine's entry point today ----------------------------------------------

def is_answer(
    msg: MailMessage,
    *,
    started_at: datetime,
    people: Collection[str],
    company_domain: str,
    thread_ids: Collection[str],
    message_ids: Collection[str],
    config: Config,
    company: str = "",
    names: Iterable[tuple[str, str]] = (),
) -> bool:
    """Rule 6 as a yes/no: :func:`classify` with a context built from these arguments
    (``names``: (address, name) pairs of the people, for networks and tracking systems)."""
    named = dict((e.lower(), n) for e, n in names)
    ctx = Context.for_config(
        config, started_at=started_at, company=company,
        company_domain=company_domain,
        people=tuple(Person(e.lower(), named.get(e.lower(), "")) for e in people),
        thread_ids=frozenset(thread_ids), message_ids=frozenset(message_ids),
    )
    return classify(msg, ctx).is_answer
