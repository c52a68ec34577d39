#!/usr/bin/env python3
"""What the control socket costs: `quiesce health` against /bin/true, and
an idle quiesce with its socket open against one without it, side by side
with tini, dumb-init and catatonit.

Every init runs as PID 1 of a fresh PID namespace with the same idle child
(bench/helpers/sigstamp.c, via pid1_bench). The static quiesce of this
checkout listens on its control socket; --before names a static quiesce
built from a commit before the socket existed, measured alike. Then
`quiesce health --socket S` (a process started, a round trip on the socket,
quiesce's own look at /proc, no Redis: --drain never) runs --runs times,
interleaved with /bin/true, whose wall time is the floor of starting any
process. A third quiesce also listens for HTTP probes (--http-listen). Ratios are to tini (memory, wakeups) and to /bin/true (health).

Run as root: python3 bench/control_bench.py --before /path/to/old/quiesce
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import pid1_bench as pb


def health_times(quiesce: str, socket: str, runs: int) -> tuple[list[int], list[int], int]:
    """Wall times of `quiesce health` and of /bin/true, interleaved."""
    health, true = [], []
    failures = 0
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    argv = [quiesce, "health", "--socket", socket]
    try:
        for _ in range(runs):
            for which, out in ((argv, health), (["/bin/true"], true)):
                start = time.perf_counter_ns()
                pid = os.posix_spawn(which[0], which, os.environ, file_actions=actions)
                _, status = os.waitpid(pid, 0)
                out.append(time.perf_counter_ns() - start)
                if os.waitstatus_to_exitcode(status) != 0:
                    failures += 1
    finally:
        os.close(devnull)
    return sorted(health), sorted(true), failures


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quiesce-static", default=pb.default_build("build-static"))
    ap.add_argument("--before", help="a static quiesce without the control socket")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--idle-seconds", type=float, default=5.0)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="quiesce-control-bench-")
    socket = os.path.join(tmp, "control.sock")
    helpers = pb.compile_helpers(tmp)
    wanted = [pb.Init("tini", pb.resolve("tini"), ["--"]),
              pb.Init("dumb-init", pb.resolve("dumb-init"), []),
              pb.Init("catatonit", pb.resolve("catatonit"), ["--"]),
              pb.Init("quiesce", pb.resolve(args.quiesce_static),
                      ["--drain", "never", "--control-socket", socket, "--"])]
    # With the HTTP probes listening too.
    port = free_port()
    wanted.append(pb.Init("quiesce-http", pb.resolve(args.quiesce_static),
                          ["--drain", "never", "--control-socket", os.path.join(tmp, "http.sock"),
                           "--http-listen", f"127.0.0.1:{port}", "--"]))
    if args.before:
        wanted.append(pb.Init("quiesce-before", pb.resolve(args.before), ["--drain", "never", "--"]))
    inits = [i for i in wanted if i.binary]
    runs = [pb.Running(i, helpers["sigstamp"], tmp) for i in inits]
    try:
        for r in runs:
            r.wait_ready(10)
        deadline = time.monotonic() + 10
        while not os.path.exists(socket) and time.monotonic() < deadline:
            time.sleep(0.01)
        idle = pb.measure_idle(runs, 1.0, args.idle_seconds)
        health, true, failures = health_times(args.quiesce_static, socket, args.runs)
        after = pb.measure_idle(runs, 0.2, args.idle_seconds)
    finally:
        for r in runs:
            r.stop()
    if failures:
        print(f"error: {failures} of {args.runs} health runs failed", file=sys.stderr)

    names = [r.init.name for r in runs if r.error is None]
    print(f"| metric | {' | '.join(names)} | quiesce/tini |")
    print(f"|---|{'---|' * len(names)}---|")

    def row(label, values, fmt):
        cells = [fmt(values[n]) for n in names]
        ratio = pb.fmt_ratio(values.get("quiesce"), values.get("tini"))
        print(f"| {label} | {' | '.join(cells)} | {ratio} |")

    row("idle VmRSS (KiB)", {n: idle[n]["rss_kib"] for n in names}, str)
    row("VmRSS after the health runs (KiB)", {n: after[n]["rss_kib"] for n in names}, str)
    row(f"idle wakeups/s ({args.idle_seconds:g} s)",
        {n: idle[n]["wakeups_per_s"] for n in names}, lambda v: f"{v:.1f}")
    print()
    for label, times in (("quiesce health", health), ("/bin/true", true)):
        print(f"- {label}: median {pb.percentile(times, 50) / 1e6:.2f} ms, "
              f"p99 {pb.percentile(times, 99) / 1e6:.2f} ms ({len(times)} runs)")
    print(f"- health/true: median {pb.percentile(health, 50) / pb.percentile(true, 50):.2f}, "
          f"p99 {pb.percentile(health, 99) / pb.percentile(true, 99):.2f}")
    if "quiesce-before" in idle:
        print(f"- idle VmRSS with the socket open minus before it: "
              f"{idle['quiesce']['rss_kib'] - idle['quiesce-before']['rss_kib']} KiB")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
