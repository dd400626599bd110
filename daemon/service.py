"""The long-running daemon: an APScheduler loop around the engine.

Jobs, on one :class:`BlockingScheduler` (UTC):

    poll       every ``[daemon] poll_interval``; the first run at start-up
    due        one date job at the last cycle's ``next_due``, so a draft
               appears within seconds of being due rather than at the next poll
    reload     queued by SIGHUP
    heartbeat  WATCHDOG=1 to systemd, and a bound on how long the loop sleeps

poll, due and reload share a one-thread executor: two of them never touch the
engine at once. The engine itself lives on one thread of its own from open to
close (SQLite connections, like some SDK clients, refuse to be used from a
thread other than the one that created them). The heartbeat has its own
thread, so a slow cycle does not starve the watchdog; a cycle stuck for
:data:`STUCK_AFTER` stops the pings on purpose, and systemd restarts the service.

Catch-up after suspend: every job coalesces and has no misfire grace limit,
so a due time slept through runs once on wake-up. The scheduler sleeps on a
monotonic clock, which stands still while the machine is suspended; the
heartbeat (at most every :data:`WAKE_INTERVAL`) wakes the loop so it rereads
the wall clock and notices what fell due meanwhile.

Signals are never acted on inside a signal handler (APScheduler's locks are
not safe there): :func:`signal.set_wakeup_fd` writes each signal's number to a
pipe, and a watcher thread reads it. SIGTERM/SIGINT stop the scheduler
without waiting; the main thread then waits for the step in progress, closes
the engine and returns 0. SIGHUP queues a reload among the steps, never beside one.

Windows has no SIGHUP (a config change there needs a restart of the task) and
takes only a socket as the wake-up descriptor, so the watcher reads a socket
pair there instead of a pipe.

Each cycle that wrote drafts is announced (daemon/notify.py) after it was
recorded; a dry run announces nothing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .config import Config, human_duration, load_config
from .errors import ConfigError, FollowupError
from .lock import SERVICE, StateLock
from .logs import setup_logging
from .notify import Notifier
from .sdnotify import notify, watchdog_interval

logger = logging.getLogger(__name__)

WAKE_INTERVAL = 30.0  # seconds; the longest the loop sleeps, so wake-up from suspend is noticed
STUCK_AFTER = 15 * 60.0  # seconds a cycle may run before the watchdog pings stop
MIN_DUE_DELAY = timedelta(seconds=1)  # a next_due already past runs this soon, not in a hot loop

_HEARTBEAT_EXECUTOR = "heartbeat"
_T = TypeVar("_T")
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# True on Windows: set_wakeup_fd takes a socket there, not a pipe (a test sets it elsewhere).
_WAKEUP_SOCKETS = sys.platform == "win32"


def _reload_signal() -> int | None:
    """SIGHUP where the platform has it (not on Windows)."""
    number = getattr(signal, "SIGHUP", None)
    return int(number) if number is not None else None


class ReportLike(Protocol):
    """What the daemon reads from :class:`daemon.engine.CycleReport`."""

    @property
    def created(self) -> Sequence[object]: ...
    @property
    def next_due(self) -> datetime | None: ...
    @property
    def errors(self) -> Sequence[str]: ...


class EngineLike(Protocol):
    def cycle(self) -> ReportLike: ...
    def close(self) -> None: ...


EngineFactory = Callable[[Config, bool], EngineLike]
ConfigLoader = Callable[[Path], Config]


def open_engine(config: Config, dry_run: bool) -> EngineLike:
    """The default engine factory: :meth:`daemon.engine.Engine.open`."""
    from .engine import Engine  # imported here: the providers it pulls in are heavy

    return Engine.open(config, dry_run=dry_run)


def run_daemon(
    config_path: Path,
    *,
    dry_run: bool = False,
    engine_factory: EngineFactory | None = None,
    config_loader: ConfigLoader | None = None,
) -> int:
    """Run until SIGTERM or SIGINT; return the exit status (0).

    ``config_loader`` (default :func:`load_config`) reads ``config_path`` at
    start and on every SIGHUP; tests pass one that shortens the intervals.

    :raises ConfigError: when the configuration is wrong at start-up.
    """
    loader = config_loader or load_config
    config = loader(config_path)
    setup_logging(config.daemon.log_level)
    daemon = _Daemon(config_path, config, dry_run=dry_run,
                     factory=engine_factory or open_engine, loader=loader)
    return daemon.run()


class _Daemon:
    def __init__(self, path: Path, config: Config, *, dry_run: bool,
                 factory: EngineFactory, loader: ConfigLoader) -> None:
        self.path = path
        self.config = config
        self.dry_run = dry_run
        self.factory = factory
        self.loader = loader
        self.engine: EngineLike | None = None  # only touched on engine_thread
        self.engine_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="engine")
        self.scheduler = BlockingScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(1),
                       _HEARTBEAT_EXECUTOR: ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self.busy = threading.Lock()  # held while a step uses the engine
        self.stopping = threading.Event()
        self.watchdog = watchdog_interval() if os.environ.get("NOTIFY_SOCKET") else None
        self.cycle_started: float | None = None  # time.monotonic() of the running cycle
        self.last_cycle_at: datetime | None = None
        self.ready_sent = False
        self.stopping_sent = False
        self.stuck_reported = False
        self.lock = StateLock(config.daemon.state_dir, SERVICE, logger.warning)
        self.notifier = Notifier(config.notify)

    # -- lifecycle -----------------------------------------------------------
    def run(self) -> int:
        # Signals first: a stop while waiting for the state or opening the engine is clean.
        watcher = _SignalWatcher(self.on_signal)
        watcher.install()
        try:
            # One writer per state, held for the service's whole life (see daemon/lock.py).
            # A dry run works on a copy of the state and writes nothing: no lock.
            if not self.dry_run and not self.lock.acquire(cancelled=self.stopping.is_set):
                logger.info("stopped before start-up ended")
                return 0
            try:
                return self._run()
            finally:
                self.lock.release()
        finally:
            watcher.uninstall()

    def _run(self) -> int:
        try:
            self.on_engine_thread(self.open_engine)  # failures here end the start-up
        except BaseException:
            self.engine_thread.shutdown()
            raise
        try:
            self.scheduler.add_job(self.poll_job, self._poll_trigger(), id="poll",
                                   next_run_time=datetime.now(UTC))
            beat = IntervalTrigger(seconds=self._heartbeat_every(), timezone=UTC)
            self.scheduler.add_job(self.heartbeat, beat, id="heartbeat",
                                   executor=_HEARTBEAT_EXECUTOR)
            logger.info("started%s: polling every %s; config %s",
                        " (dry run: nothing is written)" if self.dry_run else "",
                        human_duration(self.config.daemon.poll_interval), self.path)
            self.scheduler.start()  # returns once a stop signal shut the scheduler down
        finally:
            self.stopping.set()  # queued steps now return without touching the engine
            self.stop_scheduler()
            with self.busy:  # the step in progress finishes first
                self.notify_stopping()
                self.close_engine()
            self.engine_thread.shutdown()
        logger.info("stopped")
        return 0

    def on_signal(self, number: int) -> None:
        """Runs in the watcher thread, outside any signal handler."""
        name = signal.Signals(number).name
        if number in _STOP_SIGNALS:
            if self.stopping.is_set():
                logger.info("%s: already stopping, waiting for the current step", name)
                return
            logger.info("%s: finishing the current step, then exiting", name)
            self.stopping.set()
            self.notify_stopping()
            self.stop_scheduler()
        elif number == _reload_signal() and not self.stopping.is_set():
            logger.info("SIGHUP: reloading %s", self.path)
            self.scheduler.add_job(self.reload_job, id="reload", replace_existing=True)

    def stop_scheduler(self) -> None:
        # Not yet running (the first step stops it then) or already stopped: fine.
        with contextlib.suppress(SchedulerNotRunningError):
            # wait=False: waiting here could deadlock with a step that is adding a job.
            self.scheduler.shutdown(wait=False)

    def notify_stopping(self) -> None:
        if not self.stopping_sent:
            self.stopping_sent = True
            notify("STOPPING=1")

    # -- the engine, on its own thread ----------------------------------------
    def on_engine_thread(self, work: Callable[[], _T]) -> _T:
        return self.engine_thread.submit(work).result()

    def open_engine(self) -> EngineLike:
        if self.engine is None:
            self.engine = self.factory(self.config, self.dry_run)
        return self.engine

    def engine_cycle(self) -> ReportLike:
        return self.open_engine().cycle()

    def close_engine(self) -> None:
        def close() -> None:
            engine, self.engine = self.engine, None
            if engine is not None:
                engine.close()

        try:
            self.on_engine_thread(close)
        except Exception:
            logger.exception("closing the engine failed")

    # -- jobs ----------------------------------------------------------------
    def poll_job(self) -> None:
        self._step(self.cycle)

    def due_job(self, due: datetime) -> None:
        def maybe_cycle() -> None:
            if self.last_cycle_at is not None and self.last_cycle_at >= due:
                logger.debug("due at %s: a cycle since then covered it", due.isoformat())
                return
            self.cycle()

        self._step(maybe_cycle)

    def reload_job(self) -> None:
        self._step(self.reload)

    def _step(self, work: Callable[[], None]) -> None:
        """Run ``work`` alone; never raise into the scheduler."""
        with self.busy:
            if self.stopping.is_set():
                self.stop_scheduler()  # a stop that came before the scheduler was running
                return
            try:
                work()
            except Exception:
                logger.exception("daemon step failed; the scheduler goes on")

    def cycle(self) -> None:
        self.last_cycle_at = datetime.now(UTC)
        self.cycle_started = time.monotonic()
        report: ReportLike | None = None
        try:
            report = self.on_engine_thread(self.engine_cycle)
        except FollowupError as exc:  # says itself what is wrong (a full disk, say)
            logger.error("cycle failed: %s; trying again at the next poll", exc)
        except Exception:
            logger.exception("cycle failed; trying again at the next poll")
        finally:
            self.cycle_started = None
        if report is not None:
            self._after_cycle(report)
        else:
            notify("STATUS=last cycle failed; see the journal")
        if not self.ready_sent:
            self.ready_sent = True
            notify("READY=1")

    def _after_cycle(self, report: ReportLike) -> None:
        verb = "would write" if self.dry_run else "wrote"
        logger.debug("cycle done: %s %d draft(s), %d error(s), next due %s", verb,
                     len(report.created), len(report.errors),
                     report.next_due.isoformat() if report.next_due else "-")
        if report.next_due is None:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job("due")
        else:
            when = max(report.next_due, datetime.now(UTC) + MIN_DUE_DELAY)
            self.scheduler.add_job(self.due_job, DateTrigger(run_date=when), args=[when],
                                   id="due", replace_existing=True)
        at = datetime.now(self.config.me.timezone).strftime("%H:%M")
        notify(f"STATUS=last cycle {at}: {verb} {len(report.created)} draft(s), "
               f"{len(report.errors)} error(s)")
        if not self.dry_run:
            self.notifier.cycle(report.created,  # type: ignore[arg-type]
                                getattr(report, "notices", ()), self.company_of)

    def company_of(self, interview_id: str) -> str | None:
        """The company of a tracked interview, read on the engine's thread."""
        def read() -> str | None:
            store = getattr(self.engine, "store", None)  # stand-in engines have none
            found = store.interview(interview_id) if store is not None else None
            return getattr(found, "company", None) or None

        return self.on_engine_thread(read)

    def reload(self) -> None:
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        notify(f"RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
        try:
            try:
                config = self.loader(self.path)
            except ConfigError as exc:
                logger.error("reload failed; keeping the running configuration.\n%s", exc)
                return
            if config.daemon.state_dir != self.config.daemon.state_dir:
                # The lock is held on the old state; moving it needs a restart.
                logger.error("reload failed: [daemon] state_dir changed; restart the service "
                             "to use %s. Keeping the running configuration.",
                             config.daemon.state_dir)
                return
            setup_logging(config.daemon.log_level)
            self.close_engine()
            self.config = config  # the cycle below opens the engine with it
            self.notifier = Notifier(config.notify)
            self.scheduler.reschedule_job("poll", trigger=self._poll_trigger())
            logger.info("configuration reloaded: polling every %s",
                        human_duration(config.daemon.poll_interval))
            self.cycle()
        finally:
            notify("READY=1")

    def heartbeat(self) -> None:
        """Its own thread; its runs also keep the loop's sleeps short (see module doc)."""
        if self.watchdog is None:
            return
        started = self.cycle_started
        if started is not None and time.monotonic() - started > STUCK_AFTER:
            if not self.stuck_reported:
                self.stuck_reported = True
                logger.error("a cycle has run for over %d minutes; stopping watchdog pings "
                             "so systemd restarts the service", STUCK_AFTER // 60)
            return
        self.stuck_reported = False
        notify("WATCHDOG=1")

    def _poll_trigger(self) -> IntervalTrigger:
        return IntervalTrigger(seconds=self.config.daemon.poll_interval.total_seconds(),
                               timezone=UTC)

    def _heartbeat_every(self) -> float:
        return min(WAKE_INTERVAL, self.watchdog / 2) if self.watchdog else WAKE_INTERVAL


class _SignalWatcher:
    """Delivers SIGTERM, SIGINT and SIGHUP (where it exists) to ``handle`` in a thread."""

    def __init__(self, handle: Callable[[int], None]) -> None:
        self.handle = handle
        self.previous: dict[int, Any] = {}
        self.old_fd = -1
        self.read_fd = self.write_fd = -1
        self.sockets: tuple[socket.socket, socket.socket] | None = None
        self.thread: threading.Thread | None = None
        reload = _reload_signal()
        self.SIGNALS = (*_STOP_SIGNALS, *((reload,) if reload is not None else ()))

    def install(self) -> None:
        """Must run in the main thread (a rule of :mod:`signal`)."""
        if _WAKEUP_SOCKETS:
            self.sockets = socket.socketpair()
            self.sockets[1].setblocking(False)
            self.read_fd, self.write_fd = (s.fileno() for s in self.sockets)
        else:
            self.read_fd, self.write_fd = os.pipe()
            os.set_blocking(self.write_fd, False)  # set_wakeup_fd requires it
        self.old_fd = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for sig in self.SIGNALS:
            # A Python-level handler must exist for the number to reach the pipe;
            # the work happens in the watcher thread.
            self.previous[sig] = signal.signal(sig, _no_op)
        self.thread = threading.Thread(target=self._watch, name="signals", daemon=True)
        self.thread.start()

    def uninstall(self) -> None:
        signal.set_wakeup_fd(self.old_fd)
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.sockets is not None:
            self.sockets[1].shutdown(socket.SHUT_WR)  # the watcher reads end-of-file
            if self.thread is not None:
                self.thread.join(timeout=5)
            for sock in self.sockets:
                sock.close()
            return
        os.close(self.write_fd)  # the watcher reads end-of-file and returns
        if self.thread is not None:
            self.thread.join(timeout=5)
        os.close(self.read_fd)

    def _read(self) -> bytes:
        if self.sockets is not None:
            return self.sockets[0].recv(64)
        return os.read(self.read_fd, 64)

    def _watch(self) -> None:
        while True:
            try:
                data = self._read()
            except OSError:
                return
            if not data:
                return
            for number in data:
                if number not in self.SIGNALS:
                    continue  # another signal with a Python handler also writes here
                try:
                    self.handle(number)
                except Exception:
                    logger.exception("handling signal %d failed", number)


def _no_op(signum: int, frame: object) -> None:
    pass
