"""Maildir layouts (issue 10, item 6): mbsync's folders side by side, a `maildir` that
points at their Inbox, Maildir++ synced from Gmail, configured folder names, and what
describe() (``followup doctor``) says. Real directories in tmp_path, mail written by
Python's own Maildir writer."""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import mailbox as stdlib_mailbox
import os
import shlex
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

import interview_followup.providers.local.maildir as maildir
from interview_followup.providers.base import Folder, Mailbox, MailMessage
from interview_followup.providers.errors import ProviderUnavailable
from interview_followup.providers.local.maildir import (
    FS,
    MAILDIR_PP,
    MaildirMailbox,
    detect,
    open_mailbox,
    settings,
)
from tests.contract import MailboxContract, draft, mail
from tests.dovecot import (
    Dovecot,
    DovecotUnavailable,
    _namespace_prefix,
    config_text,
    dovecot_binary,
    dovecot_version,
    imap_binary,
)

MARKER = "iv1/thank-you/dana@acme.example"


def not_before() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)


def folder(root: Path, rel: str, synced: bool = True) -> Path:
    """A Maildir as mbsync makes it (with its .uidvalidity when ``synced``)."""
    path = root / rel
    for leaf in ("cur", "new", "tmp"):
        (path / leaf).mkdir(parents=True, exist_ok=True)
    if synced:
        (path / ".uidvalidity").write_text("1700000000\n1\n")
    return path


def put(path: Path, msg: Any, flags: str = "") -> str:
    message = stdlib_mailbox.MaildirMessage(msg)
    if flags:
        message.set_subdir("cur")
        message.add_flag(flags)
    return stdlib_mailbox.Maildir(path, create=False).add(message)


def mbsync_account(tmp_path: Path) -> Path:
    """SubFolders Verbatim: Inbox, Drafts, Sent, Trash, Archive with Archive/2026 inside."""
    account = tmp_path / "Mail" / "home"
    for rel in ("Inbox", "Drafts", "Sent", "Trash", "Archive", "Archive/2026"):
        folder(account, rel)
    return account


def seen(messages: tuple[MailMessage, ...] | list[MailMessage]) -> set[tuple[str, Folder, str]]:
    return {(m.subject, m.folder, m.folder_name) for m in messages}


def stored(path: Path) -> email.message.EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def settle_dirs(root: Path) -> None:
    when = time.time() - 3600
    for path in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.utime(path, (when, when))


# -- mbsync's sibling layout -----------------------------------------------------------

def test_mbsync_layout_drafts_go_to_the_synced_drafts_folder(tmp_path: Path) -> None:
    account = mbsync_account(tmp_path)
    put(account / "Inbox", mail(subject="in inbox"))
    put(account / "Archive" / "2026", mail(subject="archived answer"))
    put(account / "Archive", mail(subject="archived"))
    put(account / "Sent", mail(sender="alex@home.example", subject="my thanks"), "S")
    put(account / "Trash", mail(subject="trashed"))
    box = MaildirMailbox("home", account)
    ref = box.create_draft(draft(MARKER), MARKER, None)
    [path] = (account / "Drafts" / "cur").iterdir()
    assert path.name == f"{ref.id}:2,D"
    assert stored(path)["X-Interview-Followup"] == MARKER
    assert not (account / ".Drafts").exists() and not (account / "Inbox" / ".Drafts").exists()
    batch = box.messages_since(None, not_before())
    assert seen(batch.messages) == {
        ("in inbox", Folder.INBOX, "INBOX"),
        ("archived answer", Folder.OTHER, "Archive/2026"),
        ("archived", Folder.OTHER, "Archive"),
        ("my thanks", Folder.SENT, "Sent"),
    }
    assert [f.folder for f in box.find_marker(MARKER)] == [Folder.DRAFTS]


