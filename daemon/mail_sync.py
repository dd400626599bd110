"""New mail into the state: sent thank-you notes (for threading and timing) and answers.

Rule 6 (what counts as an answer) is ``replies.classify``; this module feeds it the
interviews still waiting that a message could answer (the state's answer index narrows
them; it never decides) and records what it finds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ..providers.base import Folder, Interest, MailMessage, MessageBatch
from . import replies
from .clock import Clock
from .config import Config
from .domains import bracketed, domain_of, is_freemail, own_company_domains, registrable_domain
from .infer import Confidence, Fact, facts_from_subject
from .lifecycle import EVERYONE, NOBODY, STATUS_CHECK
from .replies import Context, Kind, Person, classify
from .senders import NETWORKS, SERVICES
from .state import DraftRow, Interview, Store, interview_keys

log = logging.getLogger(__name__)

# Registrable domains of the tracking and scheduling services and professional networks
# that write for companies and people (a candidate's body is fetched; rule 6 decides).
ANSWER_SERVICE_DOMAINS: frozenset[str] = frozenset(
    registrable_domain(d) for table in (SERVICES, NETWORKS) for s in table for d in s.domains)


def mark_answered(store: Store, iv: Interview, when: datetime, why: str) -> None:
    iv.answered_at, iv.answered_by = when, why
    log.info("interview %s answered: %s", iv.id, why)
    store.save_interview(store.conn, iv)


@dataclass(frozen=True)
class _Waiting:
    interview: Interview
    people: set[str]
    threads: set[str]
    message_ids: set[str]
    status_check_written: bool
    context: Context  # for the answer rules (rule 6)


class MailSync:
    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        # The last Interest per (account, only), with the answer index version it was made at.
        self._interest: dict[tuple[str, str | None], tuple[str, Interest]] = {}

    def apply(self, account: str, batch: MessageBatch, notices: list[str]) -> None:
        """Record ``batch`` (inside the caller's transaction); late answers go to ``notices``.

        Each message is judged only against the waiting interviews that share a key of
        the answer index with it (an address, a registrable domain, a thread; all of
        them for a tracking system's or a network's mail, which writes for any company):
        rule 6 (``classify``) and rule 11 decide as before, in the same order."""
        # Sent first, so a reply in the thank-you's thread is recognised in one batch.
        sent = sorted((m for m in batch.messages if m.folder is Folder.SENT), key=_when)
        inbound = [m for m in batch.messages if m.folder in (Folder.INBOX, Folder.OTHER)]
        if sent:
            unsent = self.store.unsent(account)
            own = {m.id: _own_keys(m) for m in sent if not m.marker and m.date is not None}
            # Answered interviews too: the user's own thank-you still counts (rule 11).
            mine = self._waiting(account, self.store.answering(
                account, set().union(*own.values())), answered=True)
            index = _Index(mine)
            for msg in sent:
                if not self._match_sent(msg, unsent) and msg.id in own:
                    self._match_own(msg, index.narrow(own[msg.id], answered=True))
        if inbound:
            keys = {m.id: _answer_keys(m) for m in inbound}
            if any(k is None for k in keys.values()):
                waiting = self._waiting(account)  # a tracking system's or a network's mail
            else:
                waiting = self._waiting(account, self.store.answering(
                    account, set().union(*(k for k in keys.values() if k is not None))))
            index = _Index(waiting)
            for msg in inbound:
                candidates = index.narrow(keys[msg.id])
                self._learn_role(msg, candidates)
                self._match_answer(msg, candidates, notices)

    def _learn_role(self, msg: MailMessage, waiting: list[_Waiting]) -> None:
        """No invitation named the role, but the company's own mail does ("Interview
        confirmation: Senior Data Engineer at Acme"): the body of a draft may use it."""
        sender = msg.sender.email if msg.sender else ""
        for w in waiting:
            iv = w.interview
            facts = iv.snapshot.get("facts")
            role = Fact.from_json(facts.get("role")) if isinstance(facts, dict) else None
            if role is None or role.confidence >= Confidence.LIKELY:
                continue  # sure enough already (or recorded before facts had a confidence)
            if not (sender in w.people or self._at_company({sender}, iv)):
                continue
            company, found = facts_from_subject(msg.subject, self.config)
            if not found.value or (company.value and iv.company
                                   and company.value.casefold() != iv.company.casefold()):
                continue  # no role, or one of another company's
            iv.snapshot["facts"]["role"] = found.to_json()
            iv.role = found.value
            log.info("interview %s: the role comes from the company's mail", iv.id)
            self.store.save_interview(self.store.conn, iv)

    def interest(self, account: str, only: str | None = None) -> Interest:
        """What makes a message a candidate answer for the waiting interviews (all of
        ``account``'s, or the one ``only`` names): a provider fetches bodies for these.

        All of them come from the answer index, not from the interviews; the result is
        kept while the state is unchanged (an idle cycle asks again for one query)."""
        version = self.store.keys_version()
        cached = self._interest.get((account, only))
        if cached is not None and cached[0] == version:
            return cached[1]
        if only is None:
            keys = set(self.store.waiting_keys(account))
            anyone = bool(keys) or self.store.has_waiting(account)
        else:
            waiting = self._waiting(account, {only})
            keys = {k for w in waiting for k in _keys_of(w)}
            anyone = bool(waiting)
        own = own_company_domains(self.config.me.addresses)
        domains = {k[2:] for k in keys if k.startswith("c:")}
        domains = {d for d in domains if d and not is_freemail(d) and d not in own}
        if anyone:
            domains |= ANSWER_SERVICE_DOMAINS  # tracking systems write for the companies
        interest = Interest(
            domains=frozenset(domains),
            addresses=frozenset(k[2:] for k in keys if k.startswith("p:")),
            threads=frozenset(k[2:] for k in keys if k.startswith("t:")),
            message_ids=frozenset(k[2:] for k in keys if k.startswith("i:")),
        )
        self._interest[(account, only)] = (version, interest)
        return interest

    def _match_own(self, msg: MailMessage, waiting: list[_Waiting]) -> None:
        """Rule 11: a message the user wrote themselves to an interview's people, its
        company or in its threads, after the interview: their thank-you, a later
        message that moves the status-check clock, or their own status check."""
        if msg.marker or msg.date is None:
            return
        to = {a.email for a in (*msg.to, *msg.cc)}
        for w in waiting:
            iv = w.interview
            if msg.date < iv.end or msg.date in iv.own_sent:
                continue
            if not (to & w.people or self._at_company(to, iv) or _in_thread(msg, w)):
                continue
            iv.own_sent = sorted([*iv.own_sent, msg.date])
            log.info("interview %s: you wrote to them yourself (%s)", iv.id,
                     msg.date.isoformat(timespec="minutes"))
            self.store.save_interview(self.store.conn, iv)

    def _at_company(self, addresses: set[str], iv: Interview) -> bool:
        company = registrable_domain(iv.company_domain)
        if (not company or is_freemail(company)
                or company in own_company_domains(self.config.me.addresses)):
            return False
        return any(registrable_domain(domain_of(a)) == company for a in addresses)

    def _match_sent(self, msg: MailMessage, unsent: list[DraftRow]) -> bool:
        """One of our drafts was sent: record it (True); False when ``msg`` is not one."""
        draft = next((d for d in unsent if msg.marker and d.marker == msg.marker), None)
        if draft is None:
            # Some clients drop unknown headers on send: match subject and recipient instead.
            to = {a.email for a in (*msg.to, *msg.cc)}
            draft = next(
                (d for d in unsent if _same_subject(d.subject, msg.subject)
                 and (d.recipient in to or d.recipient in (NOBODY, EVERYONE))),
                None,
            )
        if draft is None:
            return False
        unsent.remove(draft)
        sent_at = msg.date or self.clock()
        self.store.record_sent(self.store.conn, draft.marker, sent_at, msg.message_id,
                               list(msg.references), msg.thread_id, msg.id)
        log.info("interview %s: %s was sent", draft.interview_id, draft.kind.replace("_", "-"))
        return True

    def _away(self, msg: MailMessage, w: _Waiting, back_on: date) -> None:
        """The main contact's out-of-office names the day they are back (rule 7)."""
        contact = w.interview.main_contact
        sender = msg.sender.email if msg.sender else ""
        if contact is None or sender != contact.email or w.interview.back_on == back_on:
            return
        # The newest reply says when they are back: an older one read again (the user
        # archived it, a provider re-reports a move) never brings back its earlier day.
        said_at = (msg.date or self.clock()).isoformat()
        if w.interview.snapshot.get("away_reply_at", "") > said_at:
            return
        w.interview.snapshot["away_reply_at"] = said_at
        w.interview.back_on = back_on
        log.info("interview %s: %s is away until %s", w.interview.id, sender,
                 back_on.isoformat())
        self.store.save_interview(self.store.conn, w.interview)

    def _waiting(self, account: str, among: set[str] | None = None, *,
                 answered: bool = False) -> list[_Waiting]:
        """Open, unanswered interviews (only those ``among`` these ids, when given; the
        answered ones too with ``answered``) with what identifies an answer to each, in
        the order of their start."""
        if among is not None and not among:
            return []
        interviews = self.store.waiting(account, among, answered=answered)
        all_drafts = self.store.drafts_of([iv.id for iv in interviews])
        result = []
        for iv in interviews:
            drafts = all_drafts[iv.id]
            people = {p.email for p in iv.recipients if p.email}
            if iv.main_contact and iv.main_contact.email:
                people.add(iv.main_contact.email)
            threads = {t for d in drafts for t in (d.sent_thread_id, d.thread_id) if t}
            ids = {i for d in drafts for i in (d.sent_message_id, d.message_id) if i}
            late = any(d.kind == STATUS_CHECK for d in drafts)
            who = [Person(p.email, p.name) for p in iv.recipients if p.email]
            if iv.main_contact and iv.main_contact.email:
                who.append(Person(iv.main_contact.email, iv.main_contact.name, "organizer"))
            domain = registrable_domain(iv.company_domain)
            context = Context.for_config(
                self.config, started_at=iv.start, company=iv.company,
                company_domain="" if is_freemail(domain) else domain, people=tuple(who),
                thread_ids=frozenset(threads), message_ids=frozenset(ids))
            result.append(_Waiting(iv, people, threads, ids, late, context))
        return result

    def _match_answer(self, msg: MailMessage, waiting: list[_Waiting],
                      notices: list[str]) -> None:
        for w in list(waiting):
            iv = w.interview
            verdict = classify(msg, w.context)
            if verdict.kind is Kind.AUTOMATIC and verdict.back_on is not None:
                self._away(msg, w, verdict.back_on)
            if not verdict.is_answer:
                log.debug("message %s: no answer to interview %s: %s", msg.id, iv.id,
                          verdict.reason)
                continue
            waiting.remove(w)
            sender = msg.sender.email if msg.sender else "unknown sender"
            if w.status_check_written:
                iv.answered_late = True
                text = (f"interview {iv.id} ({iv.company or iv.title}): {sender} answered after "
                        "the status-check draft was written; check your drafts before sending it")
                log.warning("%s", text)
                notices.append(text)
            mark_answered(self.store, iv, msg.date or self.clock(), verdict.reason)


class _Index:
    """The loaded waiting interviews by answer key (as the store's answer index has them)."""

    def __init__(self, waiting: list[_Waiting]) -> None:
        self.waiting = waiting
        self.keys = {id(w): _keys_of(w) for w in waiting}

    def narrow(self, keys: set[str] | None, *, answered: bool = False) -> list[_Waiting]:
        """The still unanswered interviews (answered ones too with ``answered``) sharing a
        key with a message (all: None)."""
        return [w for w in self.waiting if (answered or w.interview.answered_at is None)
                and (keys is None or not keys.isdisjoint(self.keys[id(w)]))]


def _keys_of(w: _Waiting) -> set[str]:
    iv = w.interview
    return interview_keys(iv.snapshot, iv.company_domain, sorted(w.threads),
                          sorted(w.message_ids))


def _relayed(sender: str) -> bool:
    """A tracking system or a professional network: it may write about any company."""
    # Exactly the senders rule 6's own clause for them recognises (replies._on_behalf),
    # and any of their registrable domains besides.
    return (registrable_domain(domain_of(sender)) in ANSWER_SERVICE_DOMAINS
            or replies._service(sender) is not None or replies._network(sender) is not None)


def _linked(msg: MailMessage) -> set[str]:
    keys = {f"t:{msg.thread_id}"} if msg.thread_id else set()
    for m in (msg.in_reply_to, *msg.references):
        if m:
            keys |= {f"m:{m}", f"m:{bracketed(m)}"}
    return keys


def _answer_keys(msg: MailMessage) -> set[str] | None:
    """What of ``msg`` rule 6 compares with an interview; None: any interview's."""
    sender = msg.sender.email if msg.sender else ""
    if _relayed(sender):
        return None
    keys = _linked(msg)
    if sender:
        keys.add(f"a:{sender.lower()}")
        domain = registrable_domain(domain_of(sender))
        if domain:
            keys.add(f"d:{domain}")
    return keys


def _own_keys(msg: MailMessage) -> set[str]:
    """What of the user's own ``msg`` rule 11 compares with an interview."""
    keys = _linked(msg)
    for a in (*msg.to, *msg.cc):
        keys.add(f"a:{a.email.lower()}")
        domain = registrable_domain(domain_of(a.email))
        if domain:
            keys.add(f"d:{domain}")
    return keys


def _when(msg: MailMessage) -> datetime:
    return msg.date or datetime.min.replace(tzinfo=UTC)


def _in_thread(msg: MailMessage, w: _Waiting) -> bool:
    if msg.thread_id and msg.thread_id in w.threads:
        return True
    return bool(set(w.message_ids) & {msg.in_reply_to, *msg.references})


def _same_subject(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        s = " ".join(s.split()).lower()
        while s[:3] in ("re:", "fw:") or s[:4] == "fwd:":
            s = s.split(":", 1)[1].strip()
        return s

    return bool(a) and norm(a) == norm(b)
