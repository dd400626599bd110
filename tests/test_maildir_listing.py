"""A changed Maildir directory is listed again, but only names it did not hold at the last
scan are stat'ed (issue 11: marking one message read in a folder of 140,000 no longer stats
them all). Checked against a reader without that memory on random mail-client activity."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interview_followup.providers.local.maildir import MaildirMailbox
from tests.contract import mail
from tests.test_local_provider import deliver_to, file_into


def _dirs(checkpoint: str) -> dict[str, object]:
    return dict(json.loads(checkpoint)["dirs"])


def _seen(batch_messages: tuple[object, ...]) -> list[tuple[str, str]]:
    return sorted((m.folder_name, m.message_id) for m in batch_messages)  # type: ignore[attr-defined]


def _step(root: Path, rng: random.Random, n: int) -> None:
    inbox_new = sorted((root / "new").iterdir())
    inbox_cur = sorted((root / "cur").iterdir())
    action = rng.choice(["deliver", "deliver", "read", "flag", "archive", "delete", "file"])
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
                (root / ".Archive" / leaf).mkdir(parents=True, exist_ok=True)
            os.rename(path, root / ".Archive" / "cur" / path.name)
        else:
            path.unlink()
    else:
        file_into(root, mail(subject=f"f{n}"), "Archive")


@pytest.mark.parametrize("seed", range(6))
def test_the_remembered_listing_reads_what_a_fresh_reader_reads(maildir_root: Path,
                                                                 seed: int) -> None:
    rng = random.Random(seed)
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
