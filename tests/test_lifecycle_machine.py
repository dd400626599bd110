"""The lifecycle under random timelines (hypothesis ``RuleBasedStateMachine``).

Interviews are added, moved, postponed beyond the calendar window, cancelled and
deleted; mail arrives from interviewers, colleagues, strangers, tracking systems,
auto-responders (out-of-office replies with a return day among them) and the user,
in the inbox or filed in another folder, and messages move between folders; the
user writes to the company themselves (rule 11), sends and deletes drafts; time
passes; the daemon runs cycles, restarts and crashes between writing a draft and
recording it. After every step the mailbox itself (not only the state) is checked
against the product rules.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, event, note, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from interview_followup.daemon.engine import HORIZON, CycleReport, lookback
from interview_followup.daemon.lifecycle import MAX_AWAY_WAIT, STATUS_CHECK, THANK_YOU
from interview_followup.providers.base import Address, Event, Folder, MailMessage, Response
from tests.memory import ME, Crash, World, inbound, interview_event, person

TIMING = """
[timing]
thank_you_after = "1h"
thank_you_window = "48h"
status_check_after = "3d"
"""
AFTER = timedelta(hours=1)
WINDOW = timedelta(hours=48)
STATUS_AFTER = timedelta(days=3)
ENGINE_CALLS = {"messages_since", "search_answers", "create_draft", "find_marker"}


@dataclass(frozen=True)
class Company:
    domain: str
    name: str
    interviewers: tuple[tuple[str, str], ...]  # (address, display name)
    recruiter: tuple[str, str]
    colleague: str  # at the company, on no invite


COMPANIES = (
    Company("acme.com", "Acme",
            (("jane.doe@acme.com", "Jane Doe"), ("sam.lee@acme.com", "Sam Lee"),
             ("maria.garcia@acme.com", "Maria Garcia")),
            ("priya.shah@acme.com", "Priya Shah"), "tom.becker@acme.com"),
    Company("globex.com", "Globex",
            (("hank.scorpio@globex.com", "Hank Scorpio"), ("mindy.chen@globex.com", "Mindy Chen"),
             ("omar.haddad@globex.com", "Omar Haddad")),
            ("lena.fischer@globex.com", "Lena Fischer"), "ravi.kumar@globex.com"),
    Company("initech.io", "Initech",
            (("bill.lumbergh@initech.io", "Bill Lumbergh"),
             ("joanna.ruiz@initech.io", "Joanna Ruiz"),
             ("peter.gibbons@initech.io", "Peter Gibbons")),
            ("nina.petrova@initech.io", "Nina Petrova"), "milton.waddams@initech.io"),
)
STRANGER = "pat.stranger@gmail.com"


@dataclass(frozen=True)
class Spec:
    """A random interview: who, when, and which distractions are on the invite."""

    company: int
    interviewers: int  # 1-3
    organizer: str  # "recruiter" | "interviewer" | "none"
    offset: timedelta  # start, relative to now
    minutes: int
    room: bool
    decliner: bool


def specs(offsets: st.SearchStrategy[int]) -> st.SearchStrategy[Spec]:
    return st.builds(
        Spec,
        company=st.integers(0, len(COMPANIES) - 1),
        interviewers=st.integers(1, 3),
        organizer=st.sampled_from(["recruiter", "interviewer", "none"]),
        offset=offsets.map(lambda n: timedelta(minutes=30 * n)),
        minutes=st.sampled_from([30, 45, 60, 90]),
        room=st.booleans(),
        decliner=st.booleans(),
    )


ANY_TIME = specs(st.integers(-96, 96))  # two days either way
JUST_ENDED = specs(st.integers(-8, -3))
SHORT = st.sampled_from([timedelta(minutes=10), timedelta(hours=1), timedelta(hours=5)])
LONG = st.sampled_from([timedelta(days=1), timedelta(days=2), timedelta(days=4)])
MAIL_KINDS = st.sampled_from(
    ["interviewer", "colleague", "stranger", "auto_header", "auto_subject", "self"]
)
# Issue 8: what really arrives. Answers through a tracking system, and the traps: the
# same system writing about another company, read receipts, calendar notices,
# newsletters and invoices from the company's own domain.
FILED_KINDS = st.sampled_from(
    ["interviewer", "colleague", "ats", "ats_other", "receipt", "calendar_notice",
     "newsletter", "invoice", "out_of_office", "out_of_office"]
)
ANSWER_KINDS = frozenset({"interviewer", "colleague", "ats"})
# Where a message is: the inbox, or filed by the user or a mail rule (rule 6).
FOLDERS = st.sampled_from([(Folder.INBOX, "INBOX"), (Folder.OTHER, "Archive"),
                           (Folder.OTHER, "Jobs/Applications")])
# When the user writes to them themselves (rule 11), relative to the interview.
OWN_WHEN = st.sampled_from(["now", "before_due", "before_due", "next_day", "check_due"])
OWN_SUBJECTS = st.sampled_from(["Thanks for today", "The portfolio I mentioned",
                                "Checking in on next steps"])
# Days until an out-of-office sender is back: mostly within the runs' reach, and once
# beyond the 30 days a status check waits at most (a postponement's months reach it).
AWAY_DAYS = st.sampled_from([1, 2, 3, 4, 5, 6, 8, 10, 40])
POSTPONED = st.integers(61, 90).map(lambda d: timedelta(days=d))  # beyond HORIZON


@dataclass
class Tracked:
    """The model of one interview event."""

    uid: str
    iid: str
    company: Company
    recipients: tuple[str, ...]  # who must get the thank-you notes
    contact: str  # who must get the status check
    event: Event
    added_after: int  # how many messages had been delivered when the event appeared
    present: bool = True
    killed: bool = False  # cancelled or deleted
    killed_seen: bool = False  # the engine read the calendar while killed and not yet started
    seen_live: bool = False  # the engine read the calendar while it was a live interview
    # Cancelled or deleted after its start: the engine goes on only if it saw the event
    # alive after the start (a tidy-up), else treats it as cancelled. Both outcomes are
    # pinned in test_engine_rules.py; the machine asserts neither.
    killed_late: bool = False
    postponed: bool = False  # moved beyond the calendar window the engine reads (rule 8)
    thanked: list[datetime] = field(default_factory=list)  # our thank-yous sent, marker kept
    # One of this company's drafts was sent with its marker dropped: the engine matches
    # it by subject and recipient, possibly to a sibling interview, so the model does not
    # know this interview's sent times for sure.
    loose: bool = False


@dataclass(frozen=True)
class Answer:
    """A message that answers every interview at ``domain`` that started before ``date``."""

    number: int  # the how-manieth delivery
    domain: str
    date: datetime


@dataclass(frozen=True)
class Own:
    """A message the user wrote themselves to someone at ``domain`` (rule 11)."""

    number: int
    domain: str
    date: datetime


@dataclass(frozen=True)
class Away:
    """An out-of-office reply from ``sender`` naming the day they are back (rule 7)."""

    number: int
    sender: str
    sent: datetime  # its Date
    back: date


@dataclass(frozen=True)
class Delivered:
    """An inbound message as delivered, and what it means: for moving it later."""

    msg: MailMessage
    answers: str | None  # the company domain it answers, if it is an answer
    back: date | None  # the return day it names, if it is an out-of-office


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="lifecycle-"))
        self.world: World | None = None
        self.tracked: dict[str, Tracked] = {}  # by interview id
        self.others: set[str] = set()  # interview ids of events that are no interviews
        self.answers: list[Answer] = []
        self.delivered = 0
        self.premature: dict[str, list[Answer]] = {}  # status check -> answers before it
        self.inbound: list[Delivered] = []
        self.own: list[Own] = []
        self.away: list[Away] = []
        self.judged: set[str] = set()  # status checks judged (when first seen)
        self.away_judged = 0  # ... of them, while their main contact had said they were away
        self.serial = 0
        self.crashes = 0

    @property
    def w(self) -> World:
        assert self.world is not None
        return self.world

    def teardown(self) -> None:
        if self.world is not None and currently_in_test_context():
            thanks = len(self.w.mailbox.stored(THANK_YOU))
            checks = len(self.w.mailbox.stored(STATUS_CHECK))
            event(f"thank-you drafts: {min(thanks, 4)}{'+' if thanks >= 4 else ''}")
            event(f"status checks: {min(checks, 2)}{'+' if checks >= 2 else ''}")
            event(f"crashes: {min(self.crashes, 2)}{'+' if self.crashes >= 2 else ''}")
            now = self.w.clock.now
            ts = self.tracked.values()
            if any(o.date < t.event.end + AFTER for t in ts for o in self._own_for(t)):
                event("rule 11: the user's own thank-you came before ours was due")
            if any(self._clock(t, now)[1] for t in ts):
                event("rule 11: the user's own status check")
            if self.away_judged:
                event("rule 7: a status check judged against a return day")
            if any(t.postponed for t in ts):
                event("rule 8: postponed beyond the window"
                      + (", and it took place" if any(t.postponed and t.event.end < now
                                                      for t in ts) else ""))
        if self.world is not None:
            self.world.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the world -------------------------------------------------------------
    @initialize(complete=st.booleans(), first=JUST_ENDED)
    def setup(self, complete: bool, first: Spec) -> None:
        self.world = World(self.folder, extra_config=TIMING, complete=complete)
        self._add(first)

    @rule(spec=ANY_TIME)
    def add_interview(self, spec: Spec) -> None:
        self._add(spec)

    def _add(self, spec: Spec) -> None:
        self.serial += 1
        uid = f"ev{self.serial}@calendar.test"
        c = COMPANIES[spec.company]
        people = [person(e, n) for e, n in c.interviewers[: spec.interviewers]]
        extra = []
        if spec.room:
            extra.append(person("room-4a@resource.calendar.google.com", "Room 4A",
                                is_resource=True))
        if spec.decliner:
            extra.append(person(f"kim.park@{c.domain}", "Kim Park", Response.DECLINED))
        organizer = {"recruiter": person(*c.recruiter), "interviewer": people[0],
                     "none": None}[spec.organizer]
        ev = interview_event(uid, self.w.clock.now + spec.offset, minutes=spec.minutes,
                             title=f"Interview: {c.name} (Backend Engineer)",
                             interviewers=[*people, *extra], organizer=organizer)
        recipients = tuple(p.email for p in people)
        contact = organizer.email if organizer else recipients[0]
        self.tracked[self.w.iid(uid)] = Tracked(uid, self.w.iid(uid), c, recipients, contact,
                                                ev, self.delivered)
        self.w.calendar.put(ev)

    @rule(offset=st.integers(-96, 96))
    def add_other_event(self, offset: int) -> None:
        self.serial += 1
        uid = f"ev{self.serial}@calendar.test"
        jane = person(*COMPANIES[0].interviewers[0])
        start = self.w.clock.now + timedelta(minutes=30 * offset)
        self.w.calendar.put(interview_event(uid, start, title="Lunch with Jane",
                                            interviewers=[jane], organizer=jane))
        self.others.add(self.w.iid(uid))

    def _live(self, future: bool = False) -> list[Tracked]:
        return [t for t in self.tracked.values() if t.present and not t.killed
                and (not future or self.w.clock.now < t.event.start)]

    @precondition(lambda self: self._live(future=True))
    @rule(pick=st.integers(0, 99), offset=st.integers(1, 96))
    def move_interview(self, pick: int, offset: int) -> None:
        candidates = self._live(future=True)
        t = candidates[pick % len(candidates)]
        start = self.w.clock.now + timedelta(minutes=30 * offset)
        t.event = replace(t.event, start=start, end=start + (t.event.end - t.event.start))
        self.w.calendar.put(t.event)
        self._cycle()  # the next poll sees it (see _calendar_changed)

    @precondition(lambda self: self._live())
    @rule(pick=st.integers(0, 99))
    def cancel_interview(self, pick: int) -> None:
        candidates = self._live()
        t = candidates[pick % len(candidates)]
        t.event, t.killed = replace(t.event, cancelled=True), True
        self.w.calendar.put(t.event)
        self._calendar_changed(t)

    @precondition(lambda self: any(t.present for t in self.tracked.values()))
    @rule(pick=st.integers(0, 99))
    def delete_event(self, pick: int) -> None:
        candidates = [t for t in self.tracked.values() if t.present]
        t = candidates[pick % len(candidates)]
        t.present, t.killed = False, True
        self.w.calendar.delete(t.uid)
        self._calendar_changed(t)

    def _calendar_changed(self, t: Tracked) -> None:
        """A cancellation before the start is seen by the next poll, before the start.

        The daemon polls every few minutes, so the machine lets it see the change
        at once. A change after the start is a tidy-up if the engine saw the event
        alive after the start, a cancellation otherwise: test_engine_rules.py pins
        both.
        """
        if self.w.clock.now < t.event.start:
            self._cycle()
        else:
            t.killed_late = True

    @rule(kind=MAIL_KINDS, pick=st.integers(0, 99), which=st.integers(0, 2), late=st.booleans())
    def deliver_mail(self, kind: str, pick: int, which: int, late: bool) -> None:
        """``late``: it lands while the next cycle runs, after that cycle's first inbox read."""
        known = [t.company for t in self.tracked.values()]
        c = known[pick % len(known)] if known else COMPANIES[pick % len(COMPANIES)]
        interviewer = c.interviewers[which][0]
        now = self.w.clock.now
        sender, subject, headers = {
            "interviewer": (interviewer, "Re: Thank you", {}),
            "colleague": (c.colleague, "Next steps", {}),
            "stranger": (STRANGER, "Quick question", {}),
            "auto_header": (interviewer, "Re: Thank you", {"auto-submitted": "auto-replied"}),
            "auto_subject": (interviewer, "Out of office: Re: Thank you", {}),
            "self": (ME, "Note to self", {}),
        }[kind]
        msg = inbound(sender, subject, date=now, headers=headers)
        self._deliver(msg, c.domain if kind in ("interviewer", "colleague") else None, None,
                      late)

    @precondition(lambda self: self.world is not None and self.w.mailbox.drafts)
    @rule(pick=st.integers(0, 99), keep_marker=st.booleans())
    def user_sends_draft(self, pick: int, keep_marker: bool) -> None:
        drafts = self.w.mailbox.drafts
        draft = drafts[pick % len(drafts)]
        self.w.mailbox.send_draft(draft.id, keep_marker=keep_marker)
        iid, kind, _ = draft.marker.split("/", 2)
        t = self.tracked[iid]
        if not keep_marker:
            for other in self.tracked.values():
                if other.company == t.company:
                    other.loose = True
        elif kind == THANK_YOU:
            t.thanked.append(self.w.clock.now)

    @precondition(lambda self: self.world is not None and self.w.mailbox.drafts)
    @rule(pick=st.integers(0, 99))
    def user_deletes_draft(self, pick: int) -> None:
        drafts = self.w.mailbox.drafts
        self.w.mailbox.delete_draft(drafts[pick % len(drafts)].id)

    # -- issue 8: mail as it really arrives --------------------------------------------
    def _deliver(self, msg: MailMessage, answers: str | None, back: date | None,
                 late: bool) -> None:
        self.delivered += 1
        assert msg.date is not None
        if answers is not None:
            self.answers.append(Answer(self.delivered, answers, msg.date))
        if back is not None and not late and msg.sender is not None:
            # A late one is read only by the look right before a status check is written,
            # which is for answers: a return day read then is not waited for.
            self.away.append(Away(self.delivered, msg.sender.email, msg.date, back))
        self.inbound.append(Delivered(msg, answers, back))
        self.w.mailbox.deliver(msg, hidden_for=1 if late else 0)

    @rule(kind=FILED_KINDS, pick=st.integers(0, 99), which=st.integers(0, 2), folder=FOLDERS,
          late=st.booleans(), days=AWAY_DAYS)
    def deliver_filed_mail(self, kind: str, pick: int, which: int,
                           folder: tuple[Folder, str], late: bool, days: int) -> None:
        """Answers and traps of rule 6, in the inbox or filed elsewhere by a mail rule; and
        out-of-office replies naming the day their sender is back (rule 7): mostly from
        the main contact of an interview that ended and has no status check yet
        (``which`` 0 or 1), else from its last interviewer, which delays nothing."""
        now = self.w.clock.now
        if kind == "out_of_office":
            return self._out_of_office(pick, which, days, not late, folder)
        known = [t.company for t in self.tracked.values()]
        c = known[pick % len(known)] if known else COMPANIES[pick % len(COMPANIES)]
        interviewer = c.interviewers[which][0]
        ats = "no-reply@us.greenhouse-mail.io"
        verdict = ("Thank you for interviewing with {}. Unfortunately we have decided to "
                   "move forward with other candidates.")
        sender, name, subject, headers, excerpt = {
            "interviewer": (interviewer, "", "Re: Thank you", {}, "Great talking to you."),
            "colleague": (c.colleague, "", "Next steps", {}, "Could we schedule a call?"),
            "ats": (ats, c.name, "Update on your application",
                    {"auto-submitted": "auto-generated"}, verdict.format(c.name)),
            "ats_other": (ats, "Hooli", "Update on your application",
                          {"auto-submitted": "auto-generated"}, verdict.format("Hooli")),
            "receipt": (interviewer, "", "Read: Thank you", {}, ""),
            "calendar_notice": (c.recruiter[0], c.recruiter[1],
                                f"Updated: Interview: {c.name} (Backend Engineer)", {}, ""),
            "newsletter": (f"news@{c.domain}", c.name, f"{c.name} news for April",
                           {"list-unsubscribe": f"<mailto:unsubscribe@{c.domain}>"}, ""),
            "invoice": (f"billing@{c.domain}", c.name, "Invoice #4411 for your account", {},
                        ""),
        }[kind]
        msg = replace(inbound(sender, subject, date=now, name=name, headers=headers),
                      folder=folder[0], folder_name=folder[1], excerpt=excerpt)
        self._deliver(msg, c.domain if kind in ANSWER_KINDS else None, None, late)

    def _out_of_office(self, pick: int, which: int, days: int, header: bool,
                       folder: tuple[Folder, str]) -> None:
        now = self.w.clock.now
        # Mostly a reply to a thank-you: an interview that ended and has no status check.
        checked = {s.interview_id for s in self.w.mailbox.stored(STATUS_CHECK)}
        ts = [t for t in self.tracked.values() if t.event.end < now and t.iid not in checked] \
            or list(self.tracked.values())
        if not ts:
            return
        t = ts[pick % len(ts)]
        sender = t.contact if which < 2 else t.recipients[-1]
        back = now.date() + timedelta(days=days)
        subject = "Automatic reply: Thank you" if header else "Re: Thank you"
        headers = {"auto-submitted": "auto-replied"} if header else {}
        excerpt = (f"I am out of the office with limited access to email. I will be back "
                   f"on {back:%A} {back.day} {back:%B}.")
        msg = replace(inbound(sender, subject, date=now, headers=headers),
                      folder=folder[0], folder_name=folder[1], excerpt=excerpt)
        self._deliver(msg, None, back, False)

    @precondition(lambda self: self.inbound)
    @rule(pick=st.integers(0, 99), folder=FOLDERS, late=st.booleans())
    def move_message(self, pick: int, folder: tuple[Folder, str], late: bool) -> None:
        """The user archives a message, or files it, or moves it back: providers report
        the same message again, in its new folder."""
        d = self.inbound[pick % len(self.inbound)]
        if (d.msg.folder, d.msg.folder_name) == folder:
            folder = (Folder.OTHER, "Archive") if folder[0] is Folder.INBOX else \
                (Folder.INBOX, "INBOX")
        self._deliver(replace(d.msg, folder=folder[0], folder_name=folder[1]), d.answers,
                      d.back, late)

    @precondition(lambda self: self.tracked)
    @rule(pick=st.integers(0, 99), to=st.sampled_from(["interviewer", "recruiter", "colleague"]),
          when=OWN_WHEN, subject=OWN_SUBJECTS)
    def user_writes_to_them(self, pick: int, to: str, when: str, subject: str) -> None:
        """The user writes to the company from their own client (rule 11): before our
        thank-you is due, the day after, or once the status check is due."""
        now = self.w.clock.now
        ts = list(self.tracked.values())
        if when == "before_due":
            ts = [t for t in ts if now < t.event.end + AFTER / 3] or ts
        t = ts[pick % len(ts)]
        c = t.company
        target = {
            "now": now,
            "before_due": t.event.end + AFTER / 3,
            "next_day": t.event.end + timedelta(days=1),
            "check_due": self._base(t, now) + STATUS_AFTER + timedelta(hours=2),
        }[when]
        if target > now:
            self.w.advance(target - now)
            now = target
        address = {"interviewer": t.recipients[0], "recruiter": c.recruiter[0],
                   "colleague": c.colleague}[to]
        self.delivered += 1
        msg = MailMessage(id=f"own-{self.delivered}", folder=Folder.SENT,
                          sender=Address(ME, "Alex Rivera"), to=(Address(address),), date=now,
                          subject=subject, message_id=f"<own-{self.delivered}@example.org>",
                          thread_id=f"thread-own-{self.delivered}", folder_name="Sent")
        self.own.append(Own(self.delivered, c.domain, now))
        self.w.mailbox.deliver(msg)

    @precondition(lambda self: self._live(future=True))
    @rule(pick=st.integers(0, 99), delay=POSTPONED,
          happens=st.sampled_from([None, AFTER, 5 * AFTER, 24 * AFTER]))
    def postpone_interview(self, pick: int, delay: timedelta,
                           happens: timedelta | None) -> None:
        """Postponed by two months or more, beyond the window the engine reads (rule 8):
        a complete read no longer has it, an incremental one reports it removed. With
        ``happens``, the months pass and the daemon runs after its new end."""
        candidates = self._live(future=True)
        t = candidates[pick % len(candidates)]
        if self.w.store.interview(t.iid) is None:
            self._cycle()  # the daemon polls: it knew the interview before it moved
        iv = self.w.store.interview(t.iid)
        if iv is None or iv.closed:
            return
        start = t.event.start + delay
        t.event = replace(t.event, start=start, end=start + (t.event.end - t.event.start))
        t.postponed = True
        self.w.calendar.put(t.event)
        self._cycle()
        if happens is not None:
            self.w.advance(t.event.end + happens - self.w.clock.now)
            self._cycle()

    @rule(delay=st.one_of(SHORT, LONG))
    def advance_clock(self, delay: timedelta) -> None:
        self.w.advance(delay)

    # -- the daemon --------------------------------------------------------------
    @rule()
    def run_cycle(self) -> None:
        self._cycle()

    # What the daemon does all day: time passes, a cycle runs. Two rules, so
    # that cycles are common and both hours and days pass between them.
    @rule(delay=SHORT)
    def tick(self, delay: timedelta) -> None:
        self.w.advance(delay)
        self._cycle()

    @rule(delay=LONG)
    def tick_days(self, delay: timedelta) -> None:
        self.w.advance(delay)
        self._cycle()

    @rule()
    def restart(self) -> None:
        self.w.restart()

    @rule(after_store=st.booleans())
    def crash_and_restart(self, after_store: bool) -> None:
        """The process dies inside create_draft; systemd restarts it and it runs a cycle.

        The restart's cycle follows at once. Time and mail passing before the
        daemon is back are pinned in tests/test_engine_rules.py (the rule-5 crash
        tests). The user deleting the orphan draft before the restart is left out:
        the claim protocol cannot tell it from a draft that never reached the
        mailbox, and writes it again.
        """
        box = self.w.mailbox
        box.crash_after_store, box.crash_before_store = after_store, not after_store
        self._cycle(may_crash=True)
        box.crash_after_store = box.crash_before_store = False
        self.w.restart()
        self._cycle()

    def _cycle(self, may_crash: bool = False) -> None:
        reads = self.w.calendar.calls
        try:
            report: CycleReport | None = self.w.cycle()
        except Crash:
            assert may_crash
            self.crashes += 1
            if currently_in_test_context():
                note(f"crashed at {self.w.clock.now}")
            report = None
        if self.w.calendar.calls > reads:
            self._calendar_was_read()
        if report is not None:
            assert report.errors == []
            self._thank_yous_are_written()

    def _calendar_was_read(self) -> None:
        now = self.w.clock.now
        start, end = now - lookback(self.w.config), now + HORIZON
        for t in self.tracked.values():
            if t.killed and now < t.event.start:
                t.killed_seen = True
            if not t.killed and t.event.end > start and t.event.start < end:
                t.seen_live = True

    def _thank_yous_are_written(self) -> None:
        """Liveness: after a clean cycle, every due thank-you note is in the mailbox."""
        now = self.w.clock.now
        written = {s.marker for s in self.w.mailbox.history}
        for t in self.tracked.values():
            if not t.seen_live or t.killed_seen or t.killed_late:
                continue
            if any(o.domain == t.company.domain and o.date >= t.event.end for o in self.own):
                continue  # the user wrote to them themselves: their thank-you (rule 11)
            if t.event.end + AFTER <= now < t.event.end + WINDOW:
                for r in t.recipients:
                    assert f"{t.iid}/{THANK_YOU}/{r}" in written, (t.uid, r)

    # -- the model of rule 11 -------------------------------------------------------
    def _own_for(self, t: Tracked) -> list[Own]:
        """The user's own messages to ``t``'s company after it ended, which the engine read
        while it knew the interview (sent after the event was on the calendar)."""
        return [o for o in self.own if o.domain == t.company.domain
                and o.number > t.added_after and o.date >= t.event.end]

    def _clock(self, t: Tracked, until: datetime) -> tuple[datetime, datetime | None]:
        """Rule 11 up to ``until``: where the status-check clock starts (the first note,
        ours sent or the user's own, moved by each later message of theirs), and when
        the user's own status check went out (a message once the check was due)."""
        timeline = sorted([(d, False) for d in t.thanked if d <= until]
                          + [(o.date, True) for o in self._own_for(t) if o.date <= until])
        base: datetime | None = None
        for when, own in timeline:
            if base is None:
                base = when
            elif own and when > base:
                if when >= base + STATUS_AFTER:
                    return base, when
                base = when
        return base or t.event.end, None

    def _base(self, t: Tracked, now: datetime) -> datetime:
        return self._clock(t, now)[0]

    # -- the rules, checked on the mailbox ------------------------------------------
    @invariant()
    def rules_hold(self) -> None:
        if self.world is not None:
            self.check()

    def check(self) -> None:
        box = self.w.mailbox
        assert set(box.calls) <= ENGINE_CALLS  # the engine only ever writes drafts (rule 10)
        ever = [s.marker for s in box.history]
        assert len(ever) == len(set(ever)), "a marker was written twice (rule 5)"
        present = [m for m in box.present_markers() if m]  # the user's own mail has none
        assert len(present) == len(set(present)), "two messages with one marker (rule 5)"
        checks = [s.interview_id for s in box.stored(STATUS_CHECK)]
        assert len(checks) == len(set(checks)), "two status checks for one interview (rule 7)"
        for s in box.history:
            assert s.interview_id not in self.others, "a draft for an event that is no interview"
            t = self.tracked[s.interview_id]
            to = [a.email for a in s.header.to]
            assert ME not in to
            assert not t.killed_seen, f"{s.marker}: interview was cancelled before it started"
            if s.kind == THANK_YOU:
                recipient = s.marker.rsplit("/", 1)[1]
                assert recipient in t.recipients and to == [recipient], (s.marker, to)
                assert s.created >= t.event.end + AFTER, "thank-you before it was due (rule 4)"
                assert s.created <= t.event.end + WINDOW, "thank-you after the window (rule 4)"
                early = [o for o in self._own_for(t) if o.date < t.event.end + AFTER]
                assert not early, f"{s.marker}: the user's own thank-you {early[0]} (rule 11)"
            else:
                assert to == [t.contact], (s.marker, to, t.contact)
                assert s.created >= t.event.end + STATUS_AFTER, "status check too early"
                # Judged when first seen, i.e. right after the step that wrote it: every
                # answer delivered before that step (late ones too, filed in any folder,
                # even before the event was on the calendar) was in the mailbox when the
                # engine searched all of it once more (rule 7).
                answered = self.premature.setdefault(s.marker, [
                    a for a in self.answers
                    if a.domain == t.company.domain and a.date > t.event.start
                ])
                assert not answered, f"status check {s.marker} after an answer {answered[0]}"
                if s.marker not in self.judged:  # judged when first seen, like answers
                    self.judged.add(s.marker)
                    self._check_status_check(s.marker, s.created, t)
        for t in self.tracked.values():
            if t.postponed and not t.killed:
                iv = self.w.store.interview(t.iid)
                assert iv is not None and iv.closed != "cancelled", \
                    f"{t.uid}: postponed beyond the window, closed as {iv and iv.closed} (rule 8)"
                assert iv.start == t.event.start, (t.uid, iv.start, t.event.start)

    def _check_status_check(self, marker: str, created: datetime, t: Tracked) -> None:
        base, followed_up = self._clock(t, created)
        assert followed_up is None, \
            f"status check {marker} after the user's own follow-up at {followed_up} (rule 11)"
        if not t.loose:
            assert created >= base + STATUS_AFTER, \
                f"status check {marker} before {STATUS_AFTER} after {base} (rule 11)"
        away = [a for a in self.away if a.sender == t.contact and a.number > t.added_after
                and a.sent > t.event.start]
        if away:
            self.away_judged += 1
            # The most recent reply says when they are back, whichever was read last.
            back = max(away, key=lambda a: (a.sent, a.number)).back
            timing, zone = self.w.config.timing, self.w.config.me.timezone
            morning = datetime.combine(back + timedelta(days=1), timing.working_start,
                                       tzinfo=zone)
            assert created >= morning or \
                created >= t.event.end + STATUS_AFTER + MAX_AWAY_WAIT, \
                f"status check {marker} while {t.contact} is away until {back} (rule 7)"


LifecycleMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLifecycleMachine = LifecycleMachine.TestCase


def test_the_machine_reaches_both_kinds_of_draft() -> None:
    """The machine's own rules, driven by hand: a machine that never drafts proves nothing."""
    m = LifecycleMachine()
    try:
        m.setup(complete=False, first=Spec(0, 2, "recruiter", timedelta(hours=-3), 60,
                                           room=True, decliner=True))
        m.run_cycle()
        m.check()
        assert len(m.w.mailbox.stored(THANK_YOU)) == 2
        m.user_sends_draft(0, keep_marker=False)
        m.tick(timedelta(days=4))
        m.check()
        (check,) = m.w.mailbox.stored(STATUS_CHECK)
        assert [a.email for a in check.header.to] == ["priya.shah@acme.com"]
        m.crash_and_restart(after_store=True)
        m.tick(timedelta(days=1))
        m.check()
        assert len(m.w.mailbox.history) == 3
    finally:
        m.teardown()


def _folder(name: str) -> tuple[Folder, str]:
    return (Folder.INBOX, name) if name == "INBOX" else (Folder.OTHER, name)


def test_the_machine_reaches_the_new_rules() -> None:
    """Issue 8's rules, driven by hand: an answer filed away, the user's own follow-up, an
    interview postponed beyond the window, an out-of-office with a return day."""
    m = LifecycleMachine()
    try:
        m.setup(complete=False, first=Spec(0, 1, "recruiter", timedelta(hours=-3), 60,
                                           room=False, decliner=False))
        m.run_cycle()
        assert len(m.w.mailbox.stored(THANK_YOU)) == 1
        # Acme answers through its tracking system; a mail rule files it; it is late.
        m.deliver_filed_mail("ats", 0, 0, _folder("Jobs/Applications"), late=True, days=1)
        m.move_message(0, _folder("Archive"), late=False)
        m.tick_days(timedelta(days=4))
        m.check()
        assert not m.w.mailbox.stored(STATUS_CHECK)

        # Globex: the user follows up themselves once the status check is due.
        m.add_interview(Spec(1, 1, "recruiter", timedelta(hours=-3), 60, False, False))
        m.run_cycle()
        assert len(m.w.mailbox.stored(THANK_YOU)) == 2
        m.user_writes_to_them(1, "recruiter", "check_due", "Checking in on next steps")
        m.tick(timedelta(hours=1))
        m.check()
        assert not m.w.mailbox.stored(STATUS_CHECK)
        globex = list(m.tracked.values())[1]
        assert m.w.store.interview(globex.iid).own_sent  # type: ignore[union-attr]

        # Initech: postponed by 70 days, out of the window; its notes come after it.
        m.add_interview(Spec(2, 2, "interviewer", timedelta(days=1), 60, False, False))
        m.run_cycle()
        m.postpone_interview(0, timedelta(days=70), happens=5 * AFTER)
        m.check()
        initech = list(m.tracked.values())[2]
        notes = m.w.mailbox.stored(THANK_YOU, initech.iid)
        assert len(notes) == 2 and all(n.created > initech.event.end for n in notes)

        # Acme again: the recruiter is away for eight days; the check waits for them.
        m.add_interview(Spec(0, 1, "recruiter", timedelta(hours=-3), 60, False, False))
        m.run_cycle()
        m.deliver_filed_mail("out_of_office", 0, 0, _folder("INBOX"), late=False, days=8)
        m.run_cycle()
        acme = list(m.tracked.values())[3]
        back = m.w.store.interview(acme.iid).back_on  # type: ignore[union-attr]
        assert back == m.w.clock.now.date() + timedelta(days=8)
        m.tick_days(timedelta(days=4))
        m.tick_days(timedelta(days=4))
        assert not m.w.mailbox.stored(STATUS_CHECK, acme.iid)
        m.tick_days(timedelta(days=2))
        m.check()
        (check,) = m.w.mailbox.stored(STATUS_CHECK, acme.iid)
        assert check.created.date() > back
        assert m.away_judged == 1
    finally:
        m.teardown()


