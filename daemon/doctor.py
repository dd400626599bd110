"""`followup doctor`: checks that change nothing and say what to fix."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from .config import AccountConfig, Config, open_account, plural

Echo = Callable[[str], None]
Report = Callable[..., None]  # report(name, problem or None, detail="")


def run_checks(config: Config, echo: Echo) -> bool:
    ok = True

    def report(name: str, problem: str | None, detail: str = "") -> None:
        nonlocal ok
        if problem:
            ok = False
            echo(f"FAIL  {name}: {problem}")
        else:
            echo(f"ok    {name}{': ' + detail if detail else ''}")

    report("config", None, str(config.path) if config.path else "")

    from .state import Store

    try:
        store = Store.open(config.daemon.state_dir)
        store.close()
        report("state", None, str(config.daemon.state_dir / "state.db"))
    except Exception as exc:
        report("state", str(exc))

    from .templates import check_templates

    problems = check_templates(config.drafts.templates)
    report("templates", "; ".join(problems) if problems else None,
           str(config.drafts.templates or "built-in"))

    from .. import providers

    needs_keyring = any(providers.backend(part, kind).secret
                        for a in config.accounts for part, kind, _ in a.parts_named())
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring):
            hint = ("no keyring backend: install one (e.g. `pip install keyrings.alt` "
                    "or run a Secret Service such as gnome-keyring)")
            report("keyring", hint if needs_keyring else None,
                   "" if needs_keyring else "none (no account keeps a secret)")
        else:
            report("keyring", None, str(getattr(backend, "name", type(backend).__name__)))
    except Exception as exc:
        report("keyring", f"cannot load keyring: {exc}" if needs_keyring else None, "unusable")

    from .clock import system_clock
    from .engine import lookback

    now = system_clock()
    for entry in config.accounts:
        name = f"account {entry.name} ({entry.provider})"
        if not _part_checks(config, entry, report):
            continue  # the access check below would only repeat the problem
        try:
            account = open_account(entry, config)
            try:
                changes = account.calendar.changes(None, now - lookback(config),
                                                   now + timedelta(days=60),
                                                   config.me.timezone)
                batch = account.mailbox.messages_since(None, now - timedelta(days=1))
            finally:
                account.close()
            report(name, None, f"calendar: {plural(len(changes.events), 'event')} in the "
                   f"window; mail: {plural(len(batch.messages), 'message')} in the last day")
        except Exception as exc:
            report(name, str(exc))
    return ok


def _part_checks(config: Config, entry: AccountConfig, report: Report) -> bool:
    """Each part's own check, as its backend says (providers.REGISTRY): a sign-in's token
    and scopes (Google, Microsoft, once for both parts), a login with the stored password
    and the folders or calendars found (IMAP, CalDAV), a feed read once, a folder listed.
    False when one failed."""
    from .. import providers
    from ..providers import checks
    from ..providers.errors import ProviderError

    owner = providers.Owner(config.me.email, config.me.addresses, config.me.timezone)
    signed_in: set[str] = set()
    ok = True
    for part, kind, options in entry.parts_named():
        if providers.backend(part, kind).secret == "oauth":
            if kind in signed_in:
                continue
            signed_in.add(kind)
            alone = AccountConfig(entry.name, kind, dict(options))
            ok = (_google_checks(alone, report) if kind == "google"
                  else _microsoft_checks(alone, report)) and ok
            continue
        try:
            lines = checks.check(entry.name, part, kind, options, owner)
        except (ProviderError, ValueError) as exc:
            report(f"account {entry.name} {part} ({kind})", str(exc))
            ok = False
            continue
        if lines:
            report(f"account {entry.name} {part} ({kind})", None, "; ".join(lines))
    return ok


def _google_checks(entry: AccountConfig, report: Report) -> bool:
    """Token stored, refreshable, scopes granted: one line each; False when one failed."""
    from ..providers._shared import secrets
    from ..providers.errors import ProviderError
    from ..providers.google import auth as google_auth

    name, how = f"account {entry.name} token", f"run: followup auth {entry.name}"
    try:
        if secrets.get_secret(entry.name) is None:
            report(name, f"nothing stored in the keyring; {how}")
            return False
    except ProviderError as exc:
        report(name, str(exc))
        return False
    report(name, None, "stored in the system keyring")
    try:
        creds = google_auth.load_credentials(entry.name, force_refresh=True)
    except ProviderError as exc:
        report(f"account {entry.name} refresh", str(exc))
        return False
    report(f"account {entry.name} refresh", None, "Google issued a new access token")
    granted = google_auth.granted_scopes(creds, entry.options.get("endpoint"))
    missing = sorted(set(google_auth.SCOPES) - granted)
    short = ", ".join(sorted(s.rsplit("/", 1)[-1] for s in granted)) or "none"
    report(f"account {entry.name} scopes",
           f"not granted: {', '.join(missing)}; {how} and allow every permission"
           if missing else None, short)
    return not missing


def _microsoft_checks(entry: AccountConfig, report: Report) -> bool:
    """Token cache stored, refreshable, scopes granted: one line each; False when one failed."""
    from ..providers.errors import ProviderError
    from ..providers.microsoft import auth as microsoft_auth

    name, how = f"account {entry.name} token", f"run: followup auth {entry.name}"
    options = entry.options
    try:
        if microsoft_auth.read_cache(entry.name) is None:
            report(name, f"nothing stored in the keyring; {how}")
            return False
        tokens = microsoft_auth.TokenSource(
            entry.name, str(options["client_id"]), str(options.get("tenant") or "common"),
            str(options.get("cloud") or "global"), options.get("authority"))
        who = tokens.username()
    except (ProviderError, ValueError) as exc:
        report(name, str(exc))
        return False
    report(name, None, "stored in the system keyring" + (f" for {who}" if who else ""))
    try:
        granted = tokens.refresh()
    except ProviderError as exc:
        report(f"account {entry.name} refresh", str(exc))
        return False
    report(f"account {entry.name} refresh", None, "Microsoft issued a new access token")
    missing = microsoft_auth.missing_scopes(granted)
    report(f"account {entry.name} scopes",
           f"not granted: {', '.join(missing)}; {how} and grant every permission"
           if missing else None, ", ".join(microsoft_auth.SCOPES))
    return not missing
