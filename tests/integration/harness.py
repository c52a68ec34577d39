"""What the integration tests share: where the binaries are, running quiesce
as a real PID 1 in a fresh PID namespace or as a plain subreaper, awaiting its
output with deadlines, reading the processes it leaves behind, and parsing its
JSON logs.

Environment:
  QUIESCE_BIN           the binary under test (a tini binary works too, for
                        the tests that use only tini's flags)
  HELPERS_DIR           the built tests/helpers programs
  QUIESCE_TEST_TIMEOUT  seconds to await any one event (default 30)
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

TIMEOUT = float(os.environ.get("QUIESCE_TEST_TIMEOUT", "30"))

# Signals quiesce passes on to the child unchanged. CHLD is its own, KILL and
# STOP cannot be caught, and the synchronous ones (SEGV, BUS, FPE, ILL, ABRT,
# TRAP, SYS) are never forwarded.
FORWARDED = [
    signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
    signal.SIGPIPE, signal.SIGALRM, signal.SIGTERM, signal.SIGCONT, signal.SIGTSTP,
    signal.SIGTTIN, signal.SIGTTOU, signal.SIGURG, signal.SIGXCPU, signal.SIGXFSZ,
    signal.SIGVTALRM, signal.SIGPROF, signal.SIGWINCH, signal.SIGIO, signal.SIGPWR,
    signal.SIGRTMIN, signal.SIGRTMIN + 1, signal.SIGRTMAX - 1, signal.SIGRTMAX,
]


def _required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set (ctest sets it; see tests/CMakeLists.txt)")
    return value


def quiesce_bin():
    return _required_env("QUIESCE_BIN")


def helper(name):
    path = os.path.join(_required_env("HELPERS_DIR"), name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"helper {path} is not built")
    return path


def is_tini():
    return os.path.basename(os.environ.get("QUIESCE_BIN", "")).startswith("tini")


# Options tini lacks, with the number of values each takes. Against tini the
# harness drops them, so the harness itself can be debugged on a known-good
# init; the tests that are about these options skip there.
_QUIESCE_ONLY = {"--drain": 1, "--exit-grace": 1, "--log-format": 1, "--rewrite": 1,
                 "--config": 1, "--verbosity": 1}


def _adapt(args):
    if not is_tini():
        return list(args)
    out, i = [], 0
    while i < len(args):
        if args[i] == "--":
            return out + list(args[i:])
        if args[i] in _QUIESCE_ONLY:
            i += 1 + _QUIESCE_ONLY[args[i]]
            continue
        out.append(args[i])
        i += 1
    return out


def skip_unless_quiesce(test):
    """For tests of options or log events that only quiesce has."""
    return unittest.skipIf(is_tini(), "quiesce-only behaviour")(test)


_SOCKETS = None
_socket_count = 0


def _own_control_socket():
    """A control socket path no other quiesce of this run uses. The default
    (/run/quiesce/control.sock, then /tmp/quiesce-UID/) is one per machine,
    as it is one per container in production; tests run side by side on
    one host, and a quiesce that finds its socket taken says so."""
    global _SOCKETS, _socket_count
    if _SOCKETS is None:
        _SOCKETS = tempfile.mkdtemp(prefix="quiesce-sockets-")
        atexit.register(shutil.rmtree, _SOCKETS, True)
    _socket_count += 1
    return os.path.join(_SOCKETS, f"{_socket_count}.sock")


def clean_env(extra=None):
    """The test's environment without any quiesce or tini settings a
    developer may have exported, plus a control socket of its own, plus
    `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("QUIESCE_", "TINI_")) and k != "REDIS_URL"}
    env["QUIESCE_CONTROL_SOCKET"] = _own_control_socket()
    env.update(extra or {})
    return env


def command(args, pid1):
    argv = [quiesce_bin(), *_adapt(args)]
    if pid1:
        argv = ["unshare", "--pid", "--fork", "--mount-proc", *argv]
    return argv


def run(args, *, pid1=False, env=None, timeout=TIMEOUT, input=None, cwd=None):
    """Runs quiesce to completion: (exit status, stdout, stderr)."""
    done = subprocess.run(command(args, pid1), input=input, capture_output=True, text=True,
                          env=clean_env(env), timeout=timeout, cwd=cwd)
    return exit_status(done.returncode), done.stdout, done.stderr


def exit_status(returncode):
    # unshare re-raises a signal its child died of; Popen reports it negative.
    return 128 - returncode if returncode < 0 else returncode


def wait_until(predicate, what, timeout=TIMEOUT):
    """Polls `predicate` until it returns something truthy; returns that."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def read_stat(path):
    """(pid, comm, state, ppid) from a /proc/<pid>/stat file, or None if the
    process is gone."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    head, _, tail = text.rpartition(")")
    pid, _, comm = head.partition(" (")
    fields = tail.split()
    return int(pid), comm, fields[0], int(fields[1])


def host_processes():
    """pid -> (comm, state, ppid) for every process this test can see."""
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(f"/proc/{name}/stat")
            if stat:
                table[stat[0]] = stat[1:]
    return table


def alive(pid):
    """True while `pid` exists and is not a zombie."""
    stat = read_stat(f"/proc/{pid}/stat")
    return stat is not None and stat[2] != "Z"


class Quiesce:
    """quiesce running with piped stdin/stdout/stderr. With pid1=True it is
    PID 1 of a fresh PID namespace (under `unshare --fork`, which stays its
    parent); otherwise it runs as a plain child of the test.

    Use as a context manager: whatever is left running is SIGKILLed on exit.
    """

    def __init__(self, args, *, pid1=True, env=None, cwd=None):
        self.pid1 = pid1
        self.argv = command(args, pid1)
        self._cond = threading.Condition()
        self._lines = {"stdout": [], "stderr": []}
        self._pid = None
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=clean_env(env), cwd=cwd,
                                     start_new_session=True)
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, stream, name):
        for raw in iter(stream.readline, b""):
            with self._cond:
                self._lines[name].append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    # Output -----------------------------------------------------------------

    def lines(self, stream="stdout"):
        with self._cond:
            return list(self._lines[stream])

    def output(self):
        """Everything seen so far, for failure messages."""
        with self._cond:
            return ("\n--- stdout ---\n" + "\n".join(self._lines["stdout"]) +
                    "\n--- stderr ---\n" + "\n".join(self._lines["stderr"]))

    def wait_line(self, pattern, stream="stdout", after=0, timeout=TIMEOUT):
        """Awaits the first line at index >= `after` that matches the regex
        `pattern`; returns (index, match)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                lines = self._lines[stream]
                for i in range(after, len(lines)):
                    match = regex.search(lines[i])
                    if match:
                        return i, match
                after = max(after, len(lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.2))
        raise AssertionError(f"timed out waiting for /{pattern}/ on {stream}" + self.output())

    def logs(self):
        """The JSON log objects on stderr so far (lines that are not JSON are
        skipped; tests that care assert on them separately)."""
        objects = []
        for line in self.lines("stderr"):
            if line.startswith("{"):
                try:
                    objects.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return objects

    def events(self, name):
        return [o for o in self.logs() if o.get("event") == name]

    def wait_event(self, name, timeout=TIMEOUT):
        wait_until(lambda: self.events(name), f"log event {name}" + self.output(), timeout)
        return self.events(name)

    # Input and signals --------------------------------------------------------

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def close_stdin(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    @property
    def pid(self):
        """quiesce's pid as seen from the test (the host's pid namespace)."""
        if self._pid is None:
            self._pid = self.proc.pid if not self.pid1 else wait_until(
                self._exec_child_of_unshare, "quiesce to start under unshare")
        return self._pid

    def _exec_child_of_unshare(self):
        target = os.path.realpath(quiesce_bin())
        for pid, (_, _, ppid) in host_processes().items():
            if ppid != self.proc.pid:
                continue
            try:
                if os.path.realpath(f"/proc/{pid}/exe") == target:
                    return pid
            except OSError:
                pass
        return None

    def signal(self, sig):
        os.kill(self.pid, sig)

    # Processes ------------------------------------------------------------------

    def processes(self):
        """pid -> (comm, state, ppid) for everything quiesce looks after: the
        whole namespace (namespace pids) as PID 1, its descendants (host pids)
        otherwise. quiesce itself is not included."""
        if self.pid1:
            return self._namespace_processes()
        table = host_processes()
        children = {}
        for pid, (_, _, ppid) in table.items():
            children.setdefault(ppid, []).append(pid)
        found, todo = {}, list(children.get(self.pid, []))
        while todo:
            pid = todo.pop()
            if pid in table:
                found[pid] = table[pid]
                todo.extend(children.get(pid, []))
        return found

    def _namespace_processes(self):
        # The namespace's own /proc, reached through quiesce's root.
        proc = f"/proc/{self.pid}/root/proc"
        table = {}
        for name in os.listdir(proc):
            if name.isdigit() and name != "1":
                stat = read_stat(f"{proc}/{name}/stat")
                if stat:
                    table[stat[0]] = stat[1:]
        return table

    # Ending -------------------------------------------------------------------

    def wait(self, timeout=TIMEOUT):
        """Awaits quiesce's exit; returns its exit status (128+N for death by
        signal N)."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"quiesce still running after {timeout:.0f}s" +
                                 self.output()) from None
        # Output still buffered in the pipes belongs to the run; a descendant
        # that outlives quiesce may hold them open, so don't wait for EOF long.
        for reader in self._readers:
            reader.join(2)
        return exit_status(code)

    def close(self):
        if self.proc.poll() is None:
            try:
                quiesce = [self.pid if self._pid or not self.pid1 else
                           wait_until(self._exec_child_of_unshare, "quiesce", timeout=2)]
            except AssertionError:
                quiesce = []
            leftovers = [] if self.pid1 else list(self.processes())
            for pid in [*quiesce, self.proc.pid, *leftovers]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait()
        self.close_stdin()
        for reader in self._readers:
            reader.join(2)
        self.proc.stdout.close()
        self.proc.stderr.close()


class TempDir:
    """A scratch directory, removed afterwards."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="quiesce-test-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def write_file(directory, name, text, mode=0o644):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path
