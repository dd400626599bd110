"""The configuration: one TOML file, validated once at start-up into typed objects.

Every problem is collected with its key path (and the TOML line when it can be
found) and raised together as one :class:`ConfigError`; nothing is read lazily
later, so a running daemon never meets a config surprise mid-cycle.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError

if TYPE_CHECKING:
    from ..providers.base import Account

APP = "interview-followup"

DEFAULT_KEYWORDS = ("interview", "phone screen", "onsite", "technical screen")
DEFAULT_CATEGORIES = ("Interview",)
DEFAULT_IGNORE = ("mock interview", "#nofollowup")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Type names as a person writing TOML knows them.
_TOML_TYPES = {str: "text in quotes", int: "a whole number", float: "a number",
               bool: "true or false", list: "a list", dict: "a table"}


@dataclass(frozen=True)
class Me:
    name: str
    email: str
    aliases: tuple[str, ...] = ()
    signature: str = ""
    timezone: tzinfo = field(default_factory=lambda: local_timezone())

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset({self.email, *self.aliases})

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class Detect:
    keywords: tuple[str, ...] = DEFAULT_KEYWORDS
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    ignore: tuple[str, ...] = DEFAULT_IGNORE


@dataclass(frozen=True)
class Timing:
    thank_you_after: timedelta = timedelta(hours=1)
    thank_you_window: timedelta = timedelta(hours=48)
    status_check_after: timedelta = timedelta(days=7)
    working_days: frozenset[int] = frozenset(range(5))  # Monday=0
    working_start: time = time(9, 0)
    working_end: time = time(17, 0)


@dataclass(frozen=True)
class Drafts:
    one_per_interviewer: bool = True
    templates: Path | None = None  # a directory overriding the built-in templates


@dataclass(frozen=True)
class Notify:
    """How the person is told that a draft was written (daemon/notify.py)."""

    desktop: bool = True  # a desktop notification, where the system has a service for it
    command: tuple[str, ...] = ()  # a program run with the facts in its environment (no shell)


@dataclass(frozen=True)
class DaemonSettings:
    state_dir: Path
    poll_interval: timedelta = timedelta(minutes=5)
    log_level: str = "INFO"


@dataclass(frozen=True)
class PartConfig:
    """One half of an account: a backend type ([accounts.calendar] type = "caldav") and
    its options, checked against the backend's own table, paths resolved."""

    type: str
    options: dict[str, Any]


@dataclass(frozen=True)
class AccountConfig:
    """An account: ``provider = NAME`` with account-level ``options`` (the shorthand for
    both parts), or a ``calendar`` and a ``mailbox`` part each with its own backend."""

    name: str
    provider: str  # the shorthand's name; for parts, "caldav+imap" (a label)
    options: dict[str, Any]  # the shorthand's keys, paths already resolved; {} for parts
    calendar: PartConfig | None = None
    mailbox: PartConfig | None = None

    def parts(self) -> tuple[PartConfig, PartConfig]:
        """(calendar, mailbox), the shorthand split into its two parts."""
        if self.calendar is not None and self.mailbox is not None:
            return self.calendar, self.mailbox
        from ..providers import shorthand_parts

        calendar, mailbox = shorthand_parts(self.provider, self.options)
        return (PartConfig(calendar.type, dict(calendar.options)),
                PartConfig(mailbox.type, dict(mailbox.options)))

    def parts_named(self) -> tuple[tuple[str, str, dict[str, Any]], ...]:
        """(("calendar", type, options), ("mailbox", type, options))."""
        calendar, mailbox = self.parts()
        return (("calendar", calendar.type, calendar.options),
                ("mailbox", mailbox.type, mailbox.options))


@dataclass(frozen=True)
class Config:
    me: Me
    detect: Detect
    timing: Timing
    drafts: Drafts
    daemon: DaemonSettings
    accounts: tuple[AccountConfig, ...]
    path: Path | None = None
    notify: Notify = field(default_factory=Notify)


