"""Patience with remote services: backoff, Retry-After, and the statuses callers handle.

Shared by the Google and Microsoft HTTP layers, which differ only in how their SDKs
report a failure.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from ..errors import ProviderUnavailable, RateLimited

logger = logging.getLogger(__name__)


@dataclass
class Retry:
    """How often and how patiently a failed request is tried again."""

    tries: int = 5
    base: float = 1.0  # the first backoff delay; doubled each time
    cap: float = 30.0  # no single backoff is longer
    max_wait: float = 60.0  # a longer Retry-After ends the attempt: next cycle instead
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    @classmethod
    def from_env(cls, variable: str) -> Retry:
        """The default, with ``base`` from ``variable`` when set (a testing knob)."""
        raw = os.environ.get(variable, "")
        try:
            return cls(base=max(0.0, float(raw))) if raw else cls()
        except ValueError:
            logger.warning("ignoring %s=%r: not a number", variable, raw)
            return cls()

    def wait_after(self, failure: Failure, attempts: int, account: str, what: str) -> float:
        """Seconds to wait before trying again after ``attempts`` failed tries.

        :raises RateLimited: the service wants longer than ``max_wait``, or the tries ran out
            on a rate limit.
        :raises ProviderUnavailable: the tries ran out on an outage.
        """
        wait = (failure.retry_after if failure.retry_after is not None
                else self.backoff(attempts - 1))
        if wait > self.max_wait:
            if failure.rate:
                raise RateLimited(account, wait)
            wait = self.max_wait  # an outage's Retry-After never stalls the cycle
        if attempts >= self.tries:
            if failure.rate:
                raise RateLimited(account, failure.retry_after)
            raise ProviderUnavailable(account, f"{what}: {failure.why} ({attempts} attempts)")
        logger.info("account %s: %s: %s; trying again in %.1fs (%d of %d)", account, what,
                    failure.why, wait, attempts + 1, self.tries)
        return wait

    def backoff(self, attempt: int) -> float:
        """Exponential with "equal jitter": half the delay fixed, half random."""
        delay = min(self.cap, self.base * 2**attempt)
        return delay / 2 + self.rng() * delay / 2


class ExpectedStatus(Exception):
    """An HTTP status the caller handles itself (404 on history, 410 on a sync token)."""

    def __init__(self, status: int, code: str = "") -> None:
        self.status = status
        self.code = code
        super().__init__(f"HTTP {status} {code}".strip())


@dataclass(frozen=True)
class Failure:
    why: str
    rate: bool  # a rate limit (ends as RateLimited) rather than an outage
    retry_after: float | None = None


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:  # the HTTP-date form
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None
