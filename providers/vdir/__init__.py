"""A vdir: a folder of .ics files, one event (or one series) per file.

The layout khal and vdirsyncer keep (https://vdirsyncer.pimutils.org/en/stable/vdir.html):
each item a file named after its UID, written atomically (a temporary file renamed
into place). A calendar synced by vdirsyncer from any CalDAV server, read with no
network and no password.

Light on purpose: :data:`OPTIONS` loads nothing; :func:`open_calendar` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..base import CalendarSource

TYPE = "vdir"

# (name, type, default, help), as every backend's table. A default of None: required.
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("path", Path, None, "the folder of one calendar's .ics files (vdirsyncer's `path` plus "
     "the calendar's folder, e.g. \"~/.calendars/personal/work\"); relative to the config "
     "file"),
    ("fileext", str, ".ics", "the extension of the item files (vdirsyncer's `fileext`)"),
)
SECRET = ""  # nothing for `followup auth` to ask


def settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options checked, with defaults applied.

    :raises ValueError: with every problem, one per line, named by option.
    """
    problems = [f"unknown option {k!r}" for k in options if k not in {o[0] for o in OPTIONS}]
    result = {name: options.get(name, default) for name, _, default, _ in OPTIONS}
    if not result["path"]:
        problems.append("path: required")
    else:
        result["path"] = Path(result["path"]).expanduser()
    if not isinstance(result["fileext"], str) or not result["fileext"].startswith("."):
        problems.append("fileext: an extension such as \".ics\"")
    if problems:
        raise ValueError("\n".join(problems))
    return result


def open_calendar(account: str, options: Mapping[str, Any]) -> CalendarSource:
    from .calendar import VdirCalendar

    checked = settings(options)
    return VdirCalendar(account, checked["path"], checked["fileext"])


def check(account: str, options: Mapping[str, Any]) -> str:
    """For `followup doctor`: what will be read (no secret, no `followup auth` needed).

    :raises ProviderUnavailable: the folder cannot be listed.
    """
    from .calendar import VdirCalendar

    checked = settings(options)
    calendar = VdirCalendar(account, checked["path"], checked["fileext"])
    return f"{calendar.path}: {calendar.count()} {calendar.fileext} files"