def test_maildir_pointing_at_the_inbox_reads_the_whole_account(tmp_path: Path) -> None:
    account = mbsync_account(tmp_path)
    put(account / "Archive" / "2026", mail(subject="archived answer"))
    box = MaildirMailbox("home", account / "Inbox")
    box.create_draft(draft(MARKER), MARKER, None)
    assert len(list((account / "Drafts" / "cur").iterdir())) == 1
    assert not (account / "Inbox" / ".Drafts").exists()
    assert seen(box.messages_since(None, not_before()).messages) == {
        ("archived answer", Folder.OTHER, "Archive/2026")}
    described = box.describe()
    assert described["layout"].startswith(f"fs at {account} (")
    assert "Inbox of a folder of Maildirs" in described["layout"]
    assert described["drafts"] == "Drafts" and described["warnings"] == []


def test_an_inbox_that_gets_siblings_later_sends_drafts_beside_it(tmp_path: Path) -> None:
    """mbsync's first sync made Inbox before the others: the layout is looked at again
    before a Drafts folder would be made, and the folders read follow too."""
    account = tmp_path / "Mail"
    inbox = folder(account, "Inbox")
    box = MaildirMailbox("home", inbox)
    first = box.messages_since(None, not_before())
    for rel in ("Drafts", "Sent", "Archive"):
        folder(account, rel)
    put(account / "Archive", mail(subject="archived"))
    box.create_draft(draft(MARKER), MARKER, None)
    assert len(list((account / "Drafts" / "cur").iterdir())) == 1
    assert not (inbox / ".Drafts").exists()
    (inbox / ".mbsyncstate").write_text("")  # the next sync touches the Inbox too
    assert seen(box.messages_since(first.checkpoint, not_before()).messages) == {
        ("archived", Folder.OTHER, "Archive")}


def test_folder_nested_later_is_seen_and_the_idle_read_opens_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    account = mbsync_account(tmp_path)
    put(account / "Inbox", mail(subject="first"))
    settle_dirs(account)
    box = MaildirMailbox("home", account)
    first = box.messages_since(None, not_before())
    assert json.loads(first.checkpoint or "")["layout"] == [FS, "."]
    folder(account, "Archive/2027")
    put(account / "Archive" / "2027", mail(subject="filed into a new folder"))
    second = box.messages_since(first.checkpoint, not_before())
    assert seen(second.messages) == {("filed into a new folder", Folder.OTHER, "Archive/2027")}
    settle_dirs(account)
    third = box.messages_since(second.checkpoint, not_before())

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an idle read lists or opens something")

    monkeypatch.setattr(maildir.os, "scandir", refused)
    monkeypatch.setattr(maildir, "_read_header_block", refused)
    again = box.messages_since(third.checkpoint, not_before())
    assert again.messages == () and again.checkpoint == third.checkpoint


def test_gmail_under_verbatim_and_inbox_subfolders(tmp_path: Path) -> None:
    account = tmp_path / "gmail"
    for rel in ("INBOX", "[Gmail]/Drafts", "[Gmail]/Sent Mail", "[Gmail]/Spam",
                "INBOX/Jobs"):
        folder(account, rel)
    put(account / "[Gmail]" / "Sent Mail", mail(subject="sent"), "S")
    put(account / "INBOX" / "Jobs", mail(subject="filed"))
    put(account / "[Gmail]" / "Spam", mail(subject="spam"))
    box = MaildirMailbox("home", account)
    box.create_draft(draft(MARKER), MARKER, None)
    assert len(list((account / "[Gmail]" / "Drafts" / "cur").iterdir())) == 1
    assert not (account / "Drafts").exists()
    assert seen(box.messages_since(None, not_before()).messages) == {
        ("sent", Folder.SENT, "[Gmail]/Sent Mail"), ("filed", Folder.OTHER, "INBOX/Jobs")}


# -- Maildir++ ------------------------------------------------------------------------

def test_maildir_plus_plus_synced_from_gmail_uses_its_drafts(maildir_root: Path) -> None:
    folder(maildir_root, ".[Gmail].Drafts")
    folder(maildir_root, ".[Gmail].Sent Mail")
    put(maildir_root / ".[Gmail].Sent Mail", draft(MARKER), "S")
    box = MaildirMailbox("home", maildir_root)
    assert [f.folder for f in box.find_marker(MARKER)] == [Folder.SENT]
    box.create_draft(draft("iv2/thank-you/sam@acme.example"), "iv2/thank-you/sam@acme.example",
                     None)
    assert not (maildir_root / ".Drafts").exists()
    [path] = (maildir_root / ".[Gmail].Drafts" / "cur").iterdir()
    assert path.name.endswith(":2,D")
    assert box.describe()["drafts"] == "[Gmail]/Drafts"


