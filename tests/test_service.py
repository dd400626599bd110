"""The daemon: scheduling, failures, signals, reload and systemd notifications.

Each test runs the real run_daemon in a subprocess (tests/service_helper.py)
with a stand-in engine that logs what it is asked to do. The helper divides
the configured poll interval by 100, so "10s" polls every 0.1 s and "1h"
every 36 s (longer than any test waits: a cycle that arrives sooner came from
something else). Timeouts are generous; nothing asserts how fast things happen.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interview_followup.daemon.config import Config
from interview_followup.daemon.errors import ConfigError
from interview_followup.daemon.logs import setup_logging
from interview_followup.daemon.service import run_daemon

HELPER = Path(__file__).with_name("service_helper.py")
TIMEOUT = 10.0

Event = dict[str, Any]


def write_config(tmp_path: Path, *, poll: str = "10s", name: str = "Alex Rivera") -> Path:
    (tmp_path / "cal.ics").write_text("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    (tmp_path / "Mail").mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(f"""
[me]
name = "{name}"
email = "alex.rivera@example.org"

[daemon]
poll_interval = "{poll}"
state_dir = "state"

[[accounts]]
name = "home"
provider = "local"
calendar = "cal.ics"
maildir = "Mail"
""")
    return path


class Daemon:
    """One run_daemon subprocess and the stand-in engine's event log."""

    def __init__(self, tmp_path: Path, *, plan: str = "", poll: str = "10s",
                 env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> None:
        self.config = write_config(tmp_path, poll=poll)
        self.log = tmp_path / "engine.jsonl"
        self.err = tmp_path / "stderr.txt"
        full_env = {k: v for k, v in os.environ.items()
                    if k not in {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                 "JOURNAL_STREAM"}}
        full_env.update(FAKE_ENGINE_LOG=str(self.log), FAKE_ENGINE_PLAN=plan, **(env or {}))
        with self.err.open("w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(HELPER), str(self.config), *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=full_env,
            )

    def events(self) -> list[Event]:
        if not self.log.exists():
            return []
        text = self.log.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines(keepends=True)
                if line.endswith("\n")]

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def wait_for(self, what: str, done: Callable[[list[Event]], bool]) -> list[Event]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            events = self.events()
            if done(events):
                return events
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited ({self.proc.returncode}) before {what}:\n"
                            f"{self.stderr()}")
            time.sleep(0.02)
        pytest.fail(f"timed out waiting for {what}; events {self.events()}\n{self.stderr()}")

    def wait_for_stderr(self, text: str) -> None:
        self.wait_for(f"{text!r} in the log", lambda _: text in self.stderr())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=TIMEOUT)


def kind(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e["event"] == name]


def ended(n: int) -> Callable[[list[Event]], bool]:
    return lambda events: any(e["event"] == "end" and e["n"] >= n for e in events)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def _start(**kwargs: Any) -> Daemon:
        daemon = Daemon(tmp_path, **kwargs)
        started.append(daemon)
        return daemon

    yield _start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


def test_first_cycle_at_start_and_a_failing_cycle_does_not_stop_the_next(
    start: Callable[..., Daemon],
) -> None:
    daemon = start(plan="raise", args=("--dry-run",))
    events = daemon.wait_for("two cycles after the failing one", ended(3))
    assert daemon.stop() == 0
    assert [e["n"] for e in kind(events, "start")][:3] == [1, 2, 3]
    assert 1 not in [e["n"] for e in kind(events, "end")]  # cycle 1 raised
    log = daemon.stderr()
    assert "cycle failed" in log
    assert "RuntimeError: stand-in failure in cycle 1" in log  # logged with its traceback
    assert kind(events, "open")[0]["dry_run"] is True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_the_running_cycle_finish_then_exits_0(
    start: Callable[..., Daemon], sig: int
) -> None:
    daemon = start(plan="slow", poll="1h")
    daemon.wait_for("the slow cycle to start", lambda ev: bool(kind(ev, "start")))
    assert daemon.stop(sig) == 0
    events = daemon.events()
    assert [e["event"] for e in events] == ["open", "start", "end", "close"]
    assert len({e["thread"] for e in events}) == 1  # SQLite needs one thread, open to close
    assert "finishing the current step" in daemon.stderr()


