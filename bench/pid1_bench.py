#!/usr/bin/env python3
"""quiesce as PID 1, measured side by side with tini, dumb-init and catatonit.

Every init runs as PID 1 of a fresh PID namespace
(`unshare --pid --fork --mount-proc INIT ... CHILD`). All of them are started
together and every measurement visits them round robin, in an order that
rotates each round, so whatever else the machine is doing lands on all of them
alike. Results are printed as a Markdown table with quiesce/tini ratios.

Run as root (unshare needs CAP_SYS_ADMIN):

    python3 bench/pid1_bench.py

stdlib only. The C helper in bench/helpers/ is compiled here with cc into a
temporary directory.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
RECORD = struct.Struct("=q")  # one int64 of nanoseconds, as sigstamp writes it

# Goals: idle RSS in KiB, as /proc/<pid>/status reports it.
RSS_GOAL_KIB = 1536


@dataclass
class Init:
    """One init under test: how to put a command under it."""

    name: str
    binary: str
    flags: list[str]
    # The name the child runs under: "sidekiq" makes quiesce take it for
    # Sidekiq (it reads its options and config file, connects to Redis).
    child_name: str = "sigstamp"

    def argv(self, command: list[str]) -> list[str]:
        return [self.binary, *self.flags, *command]

    def namespaced(self, command: list[str]) -> list[str]:
        return ["unshare", "--pid", "--fork", "--mount-proc", *self.argv(command)]


def resolve(binary: str) -> str | None:
    found = shutil.which(binary) if os.sep not in binary else binary
    if not found or not os.access(found, os.X_OK):
        return None
    return os.path.realpath(found)


def make_inits(args) -> list[Init]:
    # (name, binary, flags, the name the child runs under)
    wanted = [
        ("tini", "tini", ["--"], "sigstamp"),
        ("tini-static", "tini-static", ["--"], "sigstamp"),
        ("dumb-init", "dumb-init", [], "sigstamp"),
        ("catatonit", "catatonit", ["--"], "sigstamp"),
        ("quiesce", args.quiesce, ["--drain", "never", "--"], "sigstamp"),
        ("quiesce-static", args.quiesce_static, ["--drain", "never", "--"], "sigstamp"),
    ]
    if args.redis_url:
        # As it runs in front of Sidekiq: the child is named sidekiq, and
        # quiesce connects to Redis from the start. A budget with a second of
        # room to drain: no startup warning, and the bench's closing TERM
        # reaches the child a second later.
        wanted.append(("quiesce-static-sidekiq", args.quiesce_static,
                       ["--stop-timeout", "31", "--redis-url", args.redis_url, "--"], "sidekiq"))
    inits = []
    for name, binary, flags, child_name in wanted:
        if name in args.skip:
            continue
        path = resolve(binary) if binary else None
        if path is None:
            print(f"note: {name} not found ({binary}); left out", file=sys.stderr)
            continue
        inits.append(Init(name, path, flags, child_name))
    return inits


def compile_helpers(out_dir: str) -> dict[str, str]:
    built = {}
    src_dir = os.path.join(BENCH_DIR, "helpers")
    for source in sorted(os.listdir(src_dir)):
        if not source.endswith(".c"):
            continue
        exe = os.path.join(out_dir, source[:-2])
        subprocess.run(
            ["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe,
             os.path.join(src_dir, source)],
            check=True,
        )
        built[source[:-2]] = exe
    return built


def children_of(pid: int) -> list[int]:
    """Host pids whose parent is pid (scanning /proc works on every kernel)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields after the
        # last ')' are fixed.
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def wait_for_child(pid: int, deadline: float) -> int:
    while time.monotonic() < deadline:
        kids = children_of(pid)
        if kids:
            return kids[0]
        time.sleep(0.005)
    raise TimeoutError(f"pid {pid} has no child")


def proc_status(pid: int) -> dict[str, int]:
    wanted = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "voluntary_ctxt_switches",
              "nonvoluntary_ctxt_switches")
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in wanted:
                values[key] = int(rest.split()[0])
    return values