def test_maildir_plus_plus_checkpoint_of_version_2_is_read_on(maildir_root: Path) -> None:
    put(maildir_root, mail(subject="before the upgrade"))
    box = MaildirMailbox("home", maildir_root)
    current = json.loads(box.messages_since(None, not_before()).checkpoint or "")
    root_mtime, root_settled = current["tree"][""]
    old = json.dumps({"v": 2, "t": current["t"], "root": [root_mtime, root_settled, []],
                      "dirs": current["dirs"]})
    folder(maildir_root, ".Archive", synced=False)
    put(maildir_root / ".Archive", mail(subject="archived"))
    assert seen(box.messages_since(old, not_before()).messages) == {
        ("archived", Folder.OTHER, "Archive")}


def test_mbsync_subfolders_maildir_plus_plus_inside_the_account_folder(tmp_path: Path) -> None:
    inbox = folder(tmp_path / "home", "Inbox")
    folder(inbox, ".Drafts")
    folder(inbox, ".Sent")
    found = detect(tmp_path / "home")
    assert not isinstance(found, str) and (found.kind, found.root) == (MAILDIR_PP, inbox)
    MaildirMailbox("home", tmp_path / "home").create_draft(draft(MARKER), MARKER, None)
    assert len(list((inbox / ".Drafts" / "cur").iterdir())) == 1


# -- configured names -----------------------------------------------------------------

def test_configured_names_override(tmp_path: Path) -> None:
    account = mbsync_account(tmp_path)
    folder(account, "Entwürfe")
    folder(account, "Gesendet")
    put(account / "Sent", mail(subject="in Sent"))
    put(account / "Gesendet", mail(subject="in Gesendet"))
    box = open_mailbox("home", {"path": account, "drafts": "Entwürfe", "sent": "Gesendet"})
    box.create_draft(draft(MARKER), MARKER, None)
    assert len(list((account / "Entwürfe" / "cur").iterdir())) == 1
    assert list((account / "Drafts" / "cur").iterdir()) == []
    got = seen(box.messages_since(None, not_before()).messages)
    assert got == {("in Sent", Folder.OTHER, "Sent"), ("in Gesendet", Folder.SENT, "Gesendet")}


def test_configured_drafts_that_is_missing_is_made_in_the_layouts_form(
        maildir_root: Path) -> None:
    box = MaildirMailbox("home", maildir_root, drafts="Bewerbungen/Entwürfe")
    assert any("no such folder" in w for w in box.describe()["warnings"])
    box.create_draft(draft(MARKER), MARKER, None)
    made = maildir_root / ".Bewerbungen.Entw&APw-rfe"
    assert len(list((made / "cur").iterdir())) == 1 and (made / "maildirfolder").exists()


def test_settings_check_every_option() -> None:
    with pytest.raises(ValueError) as info:
        settings({"layout": "flat", "drafs": "x"})
    assert str(info.value).splitlines() == ["unknown option 'drafs'", "path: required",
                                            "layout: must be one of auto, maildir++, fs"]


# -- describe() -------------------------------------------------------------------------

def test_a_lone_inbox_warns_that_drafts_would_go_nowhere_synced(tmp_path: Path) -> None:
    inbox = folder(tmp_path / "home", "Inbox")
    described = MaildirMailbox("home", inbox).describe()
    assert described["drafts"] == "(none: Drafts is created with the first draft)"
    assert described["drafts path"] == str(inbox / ".Drafts" / "cur")
    [warning] = described["warnings"]
    assert "a new .Drafts inside" in warning and "named like an inbox" in warning


def test_an_empty_drafts_beside_a_drafts_folder_with_mail_is_named(tmp_path: Path) -> None:
    account = mbsync_account(tmp_path)
    folder(account, "[Gmail]/Drafts")
    put(account / "[Gmail]" / "Drafts", mail(subject="the user's draft"), "D")
    described = MaildirMailbox("home", account).describe()
    assert described["drafts"] == "Drafts"
    assert described["warnings"] == [
        "Drafts holds no mail while [Gmail]/Drafts holds 1: if [Gmail]/Drafts is the Drafts "
        "folder your mail client shows, set drafts = \"[Gmail]/Drafts\""]
    assert ("Archive/2026", "other") in described["read"]
    assert {"Drafts", "Trash", "[Gmail]/Drafts"} <= set(described["not read"])