def test_sighup_reloads_the_config_and_uses_the_new_poll_interval(
    start: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = start(poll="1h")  # 36 s between polls: longer than this test waits
    daemon.wait_for("the first cycle", ended(1))
    write_config(tmp_path, poll="10s", name="Sam Rivera")
    daemon.proc.send_signal(signal.SIGHUP)

    def polled_after_reload(events: list[Event]) -> bool:
        opens = [i for i, e in enumerate(events) if e["event"] == "open"]
        return len(opens) == 2 and len(kind(events[opens[1]:], "end")) >= 2

    events = daemon.wait_for("two cycles under the new config", polled_after_reload)
    assert daemon.stop() == 0
    first, second = kind(events, "open")
    assert (first["name"], second["name"]) == ("Alex Rivera", "Sam Rivera")
    assert (first["poll"], second["poll"]) == (36.0, 0.1)
    names = [e["event"] for e in events]
    assert names.index("close") < names.index("open", 1)  # the old engine closed first
    assert len({e["thread"] for e in events}) == 1  # both engines lived on one thread


def test_sighup_with_a_broken_config_keeps_the_running_one(
    start: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = start()
    daemon.wait_for("the first cycle", ended(1))
    write_config(tmp_path, poll="1s")
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for_stderr("reload failed")
    count = len(kind(daemon.events(), "end"))
    events = daemon.wait_for("more cycles after the failed reload", ended(count + 2))
    assert daemon.stop() == 0
    assert len(kind(events, "open")) == 1
    assert not kind(events, "close")
    assert "daemon.poll_interval (line 7): must be at least 10s" in daemon.stderr()


def test_a_cycle_runs_at_next_due_between_polls(start: Callable[..., Daemon]) -> None:
    daemon = start(plan="due:1", poll="1h")
    events = daemon.wait_for("the cycle at next_due", ended(2))
    assert daemon.stop() == 0
    first_end = kind(events, "end")[0]
    second_start = kind(events, "start")[1]
    assert second_start["at"] >= first_end["next_due"]  # not before it was due


def receive(sock: socket.socket, what: str, done: Callable[[list[str]], bool],
            seen: list[str]) -> list[str]:
    """Collect notification lines into ``seen`` until ``done(seen)``."""
    deadline = time.monotonic() + TIMEOUT
    while not done(seen):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            seen.extend(sock.recv(4096).decode().splitlines())
        except TimeoutError:
            pytest.fail(f"no {what} from the daemon; received {seen}")
    return seen


def test_systemd_notifications(start: Callable[..., Daemon], tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        daemon = start(poll="1h", env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"})
        seen = receive(sock, "READY=1", lambda s: "READY=1" in s, [])
        assert ended(1)(daemon.events())  # READY=1 only once the first cycle is done
        assert any(line.startswith("STATUS=last cycle") for line in seen)
        receive(sock, "watchdog pings", lambda s: s.count("WATCHDOG=1") >= 2, seen)
        daemon.proc.send_signal(signal.SIGTERM)
        receive(sock, "STOPPING=1", lambda s: "STOPPING=1" in s, seen)
        assert daemon.proc.wait(timeout=TIMEOUT) == 0
    assert seen.count("READY=1") == 1


def test_config_error_at_start_is_raised_before_any_engine_opens(tmp_path: Path) -> None:
    opened: list[object] = []

    def factory(config: Config, dry_run: bool) -> Any:
        opened.append(config)

    with pytest.raises(ConfigError) as missing:
        run_daemon(tmp_path / "nope.toml", engine_factory=factory)
    assert "file not found" in str(missing.value)
    path = write_config(tmp_path, poll="5s")
    with pytest.raises(ConfigError) as bad:
        run_daemon(path, engine_factory=factory)
    assert bad.value.problems == ["daemon.poll_interval (line 7): must be at least 10s"]
    assert opened == []


LOG_SCRIPT = """
import logging
from interview_followup.daemon.logs import setup_logging
setup_logging("INFO")
setup_logging("INFO")  # again, as on SIGHUP: still one line per record
logging.getLogger("daemon.x").info("hello %s", 42)
logging.getLogger("daemon.x").debug("not shown at INFO")
logging.getLogger("daemon.x").warning("careful")
"""


def run_log_script(tmp_path: Path, journal: str | None) -> list[str]:
    err = tmp_path / "stderr.txt"
    err.touch()
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal == "stderr":
        st = err.stat()
        env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    elif journal is not None:
        env["JOURNAL_STREAM"] = journal
    with err.open("w") as stream:
        subprocess.run([sys.executable, "-c", LOG_SCRIPT], stderr=stream, env=env, check=True,
                       timeout=TIMEOUT)
    return err.read_text().splitlines()


def test_logs_for_journald_carry_priority_and_no_timestamp(tmp_path: Path) -> None:
    assert run_log_script(tmp_path, "stderr") == [
        "<6>INFO daemon.x: hello 42",
        "<4>WARNING daemon.x: careful",
    ]


@pytest.mark.parametrize("journal", [None, "1:2"])  # "1:2": inherited, but not our stderr
def test_logs_elsewhere_carry_iso_time(tmp_path: Path, journal: str | None) -> None:
    lines = run_log_script(tmp_path, journal)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"
    assert len(lines) == 2
    assert re.fullmatch(stamp + r" INFO daemon\.x: hello 42", lines[0])
    assert re.fullmatch(stamp + r" WARNING daemon\.x: careful", lines[1])


def test_logs_follow_a_replaced_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    later = io.StringIO()
    try:
        setup_logging("INFO")
        monkeypatch.setattr(sys, "stderr", later)  # as a test runner does after set-up
        logging.getLogger("daemon.x").info("to the current stderr")
    finally:
        root.handlers[:], root.level = saved
    assert "INFO daemon.x: to the current stderr" in later.getvalue()


def test_windows_path_starts_without_sighup_and_announces_drafts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no SIGHUP and wakes on a socket: the daemon starts, cycles, tells the
    [notify] command about the drafts, and stops on SIGTERM, all in this process."""
    from dataclasses import dataclass, field, replace
    from datetime import datetime

    from interview_followup.daemon import service
    from interview_followup.daemon.config import Notify, load_config

    monkeypatch.delattr(signal, "SIGHUP")
    monkeypatch.setattr(service, "_WAKEUP_SOCKETS", True)
    told = tmp_path / "told.txt"
    script = "import os, sys; open(sys.argv[1], 'a').write(os.environ['FOLLOWUP_MESSAGE'] + '\\n')"

    def loader(path: Path) -> Config:
        config = load_config(path)
        return replace(config, notify=Notify(desktop=False,
                                             command=(sys.executable, "-c", script, str(told))))

    @dataclass
    class Address:
        name: str
        email: str

    @dataclass
    class Draft:
        interview_id: str = "a1"
        kind: str = "thank_you"
        to: tuple[Address, ...] = (Address("Jane Kim", "jane@acme.example"),)
        subject: str = "Thank you"
        account: str = "home"
        location: str = "x"

    @dataclass
    class Report:
        created: list[Draft] = field(default_factory=lambda: [Draft()])
        next_due: datetime | None = None
        errors: list[str] = field(default_factory=list)
        notices: list[str] = field(default_factory=list)

    cycled = threading.Event()

    class Engine:
        def cycle(self) -> Report:
            cycled.set()
            return Report()

        def close(self) -> None:
            pass

    def stop_after_first_cycle() -> None:
        assert cycled.wait(TIMEOUT)
        deadline = time.monotonic() + TIMEOUT
        while not told.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_after_first_cycle)
    stopper.start()
    status = run_daemon(write_config(tmp_path), engine_factory=lambda c, d: Engine(),
                        config_loader=loader)
    stopper.join(TIMEOUT)
    assert status == 0
    assert told.read_text() == "Thank-you draft for Jane Kim is in your Drafts\n"
