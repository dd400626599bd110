"""Errors every provider raises instead of its SDK's own.

    ProviderError                base
    ├── AuthExpired              token revoked/expired: the account pauses until `followup auth`
    ├── RateLimited              the service asked us to slow down (retry_after seconds, if known)
    ├── ProviderUnavailable      the service or file cannot be reached now; retried next cycle
    ├── BadData                  one item (event, message) cannot be understood; others go on
    └── NoKeyring                no usable system keyring to keep a token in (never a plain file)
"""

from __future__ import annotations


class ProviderError(Exception):
    def __init__(self, account: str, message: str) -> None:
        self.account = account
        super().__init__(f"account {account!r}: {message}")


class AuthExpired(ProviderError):
    def __init__(self, account: str, how_to_fix: str | None = None) -> None:
        self.how_to_fix = how_to_fix or f"run: followup auth {account}"
        super().__init__(account, f"access expired or revoked; {self.how_to_fix}")


class RateLimited(ProviderError):
    def __init__(self, account: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        hint = f" (retry after {retry_after:.0f}s)" if retry_after is not None else ""
        super().__init__(account, f"rate limited{hint}")


class ProviderUnavailable(ProviderError):
    pass


class BadData(ProviderError):
    def __init__(self, account: str, item: str, problem: str) -> None:
        self.item = item
        self.problem = problem
        super().__init__(account, f"{item}: {problem}")


class NoKeyring(ProviderError):
    """No usable keyring backend: tokens are never written to a plain file instead."""

    def __init__(self, account: str, detail: str) -> None:
        self.detail = detail
        super().__init__(
            account,
            f"no usable system keyring ({detail}). Tokens are kept only in a keyring you "
            "chose, never silently in a plain file. Get one: on a desktop, run a Secret "
            "Service such as gnome-keyring or KeePassXC (with its Secret Service integration "
            "on) and unlock it; on a headless server, `pip install keyrings.alt` in the same "
            "environment for a file-based keyring in your home directory, or run "
            "gnome-keyring-daemon in your session (with `loginctl enable-linger` the service "
            "often starts before you log in, while that keyring is still locked). "
            "`followup doctor` shows the keyring in use.",
        )
