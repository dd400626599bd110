"""`followup init`: a guided first set-up.

Asks for what a config needs (every answer can also come as a flag, so scripts
and tests drive it without a terminal), writes a commented config holding only
what was chosen, authorises each part of the account that needs it, then runs the
same checks as `followup doctor` and shows what `run --once --dry-run` would do.

The account is offered as one of the whole setups people have (:func:`setups`:
iCloud, Fastmail, Gmail with an app password, local files, Google, Microsoft, ...)
or as a calendar and a mailbox chosen separately. What is asked about each part
comes from its backend's option table and presets (providers.REGISTRY); the one
table here, :data:`QUESTIONS`, only says which options deserve a question, and the
backend's own ``settings`` judges the answers. Every option of every table has a
flag (``--calendar-url``, ``--mailbox-host``; :func:`part_flags`).

Secrets (passwords, app passwords, a feed's address) are never asked for here and
never written: `followup auth` asks for them without echo, or a script hands them
over in FOLLOWUP_CALENDAR_SECRET / FOLLOWUP_MAILBOX_SECRET, and they go to the
system keyring only.

An existing config is never replaced without a yes (a prompt, or ``--force``);
the old file is kept beside the new one as ``config.toml.bak``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from .. import providers
from ..providers import CALENDAR, MAILBOX
from .config import _email, missing_extra
from .errors import UsageError

PARTS = (CALENDAR, MAILBOX)


@dataclass(frozen=True)
class Setup:
    """A whole setup: the two backends, and the preset each takes where it has one."""

    title: str
    calendar: str = ""  # "": asked (the setup "separate")
    mailbox: str = ""
    account: str = "mail"  # the default account name
    preset: str = ""  # given to each part whose backend knows this preset


# Setups that are not one service's IMAP + CalDAV presets (those come from the preset
# tables, see setups()), in the order offered.
FIXED_SETUPS: dict[str, Setup] = {
    "gmail-app": Setup("Gmail with an app password + the calendar's secret iCal address "
                       "(no Google Cloud project)", "feed", "imap", "gmail", "gmail"),
    "imap-caldav": Setup("any IMAP + CalDAV server (Nextcloud, mailbox.org, Posteo, ...)",
                         "caldav", "imap", "mail"),
    "local": Setup("an iCalendar (.ics) file and a Maildir on this machine",
                   "local", "maildir", "home"),
    "synced": Setup("a vdir and a Maildir kept in sync by vdirsyncer and mbsync/offlineimap",
                    "vdir", "maildir", "home"),
    "google": Setup("Google Calendar and Gmail (OAuth: your own Google Cloud client, "
                    "docs/google.md)", "google", "google", "gmail"),
    "microsoft": Setup("Outlook.com or Microsoft 365 (OAuth through Microsoft Graph, "
                       "docs/microsoft.md)", "microsoft", "microsoft", "work"),
    "separate": Setup("choose the calendar and the mailbox separately"),
}
DEFAULT_SETUP = "local"  # needs no account anywhere
SERVICE_NAMES = {"icloud": "iCloud", "mailbox.org": "mailbox.org"}  # else capitalised

# The options worth a question, per backend, in order; every other option keeps its
# default (its flag still sets it). "?": Enter leaves it out (the backend's default).
# A backend missing here is asked its required options (default None in its table).
QUESTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    (CALENDAR, "local"): ("path",),
    (CALENDAR, "vdir"): ("path",),
    (CALENDAR, "feed"): (),
    (CALENDAR, "caldav"): ("preset?", "url", "username"),
    (CALENDAR, "google"): ("client_secrets",),
    (CALENDAR, "microsoft"): ("client_id", "tenant"),
    (MAILBOX, "maildir"): ("path",),
    (MAILBOX, "imap"): ("preset?", "host", "security", "port?", "username"),
    (MAILBOX, "google"): ("client_secrets",),
    (MAILBOX, "microsoft"): ("client_id", "tenant"),
}
# Folders init makes when they do not exist yet (an empty Maildir): (part, type) -> option.
MADE_WHEN_MISSING = {(MAILBOX, "maildir"): "path"}
DEFAULT_TYPES = {CALENDAR: "caldav", MAILBOX: "imap"}  # offered first when chosen apart
SECRET_NAMES = {"address": "secret address"}  # a registry's `secret`, in a sentence


@dataclass
class PartAnswer:
    type: str
    options: dict[str, Any] = field(default_factory=dict)  # as given, never a secret


@dataclass
class Answers:
    name: str = ""
    email: str = ""
    timezone: str = ""
    timezone_chosen: bool = False  # False: the system's zone, left as a comment
    signature: str = ""
    setup: str = ""
    account: str = ""
    parts: dict[str, PartAnswer] = field(default_factory=dict)  # CALENDAR, MAILBOX
    desktop: bool = True
    command: str = ""

    def shorthand(self) -> tuple[str, dict[str, Any]]:
        """The `provider = NAME` the two parts can be written as, with its account-level
        keys; ("", {}) when there is none (the two parts are written apart)."""
        for name, short in providers.SHORTHANDS.items():
            if (short.calendar, short.mailbox) != (self.parts[CALENDAR].type,
                                                   self.parts[MAILBOX].type):
                continue
            keys = {key: target for key, target in providers.shorthand_keys(name).items()
                    if target[0] and target[1][0] in self.parts[target[0]].options}
            account = {key: self.parts[part].options[option[0]]
                       for key, (part, option) in keys.items()}
            back = providers.shorthand_parts(name, account)  # what the config loader does
            if all({k: v for k, v in p.options.items() if k in self.parts[part].options}
                   == self.parts[part].options for part, p in zip(PARTS, back, strict=True)):
                return name, account
        return "", {}


def system_timezone() -> str:
    """The system's IANA zone name (tzlocal), "UTC" when it cannot be told."""
    try:
        from tzlocal import get_localzone_name

        name = get_localzone_name()
    except Exception:  # tzlocal raises its own errors on odd systems
        name = None
    return name or "UTC"


