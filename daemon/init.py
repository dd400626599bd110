"""`followup init`: a guided first set-up.

Asks for what a config needs (every answer can also come as a flag, so scripts
and tests drive it without a terminal), writes a commented config holding only
what was chosen, authorises the account when it needs it, then runs the same
checks as `followup doctor` and shows what `run --once --dry-run` would do.

An existing config is never replaced without a yes (a prompt, or ``--force``);
the old file is kept beside the new one as ``config.toml.bak``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from .config import _email, missing_extra
from .errors import UsageError

KINDS = {  # provider -> (what it is, the default account name)
    "local": ("an iCalendar (.ics) file and a Maildir on this machine", "home"),
    "google": ("Google Calendar and Gmail", "gmail"),
    "microsoft": ("Outlook.com or Microsoft 365 (Microsoft Graph)", "work"),
}


@dataclass
class Answers:
    name: str = ""
    email: str = ""
    timezone: str = ""
    timezone_chosen: bool = False  # False: the system's zone, left as a comment
    signature: str = ""
    kind: str = ""
    account: str = ""
    options: dict[str, str] = field(default_factory=dict)  # provider keys
    desktop: bool = True
    command: str = ""


def system_timezone() -> str:
    """The system's IANA zone name (tzlocal), "UTC" when it cannot be told."""
    try:
        from tzlocal import get_localzone_name

        name = get_localzone_name()
    except Exception:  # tzlocal raises its own errors on odd systems
        name = None
    return name or "UTC"


class Asker:
    """Takes each answer from its flag, else from a prompt (unless prompts are off)."""

    def __init__(self, given: dict[str, Any], interactive: bool) -> None:
        self.given = given
        self.interactive = interactive
        self.missing: list[str] = []

    def text(self, key: str, prompt: str, *, default: str | None = None,
             check: Callable[[str], str] | None = None) -> str:
        flag = "--" + key.replace("_", "-")
        value = self.given.get(key)
        if value is not None:
            if check is None:
                return str(value)
            try:
                return check(str(value))
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from None
        if not self.interactive:
            if default is not None:
                return default
            self.missing.append(flag)
            return ""

        def proc(raw: str) -> str:
            try:
                return check(raw) if check else raw
            except ValueError as exc:
                raise click.BadParameter(str(exc)) from None

        result: str = click.prompt(prompt, default=default, value_proc=proc,
                                   show_default=bool(default))
        return result

    def choice(self, key: str, prompt: str, choices: list[str], default: str) -> str:
        value = self.given.get(key)
        if value is not None:
            return str(value)
        if not self.interactive:
            return default
        result: str = click.prompt(prompt, type=click.Choice(choices), default=default)
        return result

    def yes(self, key: str, prompt: str, default: bool) -> bool:
        value = self.given.get(key)
        if value is not None:
            return bool(value)
        if not self.interactive:
            return default
        return click.confirm(prompt, default=default)


def ask(given: dict[str, Any], interactive: bool) -> Answers:
    """Every answer, from flags and prompts; :raises UsageError: for a flag or a missing one."""
    a = Asker(given, interactive)
    out = Answers()
    if interactive:
        click.echo("Set-up of interview-followup: a few questions; Enter keeps the [default].")
    out.name = a.text("name", "Your name (signs the drafts)", check=_nonempty)
    out.email = a.text("email", "Your email address", check=_email)
    system = system_timezone()
    out.timezone = a.text("timezone", "Your time zone", default=system, check=_zone)
    out.timezone_chosen = out.timezone != system or given.get("timezone") is not None
    default_signature = out.name or None
    signature = a.text("signature", "Signature (\\n between lines)",
                       default=default_signature)
    out.signature = signature.replace("\\n", "\n")
    if interactive:
        click.echo("Where are your calendar and mail?")
        for kind, (what, _) in KINDS.items():
            click.echo(f"  {kind:<10} {what}")
    out.kind = a.choice("kind", "Account kind", list(KINDS), "local")
    out.account = a.text("account", "A short name for this account",
                         default=KINDS.get(out.kind, ("", "home"))[1], check=_account_name)
    if out.kind == "local":
        out.options["calendar"] = a.text("calendar", "Calendar file (.ics)",
                                         check=_existing_file)
        out.options["maildir"] = a.text("maildir", "Maildir folder (INBOX at its root)",
                                        check=_folder)
    elif out.kind == "google":
        out.options["client_secrets"] = a.text(
            "client_secrets", "OAuth client file (client_secret_....json; docs/google.md)",
            check=_existing_file)
    elif out.kind == "microsoft":
        out.options["client_id"] = a.text(
            "client_id", "Application (client) id of your app registration "
                         "(docs/microsoft.md)", check=_nonempty)
        out.options["tenant"] = a.text("tenant", "Tenant", default="common", check=_nonempty)
    out.desktop = a.yes("desktop", "A desktop notification when a draft is written?", True)
    command = given.get("notify_command")
    if command is None and interactive and click.confirm(
            "Also run a command of yours for each draft (e.g. a phone push)?", default=False):
        command = click.prompt("Command (facts in FOLLOWUP_* variables; no shell)")
    out.command = command or ""
    if a.missing:
        raise UsageError("without a terminal every answer needs its flag; missing: "
                         + ", ".join(a.missing))
    return out


