"""The Maildir reads every folder of rule 6: which folders, what it costs, what it never does.

Real files in tmp_path, written by Python's own Maildir writer (an independent one)
or moved the way a mail client moves them (one rename).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import interview_followup.providers.local.maildir as maildir
from interview_followup.providers.base import Folder, Interest, MailMessage
from interview_followup.providers.local.maildir import MaildirMailbox, folder_of
from tests.contract import ATS_BODY, draft, mail
from tests.test_local_provider import all_files, deliver_to, file_into, move, sent_to

ACME = Interest(domains=frozenset({"acme.example"}))


def not_before() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)


def age(path: Path, days: float) -> None:
    """Give ``path`` the mtime of a file delivered ``days`` ago (its ctime stays now)."""
    when = time.time() - days * 86400
    os.utime(path, (when, when))


def settle_dirs(root: Path) -> None:
    """Every directory of the Maildir written a while ago, so its mtime is trusted."""
    when = time.time() - 3600
    for path in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.utime(path, (when, when))


def seen(messages: tuple[MailMessage, ...] | list[MailMessage]) -> set[tuple[str, Folder, str]]:
    return {(m.subject, m.folder, m.folder_name) for m in messages}


# -- which folders ---------------------------------------------------------------------

@pytest.mark.parametrize(("dirname", "role", "name"), [
    (".Archive", Folder.OTHER, "Archive"),
    (".Archive.2026", Folder.OTHER, "Archive/2026"),
    (".Jobs.Acme", Folder.OTHER, "Jobs/Acme"),
    (".Sent", Folder.SENT, "Sent"),
    (".sent", Folder.SENT, "sent"),
    (".Sent Items", Folder.SENT, "Sent Items"),
    (".Sent Messages", Folder.SENT, "Sent Messages"),
    (".[Gmail].Sent Mail", Folder.SENT, "[Gmail]/Sent Mail"),
    (".Jobs.Sent", Folder.OTHER, "Jobs/Sent"),  # a folder of the user's, not sent mail
    # "Entwürfe alt" only starts like a drafts folder: the user's own folder.
    (".Bewerbungen.Entw&APw-rfe alt", Folder.OTHER, "Bewerbungen/Entwürfe alt"),
    (".Bewerbungen.&ANw-bersicht", Folder.OTHER, "Bewerbungen/Übersicht"),  # modified UTF-7
    (".Gesendete Elemente", Folder.SENT, "Gesendete Elemente"),
    (".Drafts", None, ""),
    (".DRAFTS", None, ""),
    (".Entw&APw-rfe", None, ""),  # Entwürfe
    (".Trash", None, ""),
    (".Trash.Old", None, ""),  # inside the trash is trash
    (".Deleted Items", None, ""),
    (".Deleted Messages", None, ""),
    (".Junk", None, ""),
    (".Junk E-mail", None, ""),
    (".Spam", None, ""),
    (".[Gmail].Spam", None, ""),
    (".[Gmail].Trash", None, ""),
    (".Outbox", None, ""),
    ("cur", None, ""),
    (".", None, ""),
])
def test_folder_roles_and_names(dirname: str, role: Folder | None, name: str) -> None:
    box = folder_of(dirname)
    if role is None:
        assert box is None
    else:
        assert box is not None and (box.role, box.name, box.rel) == (role, name, dirname)


def test_every_folder_but_drafts_junk_and_trash_is_read(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail(subject="inbox"))
    sent_to(maildir_root, mail(sender="alex@home.example", subject="sent"))
    file_into(maildir_root, mail(sender="alex@home.example", subject="sent items"),
              "Sent Items")
    file_into(maildir_root, mail(subject="archive"), "Archive.2026")
    file_into(maildir_root, mail(subject="filed by a rule"), "Jobs.Acme")
    for skipped in ("Drafts", "Trash", "Deleted Items", "Junk", "Junk E-mail", "Spam",
                    "Archive.Trash"):
        file_into(maildir_root, mail(subject=skipped), skipped)
    box = MaildirMailbox("home", maildir_root)
    box.create_draft(draft("iv1/thank-you/dana@acme.example"),
                     "iv1/thank-you/dana@acme.example", None)
    batch = box.messages_since(None, not_before())
    assert seen(batch.messages) == {
        ("inbox", Folder.INBOX, "INBOX"),
        ("sent", Folder.SENT, "Sent"),
        ("sent items", Folder.SENT, "Sent Items"),
        ("archive", Folder.OTHER, "Archive/2026"),
        ("filed by a rule", Folder.OTHER, "Jobs/Acme"),
    }
    assert batch.problems == ()


def test_sent_in_a_sent_items_folder_carries_the_marker(maildir_root: Path) -> None:
    file_into(maildir_root, draft("iv1/thank-you/dana@acme.example"), "Sent Items")
    found = MaildirMailbox("home", maildir_root).find_marker("iv1/thank-you/dana@acme.example")
    assert [f.folder for f in found] == [Folder.SENT]


# -- moves and new folders -------------------------------------------------------------

def test_message_moved_into_an_existing_archive_is_seen_there(maildir_root: Path) -> None:
    file_into(maildir_root, mail(subject="older"), "Archive")
    msg = mail(subject="answer")
    deliver_to(maildir_root, msg)
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    assert seen(first.messages) == {("older", Folder.OTHER, "Archive"),
                                    ("answer", Folder.INBOX, "INBOX")}
    move(maildir_root, msg["Message-ID"], "Archive")
    second = box.messages_since(first.checkpoint, not_before())
    assert seen(second.messages) == {("answer", Folder.OTHER, "Archive")}
    assert box.messages_since(second.checkpoint, not_before()).messages == ()


def test_folder_made_after_a_read_is_read_for_what_was_moved_in(maildir_root: Path) -> None:
    """Delivered three weeks ago (before not_before), archived today into a new folder:
    the move is what the engine must see, whatever the delivery date."""
    msg = mail(subject="old answer")
    key = deliver_to(maildir_root, msg)
    age(maildir_root / "new" / key, days=21)
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    assert first.messages == ()  # older than not_before
    # A while later the user makes the folder and files the message into it.
    checkpoint = json.loads(first.checkpoint or "")
    checkpoint["t"] -= 60 * 10**9
    moved = move(maildir_root, msg["Message-ID"], "Jobs.Acme")
    assert moved.stat().st_mtime < not_before().timestamp()  # a rename keeps the mtime
    second = box.messages_since(json.dumps(checkpoint), not_before())
    assert seen(second.messages) == {("old answer", Folder.OTHER, "Jobs/Acme")}


def test_old_files_of_a_folder_made_later_are_not_read_again(maildir_root: Path) -> None:
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    key = file_into(maildir_root, mail(subject="imported"), "Imported")
    age(maildir_root / ".Imported" / "new" / key, days=30)
    checkpoint = json.loads(first.checkpoint or "")
    checkpoint["t"] += 60 * 10**9  # the file's ctime is now: pretend it predates the read
    second = box.messages_since(json.dumps(checkpoint), not_before())
    assert second.messages == ()


def test_checkpoint_of_the_previous_version_is_read_on(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail(subject="seen before the upgrade"))
    box = MaildirMailbox("home", maildir_root)
    current = json.loads(box.messages_since(None, not_before()).checkpoint or "")
    old = json.dumps({"v": 1, "dirs": current["dirs"]})
    file_into(maildir_root, mail(subject="archived"), "Archive")
    batch = box.messages_since(old, not_before())
    assert seen(batch.messages) == {("archived", Folder.OTHER, "Archive")}


def test_removed_folder_is_forgotten(maildir_root: Path) -> None:
    file_into(maildir_root, mail(subject="a"), "Archive")
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    for path in sorted((maildir_root / ".Archive").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (maildir_root / ".Archive").rmdir()
    second = box.messages_since(first.checkpoint, not_before())
    assert second.messages == () and second.problems == ()
    assert not any(k.startswith(".Archive") for k in json.loads(second.checkpoint or "")["dirs"])


# -- cost ----------------------------------------------------------------------------

def test_idle_read_lists_nothing_and_opens_nothing(maildir_root: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    deliver_to(maildir_root, mail(subject="inbox"))
    file_into(maildir_root, mail(subject="archive"), "Archive")
    sent_to(maildir_root, mail(subject="sent"))
    settle_dirs(maildir_root)
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    assert len(first.messages) == 3

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an idle read lists or opens something")

    monkeypatch.setattr(maildir.os, "scandir", refused)
    monkeypatch.setattr(maildir, "_read_header_block", refused)
    monkeypatch.setattr(maildir, "_excerpt", refused)
    again = box.messages_since(first.checkpoint, not_before())
    assert again.messages == () and again.checkpoint == first.checkpoint


def test_excerpt_only_for_candidates_and_from_a_bounded_prefix(maildir_root: Path) -> None:
    answer = mail(subject="answer")
    answer.set_content(ATS_BODY)
    answer.add_attachment(b"\0" * 3_000_000, maintype="application", subtype="pdf",
                          filename="offer.pdf")
    late = mail(subject="text after a huge attachment")
    late.set_content("x")
    late.add_attachment(b"\0" * 200_000, maintype="application", subtype="octet-stream",
                        filename="blob.bin")
    late.add_attachment("Thank you for your interest in Acme Corp.", subtype="plain",
                        disposition="inline")
    other = mail(sender="Sam <sam@elsewhere.example>", subject="other")
    other.set_content(ATS_BODY)
    for msg in (answer, late, other):
        deliver_to(maildir_root, msg)
    batch = MaildirMailbox("home", maildir_root).messages_since(None, not_before(), ACME)
    got = {m.subject: m.excerpt for m in batch.messages}
    assert "interest in Acme Corp" in got["answer"]
    assert "Acme" not in got["text after a huge attachment"]  # beyond the prefix read
    assert got["other"] == ""  # not a candidate: its body is never read


def test_no_file_is_ever_changed_by_reading_or_searching(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail(subject="inbox"))
    file_into(maildir_root, mail(subject="archive"), "Archive")
    file_into(maildir_root, mail(subject="junk"), "Junk")
    sent_to(maildir_root, mail(subject="sent"))
    before = {k: (v, (maildir_root / k).stat().st_mtime_ns)
              for k, v in all_files(maildir_root).items()}
    box = MaildirMailbox("home", maildir_root)
    first = box.messages_since(None, not_before())
    box.messages_since(first.checkpoint, not_before(), ACME)
    box.search_answers(not_before(), ACME)
    box.find_marker("iv1/thank-you/dana@acme.example")
    after = {k: (v, (maildir_root / k).stat().st_mtime_ns)
             for k, v in all_files(maildir_root).items()}
    assert after == before


# -- the final search ------------------------------------------------------------------

def test_search_answers_reads_every_folder_by_date_and_interest(maildir_root: Path) -> None:
    now = datetime.now(UTC)
    since = now - timedelta(days=3)
    inbox = mail(subject="in inbox")
    deliver_to(maildir_root, inbox)
    file_into(maildir_root, mail(sender="Acme Corp <no-reply@ats.example>",
                                 subject="archived", Reply_To="dana@acme.example"), "Archive")
    thread = mail(sender="Jobs <jobs@ats.example>", subject="in a thread",
                  In_Reply_To="<thanks-1@home.example>")
    file_into(maildir_root, thread, "Jobs.Acme")
    own = mail(sender="alex@home.example", to="dana@acme.example", subject="my follow-up")
    file_into(maildir_root, own, "Sent Items")
    old = mail(subject="delivered long ago")
    key = deliver_to(maildir_root, old)
    age(maildir_root / "new" / key, days=10)  # never opened: the mtime says so
    file_into(maildir_root, mail(subject="trash"), "Trash")
    interest = Interest(domains=frozenset({"acme.example"}),
                        message_ids=frozenset({"<thanks-1@home.example>"}))
    found = MaildirMailbox("home", maildir_root).search_answers(since, interest)
    assert seen(found) == {
        ("in inbox", Folder.INBOX, "INBOX"),
        ("archived", Folder.OTHER, "Archive"),
        ("in a thread", Folder.OTHER, "Jobs/Acme"),
        ("my follow-up", Folder.SENT, "Sent Items"),
    }
    assert all(m.excerpt for m in found)


def test_subdomain_of_an_interesting_domain_matches(maildir_root: Path) -> None:
    deliver_to(maildir_root, mail(sender="Priya <priya@careers.acme.ac.in>", subject="ac.in"))
    deliver_to(maildir_root, mail(sender="Other <x@other.ac.in>", subject="someone else"))
    interest = Interest(domains=frozenset({"acme.ac.in"}))
    found = MaildirMailbox("home", maildir_root).search_answers(not_before(), interest)
    assert [m.subject for m in found] == ["ac.in"]
