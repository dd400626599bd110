"""One cycle of the service: read calendars and mailboxes, decide, write due drafts.

The rules are pure functions in detect/people/infer/replies/lifecycle;
calendar_sync and mail_sync record what the providers report; this module runs
the cycle and writes drafts under the claim protocol of rule 5.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..providers.base import Account, Address, MessageBatch, ReplyTo
from ..providers.errors import AuthExpired, ProviderError
from . import lifecycle
from .calendar_sync import CalendarSync
from .clock import Clock, system_clock
from .config import Config
from .infer import Confidence, Fact, NoteFacts, for_person, person_keys, read_notes, title_in_name
from .lifecycle import EVERYONE, NOBODY, STATUS_CHECK, THANK_YOU
from .lock import claim_is_live, owner_id
from .mail_sync import MailSync
from .mime import build_message
from .people import Recipient, fold
from .state import DraftRow, Interview, Person, Store
from .templates import (
    PANEL_VARIANTS,
    DraftFacts,
    RenderedDraft,
    date_style_from_env,
    natural,
    render,
)

log = logging.getLogger(__name__)

HORIZON = timedelta(days=60)  # how far ahead interviews are tracked


def lookback(config: Config) -> timedelta:
    """How far back calendars and mailboxes are read: long enough for a status check."""
    return config.timing.status_check_after + config.timing.thank_you_window + timedelta(days=7)


@dataclass(frozen=True)
class CreatedDraft:
    interview_id: str
    kind: str
    marker: str
    to: tuple[Address, ...]
    subject: str
    body: str
    account: str
    location: str  # where the draft is (a path or a provider id); "" in a dry run


@dataclass
class CycleReport:
    created: list[CreatedDraft] = field(default_factory=list)
    next_due: datetime | None = None
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlannedDraft:
    kind: str
    marker: str
    to: tuple[Address, ...]
    rendered: RenderedDraft
    reply_to: ReplyTo | None


class Engine:
    def __init__(self, config: Config, store: Store, accounts: dict[str, Account], *,
                 clock: Clock = system_clock, dry_run: bool = False) -> None:
        self.config = config
        self.store = store
        self.accounts = accounts
        self.clock = clock
        self.dry_run = dry_run
        # When each account's calendar was last read successfully: a cancellation first
        # seen after an interview's start counts only if the event was seen alive then.
        self._calendar_seen: dict[str, datetime] = {}
        self.owner = owner_id()  # written into each claim: whose work in progress it is
        self.calendar = CalendarSync(store, config)
        self.mail = MailSync(store, config, clock)

    @classmethod
    def open(cls, config: Config, *, dry_run: bool = False, clock: Clock = system_clock,
             store: Store | None = None) -> Engine:
        from .config import open_account

        if store is None:
            store = Store.open(config.daemon.state_dir)
        if dry_run:
            real = store
            store = Store.memory(copy_of=real)  # decisions only: nothing persists
            real.close()
        accounts = {a.name: open_account(a, config) for a in config.accounts}
        return cls(config, store, accounts, clock=clock, dry_run=dry_run)

    def close(self) -> None:
        for account in self.accounts.values():
            account.close()
        with self.store.transaction() as conn:
            for name, seen in self._calendar_seen.items():
                self.store.set_checkpoint(conn, name, "calendar_seen", seen.isoformat())
        self.store.close()

    # -- the cycle -----------------------------------------------------------
    def cycle(self) -> CycleReport:
        report = CycleReport()
        paused = self.store.paused()
        for name, account in self.accounts.items():
            if name in paused:
                report.notices.append(f"account {name!r} is paused: {paused[name][0]}")
                continue
            try:
                self._account_cycle(account, report)
            except AuthExpired as exc:
                if self.store.pause(name, exc.how_to_fix, self.clock()):
                    log.error("account %s paused: access expired or revoked; %s",
                              name, exc.how_to_fix)
                report.errors.append(str(exc))
            except ProviderError as exc:
                log.warning("%s; will retry next cycle", exc)
                report.errors.append(str(exc))
        report.next_due = self.next_due()
        return report

    def _account_cycle(self, account: Account, report: CycleReport) -> None:
        self._sync_calendar(account)
        self._sync_mail(account, report)
        # After the reads: a claim left by a crash may since have been answered or cancelled.
        self._finish_claims(account, report)
        # Only the working set: an interview at rest has nothing left to draft (an answer
        # to it is still recorded by the mail sync, through the answer index).
        for iv in self.store.working(account.name):
            try:
                self._act(account, iv.id, report)
            except ProviderError:
                raise
            except Exception as exc:  # one bad interview never stops the others
                log.exception("interview %s (%s): skipped this cycle", iv.id, iv.event_uid)
                report.errors.append(f"interview {iv.id}: {exc}")

    def next_due(self) -> datetime | None:
        now = self.clock()
        paused = self.store.paused()
        times = []
        working = [iv for iv in self.store.working() if iv.account not in paused]
        drafts = self.store.drafts_of([iv.id for iv in working])
        for iv in working:
            step = lifecycle.next_step(iv, drafts[iv.id], now, self.config.timing,
                                       self.config.me.timezone)
            if step.due is not None and step.due > now:
                times.append(step.due)
        return min(times) if times else None

    # -- calendar ------------------------------------------------------------
    def _sync_calendar(self, account: Account) -> None:
        now = self.clock()
        start, end = now - lookback(self.config), now + HORIZON
        checkpoint = self.store.checkpoint(account.name, "calendar")
        changes = account.calendar.changes(checkpoint, start, end, self.config.me.timezone)
        for problem in changes.problems:
            log.warning("account %s: calendar: %s (skipped)", account.name, problem)
        stored = self.store.checkpoint(account.name, "calendar_seen")
        seen = self._calendar_seen.get(account.name) or (
            datetime.fromisoformat(stored) if stored else None
        )
        self._calendar_seen[account.name] = now
        if changes.unchanged:
            return
        with self.store.transaction() as conn:
            zone = self.config.me.timezone
            self.calendar.apply(account.name, changes, start, now, seen,
                                lambda uid: account.calendar.lookup(uid, zone))
            self.store.set_checkpoint(conn, account.name, "calendar", changes.checkpoint)
            self.store.set_checkpoint(conn, account.name, "calendar_seen", now.isoformat())

    # -- mail ----------------------------------------------------------------
    def _sync_mail(self, account: Account, report: CycleReport) -> None:
        now = self.clock()
        checkpoint = self.store.checkpoint(account.name, "mail")
        batch = account.mailbox.messages_since(checkpoint, now - lookback(self.config),
                                               self.mail.interest(account.name))
        for problem in batch.problems:
            log.warning("account %s: mail: %s (skipped)", account.name, problem)
        if not batch.messages and batch.checkpoint == checkpoint:
            return  # the idle cycle writes nothing
        with self.store.transaction() as conn:
            self.mail.apply(account.name, batch, report.notices)
            self.store.set_checkpoint(conn, account.name, "mail", batch.checkpoint)

    def _search_answers(self, account: Account, iv: Interview, report: CycleReport) -> None:
        interest = self.mail.interest(account.name, only=iv.id)
        if not (interest.domains or interest.addresses or interest.threads):
            return
        try:
            found = account.mailbox.search_answers(iv.start, interest)
        except NotImplementedError:
            return  # a mailbox without search: its reads already cover every folder
        if found:
            with self.store.transaction():
                self.mail.apply(account.name, MessageBatch(tuple(found), None), report.notices)

    # -- drafts --------------------------------------------------------------
    def _act(self, account: Account, interview_id: str, report: CycleReport) -> None:
        # Read afresh: an earlier interview's inbox re-check may have answered this one.
        iv = self.store.interview(interview_id)
        if iv is None or iv.closed:
            return
        now = self.clock()
        drafts = self.store.drafts(iv.id)
        step = lifecycle.next_step(iv, drafts, now, self.config.timing, self.config.me.timezone)
        if step.kind == "missed":
            iv.missed = True
            with self.store.transaction() as conn:
                self.store.save_interview(conn, iv)
            log.info("interview %s: thank-you window passed; no thank-you note", iv.id)
            return self._act(account, iv.id, report)
        if not step.kind or step.due is None or step.due > now:
            return
        if step.kind == STATUS_CHECK:
            # Check the mailbox once more right before the draft is written (rule 7): what
            # arrived since the cycle began, then one search of every folder of rule 6.
            self._sync_mail(account, report)
            self._search_answers(account, iv, report)
            refreshed = self.store.interview(iv.id)
            if refreshed is None or refreshed.answered_at is not None or refreshed.closed:
                return
            iv = refreshed
        self._write_all(account, iv, step.kind, report)

    def plan(self, iv: Interview, kind: str) -> list[PlannedDraft]:
        """The drafts of ``kind`` for ``iv``, rendered (used by the cycle and `preview`)."""
        if kind == THANK_YOU:
            people = iv.recipients
            if not people:
                groups: list[tuple[str, list[Person]]] = [(NOBODY, [])]
            elif self.config.drafts.one_per_interviewer:
                groups = [(p.email, [p]) for p in people]
            else:
                groups = [(EVERYONE, people)]
            return [self._render(iv, kind, key, group, None) for key, group in groups]
        contact = iv.main_contact
        thank_you = None
        if contact is not None:
            thank_you = next(
                (d for d in self.store.drafts(iv.id)
                 if d.kind == THANK_YOU and d.sent_at
                 and d.recipient in (contact.email, EVERYONE)),
                None,
            )
        reply = None
        if thank_you is not None and thank_you.sent_message_id:
            reply = ReplyTo(thank_you.sent_message_id, tuple(thank_you.sent_references),
                            thank_you.sent_thread_id or "", thank_you.sent_provider_id or "")
        key = contact.email if contact and contact.email else NOBODY
        return [self._render(iv, kind, key, [contact] if contact else [], reply,
                             thank_you.subject if thank_you else "")]

    def _render(self, iv: Interview, kind: str, key: str, people: list[Person],
                reply: ReplyTo | None, thank_you_subject: str = "") -> PlannedDraft:
        me = self.config.me
        names = iv.snapshot.get("interviewer_names", [])
        if len(people) == 1:
            greeting = Recipient(people[0].email, people[0].name).greeting_name
        elif people:
            greeting = natural(
                [g for g in (Recipient(p.email, p.name).greeting_name for p in people) if g]
            )
        else:
            greeting = Recipient("", names[0]).greeting_name if names else ""
        if not people and kind == THANK_YOU:
            log.warning("interview %s: no interviewer address found; the draft has an empty To",
                        iv.id)
        known = [p.name for p in iv.recipients if p.name] + list(names)
        notes = read_notes(iv.notes, known)
        company, role = _facts_of(iv, notes)
        points: dict[str, list[str]] = {"discussed": [], "concerns": [], "strengths": []}
        title = ""
        if len(people) == 1:
            person = people[0]
            name = person.name or (names[0] if len(names) == 1 and not iv.recipients else "")
            shared = [tuple(item) for item in iv.snapshot.get("person_notes", [])]
            points = for_person([*shared, *notes.personal], person.email, name)
            title = _title_of(iv.snapshot.get("interviewer_titles", {}), name) or \
                title_in_name(person.name)
        written = self.clock().astimezone(me.timezone).date()
        facts = DraftFacts(
            me_name=me.name, signature=me.signature, recipient_name=greeting,
            recipient_email=people[0].email if len(people) == 1 else "",
            company=company.at_least(Confidence.LIKELY), role=role.at_least(Confidence.LIKELY),
            interview_title=iv.title,
            interview_start=iv.start.astimezone(me.timezone),
            discussed=tuple(iv.snapshot.get("discussed", [])),
            concerns=(*iv.snapshot.get("concerns", []), *notes.concerns, *points["concerns"]),
            strengths=(*iv.snapshot.get("strengths", []), *notes.strengths,
                       *points["strengths"]),
            notes=notes.discussed, is_reply=reply is not None,
            thank_you_subject=thank_you_subject,
            company_sure=company.confidence >= Confidence.SURE,
            role_sure=role.confidence >= Confidence.SURE,
            recipient_title=title, recipient_points=tuple(points["discussed"]),
            variant=_variant(iv, people), written_on=written,
            date_style=date_style_from_env(),
        )
        rendered = render(kind, facts, self.config.drafts.templates)
        to = tuple(Address(p.email, p.name) for p in people if p.email)
        if not key.isascii() or not key.isprintable() or " " in key:
            key = hashlib.sha256(key.encode()).hexdigest()[:16]  # headers must stay ASCII
        return PlannedDraft(kind, f"{iv.id}/{kind}/{key}", to, rendered, reply)

    def _write_all(self, account: Account, iv: Interview, kind: str, report: CycleReport,
                   verified: frozenset[str] = frozenset()) -> None:
        """Claim every draft of ``kind`` in one transaction, then write each (rule 5)."""
        planned = self.plan(iv, kind)
        now = self.clock()
        with self.store.transaction() as conn:
            # Read inside the transaction: `skip` or `done` from the command line may
            # have closed the interview since this cycle read it.
            if not self.store.is_open(iv.id):
                log.info("interview %s was closed meanwhile; nothing drafted", iv.id)
                return
            rows = {p.marker: self.store.draft(p.marker) for p in planned}
            for p in planned:
                if rows[p.marker] is None:
                    self.store.claim(conn, p.marker, iv.id, kind, _recipient(p),
                                     p.rendered.subject, now, self.owner)
        for p in planned:
            row = rows[p.marker]
            if row is not None and row.state == "created":
                continue
            if row is not None and p.marker not in verified and self._reconcile(account, row):
                continue
            self._write(account, iv, p, report)

    def _write(self, account: Account, iv: Interview, planned: PlannedDraft,
               report: CycleReport) -> None:
        if self.dry_run:
            log.info("dry run: would write %s draft %s", planned.kind, planned.marker)
            # Recorded in the throw-away store only, so the dry run's plan stays consistent.
            self.store.record_created(planned.marker, "", "", "", self.clock())
            report.created.append(self._created(account, iv, planned, ""))
            return
        me = self.config.me
        message = build_message(
            from_name=me.name, from_email=me.email, to=planned.to,
            subject=planned.rendered.subject, body=planned.rendered.body,
            marker=planned.marker, now=self.clock(), reply_to=planned.reply_to,
        )
        ref = account.mailbox.create_draft(message, planned.marker, planned.reply_to)
        self.store.record_created(planned.marker, ref.id, ref.message_id or "", ref.thread_id,
                                  ref.created or self.clock())
        log.info("interview %s: %s draft written (%s)", iv.id, planned.kind.replace("_", "-"),
                 planned.marker)
        report.created.append(self._created(account, iv, planned, ref.id))

    def _finish_claims(self, account: Account, report: CycleReport) -> None:
        """Claims left by an interruption: record what reached the mailbox, drop what is
        no longer wanted, write the rest."""
        now = self.clock()
        pending: dict[tuple[str, str], set[str]] = {}
        for claim in self.store.drafts(state="claimed", account=account.name):
            if claim.owner != self.owner and claim_is_live(claim.owner, claim.claimed_at, now):
                log.warning("draft %s is being written by process %s; leaving it to it",
                            claim.marker, claim.owner)
                continue
            if self._reconcile(account, claim):
                continue
            iv = self.store.interview(claim.interview_id)
            why = _obsolete(iv, claim, now, self.config)
            if why:
                log.info("draft %s was never written and is no longer due (%s)",
                         claim.marker, why)
                with self.store.transaction() as conn:
                    self.store.drop_claim(conn, claim.marker)
                continue
            pending.setdefault((claim.interview_id, claim.kind), set()).add(claim.marker)
        for (interview_id, kind), absent in sorted(pending.items()):
            iv = self.store.interview(interview_id)
            if iv is not None:
                self._write_all(account, iv, kind, report, frozenset(absent))

    def _reconcile(self, account: Account, claim: DraftRow) -> bool:
        """A claim without a result: did the draft reach the mailbox before a crash?"""
        found = account.mailbox.find_marker(claim.marker, subject=claim.subject,
                                            since=claim.claimed_at)
        if not found:
            log.info("draft %s was claimed but never written", claim.marker)
            return False
        ref = found[0]
        self.store.record_created(claim.marker, ref.id, ref.message_id, ref.thread_id,
                                  ref.created or self.clock())
        log.info("draft %s was already written before an interruption; recorded it",
                 claim.marker)
        return True

    def _created(self, account: Account, iv: Interview, planned: PlannedDraft,
                 location: str) -> CreatedDraft:
        return CreatedDraft(iv.id, planned.kind, planned.marker, planned.to,
                            planned.rendered.subject, planned.rendered.body, account.name,
                            location)


def _obsolete(iv: Interview | None, claim: DraftRow, now: datetime, config: Config) -> str:
    """Why a draft claimed before a crash should no longer be written ("" if it should)."""
    if iv is None:
        return "interview gone"
    if iv.closed:
        return f"interview {iv.closed}"
    if claim.kind == THANK_YOU and now > iv.end + config.timing.thank_you_window:
        return "thank-you window passed"
    if claim.kind == STATUS_CHECK and iv.answered_at is not None:
        return "answered"
    return ""


def _recipient(planned: PlannedDraft) -> str:
    return planned.marker.rsplit("/", 1)[1]


def _facts_of(iv: Interview, notes: NoteFacts) -> tuple[Fact, Fact]:
    """Company and role with their confidence: the user's note wins, then what was
    inferred at detection. An interview recorded before facts carried a confidence keeps
    its values as they were used then."""
    recorded = iv.snapshot.get("facts")
    if isinstance(recorded, dict):
        company = Fact.from_json(recorded.get("company"))
        role = Fact.from_json(recorded.get("role"))
    else:
        company = Fact(iv.company, "", Confidence.SURE if iv.company else Confidence.NONE)
        role = Fact(iv.role, "", Confidence.SURE if iv.role else Confidence.NONE)
    return notes.company if notes.company.value else company, \
        notes.role if notes.role.value else role


def _title_of(titles: object, name: str) -> str:
    """The interviewer's title the invitation gave, matched by full or first name."""
    if not isinstance(titles, dict) or not name:
        return ""
    keys = person_keys(name)
    for who, title in titles.items():
        if fold(str(who)) in keys:
            return str(title)
    return ""


def _variant(iv: Interview, people: list[Person]) -> int:
    """The wording for this draft: stable across re-renders, and different for each
    interviewer of one panel (up to PANEL_VARIANTS of them)."""
    seed = int(hashlib.sha256(iv.id.encode()).hexdigest()[:8], 16)
    panel = sorted(p.email for p in iv.recipients)
    index = panel.index(people[0].email) if len(people) == 1 and people[0].email in panel else 0
    return (seed + index) % PANEL_VARIANTS