def test_a_drafts_folder_no_sync_tool_keeps_is_preferred_less_and_warned(
        tmp_path: Path) -> None:
    account = mbsync_account(tmp_path)
    folder(account, "Inbox/.Drafts", synced=False)  # written there by an older version
    box = MaildirMailbox("home", account)
    assert box.describe()["drafts"] == "Drafts"  # the one mbsync keeps
    put(account / "Inbox" / ".Drafts", draft(MARKER), "D")
    assert [f.folder for f in box.find_marker(MARKER)] == [Folder.DRAFTS]  # still found
    unsynced = MaildirMailbox("home", account, drafts="INBOX/Drafts").describe()
    assert any("shows no sign of mbsync" in w for w in unsynced["warnings"])


def test_a_drafts_folder_mbsync_does_not_have_yet_is_warned(tmp_path: Path) -> None:
    account = tmp_path / "Mail"
    for rel in ("Inbox", "Sent"):
        folder(account, rel)
    described = MaildirMailbox("home", account).describe()
    assert described["drafts path"] == str(account / "Drafts" / "cur")
    [warning] = described["warnings"]
    assert "once mbsync copies it" in warning and "Create Both" in warning


def test_a_server_serves_every_folder_on_disk_so_nothing_is_warned(maildir_root: Path) -> None:
    (maildir_root / "dovecot-uidlist").write_text("3 V1 N1\n")  # Dovecot keeps this INBOX
    box = MaildirMailbox("home", maildir_root)
    box.create_draft(draft(MARKER), MARKER, None)
    described = box.describe()
    assert (described["drafts"], described["warnings"]) == ("Drafts", [])
    assert described["layout"].startswith(f"maildir++ at {maildir_root}")


def test_no_maildir_and_no_inbox_are_explained(tmp_path: Path) -> None:
    folder(tmp_path / "other", "Archive")
    with pytest.raises(ProviderUnavailable, match="no Inbox folder among Archive"):
        MaildirMailbox("home", tmp_path / "other").messages_since(None, not_before())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProviderUnavailable, match="not a Maildir"):
        MaildirMailbox("home", tmp_path / "empty").describe()


# -- the contract, on mbsync's layout ---------------------------------------------------

