"""What changed in a directory since it was last listed, without listing it again.

A Maildir folder of 200,000 messages costs a listing of all its names whenever one message
is marked read (new/ -> cur/ renames change the directory's mtime). A long-running reader
can instead ask the kernel (inotify, Linux) for the names created, moved in, deleted or
moved out since it armed a watch. Anything uncertain, a full event queue, a watched
directory itself moved or removed, another platform, answers None: list again.

Arm the watch *before* the listing whose result the changes are applied to: an event
between the two is then reported as well as listed, never lost (Maildir names are unique,
so a name seen twice is harmless).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Changes:
    added: set[str] = field(default_factory=set)  # created or moved in (minus removed since)
    removed: set[str] = field(default_factory=set)  # deleted or moved out


class DirWatch:
    """Watches a few directories for names appearing and disappearing (Linux only)."""

    def __init__(self) -> None:
        self._inotify: Any = None
        self._flags: Any = None
        # watch descriptor -> directories: two paths to one directory (a symlinked
        # folder) share the kernel's watch, and both see its events.
        self._paths: dict[int, set[str]] = {}
        self._wds: dict[str, int] = {}
        self._pending: dict[str, Changes] = {}
        self._lost: set[str] = set()  # armed, but some event may be missing: list again
        self._usable = sys.platform.startswith("linux")

    def _open(self) -> bool:
        if self._inotify is None and self._usable:
            try:
                from inotify_simple import INotify, flags
            except ImportError:
                self._usable = False
                return False
            try:
                self._inotify = INotify()
            except OSError as exc:  # too many instances: fall back to listing
                logger.info("no inotify (%s): changed folders are listed again", exc)
                self._usable = False
                return False
            self._flags = flags
        return self._inotify is not None

    def arm(self, path: str, fd: int | None = None) -> bool:
        """Start (or restart) collecting changes of ``path``; forget what was collected.

        With ``fd`` (the directory opened before it is listed through that descriptor),
        the directory watched is exactly the one listed, even if a folder was moved
        away and another put in its place meanwhile."""
        if not self._open():
            return False
        f = self._flags
        mask = (f.CREATE | f.MOVED_TO | f.DELETE | f.MOVED_FROM | f.DELETE_SELF
                | f.MOVE_SELF | f.ONLYDIR)
        try:
            wd = self._inotify.add_watch(path if fd is None else f"/proc/self/fd/{fd}", mask)
        except OSError:  # gone, the user's watch limit reached, no /proc
            self.forget(path)
            return False
        if self._wds.get(path, wd) != wd:
            self.forget(path)  # another directory at that path now: drop the old watch
        self._paths.setdefault(wd, set()).add(path)
        self._wds[path] = wd
        self._pending[path] = Changes()
        self._lost.discard(path)
        return True

    def changes(self, path: str) -> Changes | None:
        """What happened in ``path`` since it was armed or last asked; None: not known
        (never armed, events lost), list it and arm again."""
        if path not in self._wds:
            return None
        self._drain()
        if path in self._lost:
            return None
        found = self._pending[path]
        self._pending[path] = Changes()
        return found

    def forget(self, path: str) -> None:
        """Stop watching ``path`` (the kernel's watch too, unless another path shares it)."""
        wd = self._wds.pop(path, None)
        self._pending.pop(path, None)
        self._lost.discard(path)
        if wd is None:
            return
        sharing = self._paths.get(wd, set())
        sharing.discard(path)
        if not sharing:
            self._paths.pop(wd, None)
            if self._inotify is not None:
                with contextlib.suppress(OSError):  # the kernel removed it (directory gone)
                    self._inotify.rm_watch(wd)

    def close(self) -> None:
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None
        self._paths.clear()
        self._wds.clear()
        self._pending.clear()
        self._lost.clear()

    def _drain(self) -> None:
        f = self._flags
        for event in self._inotify.read(timeout=0):
            if event.mask & f.Q_OVERFLOW:
                self._lost.update(self._wds)
                continue
            for path in self._paths.get(event.wd, ()):
                if event.mask & (f.DELETE_SELF | f.MOVE_SELF | f.IGNORED):
                    self._lost.add(path)
                    continue
                pending = self._pending[path]
                if event.mask & (f.CREATE | f.MOVED_TO):
                    pending.added.add(event.name)
                    pending.removed.discard(event.name)
                elif event.mask & (f.DELETE | f.MOVED_FROM):
                    pending.added.discard(event.name)  # came and went between two reads
                    pending.removed.add(event.name)
