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
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # An optional backend installed without its extra (its SDK is not a base dependency).
        if exc.name and exc.name.split(".")[0] in {"providers", "daemon"}:
            raise
        from .errors import ProviderUnavailable

        extra = account.provider
        raise ProviderUnavailable(
            account.name,
            f"provider {extra!r} needs the {extra!r} extra (missing module {exc.name!r}): "
            f"pipx install 'interview-followup[{extra}]', or in a virtualenv "
            f"pip install 'interview-followup[{extra}]'",
        ) from None
    result: Account = module.open_account(account, config)
    return result
