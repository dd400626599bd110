"""Measure a cycle of the real engine on a large calendar and Maildir.

    python bench/run_bench.py [DATA_DIR] [--runs 3] [--idle 20] [--profile OUT_DIR]
    python bench/run_bench.py --curves [BASE_DIR] [--runs 1]

``--curves`` measures the same figures on three data sets (1k events / 2k messages,
10k / 20k, 100k / 200k; made in BASE_DIR on first use, about 1 GB in all), each
against floors measured in the same run (the process start of ``followup --help``;
icalendar parsing the same calendar; the standard library reading the headers the
first cycle reads), then the idle cycle against the interviews in the state's history
(bench/history.py).

DATA_DIR (default: interview-followup-bench in the temp dir) is made with
bench/generate.py when it holds no data set yet. Every measurement goes
through :meth:`daemon.engine.Engine.open` on the data set's config, with the
clock fixed at the moment the data was made relative to, in a child process
per run (fresh state, so the first cycle is a first cycle; the run's drafts
are removed again afterwards). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = Path(tempfile.gettempdir()) / "interview-followup-bench"

# Targets: (label, key in the results, limit, unit)
TARGETS = [
    ("Idle cycle (nothing changed), median", "idle_ms", 50.0, "ms"),
    ("First cycle (fresh state): Engine.open + cycle", "first_ms", 3000.0, "ms"),
    ("Peak RSS of a process doing first + idle cycles", "rss_mb", 100.0, "MB"),
    ("`followup --help` wall time, median", "help_ms", 300.0, "ms"),
]
NEW_MAIL = "benchnew"  # in the names of the messages a run delivers


def _reset(data: Path, meta: dict[str, Any]) -> None:
    """Back to the generated data set: no state, no drafts or mail of a run, the calendar."""
    shutil.rmtree(data / "state", ignore_errors=True)
    for leaf in ("new", "cur"):
        for path in (data / "Maildir" / leaf).iterdir():
            if NEW_MAIL in path.name:
                path.unlink()
    if b"\r\nX-BENCH-EDIT:" in (data / "calendar.ics").read_bytes():
        _set_edit(data, None)
        moment = datetime.fromisoformat(meta["now"]).timestamp()
        os.utime(data / "calendar.ics", (moment, moment))
    keep = set(meta["user_drafts"])
    for leaf in ("cur", "new", "tmp"):
        for path in (data / "Maildir" / ".Drafts" / leaf).iterdir():
            if path.name not in keep:
                path.unlink()
    _settle()


def _settle() -> None:
    """Wait until what was just written counts as settled for the local provider.

    It trusts a file or folder only once its mtime is this old (a coarse
    clock could hide a second write); sooner, the next cycle reads it again.
    """
    from interview_followup.providers.local.maildir import SETTLE_NS

    time.sleep(SETTLE_NS / 1e9 + 0.1)


def _set_edit(data: Path, n: int | None) -> None:
    """Set (or with None remove) an X-BENCH-EDIT property at the top of the calendar."""
    path = data / "calendar.ics"
    head, sep, rest = path.read_bytes().partition(b"\r\nBEGIN:VTIMEZONE")
    lines = [x for x in head.split(b"\r\n") if not x.startswith(b"X-BENCH-EDIT:")]
    if n is not None:
        lines.append(f"X-BENCH-EDIT:{n}".encode())
    path.write_bytes(b"\r\n".join(lines) + sep + rest)


def child(data: Path, idle: int, profile: Path | None) -> dict[str, Any]:
    """One process's measurements (run as ``run_bench.py --child``); prints them as JSON."""
    import resource

    started = time.perf_counter()
    from interview_followup.daemon.config import load_config
    from interview_followup.daemon.engine import Engine
    from interview_followup.daemon.logs import setup_logging

    imported = time.perf_counter()
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    now = datetime.fromisoformat(meta["now"])
    config = load_config(data / "config.toml")
    setup_logging(config.daemon.log_level)  # as the daemon does; stderr goes to a file

    profiler = cProfile.Profile() if profile is not None else None
    if profiler is not None:
        profiler.enable()
    t0 = time.perf_counter()
    engine = Engine.open(config, clock=lambda: now)
    t1 = time.perf_counter()
    report = engine.cycle()
    t2 = time.perf_counter()
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile / "first_cycle.prof")
        profiler = cProfile.Profile()
        profiler.enable()
    idle_times = []
    idle_created = 0
    for _ in range(idle):
        t = time.perf_counter()
        idle_report = engine.cycle()
        idle_times.append(time.perf_counter() - t)
        idle_created += len(idle_report.created)
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile / "idle_cycle.prof")
    # The target's figure: the changes below are made by this process too, and rewriting
    # the calendar (_set_edit) holds three copies of it for a moment. Linux: kilobytes.
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    new_mail = _after_changes(engine, data, _new_message)
    read_mail = _after_changes(engine, data, _mark_read)
    calendar_changed = _after_changes(engine, data, _edit_calendar)
    engine.close()
    return {
        "import_ms": (imported - started) * 1000,
        "open_ms": (t1 - t0) * 1000,
        "cycle_ms": (t2 - t1) * 1000,
        "first_ms": (t2 - t0) * 1000,
        "idle_ms_all": [x * 1000 for x in idle_times],
        "created": len(report.created),
        "errors": report.errors,
        "idle_created": idle_created,
        "new_mail_ms": statistics.median(new_mail),
        "read_mail_ms": statistics.median(read_mail),
        "calendar_changed_ms": statistics.median(calendar_changed),
        "rss_mb": rss_mb,
        "rss_after_changes_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


CHANGES = 5  # cycles measured after each kind of change


def _new_message(data: Path, n: int) -> None:
    """One new unread message in the INBOX, as a mail fetcher delivers it."""
    path = data / "Maildir" / "new" / f"{int(time.time())}.{NEW_MAIL}{n}.bench"
    path.write_bytes(b"From: Sam Ortiz <sam.ortiz@example.org>\r\n"
                     b"To: Alex Rivera <alex.rivera@example.org>\r\n"
                     b"Subject: Lunch?\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
                     b"Message-ID: <" + NEW_MAIL.encode() + str(n).encode() +
                     b"@example.org>\r\n\r\nNoon?\r\n")


def _mark_read(data: Path, n: int) -> None:
    """The mail client shows message ``n`` of _new_message: it moves to cur/ (a large folder)."""
    source = next((data / "Maildir" / "new").glob(f"*.{NEW_MAIL}{n}.bench"))
    source.rename(data / "Maildir" / "cur" / f"{source.name}:2,S")


def _edit_calendar(data: Path, n: int) -> None:
    """Rewrite the calendar with one property changed, as a sync tool does."""
    _set_edit(data, n)


def _after_changes(engine: Any, data: Path, change: Any) -> list[float]:
    times = []
    for n in range(CHANGES):
        change(data, n)
        t = time.perf_counter()
        engine.cycle()
        times.append((time.perf_counter() - t) * 1000)
    return times


def _run_child(data: Path, idle: int, profile: Path | None, log: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), str(data), "--child",
               "--idle", str(idle)]
    if profile is not None:
        command += ["--profile", str(profile)]
    with log.open("ab") as err:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, check=False)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child failed (exit {result.returncode}); see {log}")
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def _followup() -> list[str]:
    script = Path(sys.executable).with_name("followup")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from interview_followup.daemon.cli import main; main()"]


