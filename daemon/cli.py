"""The `followup` command line.

Only click and the config module are imported at start-up, so `followup --help`
stays quick; the engine, templates and providers load inside the commands.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .config import AccountConfig, Config, default_config_path, load_config
from .errors import FollowupError, UsageError

if TYPE_CHECKING:
    from .engine import CreatedDraft
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


@click.group(cls=_Group)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Config file (default: $FOLLOWUP_CONFIG or "
                   "~/.config/interview-followup/config.toml).")
@click.version_option(package_name="interview-followup")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Drafts thank-you notes after job interviews, and one status check. Never sends mail."""
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
    from .engine import Engine
    from .lock import StateLock

    lock = StateLock(config.daemon.state_dir, "run --once", _tell)
    if not dry_run:  # a dry run works on a copy and writes nothing: no lock needed
        lock.acquire()
    try:
        engine = Engine.open(config, dry_run=dry_run)
        try:
            report = engine.cycle()
        finally:
            engine.close()
    finally:
        lock.release()
    verb = "would write" if dry_run else "wrote"
    click.echo(f"{verb} {len(report.created)} draft(s)")
    _print_drafts(report.created, bodies=dry_run)
    for notice in report.notices:
        click.echo(f"NOTE: {notice}")
    if report.errors:
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        ctx.exit(1)


# -- status ----------------------------------------------------------------
@cli.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Every tracked interview: stage, next action and when; paused accounts."""
    from . import lifecycle
    from .clock import system_clock

    config = _config(ctx)
    now = system_clock()
    with _store(config) as store:
        rows = []
        for iv in store.interviews():
            drafts = store.drafts(iv.id)
            step = lifecycle.next_step(iv, drafts, now, config.timing, config.me.timezone)
            if step.kind in (lifecycle.THANK_YOU, lifecycle.STATUS_CHECK) and step.due:
                nxt = f"{step.label} {'now' if step.due <= now else _when(step.due, config)}"
            elif step.kind == "missed":
                nxt = "status check later (thank-you window passed)"
            elif iv.answered_at is not None and iv.answered_by:
                nxt = f"- (answered: {iv.answered_by[:60]})"  # why, in the rules' words
            else:
                nxt = "-"
            rows.append((iv.id, iv.title[:40], iv.company or "?", _when(iv.start, config),
                         lifecycle.stage(iv, drafts, now), nxt))
        paused = store.paused()
        late = [iv for iv in store.interviews() if iv.answered_late]
    if not rows:
        click.echo("No interviews tracked yet.")
    else:
        _table(("ID", "INTERVIEW", "COMPANY", "WHEN", "STAGE", "NEXT"), rows)
    for iv in late:
        click.echo(f"\n!! {iv.company or iv.title}: an answer arrived after the status-check "
                   f"draft was written ({iv.answered_by}). Check your drafts before sending.")
    for account, (reason, since) in sorted(paused.items()):
        click.echo(f"\nAccount {account!r} is PAUSED since {_when(since, config)}: {reason}")


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


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
    """Authorise a Google or Microsoft account (tokens go to the system keyring)."""
    config = _config(ctx)
    entry = next((a for a in config.accounts if a.name == account), None)
    if entry is None:
        names = ", ".join(a.name for a in config.accounts)
        raise UsageError(f"no account named {account!r} in the config (accounts: {names})")
    if entry.provider == "local":
        click.echo(f"Account {account!r} is local (files on this machine): nothing to authorise.")
        return
    if entry.provider == "google":
        _auth_google(ctx, config, entry, open_browser=not no_browser)
        return
    if entry.provider == "microsoft":
        _auth_microsoft(ctx, config, entry, browser=browser)
        return
    raise UsageError(f"provider {entry.provider!r} cannot be authorised by this version")


def _auth_google(ctx: click.Context, config: Config, entry: AccountConfig, *,
                 open_browser: bool) -> None:
    """The installed-app flow with a loopback redirect; the address is printed without a browser."""
    from providers.errors import ProviderError
    from providers.google_auth import SCOPES, ClientSecretsError, authorize

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
    from providers.errors import ProviderError
    from providers.microsoft_auth import SCOPES, authorize

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


@cli.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the config, keyring, state, templates and each account's access."""
    from .doctor import run_checks

    ok = run_checks(_config(ctx), click.echo)
    ctx.exit(0 if ok else 1)


@cli.command()
@click.option("--dir", "folder", type=click.Path(path_type=Path, file_okay=False),
              help="Scratch folder (default: interview-followup-demo in the temp dir).")
def demo(folder: Path | None) -> None:
    """Run the real engine once on a built-in sample calendar and mailbox (no accounts)."""
    from .demo import run_demo

    run_demo(folder, click.echo, on_wait=_tell)


def main() -> None:
    cli(prog_name="followup")

