"""Notifications when a draft lands: a real D-Bus session bus, and the command hook.

The D-Bus test starts a private ``dbus-daemon --session`` on a socket in
tmp_path and a stand-in notification service on it (the real protocol, through
jeepney), then runs ``followup run --once`` against the demo calendar: the
service must receive one Notify call per interview and kind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from interview_followup.daemon.cli import cli
from interview_followup.daemon.config import Notify
from interview_followup.daemon.demo import setup
from interview_followup.daemon.notify import Message, Notifier, draft_messages

jeepney = pytest.importorskip("jeepney")


@dataclass
class FakeAddress:
    name: str
    email: str


@dataclass
class FakeDraft:
    interview_id: str
    kind: str
    to: tuple[FakeAddress, ...]
    subject: str = "Thank you — Data Engineer interview"
    account: str = "home"
    location: str = "/tmp/x"


def config_with(tmp_path: Path, notify: str) -> Path:
    path = setup(tmp_path, datetime.now(UTC))
    text = path.read_text()
    path.write_text(text.replace("[daemon]", f"{notify}\n\n[daemon]", 1))
    return path


# -- the words ------------------------------------------------------------------
def test_one_message_per_interview_and_kind_naming_people_and_company() -> None:
    drafts = [FakeDraft("a1", "thank_you", (FakeAddress("Jane Doe", "jane@acme.example"),)),
              FakeDraft("a1", "thank_you", (FakeAddress("Samuel Lee", "sam@acme.example"),)),
              FakeDraft("g1", "status_check", (FakeAddress("", "tom@globex.example"),),
                        subject="Following up")]
    messages = draft_messages(drafts, {"a1": "Acme", "g1": None}.get)
    assert [m.summary for m in messages] == [
        "Thank-you drafts for Jane Doe and Samuel Lee (Acme) are in your Drafts",
        "Status-check draft for tom@globex.example is in your Drafts",
    ]
    assert messages[1].body.startswith("Following up [home]")


# -- the command hook -------------------------------------------------------------
RECORDER = ("import json, os, sys; "
            "open(sys.argv[1], 'a').write(json.dumps({k: v for k, v in os.environ.items() "
            "if k.startswith('FOLLOWUP_')}) + '\\n')")


def test_the_command_gets_each_draft_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "told.jsonl"
    command = json.dumps([sys.executable, "-c", RECORDER, str(out)])
    config = config_with(tmp_path, f"[notify]\ndesktop = false\ncommand = {command}")
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "wrote 3 draft(s)"
    told = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((t["FOLLOWUP_KIND"], t["FOLLOWUP_TO"]) for t in told) == [
        ("status_check", "tom.becker@globex.com"),
        ("thank_you", "jane.doe@acme-robotics.com"),
        ("thank_you", "samuel.lee@acme-robotics.com"),
    ]
    jane = next(t for t in told if t["FOLLOWUP_TO"].startswith("jane"))
    assert jane["FOLLOWUP_EVENT"] == "draft"
    assert jane["FOLLOWUP_COMPANY"] == "Acme Robotics"
    assert jane["FOLLOWUP_MESSAGE"] == ("Thank-you draft for Jane Doe (Acme Robotics) is in "
                                        "your Drafts")
    assert list((tmp_path / "Maildir" / ".Drafts" / "cur").glob(jane["FOLLOWUP_LOCATION"] + "*"))
    # A dry run and a cycle with nothing new tell nobody.
    for args in (["run", "--once", "--dry-run"], ["run", "--once"]):
        assert CliRunner().invoke(cli, ["--config", str(config), *args]).exit_code == 0
    assert len(out.read_text().splitlines()) == 3


def test_the_command_is_never_run_by_a_shell(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOLLOWUP_NOTIFY", raising=False)  # the recorder lists FOLLOWUP_*
    out = tmp_path / "told.jsonl"
    notifier = Notifier(Notify(desktop=False, command=(sys.executable, "-c", RECORDER,
                                                       str(out))))
    evil = FakeDraft("a1", "thank_you", (FakeAddress("$(touch pwned)", "x@y.example"),),
                     subject="`touch pwned`; rm -rf /")
    notifier.cycle([evil], ["Acme answered after the status check"])
    told = [json.loads(line) for line in out.read_text().splitlines()]
    assert told[0]["FOLLOWUP_SUBJECT"] == "`touch pwned`; rm -rf /"
    assert told[1] == {"FOLLOWUP_EVENT": "late_answer",
                       "FOLLOWUP_MESSAGE": "Acme answered after the status check"}
    assert not Path("pwned").exists() and not (tmp_path / "pwned").exists()


def test_a_failing_command_is_a_warning_never_an_error(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    drafts = [FakeDraft("a1", "thank_you", (FakeAddress("Jane", "jane@acme.example"),))]
    caplog.set_level(logging.INFO)
    Notifier(Notify(desktop=False, command=(str(tmp_path / "nope"),))).cycle(drafts)
    Notifier(Notify(desktop=False, command=(sys.executable, "-c", "raise SystemExit(3)"))
             ).cycle(drafts)
    levels = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert levels[0] == ("WARNING", f"[notify] command not found: {tmp_path / 'nope'}")
    assert levels[1][0] == "WARNING" and "exited with status 3" in levels[1][1]


# -- D-Bus -------------------------------------------------------------------------
@dataclass
class NotificationService:
    """org.freedesktop.Notifications on a private bus, recording each Notify call."""

    address: str
    calls: list[tuple[Any, ...]] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        from jeepney import HeaderFields, MessageType, message_bus, new_method_return
        from jeepney.io.blocking import open_dbus_connection

        with open_dbus_connection(bus=self.address) as conn:
            conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
            self.ready.set()
            while not self.stop.is_set():
                try:
                    msg = conn.receive(timeout=0.2)
                except TimeoutError:
                    continue
                fields = msg.header.fields
                if (msg.header.message_type == MessageType.method_call
                        and fields.get(HeaderFields.member) == "Notify"):
                    self.calls.append(msg.body)
                    conn.send(new_method_return(msg, "u", (len(self.calls),)))


def _session_bus(folder: Path) -> Iterator[str]:
    binary = shutil.which("dbus-daemon")
    if binary is None:
        why = "dbus-daemon is not installed (Debian: apt-get install dbus)"
        if os.environ.get("CI"):
            pytest.fail(f"the D-Bus notification test must run in CI: {why}", pytrace=False)
        pytest.skip(f"D-Bus notification test not run: {why}")
    address = f"unix:path={folder / 'bus'}"
    proc = subprocess.Popen([binary, "--session", "--nofork", "--nopidfile",
                             f"--address={address}", "--print-address"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        printed = proc.stdout.readline().strip()
        assert printed, proc.stderr.read() if proc.stderr else "dbus-daemon did not start"
        yield printed
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def session_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for address in _session_bus(tmp_path):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        monkeypatch.delenv("FOLLOWUP_NOTIFY", raising=False)
        yield address


def test_desktop_notifications_reach_the_session_bus(session_bus: str, tmp_path: Path) -> None:
    service = NotificationService(session_bus)
    thread = threading.Thread(target=service.serve, daemon=True)
    thread.start()
    assert service.ready.wait(10)
    try:
        config = config_with(tmp_path / "demo", "")
        result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
        assert result.exit_code == 0, result.output
    finally:
        service.stop.set()
        thread.join(5)
    assert len(service.calls) == 2  # one per interview and kind
    app, replaces, icon, _summary, body, actions, hints, expire = service.calls[0]
    assert (app, replaces, icon, actions, expire) == ("interview-followup", 0,
                                                      "mail-message-new", [], -1)
    summaries = sorted(c[3] for c in service.calls)
    assert summaries == [
        "Status-check draft for Tom Becker (Globex) is in your Drafts",
        "Thank-you drafts for Jane Doe and Samuel Lee (Acme Robotics) are in your Drafts",
    ]
    assert "Read, edit and send it yourself." in body
    assert hints["category"] == ("s", "email.arrived")


def test_no_notification_service_is_one_info_line(
        session_bus: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="interview_followup.daemon.notify")
    drafts = [FakeDraft("a1", "thank_you", (FakeAddress("Jane", "jane@acme.example"),)),
              FakeDraft("b1", "thank_you", (FakeAddress("Kim", "kim@initech.example"),))]
    notifier = Notifier(Notify())  # nobody owns org.freedesktop.Notifications on this bus
    notifier.cycle(drafts)
    notifier.cycle(drafts)
    above_debug = [(r.levelname, r.getMessage()) for r in caplog.records
                   if r.levelno > logging.DEBUG]
    assert above_debug == [("INFO", "no desktop notification service here; set [notify] "
                                    "command to be told another way (docs/guide.md)")]


def test_no_session_bus_at_all_is_not_an_error(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'none'}")
    from interview_followup.daemon.notify import _freedesktop

    assert _freedesktop(Message("s", "b")) is False