def setups() -> dict[str, Setup]:
    """Every setup offered: first each service with both an IMAP and a CalDAV preset
    (iCloud, Fastmail, ...: from the backends' preset tables), then FIXED_SETUPS."""
    dav = presets(CALENDAR, "caldav")
    paired = {name: Setup(f"{SERVICE_NAMES.get(name, name.capitalize())} (IMAP + CalDAV, "
                          "with an app password)", "caldav", "imap", name, name)
              for name in presets(MAILBOX, "imap") if name in dav}
    return {**paired, **FIXED_SETUPS}


def setup_help(flag: str) -> str:
    """The help of ``--setup`` (every setup) or ``--calendar`` / ``--mailbox`` (every type)."""
    if flag in PARTS:
        return (f"The {flag}'s backend, when chosen apart: "
                + ", ".join(providers.types(flag)) + ".")
    return ("A whole setup: " + "; ".join(f"{name}: {s.title}" for name, s in setups().items())
            + f" (default: {DEFAULT_SETUP}).")


def presets(part: str, kind: str) -> dict[str, Any]:
    """The usable presets of a backend whose table has a ``preset`` option: the PRESETS
    of the module that holds its table."""
    b = providers.backend(part, kind)
    if "preset" not in {o[0] for o in providers.options_table(b)}:
        return {}
    module = importlib.import_module(b.table.partition(":")[0], providers.__name__)
    found: Mapping[str, Any] = getattr(module, "PRESETS", {})
    return {name: p for name, p in found.items() if getattr(p, "usable", True)}


def _filled(preset: Any, option: str) -> bool:
    """The preset gives this option ("required" and "{url}" templates ask the person)."""
    value = getattr(preset, option, None)
    return value not in (None, "", "required") and "{url}" not in str(value)


def part_flags() -> list[click.Option]:
    """``--calendar-OPTION`` and ``--mailbox-OPTION`` for every option of every backend's
    table; the help names the backends that take it."""
    found: dict[str, dict[str, list[str]]] = {}  # flag -> help -> the backends
    for (part, kind), b in providers.REGISTRY.items():
        for name, _type, _default, text in providers.options_table(b):
            flag = f"--{part}-{name.replace('_', '-')}"
            found.setdefault(flag, {}).setdefault(text, []).append(kind)
    return [click.Option([flag], help="; ".join(f"{', '.join(kinds)}: {text}"
                                                for text, kinds in helps.items()))
            for flag, helps in found.items()]


def secret_env(part: str) -> str:
    """The environment variable a script hands a part's secret over in."""
    return f"FOLLOWUP_{part.upper()}_SECRET"


def secret_from_env(part: str) -> str | None:
    """A part's secret from its environment variable (scripts), else None."""
    return os.environ.get(secret_env(part)) or None