def test_own_thank_you_after_an_early_answer() -> None:
    """The recruiter writes right after the interview; the user thanks them from their
    phone before our note is due: no thank-you draft (rule 11), although the interview is
    already answered (found by the machine's author; the engine looked at unanswered
    interviews only)."""
    m = LifecycleMachine()
    try:
        m.setup(complete=True, first=Spec(0, 1, "recruiter", timedelta(hours=-1), 30,
                                          room=False, decliner=False))
        m.deliver_mail("colleague", 0, 0, late=False)
        m.run_cycle()
        m.user_writes_to_them(0, "interviewer", "now", "Thanks for today")
        m.tick(timedelta(hours=1))
        assert not m.w.mailbox.stored(THANK_YOU)
    finally:
        m.teardown()


def test_archiving_an_old_out_of_office() -> None:
    """The recruiter's first automatic reply says back on Wednesday 8 April, a later one
    says back on Sunday 26 April. The user archives the first: the check must still wait
    for the 27th (the engine used to keep the day of the reply it read last)."""
    m = LifecycleMachine()
    try:
        m.setup(complete=True, first=Spec(0, 1, "recruiter", timedelta(hours=-3), 60,
                                          room=False, decliner=False))
        m.deliver_filed_mail("out_of_office", 0, 0, _folder("INBOX"), late=False, days=2)
        m.tick(timedelta(hours=1))
        m.deliver_filed_mail("out_of_office", 0, 0, _folder("INBOX"), late=False, days=20)
        m.run_cycle()
        m.move_message(0, _folder("Archive"), late=False)
        m.run_cycle()
        m.tick_days(timedelta(days=4))
        assert not m.w.mailbox.stored(STATUS_CHECK)
    finally:
        m.teardown()
