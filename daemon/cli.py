"""The `followup` command line.

Only click and the config module are imported at start-up, so `followup --help`
stays quick; the engine, templates and providers load inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .config import AccountConfig, Config, default_config_path, load_config, plural
from .errors import FollowupError, UsageError

if TYPE_CHECKING:
    from .engine import CreatedDraft, CycleReport
    from .state import Interview, Store


class _Group(click.Group):
    """Turns the project's errors into a message and an exit status, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FollowupError as exc:
            message = str(exc)
            click.echo(message if message.startswith("configuration error") else
                       f"error: {message}", err=True)
            ctx.exit(exc.exit_code)


_EPILOG = """\b
Getting started:
  followup demo              the whole loop on sample data, no account needed
  followup init              guided set-up: config, authorisation, checks
  followup run               the service (systemd, launchd or Task Scheduler runs it)
  followup service install   the systemd unit or launchd agent that runs it
\b
Files:
  config   ~/.config/interview-followup/config.toml (Linux),
           ~/Library/Application Support/interview-followup/config.toml (macOS),
           %LOCALAPPDATA%\\interview-followup\\config.toml (Windows)
  state    state.db in ~/.local/state/interview-followup (Linux), beside the
           config elsewhere, or [daemon] state_dir
\b
Environment:
  FOLLOWUP_CONFIG   the config file
  FOLLOWUP_NOTIFY   "off": no desktop notifications
  NO_COLOR          no colour in `status`
\b
Exit status: 0 ok, 2 configuration or usage error, 1 other failure.
Shell completion: eval "$(_FOLLOWUP_COMPLETE=bash_source followup)" (zsh_source, fish_source).
Documentation: README.md and docs/ (guide.md, systemd.md, macos.md, windows.md)."""


@click.group(cls=_Group, epilog=_EPILOG)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Config file (default: $FOLLOWUP_CONFIG, else the platform's config "
                   "folder, see below).")
