"""The "microsoft" backend: Outlook calendar (calendar.py) and mail (mailbox.py) through
Microsoft Graph (graph.py), signed in with msal (auth.py).

This module holds the option table only, so the config checker, ``doctor``, ``auth`` and
the docs read it without loading msal. (name, type, default, help); a default of None
means required.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .. import Owner

Option = tuple[str, type, Any, str]

CLOUDS = ("global", "usgov", "usgov-dod", "china")  # Microsoft's national clouds
MICROSOFT: tuple[Option, ...] = (
    ("client_id", str, None, "the app registration's id (docs/microsoft.md)"),
    ("tenant", str, "common", "common, organizations, consumers or a tenant id"),
    ("cloud", str, "global", "the national cloud: " + ", ".join(CLOUDS)),
    ("endpoint", str, "", "the Graph root (tests, private endpoints)"),
    ("authority", str, "", "the sign-in authority, when not the cloud's own"),
)


def microsoft_settings(options: Mapping[str, Any],
                       owner: Owner | None = None) -> dict[str, Any]:
    """:raises ValueError: one problem a line, ``option: what``."""
    if "client_id" not in options:
        raise ValueError("client_id: required")
    cloud = options.get("cloud")
    if cloud not in (None, *CLOUDS):
        raise ValueError(f"cloud: unknown cloud {cloud!r} (one of: {', '.join(CLOUDS)})")
    return dict(options)
