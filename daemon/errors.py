"""Errors of the engine and the command line.

    FollowupError            base; carries the process exit status
    ├── ConfigError          the configuration is wrong (exit 2, no traceback)
    ├── UsageError           a command was used wrongly, e.g. an unknown ID (exit 2)
    └── StateError           the state file cannot be used (exit 1)
        └── StateBusy        another process holds the state's lock (exit 1)

Provider errors live in :mod:`providers.errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class FollowupError(Exception):
    exit_code = 1


class ConfigError(FollowupError):
    """Every problem found in one configuration, listed at once."""

    exit_code = 2

    def __init__(self, problems: list[str], path: str | None = None) -> None:
        self.problems = list(problems)
        self.path = path
        where = f" in {path}" if path else ""
        lines = [f"configuration error{where}:"] + [f"  - {p}" for p in self.problems]
        lines.append("  (`followup init --example` shows every key, documented)")
        super().__init__("\n".join(lines))


class UsageError(FollowupError):
    exit_code = 2


class StateError(FollowupError):
    exit_code = 1


class StateBusy(StateError):
    """The state is locked by another process; the message says which."""

    def __init__(self, state_dir: Path, holder: dict[str, Any], *, waited: float) -> None:
        self.holder = holder
        pid = holder.get("pid")
        what = holder.get("what")
        pid_text = f" (pid {pid})" if pid else ""
        if what == "service":
            text = (f"the service{pid_text} is running on the state in {state_dir}; it writes "
                    "the drafts itself: use `followup status` to see what it is doing "
                    "(stop the service first to run a cycle by hand)")
        elif what:
            text = (f"`followup {what}`{pid_text} is still using the state in {state_dir} "
                    f"after {waited:.0f} s; try again when it has finished")
        else:
            text = (f"another followup process is using the state in {state_dir}; "
                    "try again when it has finished")
        super().__init__(text)
