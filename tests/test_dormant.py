"""Interviews at rest (issue 11): what has nothing left to draft leaves the working set
the cycle and ``next_due`` read, and stays reachable for what can still change it: a late
answer (rule 7's notice), a later interview with the same company (rule 6), ``reopen``."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import interview_followup.providers.local.maildir as maildir
from interview_followup.daemon.engine import Engine
from interview_followup.daemon.lifecycle import STATUS_CHECK, THANK_YOU
from interview_followup.daemon.state import Interview, Store
from interview_followup.providers.local.maildir import MaildirMailbox
from tests.contract import draft
from tests.memory import World, inbound, interview_event, person
from tests.test_local_provider import file_into

JANE = person("jane.doe@acme.com", "Jane Doe")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path / "world")
    yield w
    w.close()


def ended(world: World, uid: str = "iv1", *, company: str = "acme.com") -> str:
    jane = person(f"jane.doe@{company}", "Jane Doe")
    event = interview_event(uid, world.clock.now - 2 * HOUR, interviewers=(jane,))
    world.calendar.put(event)
    return world.iid(uid)


def at_rest(store: Store, iid: str) -> bool:
    return bool(store.conn.execute("SELECT at_rest FROM interviews WHERE id=?",
                                   (iid,)).fetchone()[0])


def acted(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The interviews the next cycle looks at to draft something."""
    seen: list[str] = []
    real = Engine._act

    def spy(self: Engine, account: object, interview_id: str, report: object) -> None:
        seen.append(interview_id)
        real(self, account, interview_id, report)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "_act", spy)
    world.cycle()
    monkeypatch.undo()
    return seen


def test_a_finished_interview_rests_and_a_late_answer_still_reaches_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    iid = ended(world)
    world.cycle()
    assert not at_rest(world.store, iid)
    world.advance(8 * DAY)
    world.cycle()
    assert [d.kind for d in world.mailbox.stored(STATUS_CHECK)] == [STATUS_CHECK]
    assert at_rest(world.store, iid)
    assert acted(world, monkeypatch) == []  # out of the working set
    assert world.cycle().next_due is None
    world.advance(HOUR)
    world.mailbox.deliver(inbound("jane.doe@acme.com", date=world.clock.now))
    report = world.cycle()
    assert any(iid in n and "answered after the status-check" in n for n in report.notices)
    iv = world.store.interview(iid)
    assert iv is not None and iv.answered_late


