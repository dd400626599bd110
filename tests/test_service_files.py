"""`followup service install`: the unit or agent written where the service manager looks,
naming the `followup` that is installed, without a checkout of the repository."""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
from pathlib import Path

import pytest

from interview_followup.daemon import service_files
from interview_followup.daemon.errors import UsageError

FOLLOWUP = Path(sys.executable).with_name("followup")


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env["HOME"] = str(home)
    return subprocess.run([str(FOLLOWUP), "service", "install", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def _directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the systemd unit")
def test_install_writes_the_unit_naming_this_followup(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    unit_path = tmp_path / ".config" / "systemd" / "user" / "interview-followup.service"
    assert f"Wrote {unit_path}" in done.stdout
    assert "systemctl --user enable --now interview-followup" in done.stdout
    unit = _directives(unit_path.read_text())
    # The venv's script, by its absolute path (it is not under this HOME).
    assert unit["ExecStart"] == [f"{FOLLOWUP.absolute()} run"]
    shipped = _directives((Path(__file__).parent.parent / "systemd" /
                           "interview-followup.service").read_text())
    # Everything else is the shipped unit's.
    assert {k: v for k, v in unit.items() if k != "ExecStart"} == {
        k: v for k, v in shipped.items() if k != "ExecStart"}

    again = _run(tmp_path)
    assert again.returncode == 0 and "Already in place" in again.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the systemd unit")
def test_a_changed_unit_is_kept_unless_forced(tmp_path: Path) -> None:
    unit_path = tmp_path / ".config" / "systemd" / "user" / "interview-followup.service"
    unit_path.parent.mkdir(parents=True)
    unit_path.write_text("[Service]\nExecStart=/opt/mine run\n")
    refused = _run(tmp_path)
    assert refused.returncode == 2
    assert "exists and differs" in refused.stderr and "--force" in refused.stderr
    assert unit_path.read_text() == "[Service]\nExecStart=/opt/mine run\n"
    assert "Traceback" not in refused.stderr
    forced = _run(tmp_path, "--force")
    assert forced.returncode == 0 and "ExecStart=/opt/mine" not in unit_path.read_text()


def test_print_shows_the_file_and_writes_nothing(tmp_path: Path) -> None:
    done = _run(tmp_path, "--print")
    assert done.returncode == 0
    assert "[Service]" in done.stdout or "<plist" in done.stdout
    assert not any(tmp_path.rglob("*.service")) and not any(tmp_path.rglob("*.plist"))


def test_a_command_under_home_is_named_with_the_unit_home_specifier(tmp_path: Path) -> None:
    unit = service_files.systemd_unit(tmp_path / ".local/bin/followup", tmp_path)
    assert "ExecStart=%h/.local/bin/followup run" in unit.text


def test_the_launchd_agent_names_the_home_and_the_command(tmp_path: Path) -> None:
    home = Path("/Users/kim")
    agent = service_files.for_platform("darwin", Path("/opt/pipx/bin/followup"), home)
    parsed = plistlib.loads(agent.text.encode())
    assert parsed["ProgramArguments"] == ["/opt/pipx/bin/followup", "run"]
    assert parsed["StandardOutPath"] == "/Users/kim/Library/Logs/interview-followup.log"
    assert "/Users/YOU" not in agent.text
    assert agent.path == home / "Library/LaunchAgents/io.github.interview-followup.plist"
    assert any(step.startswith("launchctl bootstrap") for step in agent.next_steps)


def test_windows_is_told_about_task_scheduler() -> None:
    with pytest.raises(UsageError, match="Task Scheduler"):
        service_files.for_platform("win32", Path("C:/followup.exe"), Path("C:/Users/kim"))