class Asker:
    """Takes each answer from its flag, else from a prompt (unless prompts are off)."""

    def __init__(self, given: dict[str, Any], interactive: bool) -> None:
        self.given = given
        self.interactive = interactive
        self.missing: list[str] = []

    def text(self, key: str, prompt: str, *, default: str | None = None,
             check: Callable[[str], Any] | None = None, optional: bool = False) -> Any:
        """The flag's value, else an answer; ``optional``: "" (unset) when not given."""
        value = self.given.get(key)
        if value is not None:
            return self.checked(key, str(value), check)
        if not self.interactive:
            if default is not None or optional:
                return default or ""
            self.missing.append(_flag(key))
            return ""

        def proc(raw: str) -> Any:
            if optional and not raw.strip():
                return ""
            try:
                return check(raw) if check else raw
            except ValueError as exc:
                raise click.BadParameter(str(exc)) from None

        return click.prompt(prompt, default=default if default is not None else
                            ("" if optional else None), value_proc=proc,
                            show_default=bool(default))

    def checked(self, key: str, value: str, check: Callable[[str], Any] | None) -> Any:
        """:raises UsageError: the flag's value is refused, named by its flag."""
        if check is None:
            return value
        try:
            return check(value)
        except ValueError as exc:
            raise UsageError(f"{_flag(key)}: {exc}") from None

    def menu(self, key: str, title: str, prompt: str, items: Mapping[str, str],
             default: str | None) -> str:
        """One of ``items`` (name -> what it is), by number or name."""
        names = list(items)

        def pick(raw: str) -> str:
            raw = raw.strip()
            if raw.isdigit() and 1 <= int(raw) <= len(names):
                return names[int(raw) - 1]
            if raw in items:
                return raw
            raise ValueError(f"{raw!r} is none of {', '.join(names)}")

        if self.given.get(key) is None and self.interactive:
            click.echo(title)
            for number, (name, what) in enumerate(items.items(), 1):
                click.echo(f"  {number:>2}  {name:<12} {what}")
        picked: str = self.text(key, f"{prompt} (number or name)", default=default,
                                check=pick)
        return picked

    def yes(self, key: str, prompt: str, default: bool) -> bool:
        value = self.given.get(key)
        if value is not None:
            return bool(value)
        if not self.interactive:
            return default
        return click.confirm(prompt, default=default)


def ask(given: dict[str, Any], interactive: bool) -> Answers:
    """Every answer, from flags and prompts; :raises UsageError: for a flag or a missing one."""
    given = _normalise(given)
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

    offered = setups()
    chosen_apart = given.get("calendar") or given.get("mailbox")
    if given.get("setup") is None and chosen_apart:
        given["setup"] = "separate"
    out.setup = a.menu("setup", "Where are your calendar and mail?", "Setup",
                       {k: s.title for k, s in offered.items()}, DEFAULT_SETUP)
    setup = offered[out.setup]
    kinds: dict[str, str] = {}
    for part in PARTS:
        kinds[part] = given.get(part) or getattr(setup, part) or a.menu(
            part, f"{part.capitalize()} types:", f"{part.capitalize()} type",
            {t: providers.backend(part, t).help for t in providers.types(part)},
            DEFAULT_TYPES[part] if interactive else None)
    _one_sign_in(kinds)
    out.account = a.text("account", "A short name for this account",
                         default=setup.account, check=_account_name)
    shared: dict[str, Any] = {}
    for part in PARTS:
        options = ask_part(a, part, kinds[part], setup.preset, out.email, shared)
        out.parts[part] = PartAnswer(kinds[part], options)
        if providers.backend(part, kinds[part]).shared:
            shared = {"shared": providers.backend(part, kinds[part]).shared, **options}

    out.desktop = a.yes("desktop", "A desktop notification when a draft is written?", True)
    command = given.get("notify_command")
    if command is None and interactive and click.confirm(
            "Also run a command of yours for each draft (e.g. a phone push)?", default=False):
        command = click.prompt("Command (facts in FOLLOWUP_* variables; no shell)")
    out.command = command or ""
    if a.missing:
        raise UsageError("without a terminal every answer needs its flag; missing: "
                         + ", ".join(a.missing))
    if not interactive:
        said = [f"{_flag(f'{part}_{key}') if key else part}: {message}"
                for part in PARTS
                for key, message in problems(part, out.parts[part], out.email)]
        if said:
            raise UsageError("; ".join(said))
    return out


