"""A Microsoft account: calendar and mail on one Graph session, or either alone beside
another backend's part."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._shared.retry import Retry
from ..base import Account
from .calendar import GraphCalendar
from .graph import GraphHttp, TokenProvider
from .mailbox import OutlookMailbox

if TYPE_CHECKING:
    from .. import Owner

@dataclass
class MicrosoftAccount(Account):
    http: GraphHttp | None = None

    def close(self) -> None:
        if isinstance(self.mailbox, OutlookMailbox):
            self.mailbox.close()  # its reading thread first, then the connections
        if self.http is not None:
            self.http.close()


def _http(account: str, options: Mapping[str, Any], retry: Retry | None,
          tokens: TokenProvider | None) -> GraphHttp:
    """:raises ValueError: the cloud, tenant or authority cannot be used (``option: what``)."""
    from .auth import CLOUDS, TokenSource, graph_root

    cloud = str(options.get("cloud") or "global")
    if cloud not in CLOUDS:
        raise ValueError(f"cloud: unknown cloud {cloud!r} (known: {', '.join(CLOUDS)})")
    if tokens is None:
        tokens = TokenSource(account, str(options["client_id"]),
                             str(options.get("tenant") or "common"), cloud,
                             options.get("authority") or None)
    return GraphHttp(account, str(options.get("endpoint") or graph_root(cloud)), tokens,
                     retry=retry)


def open_pair(account: str, options: Mapping[str, Any], owner: Owner | None = None, *,
              retry: Retry | None = None,
              tokens: TokenProvider | None = None) -> MicrosoftAccount:
    """Calendar and mail on one Graph session. Cheap: the keyring is read and msal talks
    to the sign-in service on the first request.

    :raises ValueError: the cloud, tenant or authority cannot be used.
    """
    http = _http(account, options, retry, tokens)
    return MicrosoftAccount(
        name=account,
        calendar=GraphCalendar(http, owner.addresses if owner else frozenset()),
        mailbox=OutlookMailbox(http),
        provider="microsoft",
        http=http,
    )


def open_calendar(account: str, options: Mapping[str, Any], owner: Owner | None = None
                  ) -> tuple[GraphCalendar, Callable[[], None]]:
    http = _http(account, options, None, None)
    return GraphCalendar(http, owner.addresses if owner else frozenset()), http.close


def open_mailbox(account: str, options: Mapping[str, Any], owner: Owner | None = None
                 ) -> tuple[OutlookMailbox, Callable[[], None]]:
    http = _http(account, options, None, None)
    mailbox = OutlookMailbox(http)

    def close() -> None:
        mailbox.close()
        http.close()

    return mailbox, close


def open_account(account: Any, config: Any, *, retry: Retry | None = None,
                 tokens: TokenProvider | None = None) -> MicrosoftAccount:
    """:func:`open_pair` of an entry with ``name`` and ``options`` and a config with
    ``me.addresses`` (tests, benches)."""
    from .. import Owner

    me = config.me
    return open_pair(account.name, account.options,
                     Owner(me.email, frozenset(me.addresses), me.timezone),
                     retry=retry, tokens=tokens)
