"""The idle cycle against the number of interviews in the state's history.

    python bench/history.py [DATA_DIR] [--sizes 0,1000,5000] [--idle 20]

For each size, in a child process on fresh state: ``Engine.open`` on the data set
(bench/generate.py), the first cycle, then ``size`` past interviews written straight
into the state (a user's earlier job searches: answered, ghosted after the status
check, answered after it, cancelled, skipped, missed and answered), then idle
cycles. Prints the median CPU and wall time of an idle cycle per size, and a
cycle after one new message (the answer matching over the waiting interviews).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run_bench import DEFAULT_DIR, NEW_MAIL, _reset, _settle  # noqa: E402

SIZES = (0, 1000, 5000)


def seed_history(store: Any, account: str, n: int, now: datetime, seed: int = 7) -> None:
    """``n`` interviews that ended 30 days to two years before ``now``, their drafts too."""
    from interview_followup.daemon.state import Interview

    rng = random.Random(seed)
    companies = [(f"Company{i}", f"company{i}.com") for i in range(max(1, n // 3))]
    with store.transaction() as conn:
        for i in range(n):
            company, domain = rng.choice(companies)
            end = now - timedelta(days=rng.uniform(30, 730))
            start = end - timedelta(hours=1)
            people = [{"email": f"p{i}.{k}@{domain}", "name": f"Person {i} {k}"}
                      for k in range(rng.randint(1, 3))]
            iid = f"h{i:07d}"
            iv = Interview(
                id=iid, account=account, event_uid=f"{iid}@history", title="Interview",
                start=start, end=end, company=company, company_domain=domain, role="Engineer",
                snapshot={"recipients": people, "recipients_from": "attendees",
                          "main_contact": people[0], "interviewer_names": [], "discussed": [],
                          "concerns": [], "strengths": [], "facts": {}, "interviewer_titles": {},
                          "person_notes": []},
                detected_at=start - timedelta(days=3))
            fate = i % 7
            if fate == 4:
                iv.closed, iv.closed_reason = "cancelled", "event deleted"
            elif fate == 5:
                iv.closed, iv.closed_reason = "skipped", "by hand"
            elif fate == 6:
                iv.missed = True
                iv.answered_at, iv.answered_by = end + timedelta(days=3), "from the company"
            store.save_interview(conn, iv)
            if fate in (4, 5, 6):
                continue
            for p in people:
                marker = f"{iid}/thank_you/{p['email']}"
                store.claim(conn, marker, iid, "thank_you", p["email"], "Thank you", end, "b:1")
                conn.execute(
                    "UPDATE drafts SET state='created', draft_id=?, message_id=?, thread_id=?, "
                    "created_at=?, sent_at=?, sent_message_id=?, sent_thread_id=? "
                    "WHERE marker=?",
                    (f"d{marker}", f"<{iid}.{p['email']}@draft>", "", end.isoformat(),
                     (end + timedelta(hours=2)).isoformat(), f"<{iid}.{p['email']}@sent>",
                     "", marker))
            if fate == 0:  # answered after the thank-you
                iv.answered_at, iv.answered_by = end + timedelta(days=2), "from the company"
                store.save_interview(conn, iv)
                continue
            # Ghosted (1, 2) or answered after the status check (3): the check was written.
            marker = f"{iid}/status_check/{people[0]['email']}"
            store.claim(conn, marker, iid, "status_check", people[0]["email"], "Checking in",
                        end + timedelta(days=8), "b:1")
            conn.execute("UPDATE drafts SET state='created', draft_id=?, created_at=? "
                         "WHERE marker=?", (f"d{marker}", (end + timedelta(days=8)).isoformat(),
                                            marker))
            if fate == 3:
                iv.answered_at, iv.answered_by = end + timedelta(days=10), "from the company"
                iv.answered_late = True
                store.save_interview(conn, iv)


def child(data: Path, size: int, idle: int) -> dict[str, Any]:
    from interview_followup.daemon.config import load_config
    from interview_followup.daemon.engine import Engine
    from interview_followup.daemon.logs import setup_logging

    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    now = datetime.fromisoformat(meta["now"])
    config = load_config(data / "config.toml")
    setup_logging(config.daemon.log_level)
    engine = Engine.open(config, clock=lambda: now)
    engine.cycle()
    seed_history(engine.store, config.accounts[0].name, size, now)
    engine.cycle()  # the first cycle that sees the history
    cpu, wall = [], []
    for _ in range(idle):
        c, w = time.process_time(), time.perf_counter()
        engine.cycle()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    tracked = engine.store.conn.execute("SELECT count(*) FROM interviews").fetchone()[0]
    new_mail = []
    for n in range(3):
        path = data / "Maildir" / "new" / f"{int(time.time())}.{NEW_MAIL}h{n}.bench"
        path.write_bytes(b"From: Sam Ortiz <sam.ortiz@example.org>\r\n"
                         b"To: Alex Rivera <alex.rivera@example.org>\r\n"
                         b"Subject: Lunch?\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
                         b"Message-ID: <" + f"{NEW_MAIL}h{n}".encode() +
                         b"@example.org>\r\n\r\nNoon?\r\n")
        c = time.process_time()
        engine.cycle()
        new_mail.append((time.process_time() - c) * 1000)
    engine.close()
    return {"size": size, "tracked": tracked, "idle_cpu_ms": statistics.median(cpu),
            "idle_wall_ms": statistics.median(wall), "new_mail_cpu_ms": statistics.median(new_mail)}


def curve(data: Path, sizes: tuple[int, ...], idle: int) -> list[dict[str, Any]]:
    if not (data / "meta.json").is_file():
        from generate import generate

        print(f"generating the data set in {data} ...", file=sys.stderr)
        generate(data)
    meta = json.loads((data / "meta.json").read_text(encoding="utf-8"))
    results = []
    for size in sizes:
        _reset(data, meta)
        command = [sys.executable, str(Path(__file__).resolve()), str(data), "--child",
                   str(size), "--idle", str(idle)]
        with (data / "bench.log").open("ab") as err:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=err, check=True)
        results.append(json.loads(done.stdout))
    _reset(data, meta)
    _settle()
    return results


def table(results: list[dict[str, Any]]) -> str:
    floor = results[0]["idle_cpu_ms"] or 1e-9
    rows = ["| Interviews in the state | Idle cycle, CPU ms | Wall ms | Ratio to the first | "
            "Cycle after a new message, CPU ms |", "| ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        rows.append(f"| {r['tracked']:,} | {r['idle_cpu_ms']:.2f} | {r['idle_wall_ms']:.2f} | "
                    f"{r['idle_cpu_ms'] / floor:.1f}x | {r['new_mail_cpu_ms']:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, nargs="?", default=DEFAULT_DIR)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--idle", type=int, default=20)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = args.data.resolve()
    if args.child is not None:
        print(json.dumps(child(data, args.child, args.idle)))
        return 0
    sizes = tuple(int(s) for s in args.sizes.split(","))
    print(table(curve(data, sizes, args.idle)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