def linked_size(binary: str) -> int:
    """The binary plus every shared library it loads apart from libc itself,
    which any image already has: what COPYing it into an image costs."""
    total = os.stat(binary).st_size
    done = subprocess.run(["ldd", binary], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        parts = line.split("=>")
        if len(parts) != 2 or not parts[1].strip().startswith("/"):
            continue
        lib = parts[1].split()[0]
        if os.path.basename(lib).startswith(("libc.so", "ld-linux")):
            continue
        total += os.stat(os.path.realpath(lib)).st_size
    return total


def stripped_size(binary: str, tmp: str) -> int | None:
    """Size once the symbol table is gone, as a release image would ship it."""
    out = os.path.join(tmp, "stripped")
    if subprocess.run(["strip", "-o", out, binary], capture_output=True).returncode != 0:
        return None
    size = os.stat(out).st_size
    os.unlink(out)
    return size


def context_switches(pid: int) -> int:
    s = proc_status(pid)
    return s["voluntary_ctxt_switches"] + s["nonvoluntary_ctxt_switches"]


class Running:
    """An init as PID 1 of its own namespace, with sigstamp as its child."""

    def __init__(self, init: Init, sigstamp: str, log_dir: str):
        self.init = init
        self.error: str | None = None
        self.latencies_ns: list[int] = []
        read_end, write_end = os.pipe()
        self.log_path = os.path.join(log_dir, f"{init.name}.stderr")
        with open(self.log_path, "wb") as log:
            self.unshare = subprocess.Popen(
                init.namespaced([sigstamp]), stdin=subprocess.DEVNULL, stdout=write_end,
                stderr=log)
        os.close(write_end)
        self.pipe = read_end
        self.init_pid = 0

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            self.init_pid = wait_for_child(self.unshare.pid, deadline)
            ready = self.read_record(max(0.0, deadline - time.monotonic()))
            if ready != 0:
                raise RuntimeError(f"unexpected first record {ready}")
            # The init itself must be PID 1 of the namespace we measure.
            with open(f"/proc/{self.init_pid}/status") as f:
                nspid = [ln for ln in f if ln.startswith("NSpid:")][0].split()
            if nspid[-1] != "1":
                raise RuntimeError(f"init is pid {nspid[-1]} in its namespace, not 1")
        except (OSError, RuntimeError, TimeoutError) as e:
            self.fail(f"did not start: {e}")

    def read_record(self, timeout: float) -> int:
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < RECORD.size:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.pipe], [], [], left)[0]:
                raise TimeoutError("no record from the child")
            chunk = os.read(self.pipe, RECORD.size - len(data))
            if not chunk:
                raise RuntimeError("child closed its stdout")
            data += chunk
        return RECORD.unpack(data)[0]

    def ping(self, count: int) -> None:
        """count paced SIGUSR1s: each is sent only after the last one arrived."""
        pid = self.init_pid
        clock = time.clock_gettime_ns
        mono = time.CLOCK_MONOTONIC
        kill = os.kill
        out = self.latencies_ns
        for _ in range(count):
            sent = clock(mono)
            kill(pid, signal.SIGUSR1)
            try:
                received = self.read_record(2.0)
            except (TimeoutError, RuntimeError) as e:
                self.fail(f"SIGUSR1 not forwarded: {e}")
                return
            out.append(received - sent)

    def fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
            print(f"error: {self.init.name}: {why}", file=sys.stderr)

    def stop(self) -> int | None:
        """TERM to the init (forwarded to the child), then wait for it to exit."""
        try:
            if self.init_pid:
                os.kill(self.init_pid, signal.SIGTERM)
            return self.unshare.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.unshare.kill()  # unshare's death takes the namespace down
            self.unshare.wait()
            return None
        finally:
            os.close(self.pipe)


def rotations(items: list, rounds: int):
    """Round robin over items, starting one further along each round."""
    for r in range(rounds):
        k = r % len(items)
        yield items[k:] + items[:k]


