"""`followup service install`: the systemd unit or launchd agent, written where the user's
service manager looks, naming the `followup` command actually installed.

The texts are copies of systemd/ shipped inside the package (tests/test_packaging.py keeps
them equal), so a pipx or uv install needs no checkout. Only the command's path (and, for
launchd, which expands no ``~``, the home folder) is filled in.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

_FILES = Path(__file__).parent / "files"
UNIT = "interview-followup.service"
AGENT = "io.github.interview-followup.plist"
_SHIPPED_COMMAND = "%h/.local/bin/followup"  # what the systemd/ unit names
_SHIPPED_HOME = "/Users/YOU"  # what the launchd/ agent names


@dataclass(frozen=True)
class ServiceFile:
    path: Path  # where the service manager reads it
    text: str
    next_steps: tuple[str, ...]  # commands for the user to run, in order


def followup_command() -> Path:
    """The `followup` script this process runs as (or the one on PATH).

    :raises UsageError: none found (e.g. run as ``python -c``).
    """
    argv0 = Path(sys.argv[0])
    if argv0.name in ("followup", "followup.exe") and argv0.exists():
        return argv0.absolute()
    found = shutil.which("followup")
    if found:
        return Path(found).absolute()
    raise UsageError("cannot find the `followup` command: install it with pipx or uv "
                     "(docs/systemd.md), then run `followup service install` again")


def systemd_unit(command: Path, home: Path) -> ServiceFile:
    text = (_FILES / UNIT).read_text()
    try:
        shown = "%h/" + command.relative_to(home).as_posix()
    except ValueError:
        shown = str(command)
    text = text.replace(f"ExecStart={_SHIPPED_COMMAND} run", f"ExecStart={shown} run")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return ServiceFile(config / "systemd" / "user" / UNIT, text, (
        "systemctl --user daemon-reload",
        "systemctl --user enable --now interview-followup",
        "systemctl --user status interview-followup"))


def launchd_agent(command: Path, home: Path) -> ServiceFile:
    text = (_FILES / AGENT).read_text()
    text = text.replace(f"{_SHIPPED_HOME}/.local/bin/followup", str(command))
    text = text.replace(_SHIPPED_HOME, str(home))
    path = home / "Library" / "LaunchAgents" / AGENT
    return ServiceFile(path, text, (
        f"mkdir -p {home / 'Library' / 'Logs'}",
        f"launchctl bootstrap gui/$(id -u) {path}",
        "launchctl print gui/$(id -u)/io.github.interview-followup | head -20"))


def for_platform(platform: str, command: Path, home: Path) -> ServiceFile:
    """:raises UsageError: no service file on this platform (Windows: Task Scheduler)."""
    if platform == "darwin":
        return launchd_agent(command, home)
    if platform.startswith("linux"):
        return systemd_unit(command, home)
    raise UsageError(f"no service file for {platform}: on Windows, Task Scheduler runs "
                     f"`{command} run` at logon (docs/windows.md)")


def install(service: ServiceFile, *, force: bool) -> bool:
    """Write the file (mode 0644, its folder made). False when the same text is there.

    :raises UsageError: another text is there and ``force`` is not set.
    """
    if service.path.exists():
        if service.path.read_text() == service.text:
            return False
        if not force:
            raise UsageError(f"{service.path} exists and differs: keep it, or replace it "
                             "with `followup service install --force`")
    service.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = service.path.with_name(service.path.name + ".tmp")
    tmp.write_text(service.text)
    tmp.replace(service.path)
    return True