class TestSiblingLayoutContract(MailboxContract):
    """Every promise of a mailbox, kept with mbsync's folders side by side and ``maildir``
    pointing at their Inbox (drafts in the sibling Drafts/)."""

    supports_answer_fields = True
    supports_folders = True

    @pytest.fixture
    def mailbox(self, tmp_path: Path) -> Mailbox:
        account = tmp_path / "Mail"
        for rel in ("Inbox", "Drafts", "Sent"):
            folder(account, rel)
        return MaildirMailbox("home", account / "Inbox")

    @staticmethod
    def account(mailbox: Mailbox) -> Path:
        assert isinstance(mailbox, MaildirMailbox)
        return mailbox.root.parent

    def deliver(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        put(self.account(mailbox) / "Inbox", msg)

    def file_into(self, mailbox: Mailbox, msg: EmailMessage, name: str) -> None:
        put(folder(self.account(mailbox), name), msg, "D" if name == "Drafts" else "")

    def record_sent(self, mailbox: Mailbox, msg: EmailMessage) -> None:
        put(self.account(mailbox) / "Sent", msg, "S")

    def move(self, mailbox: Mailbox, message_id: str, name: str) -> None:
        inbox = self.account(mailbox) / "Inbox"
        target = folder(self.account(mailbox), name)
        for path in [*(inbox / "new").iterdir(), *(inbox / "cur").iterdir()]:
            if stored(path)["Message-ID"] == message_id:
                base = path.name if ":2," in path.name else f"{path.name}:2,S"
                os.rename(path, target / "cur" / base)
                return
        raise AssertionError(f"{message_id} is not in the Inbox")


# -- a real Dovecot serving the sibling layout ------------------------------------------

def _fs_dovecot(base: Path, account: Path) -> Dovecot:
    """Dovecot with ``LAYOUT=fs`` and INBOX in ``account/Inbox``: the mbsync folders served
    as they are on disk ("Archive/2026" is the folder Archive/2026)."""
    version = dovecot_version(dovecot_binary())
    imap = imap_binary()
    prefix, uid, gid = _namespace_prefix()
    home = base / "home"
    home.mkdir(parents=True)
    text = config_text(version, base, account, uid, gid).replace("separator = .",
                                                                 "separator = /")
    if "mailbox_list_layout" in text:  # 2.4
        text = text.replace("mailbox_list_layout = Maildir++",
                            f'mailbox_list_layout = fs\nmail_inbox_path = "{account}/Inbox"')
    else:
        text = text.replace(f"mail_location = maildir:{account}",
                            f"mail_location = maildir:{account}:LAYOUT=fs:INBOX={account}/Inbox")
    config = base / "dovecot.conf"
    config.write_text(text)
    log = base / "imap.log"
    argv = ["env", "-i", "USER=alex", f"HOME={home}", "PATH=/usr/bin:/bin",
            *prefix, str(imap), "-c", str(config)]
    return Dovecot(home=home, maildir=account, version=version, config=config, log=log,
                   command=f"exec {shlex.join(argv)} 2>>{shlex.quote(str(log))}")


def test_dovecot_serves_our_draft_from_the_sibling_drafts_folder(tmp_path: Path) -> None:
    account = mbsync_account(tmp_path)
    try:
        server = _fs_dovecot(tmp_path / "dovecot", account)
    except DovecotUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"the Dovecot IMAP test must run in CI: {exc}", pytrace=False)
        pytest.skip(f"Dovecot IMAP test not run: {exc}")
    box = MaildirMailbox("home", account / "Inbox")  # as a new mbsync user points it
    box.create_draft(draft(MARKER), MARKER, None)
    answer = mail(subject="filed by the user")
    with server.session() as imap:
        typ, listed = imap.list()
        assert typ == "OK", server.log_text()
        names = {line.decode().rsplit(" ", 1)[-1].strip('"') for line in listed
                 if isinstance(line, bytes)}
        assert {"INBOX", "Drafts", "Sent", "Archive/2026"} <= names, listed
        typ, _ = imap.select('"Drafts"', readonly=True)
        assert typ == "OK", server.log_text()
        typ, data = imap.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (X-Interview-Followup)])")
        assert typ == "OK", server.log_text()
        [(head, header)] = [d for d in data if isinstance(d, tuple)]
        assert b"\\Draft" in head and MARKER.encode() in header
        imap.append('"Archive/2026"', "", imaplib.Time2Internaldate(time.time()),
                    answer.as_bytes())
    batch = box.messages_since(None, not_before())
    assert seen(batch.messages) == {("filed by the user", Folder.OTHER, "Archive/2026")}


def test_doctor_says_where_drafts_go_for_an_mbsync_layout(tmp_path: Path) -> None:
    """The config's `maildir` points at mbsync's Inbox; doctor names the synced Drafts
    folder and the layout, and the shorthand's `drafts` key reaches the mailbox."""
    from click.testing import CliRunner

    from interview_followup.daemon.cli import cli

    for sub in ("Inbox", "Drafts", "Sent", "Archive", "Entwürfe"):
        for leaf in ("cur", "new", "tmp"):
            (tmp_path / "Mail" / sub / leaf).mkdir(parents=True)
    (tmp_path / "cal.ics").write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
                                      "END:VCALENDAR\r\n")
    config = tmp_path / "config.toml"
    base = ('[me]\nname = "A"\nemail = "a@example.org"\n[daemon]\nstate_dir = "state"\n'
            '[[accounts]]\nname = "home"\nprovider = "local"\ncalendar = "cal.ics"\n'
            'maildir = "Mail/Inbox"\n')
    config.write_text(base, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "mailbox (maildir)" in x)
    assert "drafts go to: Drafts;" in line and "layout: fs at" in line
    config.write_text(base + 'drafts = "Entwürfe"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "doctor"])
    assert "drafts go to: Entwürfe;" in result.output, result.output
