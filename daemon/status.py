"""`followup status`: the rows, a table that fits the terminal, and the JSON document.

The JSON schema is a contract for scripts (docs/guide.md, "followup status
--json"): keys are only ever added, and ``schema`` changes when a key's meaning
does. The table is for people: it fits the terminal's width (80 columns and
up; narrower ones cut titles at a word and drop the WHEN column first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from . import lifecycle
from .config import Config
from .state import DraftRow, Interview, Store

SCHEMA = 1
ELLIPSIS = "…"
SEP = "  "
HISTORY_AFTER = timedelta(days=30)  # a finished interview this long over is history (--all)
SHORT_ID = 4  # the table shows the shortest unique prefix of an ID, at least this long


@dataclass(frozen=True)
class Row:
    interview: Interview
    drafts: list[DraftRow]
    stage: str
    step: lifecycle.Step

    def history(self, now: datetime) -> bool:
        """Nothing more will be drafted, nothing needs the person's eyes, and it is old."""
        iv = self.interview
        return not self.step.kind and not iv.answered_late and iv.end < now - HISTORY_AFTER


@dataclass(frozen=True)
class Status:
    rows: list[Row]  # the rows shown (all of them with --all)
    hidden: int  # finished interviews left out
    paused: dict[str, tuple[str, datetime]]
    now: datetime
    short: dict[str, str]  # interview id -> its shortest unique prefix


def collect(store: Store, config: Config, now: datetime, *, everything: bool) -> Status:
    rows = []
    for iv in store.interviews():
        drafts = store.drafts(iv.id)
        step = lifecycle.next_step(iv, drafts, now, config.timing, config.me.timezone)
        rows.append(Row(iv, drafts, lifecycle.stage(iv, drafts, now), step))
    shown = rows if everything else [r for r in rows if not r.history(now)]
    short = short_ids([r.interview.id for r in rows])
    return Status(shown, len(rows) - len(shown), store.paused(), now, short)


def short_ids(ids: list[str]) -> dict[str, str]:
    """Each ID's shortest prefix (at least :data:`SHORT_ID` long) that no other ID shares;
    every command takes any unique prefix."""
    result = {}
    for ident in ids:
        size = SHORT_ID
        while size < len(ident) and any(o != ident and o.startswith(ident[:size]) for o in ids):
            size += 1
        result[ident] = ident[:size]
    return result


# -- words -----------------------------------------------------------------------
def when(moment: datetime | None, now: datetime, zone: tzinfo) -> str:
    """Short and unambiguous: 'today 14:00', 'Wed 09:00' (within 6 days), '02 Dec 09:00'."""
    if moment is None:
        return "-"
    local, today = moment.astimezone(zone), now.astimezone(zone)
    days = (local.date() - today.date()).days
    if days == 0:
        return local.strftime("today %H:%M")
    if abs(days) <= 6:
        return local.strftime("%a %H:%M")
    if local.year != today.year:
        return local.strftime("%d %b %Y")
    return local.strftime("%d %b %H:%M")


def next_text(row: Row, now: datetime, zone: tzinfo) -> str:
    step, iv = row.step, row.interview
    if step.kind in (lifecycle.THANK_YOU, lifecycle.STATUS_CHECK) and step.due:
        return f"{step.label} {'now' if step.due <= now else when(step.due, now, zone)}"
    if step.kind == "missed":
        return "status check later"
    if iv.answered_at is not None and iv.answered_by:
        return f"- (answered: {iv.answered_by})"
    return "-"


def cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters, cut at a word with an ellipsis when too long."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = text[: width - 1]
    space = head.rfind(" ")
    if space >= width // 2:  # a word boundary not too far back
        head = head[:space]
    return head.rstrip(" ,:;-(") + ELLIPSIS


# -- the table -----------------------------------------------------------------
HEADER = ("ID", "INTERVIEW", "COMPANY", "WHEN", "STAGE", "NEXT")
# Layouts from the widest to the narrowest: the columns shown, and the steps that shrink
# the flexible ones (column, down to this width), in order. "WHAT" is the title with the
# company in it, for layouts without a COMPANY column.
_LAYOUTS: tuple[tuple[tuple[str, ...], tuple[tuple[str, int], ...]], ...] = (
    (HEADER, (("NEXT", 26), ("INTERVIEW", 16), ("COMPANY", 10), ("NEXT", 20))),
    (("ID", "WHAT", "WHEN", "STAGE", "NEXT"), (("NEXT", 26), ("WHAT", 20), ("NEXT", 20))),
    (("ID", "WHAT", "STAGE", "NEXT"), (("NEXT", 26), ("WHAT", 20), ("NEXT", 18), ("WHAT", 10),
                                        ("NEXT", 14))),
)
_TITLES = {"WHAT": "INTERVIEW"}
# Table words for stages too long for a column (the JSON keeps the full stage).
_SHORT_STAGE = {"answered after status check!": "answered late!"}


