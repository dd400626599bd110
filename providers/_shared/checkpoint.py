"""Checkpoints: the JSON text a backend hands the engine after a read and gets back before
the next one (the engine stores it with the account; the backend alone reads it).

Every backend's checkpoint is an object with a version ``v`` and often a ``kind``; one that
another version wrote, or that cannot be read, means reading anew: logged once, never an
error (a checkpoint is a cache of where the last read ended, not data the user made).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

VERSION = 1

# What a check of the loaded values raises for a checkpoint it cannot use.
_UNUSABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def dump(kind: str | None = None, /, **values: Any) -> str:
    """The checkpoint of ``values``, with the version (and ``kind``): compact and in a
    stable key order, so that an unchanged state gives the same text (an idle cycle then
    writes nothing)."""
    head: dict[str, Any] = {"v": VERSION} if kind is None else {"v": VERSION, "kind": kind}
    return json.dumps({**head, **values}, sort_keys=True, separators=(",", ":"))


def load(checkpoint: str | None, what: str, *, kind: str | None = None,
         check: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any] | None:
    """The values of a checkpoint that :func:`dump` wrote for ``kind``; None when there is
    none, or when it is of another version or kind, not JSON, or ``check`` raised on it
    (then a warning names ``what``: "Gmail", "account work: CalDAV")."""
    if not checkpoint:
        return None
    try:
        state = json.loads(checkpoint)
        if not isinstance(state, dict) or state.get("v") != VERSION or (
                kind is not None and state.get("kind") != kind):
            raise ValueError("another version")
        if check is not None:
            check(state)
        return state
    except _UNUSABLE as exc:
        logger.warning("ignoring an unusable %s checkpoint (%s); reading anew", what, exc)
        return None
