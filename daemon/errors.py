"""Errors of the engine and the command line.

    FollowupError            base; carries the process exit status
    ├── ConfigError          the configuration is wrong (exit 2, no traceback)
    ├── UsageError           a command was used wrongly, e.g. an unknown ID (exit 2)
    └── StateError           the state file cannot be used (exit 1)

Provider errors live in :mod:`providers.errors`.
"""

from __future__ import annotations


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
        lines.append("  (config.example.toml documents every key)")
        super().__init__("\n".join(lines))


class UsageError(FollowupError):
    exit_code = 2


class StateError(FollowupError):
    exit_code = 1
