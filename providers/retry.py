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
