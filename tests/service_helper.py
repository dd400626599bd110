"""Runs the real daemon with a stand-in engine; tests/test_service.py starts it as a subprocess.

    python tests/service_helper.py CONFIG [--dry-run]

Environment:
    FAKE_ENGINE_LOG   a file; every open/cycle/close appends one JSON line
    FAKE_ENGINE_PLAN  comma-separated behaviour of cycles 1, 2, ... (later ones: "ok"):
                      ok | raise | slow (takes 1 s) | due:SECONDS (next_due that far ahead)
    FAKE_POLL_SCALE   the config's poll_interval is divided by this (default 100), so the
                      real minimum of 10s becomes 0.1 s; SIGHUP reloads through the same scaling
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interview_followup.daemon.config import Config, load_config
from interview_followup.daemon.service import run_daemon

_cycles = 0  # across engines: a reload opens a new one


def record(event: str, **data: object) -> None:
    data.update(event=event, at=time.time(), thread=threading.get_ident())
    with open(os.environ["FAKE_ENGINE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(data) + "\n")


@dataclass
class Report:
    created: list[object] = field(default_factory=list)
    next_due: datetime | None = None
    errors: list[str] = field(default_factory=list)


class FakeEngine:
    def __init__(self, config: Config, dry_run: bool) -> None:
        self.config = config
        record("open", poll=config.daemon.poll_interval.total_seconds(), dry_run=dry_run,
               name=config.me.name)

    def cycle(self) -> Report:
        global _cycles
        _cycles += 1
        plan = [p for p in os.environ.get("FAKE_ENGINE_PLAN", "").split(",") if p]
        step = plan[_cycles - 1] if _cycles <= len(plan) else "ok"
        record("start", n=_cycles)
        if step == "raise":
            raise RuntimeError(f"stand-in failure in cycle {_cycles}")
        if step == "slow":
            time.sleep(1)
        due = None
        if step.startswith("due:"):
            due = datetime.now(UTC) + timedelta(seconds=float(step[4:]))
        record("end", n=_cycles, next_due=due.timestamp() if due else None)
        return Report(next_due=due)

    def close(self) -> None:
        record("close")


def scaled_loader(path: Path) -> Config:
    config = load_config(path)
    scale = float(os.environ.get("FAKE_POLL_SCALE", "100"))
    daemon = replace(config.daemon, poll_interval=config.daemon.poll_interval / scale)
    return replace(config, daemon=daemon)


def main(argv: list[str]) -> int:
    return run_daemon(Path(argv[1]), dry_run="--dry-run" in argv, engine_factory=FakeEngine,
                      config_loader=scaled_loader)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
