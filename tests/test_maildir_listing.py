"""A changed Maildir directory is not listed again when a directory watch (inotify) says
which names came and went; without one (another platform, the watch limit reached, events
lost) it is listed, but only names it did not hold at the last scan are stat'ed (issue 11:
marking one message read in a folder of 140,000 costs what it does in a folder of 1,400).
Checked against a reader without that memory on random mail-client activity."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interview_followup.providers._shared.dirwatch import Changes, DirWatch
from interview_followup.providers.local import open_maildir
from interview_followup.providers.local.maildir import MaildirMailbox
from tests.contract import mail
from tests.test_local_provider import deliver_to, file_into

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")
WATCHES = ("inotify", "lossy", "none")  # the watch working, losing events, not there
_UNIQUE = itertools.count()  # Maildir names are never reused


def _dirs(checkpoint: str) -> dict[str, object]:
    return dict(json.loads(checkpoint)["dirs"])


def _seen(batch_messages: tuple[object, ...]) -> list[tuple[str, str]]:
    return sorted((m.folder_name, m.message_id) for m in batch_messages)  # type: ignore[attr-defined]


def _step(root: Path, rng: random.Random, n: int) -> None:
    inbox_new = sorted((root / "new").iterdir())
    inbox_cur = sorted((root / "cur").iterdir())
    archive = root / ".Archive"
    action = rng.choice(["deliver", "deliver", "read", "flag", "archive", "delete", "file",
                         "flash", "away", "swap"])
    if action == "deliver" or (action == "read" and not inbox_new):
        deliver_to(root, mail(subject=f"m{n}"))
    elif action == "read":
        path = rng.choice(inbox_new)
        os.rename(path, root / "cur" / f"{path.name}:2,S")
    elif action in ("flag", "archive", "delete") and inbox_cur:
        path = rng.choice(inbox_cur)
        if action == "flag":
            base = path.name.split(":2,", 1)[0]
            os.rename(path, root / "cur" / f"{base}:2,{rng.choice(['RS', 'FS', 'S'])}")
        elif action == "archive":
            for leaf in ("cur", "new", "tmp"):
                (archive / leaf).mkdir(parents=True, exist_ok=True)
            os.rename(path, archive / "cur" / path.name)
        else:
            path.unlink()
    elif action == "flash":
        # Delivered and gone again (read elsewhere and deleted) between two reads.
        key = deliver_to(root, mail(subject=f"gone{n}"))
        (root / "new" / key).unlink()
    elif action == "away" and archive.is_dir():
        # The folder moved away (a backup, a sync tool's rename) and back, changed meanwhile.
        away = root.parent / "away"
        os.rename(archive, away)
        (away / "cur" / f"{next(_UNIQUE)}.away.host:2,S").write_bytes(
            mail(subject=f"a{n}").as_bytes())
        os.rename(away, archive)
    elif action == "swap" and archive.is_dir():
        # Moved away for good and another Archive made in its place.
        os.rename(archive, root.parent / f"old{next(_UNIQUE)}")
        file_into(root, mail(subject=f"s{n}"), "Archive")
    else:
        file_into(root, mail(subject=f"f{n}"), "Archive")


def _watching(mode: str, rng: random.Random, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set up the directory watch as ``mode`` says (before the readers are made)."""
    if mode == "none":
        monkeypatch.setattr(sys, "platform", "darwin")  # no inotify: every change is listed
    elif mode == "lossy":
        real = DirWatch.changes

        def changes(self: DirWatch, path: str) -> Changes | None:
            # As when the event queue overflowed: not known, list again.
            return None if rng.random() < 0.3 else real(self, path)

        monkeypatch.setattr(DirWatch, "changes", changes)


