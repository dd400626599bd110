"""One cycle of the service: read calendars and mailboxes, decide, write due drafts.

The rules are pure functions in detect/people/infer/replies/lifecycle; this
module is the thin edge that feeds them provider data and the state, and
writes drafts under the claim protocol of rule 5.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from providers.base import (
    Account,
    Address,
    CalendarChanges,
    Event,
    Folder,
    MailMessage,
    ReplyTo,
)
from providers.errors import AuthExpired, ProviderError

from . import lifecycle
from .clock import Clock, system_clock
from .config import Config
from .detect import classify
from .infer import infer
from .lifecycle import STATUS_CHECK, THANK_YOU
from .mime import build_message
from .people import Recipient, main_contact, who_gets_a_note
from .replies import is_answer
from .state import DraftRow, Interview, Person, Store
from .templates import DraftFacts, RenderedDraft, natural, render

log = logging.getLogger(__name__)

HORIZON = timedelta(days=60)  # how far ahead interviews are tracked
NOBODY = "nobody"  # the recipient part of a marker for a draft with an empty To
EVERYONE = "all"  # ... for one shared draft to every interviewer


def lookback(config: Config) -> timedelta:
    """How far back calendars and mailboxes are read: long enough for a status check."""
    return config.timing.status_check_after + config.timing.thank_you_window + timedelta(days=7)


def interview_id(account: str, event_uid: str) -> str:
    return hashlib.sha256(f"{account}\0{event_uid}".encode()).hexdigest()[:8]


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
class _Waiting:
    interview: Interview
    people: set[str]
    threads: set[str]
    message_ids: set[str]
    status_check_written: bool


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

    @classmethod
    def open(cls, config: Config, *, dry_run: bool = False, clock: Clock = system_clock,
             store: Store | None = None) -> Engine:
        from providers import open_account

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
        for iv in self.store.interviews(account.name, open_only=True):
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
        for iv in self.store.interviews(open_only=True):
            if iv.account in paused:
                continue
            step = lifecycle.next_step(iv, self.store.drafts(iv.id), now, self.config.timing,
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
            for event in changes.events:
                try:
                    self._apply_event(account.name, event, now, seen)
                except Exception:  # a bad event is logged; the others go on
                    log.exception("account %s: event %s could not be handled",
                                  account.name, event.uid)
            self._apply_removed(account.name, changes, start, now, seen)
            self.store.set_checkpoint(conn, account.name, "calendar", changes.checkpoint)
            self.store.set_checkpoint(conn, account.name, "calendar_seen", now.isoformat())

    def _apply_event(self, account: str, event: Event, now: datetime,
                     seen: datetime | None) -> None:
        decision = classify(event, self.config)
        existing = self.store.interview_by_event(account, event.uid)
        if existing is None:
            if not decision.is_interview:
                log.debug("event %s: not an interview (%s)", event.uid, decision.reason)
                return
            iv = self._new_interview(account, event, now)
            log.info("event %s: interview %s detected (%s)", event.uid, iv.id, decision.reason)
            self._later_interview_answers(iv)
            self.store.save_interview(self.store.conn, iv)
            return
        if existing.closed:
            return
        changed = False
        if (existing.start, existing.end) != (_utc(event.start), _utc(event.end)):
            log.info("interview %s moved to %s", existing.id, event.start.isoformat())
            existing.start, existing.end = _utc(event.start), _utc(event.end)
            changed = True
        if not decision.is_interview:
            if not _happened(existing, now, seen):
                # Cancelled, declined or untagged before it happened: no drafts (rule 8).
                existing.closed, existing.closed_reason = "cancelled", decision.reason
            elif not event.cancelled:
                # Tagged #nofollowup (or untagged) afterwards: the user's wish to stop.
                existing.closed, existing.closed_reason = "skipped", decision.reason
            if existing.closed:
                log.info("interview %s: %s; no more drafts", existing.id, decision.reason)
            # else: a scheduling tool cancelled a past invite while tidying up: carry on.
        elif now < existing.end and self._add_recipients(existing, event):
            changed = True
        if changed or existing.closed:
            self.store.save_interview(self.store.conn, existing)

    def _add_recipients(self, iv: Interview, event: Event) -> bool:
        """Interviewers added before the interview ends join the snapshot; none leave it."""
        facts = infer(event, self.config)
        recipients, _ = who_gets_a_note(event, self.config, facts.interviewer_names)
        known = {r["email"] for r in iv.snapshot["recipients"]}
        added = [{"email": r.email, "name": r.name} for r in recipients if r.email not in known]
        if not added or self.store.drafts(iv.id):
            return False
        iv.snapshot["recipients"].extend(added)
        if iv.snapshot.get("main_contact") is None:
            contact = main_contact(event, recipients, self.config)
            if contact:
                iv.snapshot["main_contact"] = {"email": contact.email, "name": contact.name}
        return True

    def _apply_removed(self, account: str, changes: CalendarChanges, start: datetime,
                       now: datetime, seen: datetime | None) -> None:
        removed = set(changes.removed)
        if changes.complete:
            present = {e.uid for e in changes.events}
            removed |= {
                iv.event_uid for iv in self.store.interviews(account, open_only=True)
                if iv.event_uid not in present and iv.end >= start
            }
        for uid in removed:
            iv = self.store.interview_by_event(account, uid)
            # Deleted before it happened: cancelled. Deleted afterwards (scheduling
            # tools tidy up): the snapshot keeps the notes going (rule 3).
            if iv and not iv.closed and not _happened(iv, now, seen):
                iv.closed, iv.closed_reason = "cancelled", "event deleted"
                log.info("interview %s: event deleted before it started; no drafts", iv.id)
                self.store.save_interview(self.store.conn, iv)

    def _new_interview(self, account: str, event: Event, now: datetime) -> Interview:
        facts = infer(event, self.config)
        recipients, how = who_gets_a_note(event, self.config, facts.interviewer_names)
        contact = main_contact(event, recipients, self.config)
        snapshot = {
            "recipients": [{"email": r.email, "name": r.name} for r in recipients],
            "recipients_from": how,
            "main_contact": {"email": contact.email, "name": contact.name} if contact else None,
            "interviewer_names": list(facts.interviewer_names),
            "discussed": list(facts.discussed),
            "concerns": list(facts.concerns),
            "strengths": list(facts.strengths),
        }
        return Interview(
            id=interview_id(account, event.uid), account=account, event_uid=event.uid,
            title=event.title[:500], start=_utc(event.start), end=_utc(event.end),
            company=facts.company,
            company_domain=facts.company_domain, role=facts.role, snapshot=snapshot,
            detected_at=now,
        )

    def _later_interview_answers(self, new: Interview) -> None:
        """A later interview with the same company answers the earlier one (rule 6)."""
        for iv in self.store.interviews(new.account, open_only=True):
            same = (new.company_domain and iv.company_domain == new.company_domain) or (
                new.company and iv.company.lower() == new.company.lower()
            )
            if not same or iv.id == new.id:
                continue
            if iv.end <= new.start and iv.answered_at is None:
                self._mark_answered(iv, new.detected_at or new.start,
                                    f"a later interview ({new.id}) was scheduled")
            elif new.end <= iv.start and new.answered_at is None:
                # Seen in the same read as its successor (a first run): answered already.
                new.answered_at = new.detected_at or iv.start
                new.answered_by = f"a later interview ({iv.id}) was scheduled"

    # -- mail ----------------------------------------------------------------
    def _sync_mail(self, account: Account, report: CycleReport) -> None:
        now = self.clock()
        checkpoint = self.store.checkpoint(account.name, "mail")
        batch = account.mailbox.messages_since(checkpoint, now - lookback(self.config))
        for problem in batch.problems:
            log.warning("account %s: mail: %s (skipped)", account.name, problem)
        if not batch.messages and batch.checkpoint == checkpoint:
            return  # the idle cycle writes nothing
        with self.store.transaction() as conn:
            if batch.messages:
                # Sent first, so a reply in the thank-you's thread is recognised in one batch.
                sent = [m for m in batch.messages if m.folder is Folder.SENT]
                inbox = [m for m in batch.messages if m.folder is Folder.INBOX]
                if sent:
                    unsent = [d for d in self.store.drafts(account=account.name)
                              if d.state == "created" and d.sent_at is None]
                    for msg in sent:
                        self._match_sent(msg, unsent)
                if inbox:
                    waiting = self._waiting(account.name)
                    for msg in inbox:
                        self._match_answer(msg, waiting, report)
            self.store.set_checkpoint(conn, account.name, "mail", batch.checkpoint)

    def _match_sent(self, msg: MailMessage, unsent: list[DraftRow]) -> None:
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
            return
        unsent.remove(draft)
        sent_at = msg.date or self.clock()
        self.store.record_sent(self.store.conn, draft.marker, sent_at, msg.message_id,
                               list(msg.references), msg.thread_id, msg.id)
        log.info("interview %s: %s was sent", draft.interview_id, draft.kind.replace("_", "-"))

    def _waiting(self, account: str) -> list[_Waiting]:
        """Open, unanswered interviews with what identifies an answer to each."""
        result = []
        for iv in self.store.interviews(account, open_only=True):
            if iv.answered_at is not None:
                continue
            drafts = self.store.drafts(iv.id)
            people = {p.email for p in iv.recipients if p.email}
            if iv.main_contact and iv.main_contact.email:
                people.add(iv.main_contact.email)
            threads = {t for d in drafts for t in (d.sent_thread_id, d.thread_id) if t}
            ids = {i for d in drafts for i in (d.sent_message_id, d.message_id) if i}
            late = any(d.kind == STATUS_CHECK for d in drafts)
            result.append(_Waiting(iv, people, threads, ids, late))
        return result

    def _match_answer(self, msg: MailMessage, waiting: list[_Waiting],
                      report: CycleReport) -> None:
        for w in list(waiting):
            iv = w.interview
            if not is_answer(msg, started_at=iv.start, people=w.people,
                             company_domain=iv.company_domain, thread_ids=w.threads,
                             message_ids=w.message_ids, config=self.config):
                continue
            waiting.remove(w)
            sender = msg.sender.email if msg.sender else "unknown sender"
            if w.status_check_written:
                iv.answered_late = True
                text = (f"interview {iv.id} ({iv.company or iv.title}): {sender} answered after "
                        "the status-check draft was written; check your drafts before sending it")
                log.warning("%s", text)
                report.notices.append(text)
            self._mark_answered(iv, msg.date or self.clock(), f"message from {sender}")

    def _mark_answered(self, iv: Interview, when: datetime, why: str) -> None:
        iv.answered_at, iv.answered_by = when, why
        log.info("interview %s answered: %s", iv.id, why)
        self.store.save_interview(self.store.conn, iv)

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
            # Check the inbox once more right before the draft is written (rule 7).
            self._sync_mail(account, report)
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
        facts = DraftFacts(
            me_name=me.name, signature=me.signature, recipient_name=greeting,
            recipient_email=people[0].email if len(people) == 1 else "",
            company=iv.company, role=iv.role, interview_title=iv.title,
            interview_start=iv.start.astimezone(me.timezone),
            discussed=tuple(iv.snapshot.get("discussed", [])),
            concerns=tuple(iv.snapshot.get("concerns", [])),
            strengths=tuple(iv.snapshot.get("strengths", [])),
            notes=tuple(iv.notes), is_reply=reply is not None,
            thank_you_subject=thank_you_subject,
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
        rows = {p.marker: self.store.draft(p.marker) for p in planned}
        with self.store.transaction() as conn:
            for p in planned:
                if rows[p.marker] is None:
                    self.store.claim(conn, p.marker, iv.id, kind, _recipient(p),
                                     p.rendered.subject, now)
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


def _happened(iv: Interview, now: datetime, seen: datetime | None) -> bool:
    """Whether the interview took place as far as we know: it has started, and its event
    was seen alive after the start (not only cancelled while we were not looking)."""
    return now >= iv.start and seen is not None and seen >= iv.start


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


def _utc(moment: datetime) -> datetime:
    # Due times are computed in UTC: wall-clock arithmetic in a zone is wrong across DST.
    return moment.astimezone(UTC)


def _recipient(planned: PlannedDraft) -> str:
    return planned.marker.rsplit("/", 1)[1]


def _same_subject(a: str, b: str) -> bool:
    def norm(s: str) -> str:
        s = " ".join(s.split()).lower()
        while s[:3] in ("re:", "fw:") or s[:4] == "fwd:":
            s = s.split(":", 1)[1].strip()
        return s

    return bool(a) and norm(a) == norm(b)