def open_account(entry: AccountConfig, config: Config) -> Account:
    """Open one account's two parts through the provider registry (plain values in).

    :raises ConfigError: the backend refused an option it could only check now (a
        Microsoft cloud or authority). :raises ProviderUnavailable: a missing extra.
    """
    from .. import providers

    calendar, mailbox = entry.parts()
    me = config.me
    owner = providers.Owner(me.email, me.addresses, me.timezone)
    try:
        return providers.open_account(entry.name, providers.Part(calendar.type, calendar.options),
                                      providers.Part(mailbox.type, mailbox.options), owner,
                                      provider=entry.provider)
    except ValueError as exc:
        where = f"accounts.{entry.name}"
        problems = []
        for line in str(exc).splitlines():
            key, sep, message = line.partition(": ")
            simple = sep and re.fullmatch(r"[a-z_]+", key)
            problems.append(f"{where}.{key}: {message}" if simple else f"{where}: {line}")
        raise ConfigError(problems) from None


def default_config_path() -> Path:
    """$FOLLOWUP_CONFIG, else the platform's config folder.

    Linux: ``$XDG_CONFIG_HOME`` or ``~/.config``; macOS: ``~/Library/Application
    Support``; Windows: ``%LOCALAPPDATA%`` (through platformdirs).
    """
    env = os.environ.get("FOLLOWUP_CONFIG")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    path = user_config_path(APP, appauthor=False) / "config.toml"
    return _earlier(path, Path.home() / ".config" / APP / "config.toml")


def default_state_dir() -> Path:
    """Linux: ``$XDG_STATE_HOME`` or ``~/.local/state``; elsewhere the platform's own folder."""
    from platformdirs import user_state_path

    return _earlier(user_state_path(APP, appauthor=False), Path.home() / ".local" / "state" / APP)


def _earlier(path: Path, old: Path) -> Path:
    """Versions before 0.2 used the Linux places on macOS too: keep using what exists there."""
    if sys.platform != "darwin" or path.exists() or not old.exists():
        return path
    return old


def example_config() -> str:
    """config.example.toml, as shipped inside the package (every key, commented)."""
    return (Path(__file__).with_name("config.example.toml")).read_text(encoding="utf-8")


def human_duration(span: timedelta) -> str:
    """timedelta(minutes=5) -> '5 minutes'; 90 minutes -> '1 hour 30 minutes'."""
    seconds = int(span.total_seconds())
    if seconds <= 0:
        return "0 seconds"
    parts = []
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60),
                       ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(plural(count, unit))
    return " ".join(parts)


def plural(count: int, word: str, words: str | None = None) -> str:
    """plural(1, 'draft') -> '1 draft'; plural(3, 'message') -> '3 messages'."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def did_you_mean(key: str, known: set[str] | list[str]) -> str:
    """' (did you mean 'timezone'?)' for a near miss, else ''."""
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


def missing_extra(provider: str, modules: tuple[str, ...] | None = None) -> str | None:
    """The first module an optional provider needs that is not installed, else None.

    ``modules``: a backend's own (providers.REGISTRY); default: those of ``provider =
    NAME``'s calendar backend. Looked up with find_spec, which imports nothing.
    """
    if modules is None:
        from .. import providers

        short = providers.SHORTHANDS.get(provider)
        modules = (providers.backend(providers.CALENDAR, short.calendar).modules
                   if short else ())
    for module in modules:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):
            return module
    return None


def local_timezone() -> tzinfo:
    """The system's zone: $TZ, then /etc/localtime, then UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
    except (OSError, ZoneInfoNotFoundError, ValueError):
        pass
    return ZoneInfo("UTC")


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """'90m', '1h', '48h', '7d', '1h30m' -> timedelta; ValueError otherwise."""
    compact = text.strip().lower().replace(" ", "")
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"bad duration {text!r} (use e.g. 90m, 1h, 48h, 7d)")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(compact)))


