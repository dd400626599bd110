"""When each draft of an interview is due (rules 4, 7 and 8), as pure functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from .config import Timing
from .state import DraftRow, Interview

THANK_YOU = "thank_you"
STATUS_CHECK = "status_check"
MAX_AWAY_WAIT = timedelta(days=30)  # the longest an out-of-office return day delays a check
NOBODY = "nobody"  # the recipient part of a marker for a draft with an empty To
EVERYONE = "all"  # ... for one shared draft to every interviewer


@dataclass(frozen=True)
class Step:
    """The next thing to do for one interview.

    ``kind`` is THANK_YOU, STATUS_CHECK, "missed" (the thank-you window has
    passed) or "" (nothing more, ever). ``due`` is when; due <= now means now.
    """

    kind: str
    due: datetime | None
    label: str


def next_working_time(moment: datetime, timing: Timing, zone: tzinfo) -> datetime:
    """``moment`` if it falls in working hours, else the start of the next working period."""
    local = moment.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in timing.working_days:
            continue
        start = datetime.combine(day, timing.working_start, tzinfo=zone)
        end = datetime.combine(day, timing.working_end, tzinfo=zone)
        if local < start:
            return start
        if local < end:
            return moment
    raise AssertionError("working_days is never empty")  # validated in config


def thank_you_sent_at(drafts: list[DraftRow]) -> datetime | None:
    sent = [d.sent_at for d in drafts if d.kind == THANK_YOU and d.sent_at]
    return min(sent) if sent else None


def next_step(iv: Interview, drafts: list[DraftRow], now: datetime, timing: Timing,
              zone: tzinfo) -> Step:
    if iv.closed:
        return Step("", None, iv.closed)
    if any(d.kind == STATUS_CHECK for d in drafts):
        return Step("", None, "finished")
    # The user's own message to them after the interview is their thank-you (rule 11).
    own = sorted(t for t in iv.own_sent if t >= iv.end)
    thank_you_done = iv.missed or bool(own) or any(d.kind == THANK_YOU for d in drafts)
    if not thank_you_done:
        due = iv.end + timing.thank_you_after
        if now > iv.end + timing.thank_you_window:
            return Step("missed", now, "thank-you window passed")
        return Step(THANK_YOU, due, "thank-you note")
    if iv.answered_at is not None:
        return Step("", None, "answered")
    sent = thank_you_sent_at(drafts)
    base = min(t for t in (sent, own[0] if own else None) if t) if sent or own else iv.end
    for moment in own:
        if moment <= base:
            continue
        if moment >= _plus(base, timing.status_check_after, zone):
            # Written once the status check was due: their own status check (one, never two).
            return Step("", None, "followed up by you")
        base = moment  # a later message to them (the promised portfolio) moves the clock
    due = next_working_time(_plus(base, timing.status_check_after, zone), timing, zone)
    if iv.back_on is not None:
        # Away: the first working morning after the day they are back, at most 30 days on.
        back = datetime.combine(iv.back_on + timedelta(days=1), timing.working_start,
                                tzinfo=zone)
        if back > due:
            due = next_working_time(min(back, due + MAX_AWAY_WAIT), timing, zone)
            return Step(STATUS_CHECK, due, f"status check (away until {iv.back_on:%a %d %b})")
    return Step(STATUS_CHECK, due, "status check")


def _plus(base: datetime, after: timedelta, zone: tzinfo) -> datetime:
    # Whole days keep the wall-clock time ("a week later"), also across a DST change.
    local = base if after % timedelta(days=1) else base.astimezone(zone)
    return local + after


def stage(iv: Interview, drafts: list[DraftRow], now: datetime) -> str:
    """A short human word for `followup status`."""
    if iv.closed == "finished" or any(d.kind == STATUS_CHECK for d in drafts):
        return "answered after status check!" if iv.answered_late else "finished"
    if iv.closed:
        return iv.closed
    if iv.answered_at:
        return "answered"
    if now < iv.start:
        return "upcoming"
    if now < iv.end:
        return "in progress"
    if any(d.kind == THANK_YOU for d in drafts):
        return "thank-you sent" if thank_you_sent_at(drafts) else "thank-you drafted"
    if any(t >= iv.end for t in iv.own_sent):
        return "you wrote to them"
    if iv.missed:
        return "thank-you missed"
    return "ended"