@pytest.mark.parametrize("watch", WATCHES)
@pytest.mark.parametrize("seed", range(6))
def test_the_remembered_listing_reads_what_a_fresh_reader_reads(
        maildir_root: Path, seed: int, watch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    _watching(watch, random.Random(seed + 100), monkeypatch)
    for n in range(15):
        deliver_to(maildir_root, mail(subject=f"old{n}"))
    since = datetime.now(UTC) - timedelta(days=1)
    remembering = MaildirMailbox("home", maildir_root)
    first = remembering.messages_since(None, since)
    mine, theirs = first.checkpoint, first.checkpoint
    for n in range(25):
        for _ in range(rng.randint(1, 3)):
            _step(maildir_root, rng, n)
        a = remembering.messages_since(mine, since)
        b = MaildirMailbox("home", maildir_root).messages_since(theirs, since)
        assert _seen(a.messages) == _seen(b.messages)
        assert _dirs(a.checkpoint or "{}") == _dirs(b.checkpoint or "{}")
        mine, theirs = a.checkpoint, b.checkpoint
    remembering.close()


def test_an_older_checkpoint_is_read_without_the_remembered_listing(maildir_root: Path
                                                                    ) -> None:
    """A state rolled back (a failed transaction) hands in an older checkpoint: the
    remembered names belong to a later one and must not hide what came since."""
    since = datetime.now(UTC) - timedelta(days=1)
    box = MaildirMailbox("home", maildir_root)
    deliver_to(maildir_root, mail(subject="one"))
    first = box.messages_since(None, since)
    deliver_to(maildir_root, mail(subject="two"))
    box.messages_since(first.checkpoint, since)  # its checkpoint is lost
    again = box.messages_since(first.checkpoint, since)
    assert [m.subject for m in again.messages] == ["two"]


def _spy_listings(monkeypatch: pytest.MonkeyPatch, box: MaildirMailbox) -> list[str]:
    """The directories ``box`` lists from now on, by their path under its root."""
    listed: list[str] = []
    real = MaildirMailbox._list_new

    def spy(self: MaildirMailbox, lay: Any, path: Path, *args: Any) -> Any:
        if self is box:
            listed.append(str(path.relative_to(box.root)))
        return real(self, lay, path, *args)

    monkeypatch.setattr(MaildirMailbox, "_list_new", spy)
    return listed


def _mark_read(root: Path) -> str:
    """The mail client shows the oldest unread message: new/ -> cur/; its key."""
    path = min((root / "new").iterdir())
    os.rename(path, root / "cur" / f"{path.name}:2,S")
    return path.name


@pytest.mark.parametrize("watch", ["inotify", "none", "full"])
def test_a_message_marked_read_is_not_listed_again_while_watched(
        maildir_root: Path, watch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if watch == "inotify" and not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    if watch == "none":
        monkeypatch.setattr(sys, "platform", "darwin")
    elif watch == "full":  # the user's inotify watch limit reached: listed, quietly
        monkeypatch.setattr(DirWatch, "arm", lambda self, path, fd=None: False)
    since = datetime.now(UTC) - timedelta(days=1)
    for n in range(30):
        deliver_to(maildir_root, mail(subject=f"old{n}"))
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, since)
    listed = _spy_listings(monkeypatch, box)
    key = _mark_read(maildir_root)
    second = box.messages_since(first.checkpoint, since)
    fresh = MaildirMailbox("home", maildir_root).messages_since(first.checkpoint, since)
    assert [m.id for m in second.messages] == [key]  # its ctime changed: read again
    assert _seen(second.messages) == _seen(fresh.messages)
    assert _dirs(second.checkpoint or "{}") == _dirs(fresh.checkpoint or "{}")
    assert sorted(listed) == ([] if watch == "inotify" else ["cur", "new"])
    box.close()


@linux
def test_a_closed_mailbox_lists_again_and_reads_the_same(maildir_root: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         ) -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    for n in range(5):
        deliver_to(maildir_root, mail(subject=f"old{n}"))
    box, close = open_maildir("home", {"path": maildir_root})
    first = box.messages_since(None, since)
    before = len(os.listdir("/proc/self/fd"))
    close()  # the account closed: its inotify descriptor too
    assert len(os.listdir("/proc/self/fd")) == before - 1
    listed = _spy_listings(monkeypatch, box)
    key = _mark_read(maildir_root)
    second = box.messages_since(first.checkpoint, since)
    assert [m.id for m in second.messages] == [key]
    assert sorted(listed) == ["cur", "new"]
    box.close()


@linux
def test_a_folder_moved_away_and_another_made_in_its_place_is_listed(
        maildir_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    file_into(maildir_root, mail(subject="old"), "Archive")
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, since)
    listed = _spy_listings(monkeypatch, box)
    os.rename(maildir_root / ".Archive", tmp_path / "Archive-2025")
    file_into(tmp_path / "Archive-2025", mail(subject="lost"), "Sub")  # not read any more
    key = file_into(maildir_root, mail(subject="new"), "Archive")
    (tmp_path / "Archive-2025" / "new" / "1.moved.host").write_bytes(
        mail(subject="elsewhere").as_bytes())  # in the old directory: its watch says so
    second = box.messages_since(first.checkpoint, since)
    assert [(m.folder_name, m.id) for m in second.messages] == [("Archive", key)]
    assert ".Archive/new" in listed
    box.close()


def _kernel_watches() -> int:
    """The inotify watches this process holds, as the kernel counts them."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        count += sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))
    return count


@linux
def test_a_folder_renamed_or_removed_is_no_longer_watched(maildir_root: Path) -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    deliver_to(maildir_root, mail(subject="old"))
    file_into(maildir_root, mail(subject="filed"), "Archive")
    file_into(maildir_root, mail(subject="job"), "Jobs")
    held = _kernel_watches()
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, since)
    assert _kernel_watches() == held + 6  # new/ and cur/ of INBOX, Archive and Jobs
    os.rename(maildir_root / ".Archive", maildir_root / ".Archive 2025")
    shutil.rmtree(maildir_root / ".Jobs")
    second = box.messages_since(first.checkpoint, since)
    assert [m.folder_name for m in second.messages] == ["Archive 2025"]
    assert _kernel_watches() == held + 4  # INBOX and the renamed folder
    box.close()
    assert _kernel_watches() == held
