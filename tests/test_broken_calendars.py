"""A broken part of a public calendar never hides the interview beside it (issue 7).

Each file in tests/data/calendars holds one valid interview next to a shape
that used to make the whole file unreadable; the real engine, on a local
account, must still write that interview's thank-you note.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from pathlib import Path

import pytest

from interview_followup.daemon.clock import ManualClock
from interview_followup.daemon.config import load_config
from interview_followup.daemon.engine import Engine

CALENDARS = Path(__file__).parent / "data" / "calendars"

CONFIG = """\
[me]
name = "Alex Rivera"
email = "alex.rivera@gmail.com"
timezone = "America/New_York"

[daemon]
state_dir = "state"

[[accounts]]
name = "home"
provider = "local"
calendar = "calendar.ics"
maildir = "Maildir"
"""

# file -> (when the interview ends, who gets the note ("" = empty To), what is named broken)
CASES = {
    # A task with a DTSTART no parser reads ("2026-11-09 09:00").
    "broken_vtodo.ics": (datetime(2026, 11, 10, 20, 0, tzinfo=UTC), "sam.lee@acme.example",
                         "VTODO UID todo-portfolio@tasks.example"),
    # Exchange 2010 writes a VTIMEZONE with an empty TZID and events with TZID="":
    # the times are read in me.timezone (10:30 in New York is 15:30 UTC).
    "empty_tzid.ics": (datetime(2026, 11, 12, 15, 30, tzinfo=UTC), "", "VTIMEZONE: empty TZID"),
    # A published free/busy block with a period no parser reads.
    "bad_freebusy.ics": (datetime(2026, 11, 11, 16, 0, tzinfo=UTC), "hank@globex.example",
                         "VFREEBUSY"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_interview_beside_a_broken_part_is_drafted(
        name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    end, recipient, broken = CASES[name]
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    shutil.copy(CALENDARS / name, tmp_path / "calendar.ics")
    for sub in ("", ".Drafts", ".Sent"):
        for leaf in ("cur", "new", "tmp"):
            (tmp_path / "Maildir" / sub / leaf).mkdir(parents=True, exist_ok=True)
    config = load_config(tmp_path / "config.toml")
    clock = ManualClock(end - timedelta(hours=3))
    engine = Engine.open(config, clock=clock)
    try:
        with caplog.at_level(logging.WARNING):
            first = engine.cycle()  # before the interview: detected, nothing due
        clock.advance(hours=5)
        second = engine.cycle()
    finally:
        engine.close()
    assert first.errors == [] and first.created == []
    problems = [r.getMessage() for r in caplog.records if "(skipped)" in r.getMessage()]
    assert any("calendar.ics, line " in p and broken in p for p in problems), problems
    assert second.errors == []
    (draft,) = second.created
    assert draft.kind == "thank_you"
    assert [a.email for a in draft.to] == ([recipient] if recipient else [])
    (path,) = (tmp_path / "Maildir" / ".Drafts" / "cur").iterdir()
    with path.open("rb") as f:
        assert BytesHeaderParser().parse(f)["X-Interview-Followup"] == draft.marker