def ask_part(a: Asker, part: str, kind: str, preset: str, email: str,
             shared: Mapping[str, Any]) -> dict[str, Any]:
    """The options of one part: its flags, the setup's preset, the options of a sign-in
    both parts share, then the questions; the backend's settings judge the answers (a
    refused answer is asked again at a terminal)."""
    b = providers.backend(part, kind)
    table = {o[0]: o for o in providers.options_table(b)}
    known = presets(part, kind)
    options: dict[str, Any] = {}
    for name, option in table.items():
        key = f"{part}_{name}"
        if a.given.get(key) is not None:
            options[name] = a.checked(key, str(a.given[key]), _converter(option, known))
    if preset in known:
        options.setdefault("preset", preset)
    if shared.get("shared") == b.shared:  # one sign-in (Google, Microsoft): the same options
        for name, value in shared.items():
            if name in table:
                options.setdefault(name, value)
    if a.interactive:
        with_preset = f", preset {options['preset']}" if options.get("preset") else ""
        click.echo(f"The {part}: {kind}, {b.help}{with_preset}")
    questions = QUESTIONS.get((part, kind)) or tuple(
        name for name, _, default, _ in table.values() if default is None)
    for entry in questions:
        name, optional = entry.rstrip("?"), entry.endswith("?")
        chosen = known.get(str(options.get("preset") or ""))
        if name in options or name not in table or (chosen and _filled(chosen, name)):
            continue
        _ask_option(a, part, table[name], options, email, known, optional)
    if a.interactive:
        for _ in range(10):
            wrong = problems(part, PartAnswer(kind, options), email)
            if not wrong:
                break
            for key, message in wrong:
                if not key:
                    raise UsageError(f"the {part} ({kind}): {message}")
                click.echo(f"  {key}: {message}")
                options.pop(key, None)
                a.given.pop(f"{part}_{key}", None)
            for key in dict.fromkeys(k for k, _ in wrong):
                _ask_option(a, part, table[key], options, email, known, False)
        else:
            raise UsageError(f"the {part} ({kind}): still refused after 10 answers")
    return options


def _ask_option(a: Asker, part: str, option: providers.Option, options: dict[str, Any],
                email: str, known: Mapping[str, Any], optional: bool) -> None:
    name, _kind_of, default, text = option
    shown = email if name == "username" else (
        str(default) if default not in (None, "", []) else None)
    if a.interactive:
        click.echo(textwrap.fill(text, 88, initial_indent=f"  {name}: ",
                                 subsequent_indent="    "))
    value = a.text(f"{part}_{name}", f"{part.capitalize()} {name}", default=shown,
                   check=_converter(option, known), optional=optional)
    if value not in ("", None):
        options[name] = value


def problems(part: str, answer: PartAnswer, email: str) -> list[tuple[str, str]]:
    """What the backend's settings say of ``answer``: (option or "", problem) pairs. A
    folder that init makes when missing is not yet one of them."""
    b = providers.backend(part, answer.type)
    names = {o[0] for o in providers.options_table(b)}
    made = MADE_WHEN_MISSING.get((part, answer.type))
    try:
        providers.check_settings(b, answer.options, providers.Owner(email))
    except ValueError as exc:
        found = []
        for line in str(exc).splitlines():
            key, sep, message = line.partition(": ")
            if not (sep and key in names):
                found.append(("", line))
            elif not (key == made and key in answer.options
                      and not Path(answer.options[key]).exists()):
                found.append((key, message))
        return found
    return []


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
              _line("name", q(a.account), "`followup auth NAME`, and in the log")]
    provider, account = a.shorthand()
    if provider:
        lines.append(_line("provider", q(provider), setups().get(provider, Setup("")).title))
        keys = providers.shorthand_keys(provider)
        for key, value in account.items():
            lines += _option(key, value, keys[key][1][3])
        lines += _secret_note(a, PARTS)
        return "\n".join(lines) + "\n"
    for part in PARTS:
        answer = a.parts[part]
        b = providers.backend(part, answer.type)
        lines += ["", f"[accounts.{part}]", _line("type", q(answer.type), b.help)]
        for key, _type, _default, text in providers.options_table(b):  # in table order
            if key in answer.options:
                lines += _option(key, answer.options[key], text)
        lines += _secret_note(a, (part,))
    return "\n".join(lines) + "\n"


def _option(key: str, value: Any, text: str) -> list[str]:
    """``key = value`` under its help, as the option table says it."""
    return [*textwrap.wrap(text, 86, initial_indent="# ", subsequent_indent="# "),
            f"{key} = {_toml(value)}"]


