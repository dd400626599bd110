"""The local state: tracked interviews, draft claims and provider checkpoints, in SQLite.

The draft table is what makes rule 5 hold: a row is written (claimed) in its
own committed transaction before the mailbox is touched, and completed after.
A claim left without a result is resolved by asking the mailbox for the
marker, never by writing the draft blindly again.

Interviews with nothing left to draft are *at rest* (``interviews.at_rest``): the
cycle reads only the working set. Those still waiting for an answer stay reachable
through ``answer_keys`` (addresses, domains, threads), so a late answer or a later
interview with the company still finds them without reading the whole history.
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

from .domains import bracketed, domain_of, registrable_domain
from .errors import StateError

SCHEMA_VERSION = 4

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
    -- 1: nothing is left to draft, ever (closed, finished, or answered after its
    -- thank-you): out of the working set the cycle and next_due read (schema 4).
    at_rest INTEGER NOT NULL DEFAULT 0,
    company_key TEXT NOT NULL DEFAULT '',  -- company.lower(): a later interview (rule 6)
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
-- What identifies an answer to each waiting interview (open, unanswered), so that a
-- message is judged only against the interviews it could answer (rule 6): "a:" an
-- address of its people, "d:" a registrable domain of the company or its people,
-- "c:" the company's registrable domain, "t:" a thread id and "m:" a Message-ID of our
-- notes (raw and bracketed). For the mailbox's Interest, as recorded: "p:" an address,
-- "i:" a Message-ID. (No semicolons in here: the schema is split on them.)
CREATE TABLE IF NOT EXISTS answer_keys (
    key TEXT NOT NULL,
    interview_id TEXT NOT NULL,
    PRIMARY KEY (key, interview_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answer_keys_interview ON answer_keys (interview_id);
"""

# Indexes on columns a migration may have added: made after the migrations ran.
_INDEXES = """
CREATE INDEX IF NOT EXISTS interviews_working ON interviews (at_rest, closed, account);
CREATE INDEX IF NOT EXISTS interviews_waiting ON interviews (account, closed, answered_at);
CREATE INDEX IF NOT EXISTS interviews_domain ON interviews (account, company_domain);
CREATE INDEX IF NOT EXISTS interviews_company ON interviews (account, company_key);
CREATE INDEX IF NOT EXISTS drafts_state ON drafts (state, sent_at);
"""