def measure_idle(runs: list[Running], settle: float, seconds: float) -> dict[str, dict]:
    time.sleep(settle)
    live = [r for r in runs if r.error is None]
    before = {r.init.name: context_switches(r.init_pid) for r in live}
    start = time.monotonic()
    mems = {r.init.name: proc_status(r.init_pid) for r in live}
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    result = {}
    for r in live:
        delta = context_switches(r.init_pid) - before[r.init.name]
        m = mems[r.init.name]
        result[r.init.name] = {
            "rss_kib": m["VmRSS"], "rss_anon_kib": m["RssAnon"], "rss_file_kib": m["RssFile"],
            "ctxt_switches": delta, "wakeups_per_s": delta / elapsed, "idle_s": elapsed,
        }
    return result


def measure_latency(runs: list[Running], samples: int, batch: int) -> None:
    rounds = (samples + batch - 1) // batch
    gc.disable()
    try:
        for order in rotations(runs, rounds):
            for r in order:
                if r.error is None:
                    r.ping(batch)
    finally:
        gc.enable()


def measure_true(inits: list[Init], runs: int) -> dict[str, list[int]]:
    """Wall time of `unshare ... INIT -- true`, spawn to reaped."""
    times = {i.name: [] for i in inits}
    failures = {i.name: 0 for i in inits}
    argvs = {i.name: i.namespaced(["true"]) for i in inits}
    unshare = shutil.which("unshare")
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
    try:
        for order in rotations(inits, runs):
            for i in order:
                start = time.perf_counter_ns()
                pid = os.posix_spawn(unshare, argvs[i.name], os.environ, file_actions=actions)
                _, status = os.waitpid(pid, 0)
                elapsed = time.perf_counter_ns() - start
                if os.waitstatus_to_exitcode(status) != 0:
                    failures[i.name] += 1
                times[i.name].append(elapsed)
    finally:
        os.close(devnull)
    for name, n in failures.items():
        if n:
            print(f"error: {name} -- true failed {n} of {runs} times", file=sys.stderr)
    return times


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest-rank percentile."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def static_chroot_check(binary: str | None) -> tuple[bool | None, str]:
    if binary is None:
        return None, ""
    script = os.path.join(BENCH_DIR, "static_chroot.sh")
    done = subprocess.run([script, binary], capture_output=True, text=True)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


def fmt_ratio(value, base) -> str:
    if value is None or base in (None, 0):
        return "–"
    return f"{value / base:.2f}"


def render(results: dict, names: list[str]) -> str:
    quiesces = [n for n in names if n.startswith("quiesce") or n == "epoll-init"]
    header = ["metric", *names, *[f"{q}/tini" for q in quiesces], "goal (quiesce)"]
    rows = []

    def row(label, key, unit_fmt, goal=""):
        values = [results[n].get(key) for n in names]
        cells = [unit_fmt(v) if v is not None else "–" for v in values]
        tini = results.get("tini", {}).get(key)
        ratios = [fmt_ratio(results[q].get(key), tini) for q in quiesces]
        rows.append([label, *cells, *ratios, goal])

    us = lambda v: f"{v / 1000:.1f}"  # noqa: E731
    row("signal latency median (µs)", "lat_median_ns", us, "≤ tini")
    row("signal latency p90 (µs)", "lat_p90_ns", us)
    row("signal latency p99 (µs)", "lat_p99_ns", us, "≤ tini")
    row("idle VmRSS (KiB)", "rss_kib", str, f"≤ {RSS_GOAL_KIB} KiB")
    row("  of which RssAnon (KiB)", "rss_anon_kib", str)
    row("  of which RssFile (KiB)", "rss_file_kib", str)
    row("VmHWM after the signals (KiB)", "hwm_kib", str)
    row("idle wakeups (/s)", "wakeups_per_s", lambda v: f"{v:.2f}", "0")
    row("`init -- true` median (ms)", "true_median_ns", lambda v: f"{v / 1e6:.2f}")
    row("binary size (KiB)", "size_bytes", lambda v: f"{v / 1024:.0f}")
    row("  stripped (KiB)", "stripped_bytes", lambda v: f"{v / 1024:.0f}")
    row("  + shared libs but libc (KiB)", "linked_bytes", lambda v: f"{v / 1024:.0f}")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def goal_report(results: dict, chroot_ok: bool | None) -> list[str]:
    out = []
    tini = results.get("tini")
    for q in [n for n in results if n.startswith("quiesce")]:
        r = results.get(q)
        if r is None:
            continue
        checks = []
        if tini and "lat_median_ns" in r and "lat_median_ns" in tini:
            checks.append(("latency median ≤ tini", r["lat_median_ns"] <= tini["lat_median_ns"]))
            checks.append(("latency p99 ≤ tini", r["lat_p99_ns"] <= tini["lat_p99_ns"]))
        if "rss_kib" in r:
            checks.append((f"idle RSS ≤ {RSS_GOAL_KIB} KiB", r["rss_kib"] <= RSS_GOAL_KIB))
            checks.append(("zero idle wakeups", r["ctxt_switches"] == 0))
        if checks:
            out.append(f"{q}: " + ", ".join(f"{c} {'met' if ok else 'MISSED'}"
                                            for c, ok in checks))
    if chroot_ok is not None:
        out.append(f"static build runs in an empty chroot: {'met' if chroot_ok else 'MISSED'}")
    return out