def _wall(command: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, env=env)
        times.append((time.perf_counter() - t) * 1000)
    return times


def machine() -> dict[str, str]:
    info = {"python": platform.python_version(), "date": datetime.now().strftime("%Y-%m-%d"),
            "cores": str(os.cpu_count()), "cpu": platform.processor() or platform.machine(),
            # Other work on the machine inflates every figure: the load says how much.
            "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["cpu"] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            kb = int(f.readline().split()[1])
        info["ram"] = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        info["ram"] = "?"
    return info


def bench(data: Path, runs: int, idle: int, profile: Path | None) -> dict[str, Any]:
    machine_info = machine()
    if not (data / "meta.json").is_file():
        sys.path.insert(0, str(HERE))
        from generate import generate

        print(f"generating the data set in {data} ...", file=sys.stderr)
        generate(data)
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    log = data / "bench.log"
    log.unlink(missing_ok=True)
    children = []
    for n in range(runs):
        _reset(data, meta)
        children.append(_run_child(data, idle, profile if n == 0 else None, log))
    # The same as the CLI does it: whole processes, on the system clock.
    _reset(data, meta)
    env = {**os.environ, "FOLLOWUP_CONFIG": str(data / "config.toml")}
    once_first = _wall([*_followup(), "run", "--once"], 1, env)
    _settle()
    once = _wall([*_followup(), "run", "--once"], max(3, runs), env)
    _reset(data, meta)
    helps = _wall([*_followup(), "--help"], 10)
    idle_all = [x for c in children for x in c["idle_ms_all"]]
    return {
        "meta": {k: v for k, v in meta.items() if k != "user_drafts"},
        "machine": machine_info,
        "children": children,
        "first_ms": statistics.median(c["first_ms"] for c in children),
        "open_ms": statistics.median(c["open_ms"] for c in children),
        "cycle_ms": statistics.median(c["cycle_ms"] for c in children),
        "import_ms": statistics.median(c["import_ms"] for c in children),
        "idle_ms": statistics.median(idle_all),
        "idle_ms_max": max(idle_all),
        "new_mail_ms": statistics.median(c["new_mail_ms"] for c in children),
        "read_mail_ms": statistics.median(c["read_mail_ms"] for c in children),
        "calendar_changed_ms": statistics.median(c["calendar_changed_ms"] for c in children),
        "rss_mb": max(c["rss_mb"] for c in children),
        "help_ms": statistics.median(helps),
        "once_ms": statistics.median(once),
        "once_first_ms": once_first[0],
        "created": children[0]["created"],
        "idle_created": sum(c["idle_created"] for c in children),
        "errors": sorted({e for c in children for e in c["errors"]}),
    }


def table(results: dict[str, Any]) -> str:
    rows = ["| Measure | Result | Target | |", "| --- | ---: | ---: | --- |"]
    for label, key, limit, unit in TARGETS:
        value = results[key]
        ok = "ok" if value < limit else "**MISSED**"
        rows.append(f"| {label} | {value:.1f} {unit} | < {limit:g} {unit} | {ok} |")
    rows.append(f"| (first cycle: Engine.open) | {results['open_ms']:.1f} ms | | |")
    rows.append(f"| (first cycle: cycle) | {results['cycle_ms']:.1f} ms | | |")
    rows.append(f"| (importing the engine, before the first cycle) | "
                f"{results['import_ms']:.1f} ms | | |")
    rows.append(f"| (idle cycle, slowest of all runs) | {results['idle_ms_max']:.1f} ms | | |")
    rows.append(f"| (cycle after one new INBOX message, median) | "
                f"{results['new_mail_ms']:.1f} ms | | |")
    rows.append(f"| (cycle after a message moved from new/ to cur/, median) | "
                f"{results['read_mail_ms']:.1f} ms | | |")
    rows.append(f"| (cycle after the calendar file was rewritten, median) | "
                f"{results['calendar_changed_ms']:.1f} ms | | |")
    rows.append(f"| (`followup run --once`, whole process, fresh state) | "
                f"{results['once_first_ms']:.1f} ms | | |")
    rows.append(f"| (`followup run --once`, whole process, idle, median) | "
                f"{results['once_ms']:.1f} ms | | |")
    return "\n".join(rows)


SIZES = ((1_000, 2_000), (10_000, 20_000), (100_000, 200_000))  # events, messages


def _floor_child(data: Path) -> dict[str, float]:
    """The libraries alone on the data the first cycle reads (run as a child)."""
    import email.parser
    import resource

    import icalendar

    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    now = datetime.fromisoformat(meta["now"]).timestamp()
    t = time.process_time()
    icalendar.Calendar.from_ical((data / "calendar.ics").read_bytes())
    ical_ms = (time.process_time() - t) * 1000
    oldest = now - 16 * 86400  # the engine's lookback with the default timing
    parser = email.parser.BytesHeaderParser()
    t = time.process_time()
    read = 0
    for folder in (data / "Maildir", data / "Maildir" / ".Sent"):
        for leaf in ("cur", "new"):
            with os.scandir(folder / leaf) as entries:
                for entry in entries:
                    if entry.stat().st_mtime >= oldest:
                        with open(entry.path, "rb") as f:
                            parser.parse(f)
                        read += 1
    headers_ms = (time.process_time() - t) * 1000
    return {"ical_ms": ical_ms, "headers_ms": headers_ms, "headers_read": read,
            "floor_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def curves(base: Path, runs: int, idle: int) -> list[dict[str, Any]]:
    sys.path.insert(0, str(HERE))
    from generate import generate

    results = []
    for events, messages in SIZES:
        data = base / f"{events // 1000}k-events"
        if not (data / "meta.json").is_file():
            print(f"generating {events} events, {messages} messages in {data} ...",
                  file=sys.stderr)
            generate(data, events=events, messages=messages)
        measured = bench(data, runs, idle, None)
        floor = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(data),
                                "--floor"], stdout=subprocess.PIPE, check=True)
        measured["floor"] = json.loads(floor.stdout)
        measured["size"] = (events, messages)
        results.append(measured)
    return results


