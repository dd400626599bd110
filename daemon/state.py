"""The local state: tracked interviews, draft claims and provider checkpoints, in SQLite.

The draft table is what makes rule 5 hold: a row is written (claimed) in its
own committed transaction before the mailbox is touched, and completed after.
A claim left without a result is resolved by asking the mailbox for the
marker, never by writing the draft blindly again.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .errors import StateError

SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    account TEXT NOT NULL, kind TEXT NOT NULL, value TEXT,
    PRIMARY KEY (account, kind)
);
CREATE TABLE IF NOT EXISTS interviews (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    event_uid TEXT NOT NULL,
    title TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT NOT NULL,
    company TEXT NOT NULL DEFAULT '',
    company_domain TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT '',
    snapshot TEXT NOT NULL,
    closed TEXT,              -- cancelled | skipped | done | finished
    closed_reason TEXT,
    missed INTEGER NOT NULL DEFAULT 0,
    answered_at TEXT,
    answered_by TEXT,
    answered_late INTEGER NOT NULL DEFAULT 0,
    notes TEXT NOT NULL DEFAULT '[]',
    detected_at TEXT NOT NULL,
    own_sent TEXT NOT NULL DEFAULT '[]',  -- when the user wrote to them (rule 11), JSON
    back_on TEXT,             -- the main contact's out-of-office return day (rule 7)
    UNIQUE (account, event_uid)
);
CREATE TABLE IF NOT EXISTS drafts (
    marker TEXT PRIMARY KEY,
    interview_id TEXT NOT NULL REFERENCES interviews(id),
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,      -- claimed | created
    draft_id TEXT,
    message_id TEXT,
    thread_id TEXT,
    claimed_at TEXT NOT NULL,
    created_at TEXT,
    sent_at TEXT,
    sent_message_id TEXT,
    sent_references TEXT,
    sent_thread_id TEXT,
    sent_provider_id TEXT,
    owner TEXT                -- host:pid of the process that claimed it
);
CREATE INDEX IF NOT EXISTS drafts_interview ON drafts (interview_id);
CREATE TABLE IF NOT EXISTS paused (
    account TEXT PRIMARY KEY, reason TEXT NOT NULL, since TEXT NOT NULL
);
"""

# _MIGRATIONS[n - 1] takes a state of schema n to n + 1 (what _SCHEMA creates is current).
_MIGRATIONS = [
    "ALTER TABLE drafts ADD COLUMN owner TEXT",
    "ALTER TABLE interviews ADD COLUMN own_sent TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE interviews ADD COLUMN back_on TEXT",
]

_BUSY_TIMEOUT = 30  # seconds SQLite waits for another connection's write to end
_FREE_ENOUGH = 1 << 20  # bytes; below this an I/O error is taken to be a full disk


