"""Calendar changes into tracked interviews: detection, snapshot, moves, cancellations.

Rules 1-3 decide what an event is and who gets a note; this module applies them to
what a provider reports and records the result (rule 8 for changes).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from ..providers.base import CalendarChanges, Event
from .config import Config
from .detect import classify
from .infer import infer
from .mail_sync import mark_answered
from .people import main_contact, who_gets_a_note
from .state import Interview, Store

log = logging.getLogger(__name__)

Lookup = Callable[[str], Event | None]  # an event by uid, wherever it now is; None: gone


def interview_id(account: str, event_uid: str) -> str:
    return hashlib.sha256(f"{account}\0{event_uid}".encode()).hexdigest()[:8]


class CalendarSync:
    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config

    def apply(self, account: str, changes: CalendarChanges, start: datetime, now: datetime,
              seen: datetime | None, lookup: Lookup | None = None) -> None:
        """Record ``changes`` (inside the caller's transaction). ``seen``: when the
        calendar was last read before this, to judge cancellations after a start;
        ``lookup``: the calendar's own look-up of an event by uid (rule 8)."""
        for event in changes.events:
            try:
                self._apply_event(account, event, now, seen)
            except Exception:  # a bad event is logged; the others go on
                log.exception("account %s: event %s could not be handled", account, event.uid)
        self._apply_removed(account, changes, start, now, seen, lookup)

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

    @staticmethod
    def _look_up(lookup: Lookup | None, uid: str) -> Event | None:
        if lookup is None:
            return None
        try:
            return lookup(uid)
        except NotImplementedError:
            return None  # a calendar that cannot look up: gone from the window is gone

    def _apply_removed(self, account: str, changes: CalendarChanges, start: datetime,
                       now: datetime, seen: datetime | None, lookup: Lookup | None) -> None:
        removed = set(changes.removed)
        if changes.complete:
            present = {e.uid for e in changes.events}
            removed |= {  # uids and end times only: no interview is decoded for this
                uid for uid, end in self.store.open_events(account)
                if uid not in present and end >= start
            }
        for uid in removed:
            iv = self.store.interview_by_event(account, uid)
            # Deleted before it happened: cancelled. Deleted afterwards (scheduling
            # tools tidy up): the snapshot keeps the notes going (rule 3).
            if iv and not iv.closed and not _happened(iv, now, seen):
                # Gone from the window is not gone: a postponement by two months looks
                # exactly like a deletion in a window's read (rule 8). Ask once more.
                moved = self._look_up(lookup, uid)
                if moved is not None:
                    log.info("interview %s: its event left the window; it is now on %s",
                             iv.id, moved.start.isoformat())
                    self._apply_event(account, moved, now, seen)
                    continue
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
            # With source and confidence: the subject line takes only sure facts.
            "facts": {"company": facts.company_fact.to_json(),
                      "role": facts.role_fact.to_json()},
            "interviewer_titles": dict(facts.interviewer_titles),
            "person_notes": [list(item) for item in facts.person_notes],
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
        # The same company's open interviews, by index (company_domain, company_key),
        # instead of every open interview for every new one.
        for iv in self.store.same_company(new.account, new.company_domain, new.company):
            same = (new.company_domain and iv.company_domain == new.company_domain) or (
                new.company and iv.company.lower() == new.company.lower()
            )
            if not same or iv.id == new.id:
                continue
            if iv.end <= new.start and iv.answered_at is None:
                mark_answered(self.store, iv, new.detected_at or new.start,
                                    f"a later interview ({new.id}) was scheduled")
            elif new.end <= iv.start and new.answered_at is None:
                # Seen in the same read as its successor (a first run): answered already.
                new.answered_at = new.detected_at or iv.start
                new.answered_by = f"a later interview ({iv.id}) was scheduled"


def _happened(iv: Interview, now: datetime, seen: datetime | None) -> bool:
    """Whether the interview took place as far as we know: it has started, and its event
    was seen alive after the start (not only cancelled while we were not looking)."""
    return now >= iv.start and seen is not None and seen >= iv.start


def _utc(moment: datetime) -> datetime:
    # Due times are computed in UTC: wall-clock arithmetic in a zone is wrong across DST.
    return moment.astimezone(UTC)
