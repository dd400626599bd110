"""Calendar and mailbox backends, looked up by name.

The registry maps a provider name to its module; the module is imported only
when an account uses it, so an unused backend's SDK is never loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from daemon.config import AccountConfig, Config

    from .base import Account

REGISTRY: dict[str, str] = {
    "local": "providers.local",
    "google": "providers.google",
    "microsoft": "providers.microsoft",
}


def open_account(account: AccountConfig, config: Config) -> Account:
    """Build the :class:`~providers.base.Account` for one [[accounts]] entry."""
    try:
        module_name = REGISTRY[account.provider]
    except KeyError:
        raise LookupError(f"unknown provider {account.provider!r}") from None
    module = importlib.import_module(module_name)
    result: Account = module.open_account(account, config)
    return result