@click.version_option(package_name="interview-followup")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Drafts thank-you notes after job interviews, and one status check. Never sends mail.

    It reads your calendars, notices job interviews, and puts a thank-you note per
    interviewer into your Drafts folder after each one; a week without an answer
    brings one polite status check. You read, edit and send every message yourself.
    """
    ctx.obj = config_path


def _config(ctx: click.Context) -> Config:
    path = ctx.obj or default_config_path()
    return load_config(Path(path))


def _logging(level: str) -> None:
    from .logs import setup_logging

    setup_logging(level)


@contextmanager
def _store(config: Config) -> Iterator[Store]:
    from .state import Store

    store = Store.open(config.daemon.state_dir)
    try:
        yield store
    finally:
        store.close()


def _tell(text: str) -> None:
    """A line for the person at the terminal, beside the output (stderr)."""
    click.echo(text, err=True)


def _one(store: Store, ident: str) -> Interview:
    matches = store.find_interviews(ident.strip().lower())
    if not matches:
        raise UsageError(f"no interview with ID {ident!r} (see `followup status`)")
    if len(matches) > 1:
        ids = ", ".join(m.id for m in matches)
        raise UsageError(f"ID {ident!r} is ambiguous: {ids}")
    return matches[0]


def _when(moment: datetime | None, config: Config) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(config.me.timezone).strftime("%a %Y-%m-%d %H:%M")


def _print_drafts(drafts: list[CreatedDraft], *, bodies: bool) -> None:
    for d in drafts:
        to = ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in d.to)
        click.echo(f"--- {d.kind.replace('_', '-')} for interview {d.interview_id} "
                   f"({d.account})")
        click.echo(f"To: {to or '(empty: add the recipient)'}")
        click.echo(f"Subject: {d.subject}")
        if d.location:
            click.echo(f"Draft: {d.location}")
        if bodies:
            click.echo("")
            click.echo(d.body.rstrip())
        click.echo("")


# -- run -------------------------------------------------------------------
@cli.command()
@click.option("--once", is_flag=True, help="Do one cycle and exit.")
@click.option("--dry-run", is_flag=True, help="Decide and print; write nothing to any mailbox.")
@click.pass_context
def run(ctx: click.Context, once: bool, dry_run: bool) -> None:
    """Run the service (foreground; systemd runs this)."""
    config = _config(ctx)
    _logging(config.daemon.log_level)
    if not once:
        from .service import run_daemon

        ctx.exit(run_daemon(Path(ctx.obj or default_config_path()), dry_run=dry_run))
    report = _one_cycle(config, dry_run)
    # The first line is a contract for scripts (and tests): "wrote N draft(s)".
    verb = "would write" if dry_run else "wrote"
    click.echo(f"{verb} {len(report.created)} draft(s)")
    _print_drafts(report.created, bodies=dry_run)
    for notice in report.notices:
        click.echo(f"NOTE: {notice}")
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        ctx.exit(1)


def _one_cycle(config: Config, dry_run: bool) -> CycleReport:
    """One cycle (``run --once``); the drafts it wrote are announced (daemon/notify.py)."""
    from .engine import Engine
    from .lock import StateLock

    lock = StateLock(config.daemon.state_dir, "run --once", _tell)
    if not dry_run:  # a dry run works on a copy and writes nothing: no lock needed
        lock.acquire()
    try:
        engine = Engine.open(config, dry_run=dry_run)
        try:
            report = engine.cycle()
            if not dry_run:  # the person is told once the drafts are there and recorded
                from .notify import Notifier

                Notifier(config.notify).cycle(report.created, report.notices,
                                              _company_of(engine.store))
        finally:
            engine.close()
    finally:
        lock.release()
    return report


def _company_of(store: Store) -> Callable[[str], str | None]:
    def company(interview_id: str) -> str | None:
        found = store.interview(interview_id)
        return (found.company or None) if found else None

    return company


# -- status ----------------------------------------------------------------
_STAGE_COLOURS = {
    "upcoming": "blue", "in progress": "blue", "ended": "yellow",
    "thank-you drafted": "green", "thank-you sent": "green", "answered": "green",
    "thank-you missed": "yellow", "answered after status check!": "red",
}


def colour() -> bool | None:
    """False when $NO_COLOR is set (no-color.org); None: click decides (a terminal or not)."""
    import os

    return False if os.environ.get("NO_COLOR") else None


def _style(column: str, value: str, cell: str) -> str:
    if column == "STAGE":
        fg = _STAGE_COLOURS.get(value)
        return click.style(cell, fg=fg, bold=value.endswith("!")) if fg else cell
    if column == "NEXT" and value.endswith(" now"):
        return click.style(cell, bold=True)
    if column == "ID":
        return click.style(cell, dim=True)
    return cell


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="One JSON document for scripts (schema: docs/status-schema.json).")
@click.option("--all", "everything", is_flag=True,
              help="Also interviews finished over 30 days ago (history).")
@click.pass_context
def status(ctx: click.Context, as_json: bool, everything: bool) -> None:
    """Open interviews: stage, next action and when; paused accounts.

    Fits the terminal's width; IDs are shown as their shortest unique prefix, which
    every command accepts.
    """
    import shutil

    from . import status as st
    from .clock import system_clock

    config = _config(ctx)
    with _store(config) as store:
        report = st.collect(store, config, system_clock(), everything=everything)
    if as_json:
        import json

        click.echo(json.dumps(st.as_json(report), indent=2, ensure_ascii=False))
        return
    zone, use_colour = config.me.timezone, colour()
    width = max(shutil.get_terminal_size((80, 24)).columns, 40)
    wrap = min(width, 100)  # sentences read badly wider than this
    if not report.rows:
        click.echo("No interviews tracked yet." if not report.hidden else
                   "Nothing waiting: every interview is finished.")
    else:
        for line in st.render(st.table_rows(report, zone), width, _style):
            click.echo(line, color=use_colour)
    if report.hidden:
        click.echo(f"({plural(report.hidden, 'finished interview')} not shown: "
                   "followup status --all)")
    for row in report.rows:
        iv = row.interview
        if iv.answered_late:
            warn = (f"!! {iv.company or iv.title}: an answer arrived after the status-check "
                    f"draft was written ({iv.answered_by}). Check your drafts before sending.")
            click.echo("\n" + click.style(click.wrap_text(warn, wrap), fg="red", bold=True),
                       color=use_colour)
    for account, (reason, since) in sorted(report.paused.items()):
        text = (f"Account {account!r} is PAUSED since {_when(since, config)}: {reason}")
        click.echo("\n" + click.style(click.wrap_text(text, wrap), fg="yellow", bold=True),
                   color=use_colour)


# -- per-interview commands ------------------------------------------------
@cli.command()
@click.argument("ident", metavar="ID")
@click.pass_context
def preview(ctx: click.Context, ident: str) -> None:
    """Show the next draft(s) of an interview without writing them."""
    from . import lifecycle
    from .engine import Engine

    config = _config(ctx)
    with _store(config) as store:
        engine = Engine(config, store, {})  # no accounts: it only renders
        iv = _one(store, ident)
        drafts = store.drafts(iv.id)
        step = lifecycle.next_step(iv, drafts, engine.clock(), config.timing, config.me.timezone)
        kind = step.kind if step.kind != "missed" else lifecycle.STATUS_CHECK
        if not kind:
            click.echo(f"Interview {iv.id} is {lifecycle.stage(iv, drafts, engine.clock())}: "
                       "nothing more will be drafted.")
            return
        planned = engine.plan(iv, kind)
    for p in planned:
        to = ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in p.to)
        when = "now" if step.due and step.due <= engine.clock() else _when(step.due, config)
        click.echo(f"--- {kind.replace('_', '-')} (due {when})")
        click.echo(f"To: {to or '(empty: add the recipient)'}")
        click.echo(f"Subject: {p.rendered.subject}\n")
        click.echo(p.rendered.body.rstrip() + "\n")


@cli.command()
@click.argument("ident", metavar="ID")
@click.argument("text")
@click.option("--to", "address", metavar="ADDRESS",
              help="Only for the note to this interviewer (their email address).")
@click.pass_context
def note(ctx: click.Context, ident: str, text: str, address: str | None) -> None:
    """Add a note for the drafts of an interview: "Discussed: ...", "Strength: ...",
    "Concern: ..." fill those paragraphs; a bare note is something you discussed."""
    config = _config(ctx)
    text = " ".join(text.split())
    if not text:
        raise UsageError("the note is empty")
    with _store(config) as store:
        iv = _one(store, ident)
        if address is not None:
            address = address.strip().lower()
            people = {p.email for p in iv.recipients}
            if iv.main_contact:
                people.add(iv.main_contact.email)
            if address not in people:
                known = ", ".join(sorted(p for p in people if p)) or "none"
                raise UsageError(f"{address} is not one of the people of interview {iv.id} "
                                 f"(they are: {known})")
            text = f"{address}: {text}"  # the engine gives it to that person's note only
        with store.transaction() as conn:
            store.add_note(conn, iv.id, text[:500])
    who = f" (for {address} only)" if address else ""
    click.echo(f"Noted for interview {iv.id}{who}; it fills the drafts written from now on.")


def _close(ctx: click.Context, ident: str, how: str) -> None:
    config = _config(ctx)
    with _store(config) as store:
        iv = _one(store, ident)
        with store.transaction() as conn:
            closed = store.close_by_hand(conn, iv.id, how)
        if not closed:
            now = store.interview(iv.id)
            raise UsageError(f"interview {iv.id} is already {now.closed if now else 'gone'}")
    click.echo(f"Interview {iv.id} marked {how}: nothing more will be drafted for it.")


@cli.command()
@click.argument("ident", metavar="ID")
@click.pass_context
def skip(ctx: click.Context, ident: str) -> None:
    """Never draft anything for this interview."""
    _close(ctx, ident, "skipped")


@cli.command()
@click.argument("ident", metavar="ID")
@click.pass_context
def done(ctx: click.Context, ident: str) -> None:
    """Mark an interview done (you followed up yourself)."""
    _close(ctx, ident, "done")


@cli.command()
@click.argument("ident", metavar="ID")
@click.pass_context
def reopen(ctx: click.Context, ident: str) -> None:
    """Undo `skip` or `done`: the interview gets its drafts again when they are due."""
    config = _config(ctx)
    with _store(config) as store:
        iv = _one(store, ident)
        with store.transaction() as conn:
            reopened = store.reopen(conn, iv.id)
    if not reopened:
        why = (f"it is {iv.closed} (not by hand)" if iv.closed else "it is open")
        raise UsageError(f"interview {iv.id} cannot be reopened: {why}")
    click.echo(f"Interview {iv.id} reopened: its next draft is written when due "
               "(see `followup status`).")


# -- auth, doctor, demo ----------------------------------------------------
@cli.command()
@click.argument("account")
@click.option("--no-browser", is_flag=True,
              help="Print the address to open instead of starting a browser (e.g. over SSH).")
@click.option("--browser", is_flag=True,
              help="Microsoft: sign in through a browser on this machine instead of with a "
                   "device code.")
@click.pass_context
def auth(ctx: click.Context, account: str, no_browser: bool, browser: bool) -> None:
    """Authorise an account: a Google or Microsoft sign-in, or the password (IMAP, CalDAV)
    or secret feed address it needs, asked without echo, checked, then kept in the system
    keyring."""
    config = _config(ctx)
    entry = next((a for a in config.accounts if a.name == account), None)
    if entry is None:
        names = ", ".join(a.name for a in config.accounts)
        raise UsageError(f"no account named {account!r} in the config (accounts: {names})")
    if entry.calendar is None or entry.mailbox is None:  # provider = ...: the shorthand
        if entry.provider == "local":
            click.echo(f"Account {account!r} is local (files on this machine): nothing to "
                       "authorise.")
            return
        if entry.provider == "google":
            _auth_google(ctx, config, entry, open_browser=not no_browser)
            return
        if entry.provider == "microsoft":
            _auth_microsoft(ctx, config, entry, browser=browser)
            return
    if not _auth_parts(ctx, config, entry, open_browser=not no_browser, browser=browser):
        click.echo(f"Account {account!r} keeps no secret (files on this machine): nothing to "
                   "authorise.")


def _hidden(prompt: str) -> str:
    """A secret typed at the terminal, never echoed."""
    value: str = click.prompt(prompt, hide_input=True, default="", show_default=False,
                              prompt_suffix="")
    return value


def _auth_parts(ctx: click.Context, config: Config, entry: AccountConfig, *,
                open_browser: bool, browser: bool) -> bool:
    """Each part that needs a secret, as its backend says (providers.REGISTRY): a sign-in
    for Google and Microsoft, else ask, check, store. False when none needs one."""
    from .. import providers
    from ..providers import checks
    from ..providers.errors import ProviderError

    owner = providers.Owner(config.me.email, config.me.addresses, config.me.timezone)
    did, signed_in = False, set()
    for part in entry.parts_named():
        name, kind, options = part
        b = providers.backend(name, kind)
        if b.secret == "oauth":
            if kind not in signed_in:
                signed_in.add(kind)
                _sign_in(ctx, config, entry, kind, options, open_browser=open_browser,
                         browser=browser)
                did = True
            continue
        if not b.secret:
            continue
        click.echo(f"Account {entry.name!r}, {name} ({kind}):")
        try:
            lines = checks.authorise(entry.name, name, kind, options, owner, _hidden)
        except ValueError as exc:
            raise UsageError(f"account {entry.name!r} {name}: {exc}") from None
        except ProviderError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        for line in lines:
            click.echo(f"  {line}")
        click.echo(f"Authorised {entry.name!r} {name} ({kind})." + _resumed(config, entry.name))
        did = True
    return did


def _sign_in(ctx: click.Context, config: Config, entry: AccountConfig, kind: str,
             options: Mapping[str, Any], *, open_browser: bool, browser: bool) -> None:
    """The OAuth sign-in of one part of ``entry`` (its backend's, "google" or "microsoft")."""
    alone = AccountConfig(entry.name, kind, dict(options))
    if kind == "google":
        _auth_google(ctx, config, alone, open_browser=open_browser)
    else:
        _auth_microsoft(ctx, config, alone, browser=browser)


def _auth_google(ctx: click.Context, config: Config, entry: AccountConfig, *,
                 open_browser: bool) -> None:
    """The installed-app flow with a loopback redirect; the address is printed without a browser."""
    from ..providers.errors import ProviderError
    from ..providers.google.auth import SCOPES, ClientSecretsError, authorize

    try:
        creds = authorize(entry.name, Path(entry.options["client_secrets"]),
                          open_browser=open_browser, echo=click.echo)
    except ClientSecretsError as exc:
        raise UsageError(str(exc)) from None
    except ProviderError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    granted = sorted(s.rsplit("/", 1)[-1] for s in creds.granted_scopes or SCOPES)
    click.echo(f"Authorised {entry.name!r} (Google): granted {', '.join(granted)}; the "
               "credentials are in the system keyring." + _resumed(config, entry.name))


def _resumed(config: Config, account: str) -> str:
    """Lift a pause after a new authorisation (rule 9); a sentence to add when there was one."""
    with _store(config) as store:
        was_paused = account in store.paused()
        store.resume(account)
    return " The account is no longer paused." if was_paused else ""


def _auth_microsoft(ctx: click.Context, config: Config, entry: AccountConfig, *,
                    browser: bool) -> None:
    """Device code by default (works over SSH), the browser with ``--browser``."""
    from ..providers.errors import ProviderError
    from ..providers.microsoft.auth import SCOPES, authorize

    options = entry.options
    try:
        done = authorize(entry.name, str(options["client_id"]),
                         str(options.get("tenant") or "common"),
                         str(options.get("cloud") or "global"), browser=browser,
                         echo=click.echo, authority=options.get("authority"))
    except ValueError as exc:  # cloud, tenant or authority unusable
        raise UsageError(f"account {entry.name!r}: {exc} (see docs/microsoft.md)") from None
    except ProviderError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    who = f" as {done.username}" if done.username else ""
    # authorize() refuses a sign-in that did not grant every one of SCOPES.
    click.echo(f"Authorised {entry.name!r} (Microsoft){who}: granted {', '.join(SCOPES)}; the "
               "token cache is in the system keyring." + _resumed(config, entry.name))


class _InitCommand(click.Command):
    """`init`, whose ``--calendar-*`` / ``--mailbox-*`` flags come from the backends' option
    tables: read when `init` runs or shows its help, never at start-up."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if not any(p.name and p.name.startswith("mailbox_") for p in self.params):
            from .init import part_flags, setup_help

            for param in self.params:  # the lists of setups and types, from the tables
                if param.name in ("setup", "calendar", "mailbox") and isinstance(
                        param, click.Option):
                    param.help = setup_help(param.name)
            self.params.extend(part_flags())
        return super().get_params(ctx)


@cli.command(cls=_InitCommand)
@click.option("--name", help="Your name (signs the drafts).")
@click.option("--email", help="Your email address.")
@click.option("--timezone", help="IANA time zone (default: the system's).")
@click.option("--signature", help="Closing lines of the drafts; \\n between lines.")
@click.option("--setup", help="A whole setup (listed by `followup init --help`).")
@click.option("--calendar", help="The calendar's backend, when chosen apart.")
@click.option("--mailbox", help="The mailbox's backend, when chosen apart.")
@click.option("--account", help="A short name for the account (default: the setup's).")
# The first init's flags, kept for scripts: --kind is --setup, --maildir --mailbox-path, ...
@click.option("--kind", hidden=True)
@click.option("--maildir", hidden=True)
@click.option("--client-secrets", hidden=True)
@click.option("--client-id", hidden=True)
@click.option("--tenant", hidden=True)
@click.option("--desktop/--no-desktop", default=None,
              help="A desktop notification when a draft is written (default: yes).")
@click.option("--notify-command", help="A command run for each draft (FOLLOWUP_* set).")
@click.option("--no-input", is_flag=True,
              help="Never prompt: every answer comes from a flag, and the secrets from "
                   "FOLLOWUP_CALENDAR_SECRET / FOLLOWUP_MAILBOX_SECRET.")
@click.option("--force", is_flag=True, help="Replace an existing config (kept as .bak).")
@click.option("--no-auth", is_flag=True, help="Do not authorise the account now.")
@click.option("--example", is_flag=True,
              help="Print the example config (every key, commented) and exit.")
@click.pass_context
def init(ctx: click.Context, no_input: bool, force: bool, no_auth: bool, example: bool,
         **given: Any) -> None:
    """Guided set-up: writes the config, authorises the account, runs the checks.

    The account is a whole setup (--setup) or a calendar and a mailbox chosen apart
    (--calendar caldav --mailbox imap); each backend option has its flag (--calendar-url,
    --mailbox-host, ...). With --no-input only the flags are used (scripts); passwords and
    feed addresses never come as flags: a prompt that does not echo, or the environment.
    An existing config is replaced only after a yes (or --force).
    """
    from . import init as setup

    if example:
        from .config import example_config

        click.echo(example_config(), nl=False)
        return
    path = Path(ctx.obj or default_config_path())
    interactive = not no_input
    setup.may_write(path, force=force, interactive=interactive)
    answers = setup.ask(given, interactive)
    text = setup.render(answers)
    setup.write(path, text, click.echo)
    click.echo(f"Wrote {path}:\n")
    click.echo("\n".join("    " + line if line else "" for line in text.splitlines()) + "\n")
    setup.prepare_local(answers, click.echo)  # an empty Maildir, when there is none yet
    extras, install = setup.needs_extra(answers)
    if install:
        raise UsageError(f"the {', '.join(map(repr, extras))} provider is not installed: run "
                         f"{install}, then `followup auth {answers.account}` and "
                         "`followup doctor`")
    config = _config(ctx)
    entry = next(a for a in config.accounts if a.name == answers.account)
    _init_auth(ctx, config, entry, interactive=interactive, skip=no_auth)
    click.echo("\nChecking (followup doctor):")
    from .doctor import run_checks

    if not run_checks(config, click.echo):
        click.echo("\nFix what FAILed above, then run `followup doctor` again.")
        ctx.exit(1)
    click.echo("\nWhat one cycle would do now (followup run --once --dry-run):")
    report = _one_cycle(config, dry_run=True)
    click.echo(f"would write {len(report.created)} draft(s)")
    _print_drafts(report.created, bodies=False)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    click.echo("\nNext: `followup run` in this terminal, or as a service: docs/systemd.md\n"
               "(Linux), docs/macos.md, docs/windows.md. `followup status` shows every\n"
               "interview and its next step.")


def _init_auth(ctx: click.Context, config: Config, entry: AccountConfig, *,
               interactive: bool, skip: bool) -> None:
    """`followup auth` for each part that needs it, as init's last question: a sign-in
    (Google, Microsoft), or a secret typed without echo (asked again when the server
    refuses it), or, for scripts, taken from FOLLOWUP_<PART>_SECRET. Kept in the keyring
    only, after the server took it."""
    from .. import providers
    from ..providers import checks
    from ..providers.errors import AuthExpired, ProviderError
    from .init import presets, secret_env, secret_from_env

    owner = providers.Owner(config.me.email, config.me.addresses, config.me.timezone)
    later = f"run `followup auth {entry.name}` before the service starts"
    signed_in: set[str] = set()
    typed: dict[str, str] = {}  # secret kind -> the last one typed (in memory only)
    for part, kind, options in entry.parts_named():
        b = providers.backend(part, kind)
        if not b.secret or kind in signed_in:
            continue
        if skip:
            click.echo(f"Not authorised yet: {later}.")
            return
        if b.secret == "oauth":
            signed_in.add(kind)
            click.echo(f"Authorising {entry.name!r} ({kind}):")
            _sign_in(ctx, config, entry, kind, options, open_browser=True, browser=False)
            continue
        env = secret_env(part)
        given = secret_from_env(part)
        if not given and not interactive:
            click.echo(f"Not authorised yet: the {part} ({kind}) needs its {b.secret}: set "
                       f"{env}, or {later}.")
            continue
        click.echo(f"Authorising {entry.name!r} {part} ({kind}):")
        note = getattr(presets(part, kind).get(str(options.get("preset") or "")), "note", "")
        if note and not given:
            click.echo(f"  {kind} wants {note}")

        def read(prompt: str, secret: str = b.secret, given: str | None = given) -> str:
            if given:
                return given
            if secret in typed and click.confirm(
                    f"  The same {secret} as the one just typed?", default=True):
                return typed[secret]
            typed[secret] = _hidden("  " + prompt)
            return typed[secret]

        for attempt in range(1 if given else 3):
            try:
                lines = checks.authorise(entry.name, part, kind, options, owner, read)
            except ValueError as exc:
                raise UsageError(f"account {entry.name!r} {part}: {exc}; the config is "
                                 f"written: {later}") from None
            except AuthExpired as exc:
                typed.clear()
                click.echo(f"  refused: {exc}", err=True)
                if attempt < (0 if given else 2):
                    continue
                click.echo(f"error: not authorised; the config is written: {later}.",
                           err=True)
                ctx.exit(1)
            except ProviderError as exc:
                click.echo(f"error: {exc}; the config is written: {later}.", err=True)
                ctx.exit(1)
            for line in lines:
                click.echo(f"  {line}")
            break


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the config, keyring, state, templates and each account's access."""
    from .doctor import run_checks

    ok = run_checks(_config(ctx), click.echo)
    ctx.exit(0 if ok else 1)


@cli.group()
def service() -> None:
    """The systemd unit (Linux) or launchd agent (macOS) that runs `followup run`."""


@service.command("install")
@click.option("--print", "show", is_flag=True, help="Print the file instead of writing it.")
@click.option("--force", is_flag=True, help="Replace a file that differs.")
def service_install(show: bool, force: bool) -> None:
    """Write the service file naming this `followup`, then say how to start it."""
    import sys

    from . import service_files

    found = service_files.for_platform(sys.platform, service_files.followup_command(),
                                       Path.home())
    if show:
        click.echo(found.text, nl=False)
        return
    wrote = service_files.install(found, force=force)
    click.echo(f"{'Wrote' if wrote else 'Already in place:'} {found.path}\nNext:")
    for step in found.next_steps:
        click.echo(f"  {step}")


@cli.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False),
              help="Scratch folder to use or reuse (default: a new one in the temp dir).")
def demo(folder: Path | None) -> None:
    """Run the real engine once on a built-in sample calendar and mailbox (no accounts)."""
    from .demo import default_notifier, run_demo

    run_demo(folder, click.echo, on_wait=_tell, notifier=default_notifier())


def main() -> None:
    cli(prog_name="followup")

