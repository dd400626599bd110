"""The state file: private, versioned, transactional."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from interview_followup.daemon.errors import StateError
from interview_followup.daemon.state import SCHEMA_VERSION, Interview, Store

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
OWNER = "laptop:4242"


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
                    "jane@acme.com", "Thank you", NOW, OWNER)
        raise RuntimeError("crash inside the transaction")
    assert store.interviews() == []
    assert store.drafts() == []


def test_claim_then_record_survives_reopening(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    marker = "abcd1234/thank_you/jane@acme.com"
    with store.transaction() as conn:
        store.save_interview(conn, interview())
        assert store.claim(conn, marker, "abcd1234", "thank_you", "jane@acme.com",
                           "Thank you", NOW, OWNER)
    store.close()
    store = Store.open(tmp_path)
    (claim,) = store.drafts(state="claimed", account="home")
    assert claim.marker == marker and claim.draft_id is None and claim.owner == OWNER
    store.record_created(marker, "key-1", "<m@x>", "", NOW)
    assert store.drafts(state="claimed") == []
    row = store.draft(marker)
    assert row is not None and row.state == "created" and row.draft_id == "key-1"
    with store.transaction() as conn:  # never twice: a second claim changes nothing
        assert not store.claim(conn, marker, "abcd1234", "thank_you", "jane@acme.com",
                               "Thank you", NOW, "otherhost:1")
    row = store.draft(marker)
    assert row is not None and row.state == "created" and row.owner == OWNER


def test_naive_times_never_reach_the_store(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    naive = interview()
    naive.start = datetime(2026, 11, 25, 15, 0)
    with pytest.raises(ValueError, match="naive"), store.transaction() as conn:
        store.save_interview(conn, naive)


# -- the service and the command line on one state (issue 7) ------------------------------
def test_a_stale_interview_written_by_the_engine_keeps_notes_and_a_close_by_hand(
        tmp_path: Path) -> None:
    """The service holds an Interview read before `note` and `skip` ran in another
    process; writing it back (a move, an answer) must not undo them."""
    service = Store.open(tmp_path)
    with service.transaction() as conn:
        service.save_interview(conn, interview())
    stale = service.interview("abcd1234")
    assert stale is not None
    command = Store.open(tmp_path)  # `followup note` / `skip`: a connection of its own
    with command.transaction() as conn:
        command.add_note(conn, "abcd1234", "we discussed the on-call rotation")
        command.add_note(conn, "abcd1234", "Strength: ten years of SRE work")
        assert command.close_by_hand(conn, "abcd1234", "skipped")
    stale.start = NOW.replace(hour=16)
    stale.answered_at, stale.answered_by = NOW, "message from jane@acme.com"
    stale.closed, stale.closed_reason = "cancelled", "event deleted"
    with service.transaction() as conn:
        service.save_interview(conn, stale)
    now = command.interview("abcd1234")
    assert now is not None
    assert now.notes == ["we discussed the on-call rotation", "Strength: ten years of SRE work"]
    assert (now.closed, now.closed_reason) == ("skipped", "by hand")
    # What the engine owns is written.
    assert now.start == NOW.replace(hour=16) and now.answered_at == NOW


def test_the_engine_closes_an_open_interview_and_a_second_close_by_hand_says_no(
        tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    iv = interview()
    with store.transaction() as conn:
        store.save_interview(conn, iv)
    iv.closed, iv.closed_reason = "cancelled", "event deleted"
    with store.transaction() as conn:
        store.save_interview(conn, iv)
        assert not store.close_by_hand(conn, iv.id, "done")
    now = store.interview(iv.id)
    assert now is not None and (now.closed, now.closed_reason) == ("cancelled", "event deleted")


def test_a_schema_1_state_is_migrated_to_the_current_one(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    marker = "abcd1234/thank_you/jane@acme.com"
    with store.transaction() as conn:
        store.save_interview(conn, interview())
        store.claim(conn, marker, "abcd1234", "thank_you", "jane@acme.com", "Thank you", NOW,
                    OWNER)
        # Back to what version 1 wrote: no claim owner, no user's own mail, no return day.
        conn.execute("ALTER TABLE drafts DROP COLUMN owner")
        conn.execute("ALTER TABLE interviews DROP COLUMN own_sent")
        conn.execute("ALTER TABLE interviews DROP COLUMN back_on")
        # ... and none of schema 4's working set or answer index.
        for index in ("interviews_working", "interviews_waiting", "interviews_domain",
                      "interviews_company"):
            conn.execute(f"DROP INDEX {index}")
        conn.execute("ALTER TABLE interviews DROP COLUMN at_rest")
        conn.execute("ALTER TABLE interviews DROP COLUMN company_key")
        conn.execute("DROP TABLE answer_keys")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    store.close()
    store = Store.open(tmp_path)
    (row,) = store.drafts()
    assert row.marker == marker and row.owner == ""
    (iv,) = store.interviews()
    assert iv.own_sent == [] and iv.back_on is None
    # The migration to schema 4 filled the working set and the answer index.
    assert [w.id for w in store.working("home")] == [iv.id]
    assert store.answering("home", {"a:jane@acme.com"}) == {iv.id}
    assert store.same_company("home", "", "ACME")[0].id == iv.id
    assert store.conn.execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_a_full_disk_is_named_and_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with store.transaction() as conn:
        store.save_interview(conn, interview("first"))
    # SQLite reports a database that cannot grow exactly as it reports a full disk.
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count={pages}")
    big = interview("second")
    big.snapshot["padding"] = "x" * 200_000
    with pytest.raises(StateError, match=r"the disk holding the state .*state\.db is full: "
                                         r"nothing was changed"), store.transaction() as conn:
        store.save_interview(conn, big)
    assert [iv.id for iv in store.interviews()] == ["first"]
    assert not store.conn.in_transaction


def test_a_state_locked_by_another_program_says_so(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("interview_followup.daemon.state._BUSY_TIMEOUT", 0.2)
    store = Store.open(tmp_path)
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. an SQLite browser in the middle of an edit
    try:
        with pytest.raises(StateError, match=r"stayed locked by another program .* nothing was "
                                             r"changed"), store.transaction() as conn:
            store.save_interview(conn, interview())
    finally:
        other.execute("ROLLBACK")
    assert store.interviews() == []