def render(a: Answers) -> str:
    """The config file: only what was chosen, each line saying what it is."""
    q = _toml_string
    lines = [
        "# interview-followup configuration, written by `followup init`.",
        "# Every other key keeps its default: `followup init --example` prints them all,",
        "# commented (docs/guide.md explains each). Check changes with `followup doctor`.",
        "",
        "[me]",
        _line("name", q(a.name), "signs the drafts"),
        _line("email", q(a.email), "your address: never a recipient"),
    ]
    if a.signature and a.signature != a.name:
        lines.append(_line("signature", q(a.signature), "the closing lines of every draft"))
    if a.timezone_chosen:
        lines.append(_line("timezone", q(a.timezone), "working hours, dates in the drafts"))
    else:
        lines.append(_line("# timezone", q(a.timezone), "default: the system's zone"))
    if not a.desktop or a.command:
        lines += ["", "[notify]                            # how you hear that a draft waits"]
        if not a.desktop:
            lines.append(_line("desktop", "false", "no desktop notifications"))
        if a.command:
            lines.append(_line("command", q(a.command), "run per draft, FOLLOWUP_* set"))
    lines += ["", "[[accounts]]",
              _line("name", q(a.account), "`followup auth NAME`, and in the log"),
              _line("provider", q(a.kind), KINDS.get(a.kind, ("", ""))[0])]
    for key, value in a.options.items():
        lines.append(_line(key, q(value), ""))
    return "\n".join(lines) + "\n"


def _line(key: str, value: str, comment: str) -> str:
    text = f"{key} = {value}"
    if not comment:
        return text
    return f"{text:<35} # {comment}" if len(text) < 36 else f"# {comment}:\n{text}"


def may_write(path: Path, *, force: bool, interactive: bool) -> None:
    """Asked first, before any question: an existing config is replaced only after a yes.

    :raises UsageError: when the answer is no, or there is nobody to ask and no ``--force``.
    """
    if not path.exists() or force:
        return
    if not interactive:
        raise UsageError(f"{path} exists; pass --force to replace it (the old one is "
                         f"kept as {path.name}.bak)")
    if not click.confirm(f"{path} exists. Replace it (the old one is kept as "
                         f"{path.name}.bak)?", default=False):
        raise UsageError(f"kept {path} as it is; nothing was written")


def write(path: Path, text: str, echo: Callable[[str], None]) -> None:
    """Write ``path`` (mode 0600), the file it replaces kept as ``.bak``."""
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        path.replace(backup)
        echo(f"The old config is now {backup}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def prepare_local(a: Answers, echo: Callable[[str], None]) -> None:
    """A Maildir that does not exist yet is created empty (INBOX, .Drafts, .Sent)."""
    if a.kind != "local":
        return
    root = Path(a.options["maildir"]).expanduser()
    if root.is_dir():
        return
    for sub in ("", ".Drafts", ".Sent"):
        for leaf in ("cur", "new", "tmp"):
            (root / sub / leaf).mkdir(parents=True, exist_ok=True, mode=0o700)
    echo(f"Created an empty Maildir at {root}")


def needs_extra(kind: str) -> str | None:
    """The install command when ``kind``'s extra is missing, else None."""
    if missing_extra(kind) is None:
        return None
    return f"pipx install --force 'interview-followup[{kind}]'"


# -- checks of single answers ------------------------------------------------------
def _nonempty(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _zone(value: str) -> str:
    value = value.strip()
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                         "'Europe/Berlin')") from None
    return value


def _account_name(value: str) -> str:
    import re

    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ValueError("letters, digits, '.', '_' or '-' only")
    return value


def _existing_file(value: str) -> str:
    path = Path(value.strip()).expanduser()
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    return str(path.resolve())


def _folder(value: str) -> str:
    path = Path(value.strip()).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"not a folder: {path}")
    return str(path.resolve())


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)