def test_an_answered_interview_rests_after_its_thank_you(world: World,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    iid = ended(world)
    world.cycle()
    assert len(world.mailbox.stored(THANK_YOU)) == 1
    world.advance(DAY)
    world.mailbox.deliver(inbound("jane.doe@acme.com", date=world.clock.now))
    world.cycle()
    assert at_rest(world.store, iid)
    assert acted(world, monkeypatch) == []


def test_skip_rests_and_reopen_brings_it_back(world: World, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    iid = ended(world)
    with world.store.transaction() as conn:
        world.store.save_interview(conn, Interview(
            id="other", account="mem", event_uid="x", title="Interview",
            start=world.clock.now - DAY, end=world.clock.now - DAY + HOUR, company="",
            company_domain="", role="", snapshot={"recipients": []}, detected_at=world.clock.now))
    world.cycle()
    with world.store.transaction() as conn:
        assert world.store.close_by_hand(conn, iid, "skipped")
    assert at_rest(world.store, iid)
    assert iid not in acted(world, monkeypatch)
    with world.store.transaction() as conn:
        assert world.store.reopen(conn, iid)
    assert not at_rest(world.store, iid)
    assert iid in acted(world, monkeypatch)


def test_a_later_interview_answers_a_resting_one_through_the_company_index(
        world: World) -> None:
    first = ended(world, "iv1")
    world.cycle()
    world.advance(8 * DAY)
    world.cycle()  # the status check: at rest, still waiting for an answer
    assert at_rest(world.store, first)
    later = interview_event("iv2", world.clock.now + 3 * DAY, interviewers=(JANE,))
    world.calendar.put(later)
    world.cycle()
    iv = world.store.interview(first)
    assert iv is not None and iv.answered_by is not None
    assert "a later interview" in iv.answered_by


def test_next_due_reads_only_the_working_set(world: World) -> None:
    ended(world, "iv1")
    world.cycle()
    due = world.cycle().next_due
    assert due is not None and due > world.clock.now  # the status check's time
    ids = [iv.id for iv in world.store.working()]
    assert ids == [world.iid("iv1")]


# -- find_marker reads only what changed after the claim ---------------------------------

def test_find_marker_skips_files_older_than_the_claim(maildir_root: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    marker = "iv1/thank-you/dana@acme.example"
    file_into(maildir_root, draft(marker), "Drafts")
    box = MaildirMailbox("home", maildir_root)
    opened: list[Path] = []
    real = maildir._read_header_block

    def counting(path: Path) -> bytes:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(maildir, "_read_header_block", counting)
    now = datetime.now(UTC)
    assert len(box.find_marker(marker, since=now - HOUR)) == 1
    assert len(opened) == 1
    # Claimed ten days after the file last changed (the real clock agrees): not read.
    opened.clear()
    later = time.time() + 10 * 86400
    monkeypatch.setattr(maildir.time, "time", lambda: later)
    assert box.find_marker(marker, since=now + 10 * DAY) == []
    assert opened == []
    assert len(box.find_marker(marker)) == 1  # no since: every file, as before


def test_find_marker_trusts_no_engine_clock_ahead_of_the_real_one(maildir_root: Path) -> None:
    marker = "iv1/thank-you/dana@acme.example"
    file_into(maildir_root, draft(marker), "Drafts")
    box = MaildirMailbox("home", maildir_root)
    assert len(box.find_marker(marker, since=datetime.now(UTC) + 30 * DAY)) == 1


# -- at rest means nothing is ever due again --------------------------------------------

@settings(max_examples=300, deadline=None)
@given(closed=st.sampled_from([None, None, "cancelled", "skipped", "done"]),
       answered=st.booleans(), missed=st.booleans(),
       own=st.lists(st.integers(-3, 20), max_size=3),
       drafts=st.lists(st.tuples(st.sampled_from([THANK_YOU, STATUS_CHECK]),
                                 st.sampled_from(["claimed", "created"])), max_size=2),
       later=st.lists(st.integers(0, 90), min_size=1, max_size=4))
def test_an_interview_at_rest_has_nothing_due_at_any_time(
        closed: str | None, answered: bool, missed: bool, own: list[int],
        drafts: list[tuple[str, str]], later: list[int]) -> None:
    from interview_followup.daemon.lifecycle import next_step

    start = datetime(2026, 4, 6, 14, 0, tzinfo=UTC)
    end = start + HOUR
    store = Store.memory()
    iv = Interview(id="iv", account="a", event_uid="e", title="Interview", start=start,
                   end=end, company="Acme", company_domain="acme.com", role="",
                   snapshot={"recipients": [{"email": "jane@acme.com", "name": "Jane"}]},
                   closed=closed, missed=missed, answered_at=end + DAY if answered else None,
                   own_sent=sorted(end + timedelta(days=d) for d in own), detected_at=start)
    with store.transaction() as conn:
        store.save_interview(conn, iv)
        for n, (kind, state) in enumerate(drafts):
            store.claim(conn, f"iv/{kind}/{n}", "iv", kind, "jane@acme.com", "Thanks",
                        end, "t:1")
            if state == "created":
                conn.execute("UPDATE drafts SET state='created' WHERE marker=?",
                             (f"iv/{kind}/{n}",))
                store._refresh(conn, "iv")
    if not at_rest(store, "iv"):
        return
    saved = store.interview("iv")
    assert saved is not None
    timing = _config().timing
    for days in later:
        step = next_step(saved, store.drafts("iv"), end + timedelta(days=days), timing, UTC)
        assert step.kind == "" and step.due is None


@functools.cache
def _config() -> Any:
    import tempfile

    from tests.memory import make_config

    return make_config(Path(tempfile.mkdtemp()) / "c")