def _secret_note(a: Answers, parts: tuple[str, ...]) -> list[str]:
    """Where the secret of these parts lives instead of this file."""
    kinds = {providers.backend(p, a.parts[p].type).secret for p in parts} - {""}
    if not kinds:
        return []
    if kinds == {"oauth"}:
        return [f"# `followup auth {a.account}` signs in; the token is kept in the system "
                "keyring."]
    what = " and ".join(SECRET_NAMES.get(k, k) for k in sorted(kinds - {"oauth"}))
    return [f"# The {what} is not in this file: `followup auth {a.account}` keeps it in the "
            "system keyring."]


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
    for part, answer in a.parts.items():
        option = MADE_WHEN_MISSING.get((part, answer.type))
        if option is None:
            continue
        root = Path(answer.options[option]).expanduser()
        if root.is_dir():
            continue
        for sub in ("", ".Drafts", ".Sent"):
            for leaf in ("cur", "new", "tmp"):
                (root / sub / leaf).mkdir(parents=True, exist_ok=True, mode=0o700)
        echo(f"Created an empty Maildir at {root}")


def needs_extra(a: Answers) -> tuple[list[str], str | None]:
    """The extras the chosen backends need and lack, and the command that installs them."""
    extras = sorted({b.extra for b in (providers.backend(p, a.parts[p].type) for p in PARTS)
                     if b.extra and missing_extra(b.type, b.modules) is not None})
    if not extras:
        return [], None
    return extras, f"pipx install --force 'interview-followup[{','.join(extras)}]'"


# -- flags of older versions, and single answers ----------------------------------
def _normalise(given: Mapping[str, Any]) -> dict[str, Any]:
    """The flags of the first `init` (``--kind local --calendar FILE --maildir DIR``,
    ``--client-secrets``, ``--client-id``, ``--tenant``) in today's form; the types
    and the setup checked."""
    out = dict(given)
    legacy = {key: target for short in providers.SHORTHANDS
              for key, target in providers.shorthand_keys(short).items() if target[0]}
    kind = out.pop("kind", None)
    if out.get("setup") is None:
        out["setup"] = kind
    calendar = out.get("calendar")
    if calendar is not None and calendar not in providers.types(CALENDAR):
        out["calendar"] = None  # the first init's `--calendar FILE`: the local .ics file
        out.setdefault("calendar_path", None)
        out["calendar_path"] = out["calendar_path"] or calendar
    for key, (part, option) in legacy.items():
        value = out.pop(key, None) if key not in PARTS else None
        if value is not None and out.get(f"{part}_{option[0]}") is None:
            out[f"{part}_{option[0]}"] = value
    offered = setups()
    if out.get("setup") is not None and out["setup"] not in offered:
        raise UsageError(f"--setup: unknown {out['setup']!r} (known: {', '.join(offered)})")
    if out.get("mailbox") is not None and out["mailbox"] not in providers.types(MAILBOX):
        raise UsageError(f"--mailbox: unknown mailbox type {out['mailbox']!r} (known: "
                         f"{', '.join(providers.types(MAILBOX))})")
    return out


def _one_sign_in(kinds: Mapping[str, str]) -> None:
    """:raises UsageError: two different sign-ins (the keyring keeps one per account)."""
    oauth = [kinds[p] for p in PARTS if providers.backend(p, kinds[p]).secret == "oauth"]
    if len(set(oauth)) > 1:
        raise UsageError(f"a {oauth[0]} calendar and a {oauth[1]} mailbox need two sign-ins: "
                         "make them two accounts")


def _converter(option: providers.Option, known: Mapping[str, Any]) -> Callable[[str], Any]:
    """The answer as the option's type (paths absolute); a preset must be a known one."""
    name, kind_of, _default, _text = option

    def convert(raw: str) -> Any:
        raw = raw.strip()
        if name == "preset" and raw and raw not in known:
            raise ValueError(f"unknown preset {raw!r} (known: {', '.join(known)})")
        if kind_of is Path:
            if not raw:
                raise ValueError("must not be empty")
            return str(Path(raw).expanduser().resolve())
        if kind_of is int:
            try:
                return int(raw)
            except ValueError:
                raise ValueError(f"not a whole number: {raw!r}") from None
        if kind_of is float:
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"not a number: {raw!r}") from None
        if kind_of is bool:
            if raw.lower() not in {"true", "false", "yes", "no"}:
                raise ValueError(f"not yes or no: {raw!r}")
            return raw.lower() in {"true", "yes"}
        if kind_of is list:
            return [item.strip() for item in raw.split(",") if item.strip()]
        return raw

    return convert


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


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
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise ValueError("letters, digits, '.', '_' or '-' only")
    return value


def _toml(value: Any) -> str:
    # JSON strings, numbers, booleans and lists of strings are valid TOML (same escapes).
    return json.dumps(value, ensure_ascii=False)


def _toml_string(value: str) -> str:
    return _toml(value)