def _disk_full(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        return shutil.disk_usage(path.parent).free < _FREE_ENOUGH
    except OSError:
        return False


def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime reached the state store")
    return value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Person:
    email: str
    name: str


@dataclass
class Interview:
    id: str
    account: str
    event_uid: str
    title: str
    start: datetime
    end: datetime
    company: str
    company_domain: str
    role: str
    # Snapshot taken at detection (rule 3): recipients, main contact, facts.
    snapshot: dict[str, Any]
    closed: str | None = None
    closed_reason: str | None = None
    missed: bool = False
    answered_at: datetime | None = None
    answered_by: str | None = None
    answered_late: bool = False
    notes: list[str] = field(default_factory=list)
    detected_at: datetime | None = None
    # When the user's own mail to this interview's people went out (rule 11), oldest first.
    own_sent: list[datetime] = field(default_factory=list)
    back_on: date | None = None  # the main contact is away until this day (rule 7)

    @property
    def recipients(self) -> list[Person]:
        return [Person(r["email"], r["name"]) for r in self.snapshot.get("recipients", [])]

    @property
    def main_contact(self) -> Person | None:
        c = self.snapshot.get("main_contact")
        return Person(c["email"], c["name"]) if c else None


@dataclass
class DraftRow:
    marker: str
    interview_id: str
    kind: str
    recipient: str
    subject: str
    state: str
    draft_id: str | None
    message_id: str | None
    thread_id: str | None
    claimed_at: datetime
    created_at: datetime | None
    sent_at: datetime | None
    sent_message_id: str | None
    sent_references: list[str]
    sent_thread_id: str | None
    sent_provider_id: str | None
    owner: str = ""  # host:pid of the process that claimed it ("" before schema 2)


class Store:
    """One SQLite file (mode 0600, WAL); every change in an explicit transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path

    @classmethod
    def open(cls, state_dir: Path) -> Store:
        try:
            state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = state_dir / "state.db"
            if not path.exists():
                # Create with 0600 before SQLite opens it, so it is never readable by others.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
            conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state in {state_dir}: {exc}") from None
        store = cls(conn, path)
        store._migrate()
        return store

    @classmethod
    def memory(cls, copy_of: Store | None = None) -> Store:
        """An in-memory store, optionally a copy (for --dry-run: nothing persists)."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        if copy_of is not None:
            copy_of.conn.backup(conn)
        store = cls(conn, None)
        store._migrate()
        return store

    def close(self) -> None:
        self.conn.close()

    def _migrate(self) -> None:
        try:
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                row = self.conn.execute(
                    "SELECT value FROM meta WHERE key='schema_version'"
                ).fetchone()
                version = SCHEMA_VERSION if row is None else int(row[0])
                if version > SCHEMA_VERSION:
                    raise StateError(
                        f"the state file {self.path} is from a newer interview-followup "
                        f"(schema {row[0]}, this one knows {SCHEMA_VERSION})"
                    )
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step - 1].split(";"):
                        self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value=excluded.value", (str(SCHEMA_VERSION),)
                )
        except sqlite3.DatabaseError as exc:
            raise StateError(f"the state file {self.path} cannot be used: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All or nothing; SQLite's own errors leave as a :class:`StateError` that says what
        a person can do about them (a full disk, a state another program keeps locked)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None
        try:
            yield self.conn
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise self._explain(exc) from None
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise self._explain(exc) from None

    def _explain(self, exc: sqlite3.OperationalError) -> StateError:
        where = self.path or "memory"
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code, not the extended
        if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and _disk_full(self.path)):
            return StateError(f"the disk holding the state {where} is full: nothing was "
                              "changed; free some space and the next cycle carries on")
        if code == sqlite3.SQLITE_BUSY:
            return StateError(f"the state {where} stayed locked by another program for "
                              f"{_BUSY_TIMEOUT} s (a backup tool or an SQLite browser?); "
                              "nothing was changed; try again")
        return StateError(f"the state {where} could not be written: {exc}; nothing was changed")

    # -- checkpoints ---------------------------------------------------------
    def checkpoint(self, account: str, kind: str) -> str | None:
        row = self.conn.execute(
            "SELECT value FROM checkpoints WHERE account=? AND kind=?", (account, kind)
        ).fetchone()
        return row[0] if row else None

    def set_checkpoint(self, conn: sqlite3.Connection, account: str, kind: str,
                       value: str | None) -> None:
        conn.execute(
            "INSERT INTO checkpoints VALUES (?, ?, ?) "
            "ON CONFLICT (account, kind) DO UPDATE SET value=excluded.value",
            (account, kind, value),
        )

    # -- interviews ----------------------------------------------------------
    _IV_COLS = (
        "id, account, event_uid, title, start, end, company, company_domain, role, snapshot, "
        "closed, closed_reason, missed, answered_at, answered_by, answered_late, notes, "
        "detected_at, own_sent, back_on"
    )

    def _interview(self, row: tuple[Any, ...]) -> Interview:
        return Interview(
            id=row[0], account=row[1], event_uid=row[2], title=row[3],
            start=datetime.fromisoformat(row[4]), end=datetime.fromisoformat(row[5]),
            company=row[6], company_domain=row[7], role=row[8], snapshot=json.loads(row[9]),
            closed=row[10], closed_reason=row[11], missed=bool(row[12]),
            answered_at=_dt(row[13]), answered_by=row[14], answered_late=bool(row[15]),
            notes=json.loads(row[16]), detected_at=_dt(row[17]),
            own_sent=[datetime.fromisoformat(t) for t in json.loads(row[18])],
            back_on=date.fromisoformat(row[19]) if row[19] else None,
        )

    def interviews(self, account: str | None = None, *, open_only: bool = False) -> list[Interview]:
        sql = f"SELECT {self._IV_COLS} FROM interviews"
        where, args = [], []
        if account is not None:
            where.append("account=?")
            args.append(account)
        if open_only:
            where.append("closed IS NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start, id"
        return [self._interview(r) for r in self.conn.execute(sql, args)]

    def interview(self, interview_id: str) -> Interview | None:
        row = self.conn.execute(
            f"SELECT {self._IV_COLS} FROM interviews WHERE id=?", (interview_id,)
        ).fetchone()
        return self._interview(row) if row else None

    def find_interviews(self, prefix: str) -> list[Interview]:
        rows = self.conn.execute(
            f"SELECT {self._IV_COLS} FROM interviews WHERE id LIKE ? ORDER BY id",
            (prefix.replace("%", "").replace("_", "") + "%",),
        )
        return [self._interview(r) for r in rows]

    def interview_by_event(self, account: str, event_uid: str) -> Interview | None:
        row = self.conn.execute(
            f"SELECT {self._IV_COLS} FROM interviews WHERE account=? AND event_uid=?",
            (account, event_uid),
        ).fetchone()
        return self._interview(row) if row else None

    def save_interview(self, conn: sqlite3.Connection, iv: Interview) -> None:
        """Insert ``iv``, or update what the engine owns of it.

        What the person sets by hand in another process while the service runs
        is never overwritten from an ``Interview`` read earlier: the notes (see
        :meth:`add_note`), and a closed interview stays closed as it was closed.
        """
        conn.execute(
            f"INSERT INTO interviews ({self._IV_COLS}) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET title=excluded.title, start=excluded.start, "
            "end=excluded.end, company=excluded.company, "
            "company_domain=excluded.company_domain, role=excluded.role, "
            "snapshot=excluded.snapshot, "
            "closed_reason=CASE WHEN closed IS NULL THEN excluded.closed_reason "
            "ELSE closed_reason END, "
            "closed=COALESCE(closed, excluded.closed), missed=excluded.missed, "
            "answered_at=excluded.answered_at, answered_by=excluded.answered_by, "
            "answered_late=excluded.answered_late, own_sent=excluded.own_sent, "
            "back_on=excluded.back_on",
            (
                iv.id, iv.account, iv.event_uid, iv.title, _ts(iv.start), _ts(iv.end),
                iv.company, iv.company_domain, iv.role, json.dumps(iv.snapshot),
                iv.closed, iv.closed_reason, int(iv.missed), _ts(iv.answered_at),
                iv.answered_by, int(iv.answered_late), json.dumps(iv.notes),
                _ts(iv.detected_at), json.dumps([_ts(t) for t in iv.own_sent]),
                iv.back_on.isoformat() if iv.back_on else None,
            ),
        )

    def add_note(self, conn: sqlite3.Connection, interview_id: str, text: str) -> None:
        """Append one note in place (no read-modify-write a concurrent writer could undo)."""
        conn.execute("UPDATE interviews SET notes=json_insert(notes, '$[#]', ?) WHERE id=?",
                     (text, interview_id))

    def close_by_hand(self, conn: sqlite3.Connection, interview_id: str, how: str) -> bool:
        """Close an open interview (`skip`, `done`); False when it was already closed."""
        cursor = conn.execute(
            "UPDATE interviews SET closed=?, closed_reason='by hand' "
            "WHERE id=? AND closed IS NULL", (how, interview_id))
        return cursor.rowcount == 1

    def reopen(self, conn: sqlite3.Connection, interview_id: str) -> bool:
        """Undo `skip` or `done` (only what was closed by hand); False when it was not."""
        cursor = conn.execute(
            "UPDATE interviews SET closed=NULL, closed_reason=NULL "
            "WHERE id=? AND closed IN ('skipped', 'done') AND closed_reason='by hand'",
            (interview_id,))
        return cursor.rowcount == 1

    def is_open(self, interview_id: str) -> bool:
        row = self.conn.execute("SELECT closed FROM interviews WHERE id=?",
                                (interview_id,)).fetchone()
        return row is not None and row[0] is None

    # -- drafts --------------------------------------------------------------
    _DR_COLS = (
        "marker, interview_id, kind, recipient, subject, state, draft_id, message_id, thread_id, "
        "claimed_at, created_at, sent_at, sent_message_id, sent_references, sent_thread_id, "
        "sent_provider_id, owner"
    )

    def _draft(self, r: tuple[Any, ...]) -> DraftRow:
        return DraftRow(
            marker=r[0], interview_id=r[1], kind=r[2], recipient=r[3], subject=r[4], state=r[5],
            draft_id=r[6], message_id=r[7], thread_id=r[8],
            claimed_at=datetime.fromisoformat(r[9]), created_at=_dt(r[10]), sent_at=_dt(r[11]),
            sent_message_id=r[12], sent_references=json.loads(r[13] or "[]"),
            sent_thread_id=r[14], sent_provider_id=r[15], owner=r[16] or "",
        )

    def draft(self, marker: str) -> DraftRow | None:
        row = self.conn.execute(
            f"SELECT {self._DR_COLS} FROM drafts WHERE marker=?", (marker,)
        ).fetchone()
        return self._draft(row) if row else None

    def drafts(self, interview_id: str | None = None, *, state: str | None = None,
               account: str | None = None) -> list[DraftRow]:
        sql = f"SELECT {self._DR_COLS} FROM drafts"
        where, args = [], []
        if interview_id is not None:
            where.append("interview_id=?")
            args.append(interview_id)
        if state is not None:
            where.append("state=?")
            args.append(state)
        if account is not None:
            where.append("interview_id IN (SELECT id FROM interviews WHERE account=?)")
            args.append(account)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY claimed_at, marker"
        return [self._draft(r) for r in self.conn.execute(sql, args)]

    def claim(self, conn: sqlite3.Connection, marker: str, interview_id: str, kind: str,
              recipient: str, subject: str, now: datetime, owner: str) -> bool:
        """Record the intent to create a draft; committed before the mailbox is touched.
        False when the marker already has a row (nothing is changed then)."""
        cursor = conn.execute(
            "INSERT INTO drafts (marker, interview_id, kind, recipient, subject, state, "
            "claimed_at, owner) VALUES (?,?,?,?,?, 'claimed', ?, ?) "
            "ON CONFLICT (marker) DO NOTHING",
            (marker, interview_id, kind, recipient, subject, _ts(now), owner),
        )
        return cursor.rowcount == 1

    def drop_claim(self, conn: sqlite3.Connection, marker: str) -> None:
        """Forget a claim whose draft is known not to exist and is no longer wanted."""
        conn.execute("DELETE FROM drafts WHERE marker=? AND state='claimed'", (marker,))

    def record_created(self, marker: str, draft_id: str, message_id: str, thread_id: str,
                       created: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE drafts SET state='created', draft_id=?, message_id=COALESCE(?, "
                "message_id), thread_id=?, created_at=? WHERE marker=?",
                (draft_id, message_id or None, thread_id, _ts(created), marker),
            )

    def record_sent(self, conn: sqlite3.Connection, marker: str, sent_at: datetime,
                    message_id: str, references: list[str], thread_id: str,
                    provider_id: str) -> None:
        conn.execute(
            "UPDATE drafts SET sent_at=?, sent_message_id=?, sent_references=?, "
            "sent_thread_id=?, sent_provider_id=? WHERE marker=?",
            (_ts(sent_at), message_id, json.dumps(references), thread_id, provider_id, marker),
        )

    # -- paused accounts -----------------------------------------------------
    def paused(self) -> dict[str, tuple[str, datetime]]:
        return {
            a: (r, datetime.fromisoformat(s))
            for a, r, s in self.conn.execute("SELECT account, reason, since FROM paused")
        }

    def pause(self, account: str, reason: str, now: datetime) -> bool:
        """Pause ``account``; True when it was not paused before (tell the user once)."""
        with self.transaction() as conn:
            before = conn.execute("SELECT 1 FROM paused WHERE account=?", (account,)).fetchone()
            if before is None:
                conn.execute("INSERT INTO paused VALUES (?,?,?)", (account, reason, _ts(now)))
        return before is None

    def resume(self, account: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM paused WHERE account=?", (account,))