def table_rows(status: Status, zone: tzinfo) -> list[dict[str, str]]:
    rows = []
    for r in status.rows:
        iv = r.interview
        title, company = " ".join(iv.title.split()), iv.company or "?"
        what = title if company == "?" or company.lower() in title.lower() else (
            f"{company}: {title}")
        rows.append({"ID": status.short.get(iv.id, iv.id), "INTERVIEW": title,
                     "COMPANY": company, "WHAT": what, "WHEN": when(iv.start, status.now, zone),
                     "STAGE": _SHORT_STAGE.get(r.stage, r.stage),
                     "NEXT": next_text(r, status.now, zone)})
    return rows


def layout(rows: Sequence[dict[str, str]], width: int) -> tuple[tuple[str, ...], list[int]]:
    """The columns shown and their widths, so that a line fits ``width`` when it can."""
    for names, least in _LAYOUTS:
        widths = {n: max(len(_TITLES.get(n, n)), *(len(r[n]) for r in rows)) for n in names}
        over = sum(widths.values()) + len(SEP) * (len(names) - 1) - width
        for name, floor in least:
            give = min(max(over, 0), max(widths[name] - floor, 0))
            widths[name] -= give
            over -= give
        if over <= 0:
            break
    return names, [widths[n] for n in names]


def render(rows: Sequence[dict[str, str]], width: int, style: Any = None) -> list[str]:
    """The table as lines of at most ``width`` characters (plus colour codes, if styled)."""
    names, widths = layout(rows, width)
    header = {n: _TITLES.get(n, n) for n in names}
    lines = []
    for number, row in enumerate((header, *rows)):
        cells = []
        for name, w in zip(names, widths, strict=True):
            text = cut(row[name], w).ljust(w)
            if style is not None and number > 0:
                text = style(name, row[name], text)
            cells.append(text)
        lines.append(SEP.join(cells).rstrip())
    return lines


# -- JSON ------------------------------------------------------------------------
def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def as_json(status: Status) -> dict[str, Any]:
    """The documented document (docs/guide.md); every time in ISO 8601 with its offset."""
    interviews = []
    for r in status.rows:
        iv, step = r.interview, r.step
        interviews.append({
            "id": iv.id,
            "account": iv.account,
            "title": iv.title,
            "company": iv.company or None,
            "role": iv.role or None,
            "start": _iso(iv.start),
            "end": _iso(iv.end),
            "stage": r.stage,
            "closed": iv.closed,
            "next": {
                "action": step.kind or None,  # "thank_you", "status_check", "missed" or null
                "label": step.label,
                "due": _iso(step.due) if step.kind else None,
                "due_now": bool(step.kind and step.due and step.due <= status.now),
            },
            "answered": ({"at": _iso(iv.answered_at), "by": iv.answered_by}
                         if iv.answered_at is not None else None),
            "answered_late": iv.answered_late,
            "drafts": [{"kind": d.kind, "recipient": d.recipient, "subject": d.subject,
                        "state": d.state, "created_at": _iso(d.created_at),
                        "sent_at": _iso(d.sent_at)} for d in r.drafts],
        })
    return {
        "schema": SCHEMA,
        "generated_at": _iso(status.now),
        "interviews": interviews,
        "hidden_finished": status.hidden,
        "paused_accounts": [{"account": a, "reason": reason, "since": _iso(since)}
                            for a, (reason, since) in sorted(status.paused.items())],
        "late_answers": [{"interview_id": r.interview.id, "company": r.interview.company or None,
                          "by": r.interview.answered_by} for r in status.rows
                         if r.interview.answered_late],
    }


def since_text(moment: datetime, now: datetime) -> str:
    ago = now - moment
    if ago < timedelta(minutes=1):
        return "just now"
    if ago < timedelta(hours=1):
        return f"{int(ago.total_seconds() // 60)} min ago"
    if ago < timedelta(days=1):
        return f"{int(ago.total_seconds() // 3600)} h ago"
    return f"{ago.days} d ago"
