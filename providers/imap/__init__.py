"""The IMAP mailbox backend: options, presets and the factory the registry calls.

``OPTIONS`` is this backend's option table (name, type, default, help): the config
checker, ``followup doctor``, ``followup auth`` and docs/imap.md read it, so daemon/
never branches on this backend's option names. Importing this package does not
import imapclient; :func:`open_mailbox` does.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .presets import PRESETS

if TYPE_CHECKING:
    from .mailbox import ImapMailbox

# (name, type, default, help). A default of None means "from the preset" (or required).
OPTIONS: tuple[tuple[str, type, Any, str], ...] = (
    ("preset", str, "", "a known service that fills host, port and security: "
     + ", ".join(PRESETS)),
    ("host", str, None, "the IMAP server (required without a preset)"),
    ("port", int, None, "default 993 for tls, 143 for starttls and plain"),
    ("security", str, "tls", "tls (implicit TLS), starttls, or plain (127.0.0.1/localhost "
     "only: a local bridge or a test server)"),
    ("username", str, None, "the login name; default: [me] email"),
    ("auth", str, "password", "password (a password or app password kept in the keyring by "
     "`followup auth NAME`) or xoauth2 (an OAuth2 access token in the keyring)"),
    ("certificate", Path, None, "a PEM file of the server's certificate (or its CA) to trust "
     "instead of the system's CAs: Proton Mail Bridge's exported cert.pem"),
    ("drafts", str, "", "the folder drafts go to; default: the \\Drafts folder (RFC 6154), "
     "else Drafts, [Gmail]/Drafts, ... by name"),
    ("sent", str, "", "the folder of sent mail; default: the \\Sent folder, else Sent, "
     "Sent Messages, Sent Items, ... by name"),
    ("skip_folders", list, [], "more folders never read for answers (Drafts, Junk, Trash "
     "and Outbox never are)"),
    ("timeout", float, 60.0, "seconds to wait for the server"),
)
SECURITY = ("tls", "starttls", "plain")
AUTH = ("password", "xoauth2")
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def settings(options: Mapping[str, Any], default_username: str = "") -> dict[str, Any]:
    """The options with the preset and defaults applied.

    :raises ValueError: with every problem, one per line, named by option.
    """
    problems = [f"unknown option {k!r}" for k in options if k not in {o[0] for o in OPTIONS}]
    result = {name: options.get(name, default) for name, _, default, _ in OPTIONS}
    preset_name = str(result["preset"] or "")
    if preset_name:
        preset = PRESETS.get(preset_name)
        if preset is None:
            problems.append(f"preset: unknown {preset_name!r} (known: {', '.join(PRESETS)})")
        elif not preset.usable:
            problems.append(f"preset: {preset_name}: {preset.note}")
        else:
            for key in ("host", "port", "security"):
                if key not in options:
                    result[key] = getattr(preset, key)
            if preset.certificate == "required" and not result["certificate"]:
                problems.append(f"certificate: {preset_name} needs the certificate file "
                                f"({preset.note})")
    if not result["host"]:
        problems.append("host: required (or a preset)")
    if result["security"] not in SECURITY:
        problems.append(f"security: must be one of {', '.join(SECURITY)}")
    elif result["security"] == "plain" and result["host"] not in LOOPBACK:
        problems.append("security: plain sends the password unencrypted; only for a server "
                        "on 127.0.0.1")
    if result["auth"] not in AUTH:
        problems.append(f"auth: must be one of {', '.join(AUTH)}")
    result["username"] = result["username"] or default_username
    if not result["username"]:
        problems.append("username: required")
    if problems:
        raise ValueError("\n".join(problems))
    return result


def ssl_context(certificate: str) -> ssl.SSLContext:
    """The system's CAs, or only ``certificate`` (pinned: a local bridge's own)."""
    if not certificate:
        return ssl.create_default_context()
    context = ssl.create_default_context(cafile=certificate)
    # A bridge's self-signed certificate names no host the client could check: the
    # pinned file itself is the trust, so any other certificate still fails.
    context.check_hostname = False
    return context


def open_mailbox(account: str, options: Mapping[str, Any], *, default_username: str = "",
                 password: Callable[[], str | None] | None = None) -> ImapMailbox:
    """Cheap: no connection and no keyring read until the first call."""
    from .auth import keyring_password
    from .mailbox import ImapMailbox

    s = settings(options, default_username)
    return ImapMailbox(
        account, str(s["host"]), str(s["username"]), password or keyring_password(account),
        port=s["port"], security=str(s["security"]), auth=str(s["auth"]),
        ssl_context=ssl_context(str(s["certificate"] or "")),  # the checker resolved it
        drafts=str(s["drafts"] or ""), sent=str(s["sent"] or ""),
        skip=tuple(s["skip_folders"] or ()), timeout=float(s["timeout"]),
    )
