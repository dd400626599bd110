"""providers._shared.dirwatch: the names that appeared and disappeared in a directory since
it was armed, as a Maildir reader applies them instead of listing 200,000 names again."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from interview_followup.providers._shared.dirwatch import DirWatch

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    for leaf in ("new", "cur", "tmp"):
        (tmp_path / leaf).mkdir()
    return tmp_path


@linux
def test_a_message_marked_read_moves_from_new_to_cur(maildir: Path) -> None:
    watch = DirWatch()
    new, cur = str(maildir / "new"), str(maildir / "cur")
    assert watch.arm(new) and watch.arm(cur)
    (maildir / "tmp" / "1.a.host").write_text("x")
    os.rename(maildir / "tmp" / "1.a.host", maildir / "new" / "1.a.host")  # delivered
    first_new = watch.changes(new)
    assert first_new is not None and first_new.added == {"1.a.host"}
    os.rename(maildir / "new" / "1.a.host", maildir / "cur" / "1.a.host:2,S")  # read
    after_new, after_cur = watch.changes(new), watch.changes(cur)
    assert after_new is not None and after_new.removed == {"1.a.host"}
    assert after_new.added == set()
    assert after_cur is not None and after_cur.added == {"1.a.host:2,S"}
    # Asked again with nothing new: nothing.
    quiet = watch.changes(cur)
    assert quiet is not None and quiet.added == set() and quiet.removed == set()
    watch.close()


@linux
def test_a_flag_change_is_a_new_name_and_a_deletion_is_seen(maildir: Path) -> None:
    cur = maildir / "cur"
    (cur / "2.b.host:2,").write_text("x")
    watch = DirWatch()
    assert watch.arm(str(cur))
    os.rename(cur / "2.b.host:2,", cur / "2.b.host:2,FS")  # flagged by the mail client
    (cur / "3.c.host:2,S").write_text("y")  # mbsync delivers read mail straight to cur/
    (cur / "3.c.host:2,S").unlink()  # and it is gone again before the next read
    seen = watch.changes(str(cur))
    assert seen is not None
    assert seen.added == {"2.b.host:2,FS"}
    assert seen.removed == {"2.b.host:2,", "3.c.host:2,S"}
    watch.close()


@linux
def test_a_directory_moved_away_or_never_armed_is_unknown(maildir: Path) -> None:
    watch = DirWatch()
    assert watch.changes(str(maildir / "cur")) is None  # never armed: list it
    assert watch.arm(str(maildir / "cur"))
    os.rename(maildir / "cur", maildir / "cur-old")
    assert watch.changes(str(maildir / "cur")) is None  # moved itself: list again
    assert not watch.arm(str(maildir / "missing"))
    assert watch.changes(str(maildir / "missing")) is None
    watch.close()


def test_without_inotify_every_change_is_unknown(maildir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    watch = DirWatch()
    assert not watch.arm(str(maildir / "cur"))
    assert watch.changes(str(maildir / "cur")) is None


@linux
def test_a_directory_replaced_at_its_path_reports_only_the_new_one(maildir: Path,
                                                                    tmp_path: Path) -> None:
    watch = DirWatch()
    cur = str(maildir / "cur")
    assert watch.arm(cur)
    os.rename(maildir / "cur", tmp_path / "cur-away")
    (maildir / "cur").mkdir()
    assert watch.changes(cur) is None  # moved itself
    assert watch.arm(cur)  # the new directory; the old one's watch is dropped
    (tmp_path / "cur-away" / "1.old.host:2,S").write_text("x")
    (maildir / "cur" / "2.new.host:2,S").write_text("y")
    seen = watch.changes(cur)
    assert seen is not None and seen.added == {"2.new.host:2,S"}
    watch.close()


@linux
def test_armed_through_a_descriptor_the_directory_opened_is_watched(maildir: Path,
                                                                    tmp_path: Path) -> None:
    """Opened, then replaced at its path before the watch was armed: the watch (like the
    listing through the descriptor) is on the directory opened."""
    watch = DirWatch()
    cur = str(maildir / "cur")
    fd = os.open(cur, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rename(maildir / "cur", tmp_path / "cur-away")
        (maildir / "cur").mkdir()
        assert watch.arm(cur, fd)
    finally:
        os.close(fd)
    (maildir / "cur" / "2.new.host:2,S").write_text("y")
    (tmp_path / "cur-away" / "1.old.host:2,S").write_text("x")
    seen = watch.changes(cur)
    assert seen is not None and seen.added == {"1.old.host:2,S"}
    watch.close()


@linux
def test_two_paths_to_one_directory_both_see_its_changes(maildir: Path,
                                                         tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(maildir)
    here, there = str(maildir / "cur"), str(tmp_path / "link" / "cur")
    watch = DirWatch()
    assert watch.arm(here) and watch.arm(there)
    (maildir / "cur" / "1.a.host:2,S").write_text("x")
    seen_here, seen_there = watch.changes(here), watch.changes(there)
    assert seen_here is not None and seen_here.added == {"1.a.host:2,S"}
    assert seen_there is not None and seen_there.added == {"1.a.host:2,S"}
    watch.forget(here)  # the kernel's watch stays for the other path
    (maildir / "cur" / "1.a.host:2,S").unlink()
    seen = watch.changes(there)
    assert seen is not None and seen.removed == {"1.a.host:2,S"}
    watch.close()


@linux
def test_a_full_event_queue_makes_every_directory_unknown(maildir: Path) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 100_000:
        pytest.skip(f"the queue holds {limit} events: too many to fill here")
    watch = DirWatch()
    new, cur = str(maildir / "new"), str(maildir / "cur")
    assert watch.arm(new) and watch.arm(cur)
    for n in range(limit // 2 + 1):  # two events each
        path = maildir / "new" / f"{n}.x.host"
        path.write_bytes(b"")
        path.unlink()
    assert watch.changes(cur) is None and watch.changes(new) is None
    assert watch.arm(cur)  # listed again: known from then on
    quiet = watch.changes(cur)
    assert quiet is not None and not quiet.added and not quiet.removed
    watch.close()


def test_when_the_watch_limit_is_reached_arming_fails_quietly(
        maildir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("inotify_simple")
    import inotify_simple

    def full(self: object, path: object, mask: int) -> int:
        raise OSError(28, "No space left on device")  # ENOSPC: max_user_watches reached

    monkeypatch.setattr(inotify_simple.INotify, "add_watch", full)
    watch = DirWatch()
    assert not watch.arm(str(maildir / "cur"))
    assert watch.changes(str(maildir / "cur")) is None
    watch.close()