def default_build(dirname: str) -> str:
    return os.path.join(REPO_DIR, dirname, "quiesce")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quiesce", default=default_build("build"),
                    help="quiesce binary (default: %(default)s)")
    ap.add_argument("--quiesce-static", default=default_build("build-static"),
                    help="static quiesce binary (default: %(default)s)")
    ap.add_argument("--skip", action="append", default=[], metavar="NAME",
                    help="leave an init out (repeatable)")
    ap.add_argument("--samples", type=int, default=4000, help="signals per init")
    ap.add_argument("--batch", type=int, default=100, help="signals per init per round")
    ap.add_argument("--idle-seconds", type=float, default=5.0)
    ap.add_argument("--settle-seconds", type=float, default=1.0)
    ap.add_argument("--true-runs", type=int, default=200)
    ap.add_argument("--cpu", type=int, default=os.cpu_count() - 1,
                    help="CPU that the bench, every init and every child share "
                         "(default: %(default)s; -1 leaves placement to the scheduler)")
    ap.add_argument("--fifo", action="store_true",
                    help="run everything SCHED_FIFO, so other work on the machine cannot "
                         "preempt the forwarding path: the tail then shows the init's own cost")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results here")
    ap.add_argument("--redis", action="store_true",
                    help="also run the static quiesce as it runs in front of Sidekiq: its child "
                         "named sidekiq, connected to a throwaway redis-server "
                         "(quiesce-static-sidekiq)")
    ap.add_argument("--epoll-baseline", action="store_true",
                    help="also run helpers/epoll_init.c, the least a signalfd + epoll init "
                         "does: what that wake-up path costs apart from libuv and quiesce")
    args = ap.parse_args()
    args.redis_url = None

    if os.geteuid() != 0:
        print("pid1_bench: needs root for unshare --pid", file=sys.stderr)
        return 2
    # Started before the pinning below, so Redis runs wherever it likes.
    redis = start_redis() if args.redis else None
    if redis:
        args.redis_url = f"redis://127.0.0.1:{redis.port}/0"
    # Unpinned, each init's latency depended on where the scheduler happened to
    # put it (same CPU as the sender or not, an idle CPU waking from halt):
    # two copies of one binary differed 3x. On one shared CPU every init pays
    # the same path, and the children inherit the mask.
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    if args.fifo:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    try:
        return run_bench(args)
    finally:
        if redis:
            redis.stop()


class ThrowawayRedis:
    def __init__(self, port: int, proc: subprocess.Popen, workdir: str):
        self.port, self.proc, self.workdir = port, proc, workdir

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis() -> ThrowawayRedis:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="pid1_bench_redis.")
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return ThrowawayRedis(port, proc, workdir)
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def run_bench(args) -> int:
    with tempfile.TemporaryDirectory(prefix="pid1_bench.") as tmp:
        return run_bench_in(args, tmp)


