#!/usr/bin/env python3
"""The Sidekiq stop, tini against quiesce, side by side.

Each scenario enqueues jobs of known lengths into a throwaway redis-server,
starts the sample Sidekiq app as the child of PID 1 (tini, then quiesce) in
its own PID/UTS namespace, waits until every job runs, then stops the
"container" the way ECS does: SIGTERM, wait the budget B, SIGKILL.

Reported per scenario and init: jobs finished / requeued / lost, the stop
time, the time from the last job's end to the container's exit, and the
Redis load during the drain: quiesce's own commands (counted by a TCP proxy
it alone talks through) per second per Sidekiq process, and every client's
commands per second (INFO commandstats deltas).

    python3 bench/stop_bench.py --quiesce build/quiesce
    python3 bench/stop_bench.py --sidekiq 7 --quiesce build-static/quiesce

--sidekiq 7 or 8 runs Sidekiq 7.3.2 or 8.1.7 in its Debian root from
scripts/roots, with the static quiesce (and tini) as PID 1 inside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import sidekiq_harness as h  # noqa: E402


def scenarios(budget: float, timeout: int, margin: float) -> dict:
    def sc(**kw):
        return h.StopScenario(budget_s=budget, sidekiq_timeout_s=timeout, margin_s=margin, **kw)

    room = budget - margin - 1  # a job this long still fits under quiesce
    medium = round(min(room - 1, timeout + 4), 1)
    long = budget * 2
    return {
        "short jobs": sc(durations=[1, 1.5, 2, 3, 4]),
        f"one {medium:g}s job (T < job < B-M)": sc(durations=[medium]),
        f"one {long:g}s job (> B)": sc(durations=[long]),
        "mix": sc(durations=[1, 2, medium, long]),
        "mix, sh -c wrapper": sc(durations=[1, 2, medium, long], wrapper=True),
        # 7 jobs for 2 x 5 threads, enqueued once both are up: both are busy.
        "2 Sidekiq processes": sc(durations=[1, 2, 2, 3, 4, medium, medium], processes=2,
                                  concurrency=5, enqueue_after_boot=True),
    }


def one(name: str, sc: h.StopScenario, quiesce: str, rt: h.Runtime) -> dict:
    r = h.run_stop(sc, quiesce, rt=rt)
    # Only a full drain says how fast quiesce noticed it; with a job cut off,
    # the exit is bound by the TERM deadline instead.
    drained = all(j.outcome == "finished" for j in r.jobs.values())
    gap = r.exit_after_last_end_s() if drained else None
    per_proc = None
    if r.quiesce_commands is not None and r.stop_s > 0:
        per_proc = r.quiesce_commands / r.stop_s / max(r.sidekiq_processes, 1)
    return {
        "scenario": name, "init": sc.init, "finished": r.count("finished"),
        "requeued": r.count("requeued") + r.count("queued"), "lost": r.count("lost"),
        "stop_s": r.stop_s, "killed": r.killed_by_harness, "exit_status": r.exit_status,
        "last_end_to_exit_s": gap, "quiesce_cmds_per_s_per_process": per_proc,
        "all_cmds_per_s": (r.redis_calls_during_stop or 0) / r.stop_s if r.stop_s else None,
        "sidekiq_processes": r.sidekiq_processes,
        "term_reasons": [e.get("reason") for e in r.event("term_sent")],
    }


def fmt(value, spec=".2f") -> str:
    return "–" if value is None else format(value, spec)


def median(rows: list, key: str):
    values = [r[key] for r in rows if r[key] is not None]
    return statistics.median(values) if values else None


def table(rows: list, runs: int) -> str:
    out = ["| scenario | init | finished | requeued | lost | stop (s) | last job end → exit (s) "
           "| quiesce cmds/s per Sidekiq | all Redis cmds/s | TERM reason | exit status |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["init"]), []).append(r)
    for (name, init), rs in groups.items():
        killed = sum(r["killed"] for r in rs)
        stop = fmt(median(rs, "stop_s")) + (f" (SIGKILLed {killed}/{runs})" if killed else "")
        reasons = sorted({x for r in rs for x in r["term_reasons"]}) or ["–"]
        statuses = sorted({str(r["exit_status"]) for r in rs})
        out.append(
            f"| {name} | {init} | {sum(r['finished'] for r in rs)} | "
            f"{sum(r['requeued'] for r in rs)} | {sum(r['lost'] for r in rs)} | {stop} | "
            f"{fmt(median(rs, 'last_end_to_exit_s'))} | "
            f"{fmt(median(rs, 'quiesce_cmds_per_s_per_process'))} | "
            f"{fmt(median(rs, 'all_cmds_per_s'), '.1f')} | {', '.join(reasons)} | "
            f"{', '.join(statuses)} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sidekiq", type=int, choices=h.MAJORS, default=6,
                    help="Sidekiq major: 6 on the host, 7 and 8 in their roots")
    ap.add_argument("--quiesce", default=os.environ.get("QUIESCE_BIN"),
                    help="default: build/quiesce, build-static/quiesce for 7 and 8")
    ap.add_argument("--budget", type=float,
                    help="B, the orchestrator's stop timeout (default 10 s + two heartbeats: "
                         "20 s on 6.x, 30 s on 7 and 8)")
    ap.add_argument("--sidekiq-timeout", type=int, default=3, help="T, sidekiq -t")
    ap.add_argument("--margin", type=float, default=2.0, help="M, --shutdown-margin")
    ap.add_argument("--runs", type=int, default=1, help="runs of every scenario per init")
    ap.add_argument("--jobs", type=int, default=3, help="stops run at the same time")
    ap.add_argument("--json", help="also write every run's numbers here")
    args = ap.parse_args()
    rt = h.runtime(args.sidekiq)
    if args.budget is None:
        args.budget = 10 + 2 * rt.heartbeat_s
    if args.quiesce is None:
        args.quiesce = str(REPO / ("build-static" if args.sidekiq >= 7 else "build") / "quiesce")
    if not os.access(args.quiesce, os.X_OK):
        ap.error(f"{args.quiesce} is not an executable (build quiesce or pass --quiesce)")

    work = []
    for name, sc in scenarios(args.budget, args.sidekiq_timeout, args.margin).items():
        for init in ("tini", "quiesce"):
            variant = replace(sc, init=init,
                              quiesce_redis="proxy" if init == "quiesce" else "plain",
                              quiesce_args=sc.quiesce_args if init == "quiesce" else [])
            work += [(name, variant)] * args.runs

    print(f"stop bench: Sidekiq {rt.version or '6 (host)'}, "
          f"B={args.budget:g}s T={args.sidekiq_timeout}s M={args.margin:g}s, "
          f"{args.runs} run(s) each, {os.cpu_count()} CPUs, {platform.platform()}",
          file=sys.stderr)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(one, name, sc, args.quiesce, rt) for name, sc in work]
        rows = []
        for f in futures:
            row = f.result()
            rows.append(row)
            print(f"  {row['scenario']:<40} {row['init']:<8} stop {row['stop_s']:.2f}s "
                  f"finished {row['finished']} requeued {row['requeued']} lost {row['lost']}",
                  file=sys.stderr)
    order = {name: i for i, name in enumerate(dict.fromkeys(r["scenario"] for r in rows))}
    rows.sort(key=lambda r: (order[r["scenario"]], r["init"] != "tini"))
    print(table(rows, args.runs))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
