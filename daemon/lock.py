"""One writer per state: the process that runs the engine holds an exclusive lock.

The lock is ``state.lock`` beside ``state.db``, taken with :mod:`filelock`
(``flock`` on Unix, ``msvcrt`` on Windows; the kernel releases it when its
holder dies, so a crash never leaves the state locked). Beside it,
``state.owner`` says who holds it (pid, what, since) so that the process
that finds the lock taken can say plainly what is running.

Who takes it: ``run`` (the service, for as long as it runs), ``run --once``
and ``demo``. A process that finds the service holding it stops at once
(the service does the work itself); one that finds a one-shot step holding
it waits up to :data:`ONE_SHOT_WAIT` for it to finish. ``note``, ``skip``,
``done``, ``status``, ``preview`` and ``doctor`` take no lock: they read, or
change single columns of one interview in a short SQLite transaction, which
the service's own writes never overwrite (see ``Store.save_interview``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import StateBusy

log = logging.getLogger(__name__)

ONE_SHOT_WAIT = 60.0  # seconds a command waits for another `run --once` or `demo` to end
SERVICE = "service"
LIVE_CLAIM_FOR = timedelta(minutes=15)  # a claim older than this is a leftover, whoever made it


def owner_id() -> str:
    """This process, as written into the claims it makes: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_is_live(owner: str, claimed_at: datetime, now: datetime) -> bool:
    """Whether a claim another process made may still be in progress, not left by a crash.

    Only the lock holder claims, so this is the second line of defence (a state
    on a file system where locks do not hold): the claimer is alive on this host,
    or on another host it claimed within :data:`LIVE_CLAIM_FOR`. The age bound
    keeps a reused pid from holding a draft back for longer than that.
    """
    host, _, pid = owner.rpartition(":")
    if not pid.isdigit() or now - claimed_at > LIVE_CLAIM_FOR:
        return False
    if host != socket.gethostname():
        return True
    return _alive(int(pid))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # no cheap check (os.kill(pid, 0) would send CTRL_C_EVENT); the age decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is someone else's
    return True


def read_owner(state_dir: Path) -> dict[str, Any]:
    """Who holds (or last held) the lock; {} when nobody wrote it down."""
    try:
        data = json.loads((state_dir / "state.owner").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class StateLock:
    """Held from :meth:`acquire` to :meth:`release` (or the ``with`` block's end)."""

    def __init__(self, state_dir: Path, what: str,
                 on_wait: Callable[[str], None] | None = None) -> None:
        self.state_dir = state_dir
        self.what = what  # "service", "run --once", "demo": shown to whoever waits
        self.on_wait = on_wait or log.info  # told once when this process has to wait
        self._lock: Any = None

    def acquire(self, wait: float = ONE_SHOT_WAIT,
                cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Take the lock, waiting up to ``wait`` seconds for a one-shot holder; False when
        ``cancelled()`` turned true while waiting (a stop signal), True when taken.

        :raises StateBusy: the service holds it, or a one-shot step still does
            after ``wait`` seconds.
        """
        from filelock import FileLock, Timeout

        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            from .errors import StateError

            raise StateError(f"cannot create the state folder {self.state_dir}: {exc}") from None
        lock = FileLock(self.state_dir / "state.lock", mode=0o600)
        started = time.monotonic()
        announced = False
        while True:
            try:
                lock.acquire(timeout=0)
                break
            except Timeout:
                # The holder writes state.owner just after it took the lock: read it anew.
                holder = read_owner(self.state_dir)
                waited = time.monotonic() - started
                if holder.get("what") == SERVICE or waited >= wait:
                    raise StateBusy(self.state_dir, holder, waited=wait) from None
                if cancelled():
                    return False
                if not announced and (holder or waited > 1):
                    announced = True
                    self.on_wait(f"waiting for {_describe(holder)} to finish with the "
                                 f"state in {self.state_dir} (at most {wait:.0f} s)")
                time.sleep(0.1)
        self._lock = lock
        record = {"pid": os.getpid(), "host": socket.gethostname(), "what": self.what,
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = self.state_dir / f"state.owner.{os.getpid()}"
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, self.state_dir / "state.owner")
        return True

    def release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _describe(holder: dict[str, Any]) -> str:
    pid, what = holder.get("pid"), holder.get("what")
    if not what:
        return "another followup process"
    if what == SERVICE:
        return f"the service (pid {pid})" if pid else "the service"
    return f"`followup {what}` (pid {pid})" if pid else f"`followup {what}`"