def curves_table(results: list[dict[str, Any]]) -> str:
    rows = ["| Events / messages | First cycle ms | Library floor ms | First / floor | "
            "Idle ms | New message ms | Marked read ms | Event edited ms | Peak RSS MB | "
            "`--help` ms |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
            "---: |"]
    for r in results:
        f = r["floor"]
        floor = f["ical_ms"] + f["headers_ms"]
        events, messages = r["size"]
        rows.append(
            f"| {events:,} / {messages:,} | {r['first_ms']:.0f} | {floor:.0f} | "
            f"{r['first_ms'] / floor:.1f}x | {r['idle_ms']:.1f} | {r['new_mail_ms']:.1f} | "
            f"{r['read_mail_ms']:.1f} | {r['calendar_changed_ms']:.0f} | {r['rss_mb']:.0f} | "
            f"{r['help_ms']:.0f} |")
    first = results[0]
    rows.append("")
    rows.append("Ratios to the smallest data set (the issue's targets: marked read and event "
                "edited within 2x):")
    rows.append("")
    rows.append("| Events / messages | Idle | New message | Marked read | Event edited |")
    rows.append("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        events, messages = r["size"]
        rows.append(
            f"| {events:,} / {messages:,} | {r['idle_ms'] / first['idle_ms']:.1f}x | "
            f"{r['new_mail_ms'] / first['new_mail_ms']:.1f}x | "
            f"{r['read_mail_ms'] / first['read_mail_ms']:.1f}x | "
            f"{r['calendar_changed_ms'] / first['calendar_changed_ms']:.1f}x |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=DEFAULT_DIR)
    parser.add_argument("--runs", type=int, default=3, help="first cycles measured (fresh state)")
    parser.add_argument("--idle", type=int, default=20, help="idle cycles per run")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the first run here")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON here")
    parser.add_argument("--curves", action="store_true",
                        help="the curves over three data set sizes and the history")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = args.data.resolve()
    if args.floor:
        print(json.dumps(_floor_child(data)))
        return 0
    if args.curves:
        base = data if args.data != DEFAULT_DIR else DEFAULT_DIR.with_name(
            "interview-followup-curves")
        results = curves(base, args.runs, args.idle)
        m = results[0]["machine"]
        print(f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, Python "
              f"{m['python']}, {m['date']}, load average before the run {m['load']}\n")
        print(curves_table(results))
        from history import curve
        from history import table as history_table

        print("\nIdle cycle against the interviews in the state (10k events / 20k messages):\n")
        print(history_table(curve(base / "10k-events", (0, 1000, 5000), args.idle)))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
        return 0
    profile = args.profile.resolve() if args.profile else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(child(data, args.idle, profile)))
        return 0
    results = bench(data, args.runs, args.idle, profile)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    m, d = results["machine"], results["meta"]
    print(f"Data: {d['events']} events ({d['interviews']} interviews, {d['recurring']} "
          f"recurring), {sum(d['messages'][k] for k in ('inbox', 'sent', 'drafts'))} messages")
    print(f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, Python {m['python']}, "
          f"{m['date']}, load average before the run {m['load']}")
    print(f"First cycle wrote {results['created']} drafts; idle cycles wrote "
          f"{results['idle_created']}; errors: {results['errors'] or 'none'}\n")
    print(table(results))
    if profile is not None:
        print(f"\ncProfile stats: {profile}/first_cycle.prof, {profile}/idle_cycle.prof "
              "(python -m pstats FILE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
