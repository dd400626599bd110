"""A real, parsed configuration for rule tests: one local account over empty files."""

from __future__ import annotations

from pathlib import Path

from interview_followup.daemon.config import Config, parse_config


def make_config(folder: Path, email: str = "alex.rivera@gmail.com", *,
                aliases: tuple[str, ...] = (), timezone: str = "UTC",
                sections: str = "") -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cal.ics").write_text("")
    (folder / "mail").mkdir(exist_ok=True)
    listed = ", ".join(f'"{a}"' for a in aliases)
    return parse_config(
        f'[me]\nname = "Alex Rivera"\nemail = "{email}"\naliases = [{listed}]\n'
        f'timezone = "{timezone}"\n{sections}\n'
        f'[[accounts]]\nname = "home"\nprovider = "local"\n'
        f'calendar = "{folder / "cal.ics"}"\nmaildir = "{folder / "mail"}"\n'
    )
