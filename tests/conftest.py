"""Fixtures shared by several test modules. Keep it small: one fixture, one purpose."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_desktop_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cycles on sample data must not pop up on a developer's desktop (and the
    subprocesses the tests start inherit it); tests of notifications lift it."""
    monkeypatch.setenv("FOLLOWUP_NOTIFY", "off")


@pytest.fixture
def maildir_root(tmp_path: Path) -> Path:
    """An empty Maildir++ root: INBOX (cur/ new/ tmp/), no .Sent, no .Drafts."""
    root = tmp_path / "Mail"
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True)
    return root