# _MIGRATIONS[n - 1] takes a state of schema n to n + 1 (what _SCHEMA creates is current).
_MIGRATIONS = [
    "ALTER TABLE drafts ADD COLUMN owner TEXT",
    "ALTER TABLE interviews ADD COLUMN own_sent TEXT NOT NULL DEFAULT '[]';"
    "ALTER TABLE interviews ADD COLUMN back_on TEXT",
    # 3 -> 4: interviews at rest and the answer index (filled by _refresh_all after it).
    "ALTER TABLE interviews ADD COLUMN at_rest INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE interviews ADD COLUMN company_key TEXT NOT NULL DEFAULT ''",
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


def interview_keys(snapshot: dict[str, Any], company_domain: str, threads: list[str],
                   message_ids: list[str]) -> set[str]:
    """The answer keys of a waiting interview (see the answer_keys table): a superset of
    what any clause of rule 6 or rule 11 compares a message with, all in lower case."""
    emails = [str(r.get("email") or "") for r in snapshot.get("recipients", [])]
    contact = snapshot.get("main_contact")
    if contact:
        emails.append(str(contact.get("email") or ""))
    keys = {f"a:{e.lower()}" for e in emails if e} | {f"p:{e}" for e in emails if e}
    keys |= {f"d:{d}" for d in (registrable_domain(domain_of(e)) for e in emails if e) if d}
    company = registrable_domain(company_domain) if company_domain else ""
    if company:
        keys |= {f"c:{company}", f"d:{company}"}
    keys |= {f"t:{t}" for t in threads}
    keys |= {f"m:{m}" for m in message_ids} | {f"m:{bracketed(m)}" for m in message_ids}
    keys |= {f"i:{m}" for m in message_ids}
    keys.discard("m:")
    return keys


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
                for statement in _INDEXES.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                if version < 4:
                    self._refresh_all()
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
        self._refresh(conn, iv.id)

    def add_note(self, conn: sqlite3.Connection, interview_id: str, text: str) -> None:
        """Append one note in place (no read-modify-write a concurrent writer could undo)."""
        conn.execute("UPDATE interviews SET notes=json_insert(notes, '$[#]', ?) WHERE id=?",
                     (text, interview_id))

    def close_by_hand(self, conn: sqlite3.Connection, interview_id: str, how: str) -> bool:
        """Close an open interview (`skip`, `done`); False when it was already closed."""
        cursor = conn.execute(
            "UPDATE interviews SET closed=?, closed_reason='by hand' "
            "WHERE id=? AND closed IS NULL", (how, interview_id))
        self._refresh(conn, interview_id)
        return cursor.rowcount == 1

    def reopen(self, conn: sqlite3.Connection, interview_id: str) -> bool:
        """Undo `skip` or `done` (only what was closed by hand); False when it was not."""
        cursor = conn.execute(
            "UPDATE interviews SET closed=NULL, closed_reason=NULL "
            "WHERE id=? AND closed IN ('skipped', 'done') AND closed_reason='by hand'",
            (interview_id,))
        self._refresh(conn, interview_id)
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
            # Per draft row by primary key: no list of every interview of the account.
            where.append("EXISTS (SELECT 1 FROM interviews i WHERE i.id = drafts.interview_id "
                         "AND i.account=?)")
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
        if cursor.rowcount == 1:
            self._refresh(conn, interview_id)
        return cursor.rowcount == 1

    def drop_claim(self, conn: sqlite3.Connection, marker: str) -> None:
        """Forget a claim whose draft is known not to exist and is no longer wanted."""
        row = conn.execute("SELECT interview_id FROM drafts WHERE marker=?", (marker,)).fetchone()
        conn.execute("DELETE FROM drafts WHERE marker=? AND state='claimed'", (marker,))
        if row is not None:
            self._refresh(conn, row[0])

    def record_created(self, marker: str, draft_id: str, message_id: str, thread_id: str,
                       created: datetime) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE drafts SET state='created', draft_id=?, message_id=COALESCE(?, "
                "message_id), thread_id=?, created_at=? WHERE marker=?",
                (draft_id, message_id or None, thread_id, _ts(created), marker),
            )
            self._refresh_draft(conn, marker)

    def record_sent(self, conn: sqlite3.Connection, marker: str, sent_at: datetime,
                    message_id: str, references: list[str], thread_id: str,
                    provider_id: str) -> None:
        conn.execute(
            "UPDATE drafts SET sent_at=?, sent_message_id=?, sent_references=?, "
            "sent_thread_id=?, sent_provider_id=? WHERE marker=?",
            (_ts(sent_at), message_id, json.dumps(references), thread_id, provider_id, marker),
        )
        self._refresh_draft(conn, marker)

    # -- the working set and the answer index (schema 4) --------------------
    def _refresh_draft(self, conn: sqlite3.Connection, marker: str) -> None:
        row = conn.execute("SELECT interview_id FROM drafts WHERE marker=?", (marker,)).fetchone()
        if row is not None:
            self._refresh(conn, row[0])

    def _refresh(self, conn: sqlite3.Connection, interview_id: str) -> None:
        """Recompute what is derived from one interview's row and drafts: whether it is
        at rest, its company key, and its answer keys (kept only while it waits)."""
        conn.execute("DELETE FROM answer_keys WHERE interview_id=?", (interview_id,))
        conn.execute("INSERT INTO meta VALUES ('answer_keys', '1') ON CONFLICT (key) "
                     "DO UPDATE SET value=CAST(value AS INTEGER) + 1")
        row = conn.execute(
            "SELECT closed, answered_at, missed, end, own_sent, company, company_domain, "
            "snapshot FROM interviews WHERE id=?", (interview_id,)).fetchone()
        if row is None:
            return
        closed, answered_at, missed, end, own_sent, company, company_domain, snapshot = row
        drafts = conn.execute(
            "SELECT kind, thread_id, sent_thread_id, message_id, sent_message_id FROM drafts "
            "WHERE interview_id=?", (interview_id,)).fetchall()
        # Mirrors lifecycle.next_step: nothing is ever due again, whatever the time.
        ended = datetime.fromisoformat(end)
        thank_you_done = (bool(missed) or any(d[0] == "thank_you" for d in drafts)
                          or any(datetime.fromisoformat(t) >= ended for t in json.loads(own_sent)))
        at_rest = (closed is not None or any(d[0] == "status_check" for d in drafts)
                   or (answered_at is not None and thank_you_done))
        conn.execute("UPDATE interviews SET at_rest=?, company_key=? WHERE id=?",
                     (int(at_rest), company.lower(), interview_id))
        # Kept while an answer can still matter, and while an answered interview still
        # waits for its thank-you (the user's own one counts then: rule 11).
        if closed is None and (answered_at is None or not at_rest):
            keys = interview_keys(json.loads(snapshot), company_domain,
                                  [t for d in drafts for t in d[1:3] if t],
                                  [m for d in drafts for m in d[3:5] if m])
            conn.executemany("INSERT OR IGNORE INTO answer_keys VALUES (?, ?)",
                             [(k, interview_id) for k in sorted(keys)])

    def _refresh_all(self) -> None:
        for (interview_id,) in self.conn.execute("SELECT id FROM interviews").fetchall():
            self._refresh(self.conn, interview_id)

    def working(self, account: str | None = None) -> list[Interview]:
        """Open interviews with something still to draft (not at rest), by start."""
        sql = f"SELECT {self._IV_COLS} FROM interviews WHERE at_rest=0 AND closed IS NULL"
        args: list[str] = []
        if account is not None:
            sql += " AND account=?"
            args.append(account)
        return [self._interview(r) for r in self.conn.execute(sql + " ORDER BY start, id", args)]

    def drafts_of(self, interview_ids: list[str]) -> dict[str, list[DraftRow]]:
        """The drafts of each of ``interview_ids`` (one query per 500 of them)."""
        result: dict[str, list[DraftRow]] = {i: [] for i in interview_ids}
        for n in range(0, len(interview_ids), 500):
            chunk = interview_ids[n:n + 500]
            rows = self.conn.execute(
                f"SELECT {self._DR_COLS} FROM drafts WHERE interview_id IN "
                f"({','.join('?' * len(chunk))}) ORDER BY claimed_at, marker", chunk)
            for r in rows:
                result[r[1]].append(self._draft(r))
        return result

    def waiting(self, account: str, ids: set[str] | None = None, *,
                answered: bool = False) -> list[Interview]:
        """Open, unanswered interviews of ``account`` (only ``ids`` when given; answered
        ones too with ``answered``), by start."""
        sql = f"SELECT {self._IV_COLS} FROM interviews WHERE account=? AND closed IS NULL"
        if not answered:
            sql += " AND answered_at IS NULL"
        if ids is None:
            rows = self.conn.execute(sql + " ORDER BY start, id", (account,)).fetchall()
        else:
            wanted = sorted(ids)
            rows = []
            for n in range(0, len(wanted), 500):
                chunk = wanted[n:n + 500]
                rows += self.conn.execute(
                    sql + f" AND id IN ({','.join('?' * len(chunk))})", (account, *chunk)
                ).fetchall()
            rows.sort(key=lambda r: (r[4], r[0]))
        return [self._interview(r) for r in rows]

    def answering(self, account: str, keys: set[str]) -> set[str]:
        """The waiting interviews of ``account`` that have any of ``keys``."""
        found: set[str] = set()
        wanted = sorted(keys)
        for n in range(0, len(wanted), 500):
            chunk = wanted[n:n + 500]
            found.update(r[0] for r in self.conn.execute(
                # CROSS JOIN: from the keys (few) to their interviews, never the other way.
                "SELECT DISTINCT k.interview_id FROM answer_keys k CROSS JOIN interviews i "
                f"ON i.id = k.interview_id WHERE k.key IN ({','.join('?' * len(chunk))}) "
                "AND i.account=?", (*chunk, account)))
        return found

    def waiting_keys(self, account: str) -> list[str]:
        """Every answer key of the waiting interviews of ``account`` (for an Interest)."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT k.key FROM answer_keys k JOIN interviews i ON i.id = k.interview_id "
            "WHERE i.account=? AND i.closed IS NULL AND i.answered_at IS NULL", (account,))]

    def unsent(self, account: str) -> list[DraftRow]:
        """Drafts of ``account`` written and not yet seen sent, as :meth:`drafts` orders them."""
        rows = self.conn.execute(
            f"SELECT {self._DR_COLS} FROM drafts WHERE state='created' AND sent_at IS NULL "
            "AND EXISTS (SELECT 1 FROM interviews i WHERE i.id = drafts.interview_id "
            "AND i.account=?) ORDER BY claimed_at, marker", (account,))
        return [self._draft(r) for r in rows]

    def has_waiting(self, account: str) -> bool:
        return self.conn.execute(
            "SELECT 1 FROM interviews WHERE account=? AND closed IS NULL "
            "AND answered_at IS NULL LIMIT 1", (account,)).fetchone() is not None

    def same_company(self, account: str, company_domain: str,
                     company: str) -> list[Interview]:
        """Open interviews of ``account`` at ``company_domain`` or named ``company`` (any
        case), by start: what a new interview with that company can answer (rule 6)."""
        where, args = [], [account]
        if company_domain:
            where.append("company_domain=?")
            args.append(company_domain)
        if company:
            where.append("company_key=?")
            args.append(company.lower())
        if not where:
            return []
        rows = self.conn.execute(
            f"SELECT {self._IV_COLS} FROM interviews WHERE account=? AND closed IS NULL "
            f"AND ({' OR '.join(where)}) ORDER BY start, id", args)
        return [self._interview(r) for r in rows]

    def open_events(self, account: str) -> list[tuple[str, datetime]]:
        """(event uid, end) of the open interviews of ``account``: no snapshot decoded."""
        return [(uid, datetime.fromisoformat(end)) for uid, end in self.conn.execute(
            "SELECT event_uid, end FROM interviews WHERE account=? AND closed IS NULL",
            (account,))]

    def keys_version(self) -> str:
        """Changes whenever an interview or a draft changed (in this process or another),
        not when a checkpoint did: what an Interest made from the answer index depends on."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='answer_keys'").fetchone()
        return str(row[0]) if row else ""

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