def load_config(path: Path) -> Config:
    """Read and validate ``path``; :raises ConfigError: listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"file not found: {path} (run `followup init` to write one, or pass --config)"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read {path}: {exc}"]) from None
    return parse_config(text, path)


def parse_config(text: str, path: Path | None = None) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(path) if path else None) from None
    checker = _Checker(text, path.parent if path else Path.cwd())
    config = checker.build(raw, path)
    if checker.problems or config is None:
        raise ConfigError(checker.problems, str(path) if path else None)
    return config


class _Checker:
    """Walks the parsed TOML, converting values and collecting problems."""

    def __init__(self, text: str, base_dir: Path) -> None:
        self.lines = text.splitlines()
        self.base_dir = base_dir
        self.problems: list[str] = []
        self.email = ""  # [me] email, the default login of an IMAP mailbox

    # -- reporting ---------------------------------------------------------
    def problem(self, keypath: str, message: str) -> None:
        line = self._line_of(keypath)
        where = f" (line {line})" if line else ""
        self.problems.append(f"{keypath}{where}: {message}")

    def _line_of(self, keypath: str) -> int | None:
        """Best-effort TOML line of a key: tomllib keeps no positions.

        ``accounts[1].calendar.type`` is looked for in the ``[accounts.calendar]``
        table that follows the second ``[[accounts]]``.
        """
        parts = re.findall(r"[A-Za-z_][\w-]*|\[\d+\]", keypath)
        if not parts:
            return None
        names = [p for p in parts if not p.startswith("[")]
        key = names[-1]
        section = ".".join(names[:-1])
        root = names[0] if len(names) > 1 else ""
        index = int(parts[1][1:-1]) if len(parts) > 2 and parts[1].startswith("[") else 0
        seen = -1
        in_section = section == ""
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            header = re.match(r"^\[\[?\s*([\w.-]+)\s*\]\]?", stripped)
            if header:
                name = header.group(1)
                if name == root:
                    seen += 1
                in_section = name == section and seen == index
                if seen == index and (name == f"{section}.{key}" or (
                        in_section and key == section)):
                    return number
                continue
            if in_section and re.match(rf"^{re.escape(key)}\s*=", stripped):
                return number
        return None

    # -- typed getters -----------------------------------------------------
    def table(self, raw: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            self.problem(name, f"must be a table ([{name}]), not {_toml_type(value)}")
            return {}
        for key in sorted(set(value) - allowed):
            self.problem(f"{name}.{key}", f"unknown key{did_you_mean(key, allowed)} "
                         f"(known: {', '.join(sorted(allowed))})")
        return value

    def get(
        self,
        table: dict[str, Any],
        keypath: str,
        kind: type,
        default: Any,
        convert: Callable[[Any], Any] | None = None,
    ) -> Any:
        key = keypath.rsplit(".", 1)[-1]
        if key not in table:
            return default
        value = table[key]
        if kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.problem(keypath, "must be a list of strings")
                return default
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(keypath, f"must be {_TOML_TYPES.get(kind, kind.__name__)}, "
                         f"not {_toml_type(value)}")
            return default
        if convert is None:
            return value
        try:
            return convert(value)
        except ValueError as exc:
            self.problem(keypath, str(exc))
            return default

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    # -- sections ----------------------------------------------------------
    def build(self, raw: dict[str, Any], path: Path | None) -> Config | None:
        known = {"me", "detect", "timing", "drafts", "daemon", "accounts", "notify"}
        for key in sorted(set(raw) - known):
            self.problem(key, f"unknown section{did_you_mean(key, known)} "
                         f"(known: {', '.join(sorted(known))})")
        me = self.me(raw)
        detect = self.detect(raw)
        timing = self.timing(raw)
        drafts = self.drafts(raw)
        daemon = self.daemon(raw)
        accounts = self.accounts(raw)
        notify = self.notify(raw)
        if me is None:
            return None
        return Config(me, detect, timing, drafts, daemon, accounts, path, notify)

    def notify(self, raw: dict[str, Any]) -> Notify:
        t = self.table(raw, "notify", {"desktop", "command"})
        command: tuple[str, ...] = ()
        value = t.get("command")
        if isinstance(value, str):
            try:
                command = tuple(shlex.split(value))  # split like a shell, never run by one
            except ValueError as exc:
                self.problem("notify.command", f"cannot split into words: {exc}")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            command = tuple(value)
        elif value is not None:
            self.problem("notify.command", "must be text in quotes or a list of strings, "
                         f"not {_toml_type(value)}")
        if "command" in t and not command and not any(
                p.startswith("notify.command") for p in self.problems):
            self.problem("notify.command", "must not be empty (leave it out for none)")
        return Notify(desktop=self.get(t, "notify.desktop", bool, True), command=command)

    def me(self, raw: dict[str, Any]) -> Me | None:
        if "me" not in raw:
            self.problem("me", "missing section [me] (your name and email)")
            return None
        t = self.table(raw, "me", {"name", "email", "aliases", "signature", "timezone"})
        name = self.get(t, "me.name", str, "")
        email = self.get(t, "me.email", str, "", _email)
        for key, value in (("name", name), ("email", email)):
            if key not in t:
                self.problem(f"me.{key}", "required")
            elif not value and not any(p.startswith(f"me.{key}") for p in self.problems):
                self.problem(f"me.{key}", "must not be empty")
        aliases = self.get(t, "me.aliases", list, [])
        alias_set: list[str] = []
        for i, alias in enumerate(aliases):
            try:
                alias_set.append(_email(alias))
            except ValueError as exc:
                self.problem(f"me.aliases[{i}]", str(exc))
        self.email = email
        signature = self.get(t, "me.signature", str, "")
        zone = self.get(t, "me.timezone", str, None, _zone)
        return Me(
            name=name.strip(),
            email=email,
            aliases=tuple(alias_set),
            signature=signature,
            timezone=zone or local_timezone(),
        )

    def detect(self, raw: dict[str, Any]) -> Detect:
        t = self.table(raw, "detect", {"keywords", "categories", "ignore"})
        return Detect(
            keywords=tuple(self.get(t, "detect.keywords", list, list(DEFAULT_KEYWORDS))),
            categories=tuple(self.get(t, "detect.categories", list, list(DEFAULT_CATEGORIES))),
            ignore=tuple(self.get(t, "detect.ignore", list, list(DEFAULT_IGNORE))),
        )

    def timing(self, raw: dict[str, Any]) -> Timing:
        keys = {
            "thank_you_after", "thank_you_window", "status_check_after",
            "working_days", "working_hours",
        }
        t = self.table(raw, "timing", keys)
        d = Timing()
        start, end = self.get(
            t, "timing.working_hours", str, (d.working_start, d.working_end), _hours
        )
        return Timing(
            thank_you_after=self.get(t, "timing.thank_you_after", str, d.thank_you_after,
                                     parse_duration),
            thank_you_window=self.get(t, "timing.thank_you_window", str, d.thank_you_window,
                                      parse_duration),
            status_check_after=self.get(t, "timing.status_check_after", str,
                                        d.status_check_after, parse_duration),
            working_days=self.get(t, "timing.working_days", list, d.working_days, _weekdays),
            working_start=start,
            working_end=end,
        )

    def drafts(self, raw: dict[str, Any]) -> Drafts:
        t = self.table(raw, "drafts", {"one_per_interviewer", "templates"})
        templates = self.get(t, "drafts.templates", str, None, self.path)
        if templates is not None and not templates.is_dir():
            self.problem("drafts.templates", f"not a directory: {templates}")
        return Drafts(
            one_per_interviewer=self.get(t, "drafts.one_per_interviewer", bool, True),
            templates=templates,
        )

    def daemon(self, raw: dict[str, Any]) -> DaemonSettings:
        t = self.table(raw, "daemon", {"state_dir", "poll_interval", "log_level"})
        poll = self.get(t, "daemon.poll_interval", str, timedelta(minutes=5), parse_duration)
        if poll < timedelta(seconds=10):
            self.problem("daemon.poll_interval", "must be at least 10s")
        level = self.get(t, "daemon.log_level", str, "INFO", _log_level)
        return DaemonSettings(
            state_dir=self.get(t, "daemon.state_dir", str, default_state_dir(), self.path),
            poll_interval=poll,
            log_level=level,
        )

    def accounts(self, raw: dict[str, Any]) -> tuple[AccountConfig, ...]:
        from .. import providers

        value = raw.get("accounts", [])
        if not isinstance(value, list) or not all(isinstance(a, dict) for a in value):
            self.problem("accounts", "must be an array of tables: [[accounts]]")
            return ()
        if not value:
            self.problem("accounts", "at least one [[accounts]] entry is needed")
        result: list[AccountConfig] = []
        names: set[str] = set()
        for i, entry in enumerate(value):
            where = f"accounts[{i}]"
            name = entry.get("name")
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name or ""):
                self.problem(f"{where}.name", "required: letters, digits, '.', '_' or '-'")
                name = f"#{i}"
            elif name in names:
                self.problem(f"{where}.name", f"duplicate account name {name!r}")
            names.add(name)
            if "provider" not in entry and ("calendar" in entry or "mailbox" in entry):
                parts = self._parts(where, name, entry)
                if parts is not None:
                    calendar, mailbox = parts
                    label = (calendar.type if calendar.type == mailbox.type
                             else f"{calendar.type}+{mailbox.type}")
                    result.append(AccountConfig(name, label, {}, calendar, mailbox))
                continue
            provider = entry.get("provider")
            shorthands = list(providers.SHORTHANDS)
            if provider not in shorthands:
                hint = did_you_mean(provider, shorthands) if isinstance(provider, str) else ""
                self.problem(
                    f"{where}.provider",
                    f"unknown provider {provider!r}{hint} "
                    f"(available: {', '.join(shorthands)}; or [accounts.calendar] and "
                    "[accounts.mailbox] tables)",
                )
                continue
            result.append(AccountConfig(name=name, provider=provider,
                                        options=self._shorthand(where, provider, entry)))
        return tuple(result)

    def _shorthand(self, where: str, provider: str, entry: dict[str, Any]) -> dict[str, Any]:
        """``provider = NAME`` with account-level keys, checked against the tables of the
        two backends it stands for; problems named by the account-level key."""
        from .. import providers

        schema = providers.shorthand_keys(provider)
        allowed = {"name", "provider", *schema}
        for key in sorted(set(entry) - allowed):
            self.problem(f"{where}.{key}", f"unknown key for provider {provider!r}"
                         f"{did_you_mean(key, allowed)} (known: {', '.join(sorted(allowed))})")
        absent = missing_extra(provider)
        if absent:
            self.problem(f"{where}.provider", f"provider {provider!r} needs the "
                         f"{provider!r} extra (module {absent!r} is not installed): "
                         f"pipx install --force 'interview-followup[{provider}]', or "
                         f"pip install 'interview-followup[{provider}]' in its virtualenv")
        options: dict[str, Any] = {}
        for key, (_part, (_name, kind, default, _help)) in schema.items():
            if key not in entry:
                if default is None:
                    self.problem(f"{where}.{key}", "required")
                continue
            before = len(self.problems)
            value = self.get(entry, f"{where}.{key}", str if kind is Path else kind, None,
                             self.path if kind is Path else None)
            if len(self.problems) == before:
                options[key] = value
        # The backends' own checks (a file that must exist, a cloud), once per backend.
        back = {(part, option[0]): key for key, (part, option) in schema.items() if part}
        owner = providers.Owner(self.email)
        said: set[str] = set()
        for part, piece in zip((providers.CALENDAR, providers.MAILBOX),
                               providers.shorthand_parts(provider, options), strict=True):
            if not piece.options and any(p == part for p, _ in back):
                continue  # its required keys are missing: said above
            try:
                providers.check_settings(providers.backend(part, piece.type), piece.options,
                                         owner)
            except ValueError as exc:
                for line in str(exc).splitlines():
                    option, sep, message = line.partition(": ")
                    named = back.get((part, option)) if sep else None
                    text = f"{named}: {message}" if named else line
                    if text in said or (named and named not in options):
                        continue  # missing or of the wrong type: said above
                    said.add(text)
                    if named:
                        self.problem(f"{where}.{named}", message)
                    else:
                        self.problem(where, line)
        return options

    def _parts(self, where: str, name: str,
               entry: dict[str, Any]) -> tuple[PartConfig, PartConfig] | None:
        """[accounts.calendar] and [accounts.mailbox], each checked against its backend's
        own option table (providers.REGISTRY), every problem with its key path."""
        from .. import providers

        allowed = {"name", "calendar", "mailbox"}
        for key in sorted(set(entry) - allowed):
            self.problem(f"{where}.{key}", f"unknown key{did_you_mean(key, allowed)} "
                         f"(known: {', '.join(sorted(allowed))}; or `provider = ...` with its "
                         "keys)")
        found: list[PartConfig | None] = []
        for part in (providers.CALENDAR, providers.MAILBOX):
            found.append(self._part(f"{where}.{part}", part, entry.get(part)))
        calendar, mailbox = found
        if calendar is None or mailbox is None:
            return None
        signs_in = [p.type for p, n in ((calendar, providers.CALENDAR),
                                        (mailbox, providers.MAILBOX))
                    if providers.backend(n, p.type).secret == "oauth"]
        if len(set(signs_in)) > 1:
            # Both would keep their sign-in under the account's name in the keyring.
            self.problem(f"{where}.mailbox.type", f"a {signs_in[0]} calendar and a "
                         f"{signs_in[1]} mailbox need two sign-ins: make them two accounts")
            return None
        return calendar, mailbox

    def _part(self, where: str, part: str, value: Any) -> PartConfig | None:
        from .. import providers

        kinds = providers.types(part)
        if value is None:
            self.problem(where, f"missing [{where.split('[')[0]}.{part}] (type = one of: "
                         f"{', '.join(kinds)})")
            return None
        if not isinstance(value, dict):
            self.problem(where, f"must be a table ([accounts.{part}]), not {_toml_type(value)}")
            return None
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in kinds:
            hint = did_you_mean(kind, kinds) if isinstance(kind, str) else ""
            self.problem(f"{where}.type", ("required" if kind is None else
                                           f"unknown {part} type {kind!r}{hint}")
                         + f" (available: {', '.join(kinds)})")
            return None
        backend = providers.backend(part, kind)
        table = providers.options_table(backend)
        known = {"type", *(o[0] for o in table)}
        for key in sorted(set(value) - known):
            self.problem(f"{where}.{key}", f"unknown key for {part} type {kind!r}"
                         f"{did_you_mean(key, known)} (known: {', '.join(sorted(known))})")
        if backend.modules:
            absent = missing_extra(kind, backend.modules)
            if absent:
                self.problem(f"{where}.type", f"{part} type {kind!r} needs the "
                             f"{backend.extra!r} extra (module {absent!r} is not installed): "
                             f"pipx install --force 'interview-followup[{backend.extra}]', or "
                             f"pip install 'interview-followup[{backend.extra}]' in its "
                             "virtualenv")
        options: dict[str, Any] = {}
        bad: set[str] = set()
        for key, kind_of, _default, _help in table:
            if key not in value:
                continue  # required options and defaults: the backend's settings below
            before = len(self.problems)
            if kind_of is Path:
                got = self.get(value, f"{where}.{key}", str, None, self.path)
            elif kind_of is float and isinstance(value[key], int) and not isinstance(
                    value[key], bool):
                got = float(value[key])
            else:
                got = self.get(value, f"{where}.{key}", kind_of, None)
            if len(self.problems) > before:
                bad.add(key)
            else:
                options[key] = got
        owner = providers.Owner(self.email)
        try:
            providers.check_settings(backend, options, owner)
        except ValueError as exc:
            for line in str(exc).splitlines():
                key, sep, message = line.partition(": ")
                if sep and key in known:
                    if key not in bad:  # already said: its type
                        self.problem(f"{where}.{key}", message)
                else:
                    self.problem(where, line)
            return None
        if bad:
            return None
        # The options as given (Paths resolved), not the defaults filled in: the backend
        # applies its own defaults and presets when it opens.
        return PartConfig(kind, options)


def _toml_type(value: object) -> str:
    for kind in (bool, int, float, str, list, dict):  # bool before int: True is an int
        if isinstance(value, kind):
            return _TOML_TYPES[kind]
    return "a date or time" if hasattr(value, "isoformat") else type(value).__name__


def _email(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", value):
        raise ValueError(f"not an email address: {value!r}")
    return value


def _zone(value: str) -> tzinfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name such as "
                         "'Europe/Berlin')") from None


def _weekdays(values: list[str]) -> frozenset[int]:
    days = set()
    for v in values:
        key = v.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ValueError(f"unknown weekday {v!r} (use Mon, Tue, ... Sun)")
        days.add(WEEKDAYS.index(key))
    if not days:
        raise ValueError("at least one working day is needed")
    return frozenset(days)


def _hours(value: str) -> tuple[time, time]:
    m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if not m:
        raise ValueError(f"bad working hours {value!r} (use e.g. '09:00-17:00')")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    try:
        start = time(h1, m1)
        end = time.max if (h2, m2) == (24, 0) else time(h2, m2)
    except ValueError:
        raise ValueError(
            f"bad working hours {value!r} (use e.g. '09:00-17:00'; '24:00' ends a day)"
        ) from None
    if start >= end:
        raise ValueError(f"working hours {value!r} must start before they end")
    return start, end


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(f"unknown log level {value!r} (DEBUG, INFO, WARNING, ERROR)")
    return level
