"""The state file: private, versioned, transactional."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon.errors import StateError
from daemon.state import SCHEMA_VERSION, Interview, Store

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)


def interview(iid: str = "abcd1234") -> Interview:
    return Interview(id=iid, account="home", event_uid=f"{iid}@x", title="Interview",
                     start=NOW, end=NOW, company="Acme", company_domain="acme.com", role="",
                     snapshot={"recipients": [{"email": "jane@acme.com", "name": "Jane"}],
                               "main_contact": None},
                     detected_at=NOW)


def test_file_is_private_and_versioned(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "state")
    store.close()
    path = tmp_path / "state" / "state.db"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            str(SCHEMA_VERSION),)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StateError, match=r"from a newer interview-followup \(schema 99"):
        Store.open(tmp_path)


def test_a_corrupt_file_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match=r"cannot open the state in .*: file is not a database"):
        Store.open(tmp_path)


def test_a_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.save_interview(conn, interview())
        store.claim(conn, "abcd1234/thank_you/jane@acme.com", "abcd1234", "thank_you",
                    "jane@acme.com", "Thank you", NOW)
        raise RuntimeError("crash inside the transaction")
    assert store.interviews() == []
    assert store.drafts() == []


def test_claim_then_record_survives_reopening(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    marker = "abcd1234/thank_you/jane@acme.com"
    with store.transaction() as conn:
        store.save_interview(conn, interview())
        store.claim(conn, marker, "abcd1234", "thank_you", "jane@acme.com", "Thank you", NOW)
    store.close()
    store = Store.open(tmp_path)
    (claim,) = store.drafts(state="claimed", account="home")
    assert claim.marker == marker and claim.draft_id is None
    store.record_created(marker, "key-1", "<m@x>", "", NOW)
    assert store.drafts(state="claimed") == []
    row = store.draft(marker)
    assert row is not None and row.state == "created" and row.draft_id == "key-1"
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as conn:  # never twice
        store.claim(conn, marker, "abcd1234", "thank_you", "jane@acme.com", "Thank you", NOW)


def test_naive_times_never_reach_the_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    naive = interview()
    naive.start = datetime(2026, 11, 25, 15, 0)
    with pytest.raises(ValueError, match="naive"), store.transaction() as conn:
        store.save_interview(conn, naive)