def run_bench_in(args, tmp: str) -> int:
    helpers = compile_helpers(tmp)
    inits = make_inits(args)
    if args.epoll_baseline:
        inits.append(Init("epoll-init", helpers["epoll_init"], ["--"]))
    names = [i.name for i in inits]
    results: dict[str, dict] = {n: {} for n in names}
    began = time.monotonic()

    # sigstamp under the name sidekiq, for the inits that should take it for Sidekiq.
    os.symlink(helpers["sigstamp"], os.path.join(tmp, "sidekiq"))
    children = {"sigstamp": helpers["sigstamp"], "sidekiq": os.path.join(tmp, "sidekiq")}
    runs = [Running(i, children[i.child_name], tmp) for i in inits]
    try:
        for r in runs:
            r.wait_ready(10.0)
        for name, idle in measure_idle(runs, args.settle_seconds,
                                       args.idle_seconds).items():
            results[name].update(idle)
        measure_latency(runs, args.samples, args.batch)
        for r in runs:
            if r.error is None:
                results[r.init.name]["hwm_kib"] = proc_status(r.init_pid)["VmHWM"]
    finally:
        for r in runs:
            code = r.stop()
            # The child dies of the forwarded TERM; the init passes that on.
            if r.error is None and code not in (128 + signal.SIGTERM, -signal.SIGTERM):
                print(f"note: {r.init.name} exited {code} after TERM", file=sys.stderr)
    for r in runs:
        if r.error is None and r.latencies_ns:
            lat = sorted(r.latencies_ns)
            results[r.init.name].update(
                lat_samples=len(lat), lat_median_ns=int(statistics.median(lat)),
                lat_p90_ns=percentile(lat, 90), lat_p99_ns=percentile(lat, 99),
                lat_min_ns=lat[0], lat_max_ns=lat[-1])
        elif r.error:
            results[r.init.name]["error"] = r.error

    for name, times in measure_true(inits, args.true_runs).items():
        results[name]["true_median_ns"] = int(statistics.median(times))
        results[name]["true_p90_ns"] = percentile(sorted(times), 90)
    for r in runs:
        with open(r.log_path, errors="replace") as f:
            said = f.read().strip()
        if said:
            results[r.init.name]["stderr"] = said[:2000]
    for i in inits:
        results[i.name]["stripped_bytes"] = stripped_size(i.binary, tmp)

    for i in inits:
        results[i.name]["size_bytes"] = os.stat(i.binary).st_size
        results[i.name]["linked_bytes"] = linked_size(i.binary)
        results[i.name]["binary"] = i.binary

    static = next((i.binary for i in inits if i.name == "quiesce-static"), None)
    chroot_ok, chroot_out = static_chroot_check(static)
    took = time.monotonic() - began

    print(f"# pid1_bench {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    print(f"kernel {platform.release()}, {os.cpu_count()} CPUs, "
          f"load average at end {os.getloadavg()[0]:.2f}, took {took:.0f} s")
    pinned = f"all on CPU {args.cpu}" if args.cpu >= 0 else "unpinned"
    pinned += ", SCHED_FIFO" if args.fifo else ", SCHED_OTHER"
    print(f"{args.samples} signals per init in rounds of {args.batch} ({pinned}); idle window "
          f"{args.idle_seconds:g} s; {args.true_runs} runs of `init -- true` per init")
    print()
    print(render(results, names))
    print()
    for i in inits:
        print(f"- {i.name}: `{' '.join(i.argv(['CHILD']))}` ({i.binary})")
    for line in goal_report(results, chroot_ok):
        print(f"- {line}")
    if chroot_out:
        print()
        print("static_chroot.sh:")
        print("\n".join("    " + ln for ln in chroot_out.splitlines()))
    for name in names:
        if "stderr" in results[name]:
            print(f"- {name} wrote on stderr while under test:")
            print("\n".join("    " + ln for ln in results[name]["stderr"].splitlines()[:10]))
        if "error" in results[name]:
            print(f"- {name}: ERROR {results[name]['error']}")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "static_chroot_ok": chroot_ok}, f, indent=2)
    return 1 if any("error" in results[n] for n in names) else 0


if __name__ == "__main__":
    sys.exit(main())
