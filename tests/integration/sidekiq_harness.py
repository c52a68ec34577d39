"""Real-world stop harness: a throwaway redis-server, the sample Sidekiq app
in its own PID and UTS namespace under an init (quiesce or tini), and an
emulated ECS stop (SIGTERM to PID 1, wait the budget, SIGKILL).

The Sidekiq major is QUIESCE_SIDEKIQ_MAJOR: 6 (the default) is the host's
Sidekiq 6.4; 7 and 8 run inside a Debian root made by scripts/roots
(QUIESCE_ROOT_7 / QUIESCE_ROOT_8 name one, else `scripts/roots --print N`
gives it), with the static quiesce binary as PID 1 there. redis-server always
runs on the host, on loopback, which the root shares.

Standard library only. Used by test_sidekiq_stop.py, bench/stop_bench.py and
scripts/demo.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "tests" / "sidekiq_app" / "app.rb"
QUEUE = "default"
MAJORS = (6, 7, 8)


def sidekiq_major() -> int:
    """The Sidekiq major the tests run against, from QUIESCE_SIDEKIQ_MAJOR."""
    text = os.environ.get("QUIESCE_SIDEKIQ_MAJOR", "6").strip() or "6"
    if text not in {str(m) for m in MAJORS}:
        raise RuntimeError(f"QUIESCE_SIDEKIQ_MAJOR={text!r}: one of {', '.join(map(str, MAJORS))}")
    return int(text)


def heartbeat_s(major: int) -> float:
    """Sidekiq's BEAT_PAUSE: 5 s in 6.x, 10 s from 7.0."""
    return 5.0 if major < 7 else 10.0


SIDEKIQ_MAJOR = sidekiq_major()
# Every time bound of a test is derived from this.
HEARTBEAT_S = heartbeat_s(SIDEKIQ_MAJOR)


class HarnessError(RuntimeError):
    pass


def wait_for(condition: Callable[[], object], timeout: float, what: str, step: float = 0.05):
    """Polls condition until it returns something truthy; raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# A minimal RESP client: enough to enqueue, read results and seed fixtures.


class RedisReplyError(RuntimeError):
    pass


class Resp:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            data = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisReplyError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisReplyError(f"unexpected reply {line!r}")


# --------------------------------------------------------------------------
# Redis servers: a real one (optionally with a TLS port), a hung one, a dead one.


def make_tls_files(directory: Path) -> dict:
    """A CA and a server certificate for localhost/127.0.0.1, made with the
    openssl CLI."""

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=quiesce test CA", "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "server.key", "-out", "server.csr")
    (directory / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
    return {"ca": directory / "ca.pem", "cert": directory / "server.pem",
            "key": directory / "server.key"}


class RedisServer:
    """A throwaway redis-server on free loopback ports, never the system one."""

    def __init__(self, workdir: Path, tls: bool = False):
        self.workdir = workdir
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.tls_files = make_tls_files(workdir) if tls else None
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(workdir),
                "--protected-mode", "no"]
        if tls:
            argv += ["--tls-port", str(self.tls_port),
                     "--tls-cert-file", str(self.tls_files["cert"]),
                     "--tls-key-file", str(self.tls_files["key"]),
                     "--tls-ca-cert-file", str(self.tls_files["ca"]),
                     "--tls-auth-clients", "no"]
        self.log = open(workdir / "redis.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self._answers, 10, "redis-server to answer PING")
        self.client = Resp(self.port)

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise HarnessError(f"redis-server exited: {(self.workdir / 'redis.log').read_text()}")
        try:
            c = Resp(self.port, timeout=1)
            try:
                return c.command("PING") == "PONG"
            finally:
                c.close()
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def tls_url(self) -> str:
        return f"rediss://localhost:{self.tls_port}/0"

    def command_calls(self) -> dict:
        """Calls per command name from INFO commandstats."""
        info = self.client.command("INFO", "commandstats")
        calls = {}
        for line in info.splitlines():
            if line.startswith("cmdstat_"):
                name, stats = line[len("cmdstat_"):].split(":", 1)
                fields = dict(kv.split("=", 1) for kv in stats.split(","))
                calls[name] = int(fields["calls"])
        return calls

    def stop(self):
        try:
            self.client.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class HungRedis:
    """A TCP listener that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.closed = True
        self.sock.close()
        for c in self.held:
            c.close()


class CountingProxy:
    """Forwards TCP to a Redis port and timestamps every command the client
    sends, so the commands of one client (quiesce) can be counted exactly.
    fault() turns it into a Redis gone bad while the client is connected."""

    FAULTS = ("close", "garbage", "hang")

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.command_times: list[float] = []
        self.lock = threading.Lock()
        self.closed = False
        self.fault_kind: Optional[str] = None
        self.clients: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def fault(self, kind: str):
        """close: the server goes away (listener and every connection);
        garbage: every reply from now on is bytes that are not RESP;
        hang: replies stop coming, connections stay open."""
        if kind not in self.FAULTS:
            raise HarnessError(f"unknown proxy fault {kind}")
        with self.lock:
            self.fault_kind = kind
            clients = list(self.clients)
        if kind == "close":
            self.stop()
            _shut_down(*clients)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def commands_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t in self.command_times if start <= t <= end)

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.clients.append(client)
            threading.Thread(target=self._client_to_server, args=(client, upstream),
                             daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(upstream, client),
                             daemon=True).start()

    def _server_to_client(self, src: socket.socket, dst: socket.socket):
        try:
            while chunk := src.recv(65536):
                kind = self.fault_kind
                if kind == "hang":
                    continue
                if kind == "garbage":
                    chunk = b"?" * len(chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            _shut_down(src, dst)

    def _client_to_server(self, src: socket.socket, dst: socket.socket):
        pending = b""
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
                pending += chunk
                pending, count = _count_resp_commands(pending)
                if count:
                    now = time.monotonic()
                    with self.lock:
                        self.command_times.extend([now] * count)
        except OSError:
            pass
        finally:
            _shut_down(src, dst)

    def stop(self):
        self.closed = True
        # close() alone leaves a thread blocked in accept() listening; shutdown
        # wakes it, and connections are refused from here on.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _shut_down(*socks: socket.socket):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _count_resp_commands(data: bytes) -> tuple[bytes, int]:
    """Counts the complete commands (RESP arrays or inline) at the front of
    data; returns what is left over and the count."""
    count = 0
    pos = 0
    while pos < len(data):
        if data[pos:pos + 1] != b"*":
            end = data.find(b"\r\n", pos)
            if end < 0:
                break
            pos = end + 2
            count += 1
            continue
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        n = int(data[pos + 1:end])
        cursor = end + 2
        complete = True
        for _ in range(max(n, 0)):
            line_end = data.find(b"\r\n", cursor)
            if line_end < 0:
                complete = False
                break
            size = int(data[cursor + 1:line_end])
            cursor = line_end + 2 + size + 2
            if cursor > len(data):
                complete = False
                break
        if not complete:
            break
        pos = cursor
        count += 1
    return data[pos:], count


# --------------------------------------------------------------------------
# Jobs: enqueue in Sidekiq's format, read what happened to them.


def job_timestamp(wall: float, major: int = SIDEKIQ_MAJOR):
    """created_at / enqueued_at as that major's client writes them: float
    epoch seconds in 6 and 7, integer milliseconds in 8."""
    return int(wall * 1000) if major >= 8 else wall


def enqueue(client: Resp, seconds: float, queue: str = QUEUE,
            major: int = SIDEKIQ_MAJOR, wrapped: Optional[str] = None,
            label: Optional[str] = None) -> str:
    """A SleepJob as Sidekiq::Client pushes it. With wrapped, shaped like an
    ActiveJob job: ActiveJob's adapter names the job's own class in
    "wrapped" (the class Sidekiq runs is still SleepJob here, since ActiveJob
    is not in the roots). label: the job's second argument (app.rb)."""
    jid = secrets.token_hex(12)
    now = job_timestamp(time.time(), major)
    args = [seconds] if label is None else [seconds, label]
    payload = {"class": "SleepJob", "args": args, "retry": False, "queue": queue,
               "jid": jid, "created_at": now, "enqueued_at": now}
    if wrapped:
        payload["wrapped"] = wrapped
    client.command("SADD", "queues", queue)
    client.command("LPUSH", f"queue:{queue}", json.dumps(payload))
    return jid


@dataclass
class JobReport:
    jid: str
    seconds: float
    outcome: str  # finished | requeued | queued (never started) | lost
    starts: int
    started_at: Optional[float]
    finished_at: Optional[float]
    pid: Optional[int] = None  # the Sidekiq process (pid in the container) that last ran it
    queued: int = 0  # copies waiting in a queue: more than one is a job pushed back twice

    def running_at(self, wall: float) -> bool:
        if self.started_at is None or self.started_at > wall:
            return False
        return self.finished_at is None or self.finished_at > wall


def job_reports(client: Resp, jobs: dict[str, float]) -> dict[str, JobReport]:
    queued: dict[str, int] = {}
    for queue in client.command("SMEMBERS", "queues") or []:
        for raw in client.command("LRANGE", f"queue:{queue}", 0, -1) or []:
            jid = json.loads(raw).get("jid")
            queued[jid] = queued.get(jid, 0) + 1

    starts: dict[str, int] = {}
    for raw in client.command("LRANGE", "qtest:events", 0, -1) or []:
        event = json.loads(raw)
        if event["event"] == "started":
            starts[event["jid"]] = starts.get(event["jid"], 0) + 1
    reports = {}
    for jid, seconds in jobs.items():
        started = client.command("HGET", "qtest:started", jid)
        finished = client.command("HGET", "qtest:finished", jid)
        if finished:
            outcome = "finished"
        elif jid in queued:
            outcome = "requeued" if started else "queued"
        else:
            outcome = "lost"
        reports[jid] = JobReport(
            jid=jid, seconds=seconds, outcome=outcome, starts=starts.get(jid, 0),
            started_at=json.loads(started)["at"] if started else None,
            finished_at=json.loads(finished)["at"] if finished else None,
            pid=json.loads(started)["pid"] if started else None, queued=queued.get(jid, 0))
    return reports


def jids_in_work_hashes(client: Resp) -> set[str]:
    """The jids every live identity's work hash holds (<id>:workers on
    6.4.1, <id>:work later): the jobs running at each one's last heartbeat."""
    jids = set()
    for identity in client.command("SMEMBERS", "processes") or []:
        for key in (f"{identity}:work", f"{identity}:workers"):
            flat = client.command("HGETALL", key) or []
            for value in flat[1::2]:
                try:
                    jids.add(json.loads(json.loads(value)["payload"])["jid"])
                except (ValueError, KeyError, TypeError):
                    continue
    return jids


def seed_stale_identities(client: Resp, hostname: str, pids: range, busy: int = 5,
                          age_s: float = 3600.0, major: int = SIDEKIQ_MAJOR):
    """Identities a SIGKILLed earlier container left behind: this hostname,
    small pids (the real Sidekiq will get one of them), busy jobs, an old
    start and a beat that will not move again. Shaped as that major writes
    them: the work hash is <id>:workers in 6.4.1 and <id>:work from 6.4.2;
    7 adds version, weights and embedded to info; 8 moves concurrency out of
    info into the hash and adds capsules."""
    now = time.time()
    for pid in pids:
        identity = f"{hostname}:{pid}:{secrets.token_hex(6)}"
        info = {"hostname": hostname, "started_at": now - age_s, "pid": pid, "tag": ""}
        if major >= 8:
            info["capsules"] = {"default": {"concurrency": 10, "mode": "strict",
                                            "weights": {QUEUE: 0}}}
        else:
            info["concurrency"] = 10
        info["queues"] = [QUEUE]
        if major >= 7:
            info["weights"] = [{QUEUE: 0}]
        info["labels"] = []
        info["identity"] = identity
        if major >= 7:
            info["version"] = {7: "7.3.2", 8: "8.1.7"}[major]
            info["embedded"] = False
        fields = ["info", json.dumps(info), "busy", busy, "beat", now - 20, "quiet", "false",
                  "rss", 1000, "rtt_us", 100]
        if major >= 8:
            fields += ["concurrency", 10]
        client.command("SADD", "processes", identity)
        client.command("HSET", identity, *fields)
        client.command("EXPIRE", identity, 600)
        work_key = f"{identity}:workers" if major < 7 else f"{identity}:work"
        for t in range(busy):
            enqueued = job_timestamp(now - age_s, major)
            job = {"class": "SleepJob", "args": [600], "jid": secrets.token_hex(12),
                   "queue": QUEUE, "created_at": enqueued, "enqueued_at": enqueued}
            work = {"queue": QUEUE, "payload": json.dumps(job), "run_at": int(now - age_s)}
            client.command("HSET", work_key, f"tid{t}", json.dumps(work))
        client.command("EXPIRE", work_key, 600)


# --------------------------------------------------------------------------
# Where Sidekiq runs: the host (6.x) or a Debian root (7.x, 8.x).


def is_static_elf(path: str) -> bool:
    """True when the ELF file at path asks for no program interpreter (no
    PT_INTERP): it runs in a root that has none of the host's libraries."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # 64-bit only
            return False
        order = "<" if head[5] == 1 else ">"
        phoff, = struct.unpack_from(order + "Q", head, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    for i in range(phnum):
        kind, = struct.unpack_from(order + "I", table, i * phentsize)
        if kind == 3:  # PT_INTERP
            return False
    return True


@dataclass
class Runtime:
    """The Sidekiq the tests run: the host's (root is None) or the one in a
    Debian root from scripts/roots, where the run's files are bind-mounted
    at fixed paths in a private mount namespace (scripts/roots makes the
    mount points)."""

    major: int
    root: Optional[Path] = None
    version: str = ""

    IN_ROOT_APP = "/quiesce/app"  # tests/sidekiq_app, read-only
    IN_ROOT_RUN = "/quiesce/run"  # the run's work directory
    IN_ROOT_QUIESCE = "/quiesce/bin/quiesce"
    IN_ROOT_TINI = "/quiesce/bin/tini"
    # A tini that needs nothing from the root (Debian's tini package).
    HOST_TINI_STATIC = "/usr/bin/tini-static"

    @property
    def heartbeat_s(self) -> float:
        return heartbeat_s(self.major)

    @property
    def app(self) -> str:
        return f"{self.IN_ROOT_APP}/{APP.name}" if self.root else str(APP)

    def path(self, workdir: Path, host_path: Path) -> str:
        """host_path, a file in the run's workdir, as Sidekiq and quiesce see it."""
        if not self.root:
            return str(host_path)
        return f"{self.IN_ROOT_RUN}/{host_path.relative_to(workdir)}"

    def quiesce(self, host_binary: str) -> str:
        if not self.root:
            return host_binary
        if not is_static_elf(host_binary):
            raise HarnessError(f"{host_binary} is dynamically linked: inside the Sidekiq "
                               f"{self.major} root only the static quiesce runs "
                               "(build-static/, -DQUIESCE_STATIC=ON)")
        return self.IN_ROOT_QUIESCE

    def tini(self) -> str:
        return self.IN_ROOT_TINI if self.root else "tini"

    def container_argv(self, hostname: str, workdir: Path, argv: list[str],
                       quiesce_binary: Optional[str] = None) -> list[str]:
        """unshare --pid --uts --fork --mount-proc with the init exec'd as
        PID 1 under our hostname; with a root, first a UTS and mount
        namespace where the run's files are bound into the root, then the
        PID namespace chrooted into it, in /quiesce/run."""
        if not self.root:
            return ["unshare", "--pid", "--uts", "--fork", "--mount-proc",
                    "sh", "-c", 'hostname "$0" && exec "$@"', hostname, *argv]
        binds = [("-o ro", str(APP.parent), self.IN_ROOT_APP),
                 ("", str(workdir), self.IN_ROOT_RUN),
                 ("-o ro", self.HOST_TINI_STATIC, self.IN_ROOT_TINI)]
        if quiesce_binary:
            binds.append(("-o ro", quiesce_binary, self.IN_ROOT_QUIESCE))
        root = str(self.root)
        mounts = " && ".join(f"mount --bind {opts} {shlex.quote(src)} "
                             f"{shlex.quote(root + dst)}" for opts, src, dst in binds)
        script = (f'hostname "$0" && {mounts} && exec unshare --pid --fork --mount-proc '
                  f'--root={shlex.quote(root)} --wd={self.IN_ROOT_RUN} "$@"')
        return ["unshare", "--uts", "--mount", "--propagation", "private",
                "sh", "-c", script, hostname, *argv]


_runtimes: dict[int, Runtime] = {}


def root_of(major: int) -> Path:
    """QUIESCE_ROOT_<major>, else what `scripts/roots --print <major>` says
    (it makes the root if it is missing)."""
    named = os.environ.get(f"QUIESCE_ROOT_{major}")
    if named:
        return Path(named)
    done = subprocess.run([str(REPO / "scripts" / "roots"), "--print", str(major)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        raise HarnessError(f"no root for Sidekiq {major}: scripts/roots --print {major} "
                           f"failed ({done.returncode}): {done.stderr.strip()}")
    return Path(done.stdout.strip().splitlines()[-1])


def runtime(major: int = SIDEKIQ_MAJOR) -> Runtime:
    """The Sidekiq of that major, checked: the root holds that major and the
    mount points the harness binds onto."""
    if major in _runtimes:
        return _runtimes[major]
    if major < 7:
        rt = Runtime(major)
    else:
        root = root_of(major)
        try:
            version = (root / "quiesce" / "sidekiq-version").read_text().strip()
        except OSError as e:
            raise HarnessError(f"{root} is not a root from scripts/roots: {e}")
        if version.split(".")[0] != str(major):
            raise HarnessError(f"{root} holds Sidekiq {version}, not {major}.x")
        for mount_point in (Runtime.IN_ROOT_APP, Runtime.IN_ROOT_RUN, Runtime.IN_ROOT_QUIESCE,
                            Runtime.IN_ROOT_TINI):
            if not (root / mount_point.lstrip("/")).exists():
                raise HarnessError(f"{root} lacks {mount_point} (remake it with scripts/roots)")
        rt = Runtime(major, root, version)
    _runtimes[major] = rt
    return rt


# --------------------------------------------------------------------------
# The container: the app under an init, PID 1 of its own namespaces.


def sidekiq_argv(timeout_s: int, concurrency: int = 10,
                 config_file: Optional[Path] = None,
                 rt: Optional[Runtime] = None, workdir: Optional[Path] = None) -> list[str]:
    """With config_file, the timeout goes in that file as production's
    :timeout: (and a wrong one at the top level) instead of -t. rt says
    where Sidekiq runs (the host's by default); config_file is then in the
    run's workdir."""
    rt = rt or Runtime(6)
    if config_file is None:
        timeout = ["-t", str(timeout_s)]
    else:
        config_file.write_text(f":timeout: 99\nproduction:\n  :timeout: {timeout_s}\n")
        inside = rt.path(workdir, config_file) if workdir else str(config_file)
        timeout = ["-e", "production", "-C", inside]
    return ["sidekiq", "-r", rt.app, *timeout, "-c", str(concurrency), "-q", QUEUE]


def shell_wrapped(argv: list[str], processes: int = 1,
                  late_after: Optional[str] = None) -> list[str]:
    """sh -c that stays between the init and Sidekiq (no exec), and runs
    something after Sidekiq, like many real entrypoint scripts. late_after:
    a file whose appearance starts one more Sidekiq (one that boots during
    the stop)."""
    one = shlex.join(argv)
    if late_after:
        wait = f"while [ ! -e {shlex.quote(late_after)} ]; do sleep 0.1; done"
        return ["sh", "-c", f"{one} & ({wait}; exec {one}) & wait; echo after-sidekiq"]
    if processes == 1:
        script = f"{one}; echo after-sidekiq status=$?"
    else:
        script = " & ".join([one] * processes) + " & wait; echo after-sidekiq"
    return ["sh", "-c", script]


class Container:
    """unshare --pid --uts --fork --mount-proc; the init is exec'd so it is
    PID 1 inside, under a hostname of our choosing; with a root
    (Runtime.container_argv), chrooted into it."""

    def __init__(self, init_argv: list[str], command: list[str], env: dict, hostname: str,
                 workdir: Path, live: bool = False, rt: Optional[Runtime] = None,
                 quiesce_binary: Optional[str] = None):
        self.hostname = hostname
        self.workdir = workdir
        self.stdout_path = workdir / "container.stdout"
        self.stderr_path = workdir / "container.stderr"
        self.stdout = open(self.stdout_path, "wb")
        rt = rt or Runtime(6)
        argv = rt.container_argv(hostname, workdir, [*init_argv, *command], quiesce_binary)
        self.stderr = None if live else open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.stdout,
                                     stderr=subprocess.PIPE if live else self.stderr,
                                     env={**os.environ, **env}, start_new_session=True)
        self.tee = None
        if live:
            self.tee = threading.Thread(target=self._tee_stderr, daemon=True)
            self.tee.start()
        self.init_pid = wait_for(self._child_pid, 10, "the init to be spawned")
        self.exit_status: Optional[int] = None

    def _tee_stderr(self):
        with open(self.stderr_path, "wb") as out:
            for line in self.proc.stderr:
                out.write(line)
                out.flush()
                sys.stderr.buffer.write(line)
                sys.stderr.flush()

    def _child_pid(self) -> Optional[int]:
        """The init: unshare's child in a PID namespace of its own (before
        it, the shell's hostname and mount commands are children too)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            ours = os.readlink("/proc/self/ns/pid")
        except OSError:
            children = ""
        for child in children.split():
            try:
                if os.readlink(f"/proc/{child}/ns/pid") != ours:
                    return int(child)
            except OSError:
                continue
        if self.proc.poll() is not None:
            raise HarnessError(f"container exited at once ({self.proc.returncode}): "
                               f"{self._text(self.stderr_path)}")
        return None

    def sidekiq_host_pids(self) -> list[int]:
        """Host pids of the processes in this container whose title is
        Sidekiq's."""
        try:
            ns = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        except OSError:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if os.readlink(entry / "ns/pid") != ns:
                    continue
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"sidekiq "):
                found.append(int(entry.name))
        return sorted(found)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ecs_stop(self, budget_s: float,
                 after_signal: Callable[[], None] = lambda: None) -> tuple[float, bool]:
        """SIGTERM to PID 1, wait up to the budget, then SIGKILL. Returns the
        stop duration and whether the SIGKILL was needed."""
        t0 = time.monotonic()
        os.kill(self.init_pid, signal.SIGTERM)
        after_signal()
        killed = False
        try:
            self.proc.wait(timeout=budget_s)
        except subprocess.TimeoutExpired:
            killed = True
            os.kill(self.init_pid, signal.SIGKILL)
            self.proc.wait()
        duration = time.monotonic() - t0
        self.exit_wall = time.time()
        self.exit_status = self.proc.returncode
        if self.tee:
            self.tee.join(5)
        return duration, killed

    def cleanup(self):
        if self.alive():
            try:
                os.kill(self.init_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stdout.close()
        if self.stderr:
            self.stderr.close()

    @staticmethod
    def _text(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return ""

    def stdout_text(self) -> str:
        self.stdout.flush()
        return self._text(self.stdout_path)

    def stderr_text(self) -> str:
        return self._text(self.stderr_path)


def json_events(stderr_text: str) -> list[dict]:
    events = []
    for line in stderr_text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "event" in obj:
            events.append(obj)
    return events


# --------------------------------------------------------------------------
# One stop, start to finish.


@dataclass
class StopScenario:
    init: str = "quiesce"  # quiesce | tini
    durations: list = field(default_factory=lambda: [1.0])
    budget_s: float = 14.0  # B, the orchestrator's stop timeout
    sidekiq_timeout_s: int = 3  # T, sidekiq -t
    margin_s: float = 2.0  # M, --shutdown-margin
    wrapper: bool = False  # sh -c "sidekiq ...; echo after"
    processes: int = 1  # Sidekiq processes (more than one implies the wrapper)
    concurrency: int = 10  # sidekiq -c
    # Enqueue once every Sidekiq process is up rather than before the
    # container starts, so the first process to boot cannot take every job.
    enqueue_after_boot: bool = False
    quiesce_redis: str = "plain"  # plain | tls | hung | down | proxy
    # With quiesce_redis="proxy": the proxy goes bad this long after SIGTERM
    # (CountingProxy.FAULTS), while Sidekiq's own Redis stays up.
    redis_fault: Optional[str] = None
    redis_fault_after_s: float = 3.0
    quiesce_args: list = field(default_factory=list)  # extra flags
    log_format: str = "json"
    verbosity: str = "-v"
    stale_pids: Optional[range] = None  # seed stale identities for these pids
    timeout_in_config_file: bool = False  # sidekiq -e production -C FILE, not -t
    # sh -c "cd DIR && RAILS_ENV=production exec sidekiq …": T only in
    # DIR/config/sidekiq.yml's production section, reached through a merge key.
    timeout_in_sidekiqs_directory: bool = False
    # sidekiq -e production -C FILE where FILE sets production's :timeout:
    # with ERB from the environment (QTEST_SIDEKIQ_TIMEOUT).
    timeout_by_erb: bool = False
    # quiesce finds Redis through REDIS_PROVIDER (no --redis-url; REDIS_URL
    # is Sidekiq's, straight to Redis, not through quiesce_redis's proxy).
    redis_via_provider: bool = False
    live: bool = False  # copy the init's stderr to ours as it comes
    # The container's command from Sidekiq's argv (rt, workdir, argv), for
    # wrappers of other shapes and the embedded app.
    command: Optional[Callable[["Runtime", Path, list], list]] = None
    env: dict = field(default_factory=dict)  # beside REDIS_URL
    # {seconds: (queue, wrapped class or None)} for jobs not on the default
    # queue or shaped like ActiveJob's.
    job_shapes: dict = field(default_factory=dict)
    # Run with Redis's client this long after the SIGTERM (e.g. the Web UI's
    # quiet button), and right before it; what before_stop returns is kept.
    during_stop: Optional[Callable[[Resp], None]] = None
    during_stop_after_s: float = 1.0
    before_stop: Optional[Callable[[Resp], object]] = None
    # One more Sidekiq process under the shell, started right after the
    # SIGTERM: it boots during the drain.
    late_process: bool = False


@dataclass
class StopResult:
    scenario: StopScenario
    jobs: dict
    stop_s: float
    killed_by_harness: bool
    exit_status: Optional[int]
    exit_wall: float
    events: list
    stdout: str
    stderr: str
    sidekiq_processes: int
    quiesce_commands: Optional[int] = None  # only with quiesce_redis="proxy"
    redis_calls_during_stop: Optional[int] = None  # every client, from commandstats
    sidekiq: str = ""  # which Sidekiq ran: "6 (host)", "7.3.2 (root)"
    before_stop: object = None  # what StopScenario.before_stop returned

    def count(self, outcome: str) -> int:
        return sum(1 for j in self.jobs.values() if j.outcome == outcome)

    def outcomes_by_seconds(self) -> dict:
        return {j.seconds: j.outcome for j in self.jobs.values()}

    def last_job_end(self) -> Optional[float]:
        ends = [j.finished_at for j in self.jobs.values() if j.finished_at]
        return max(ends) if ends else None

    def exit_after_last_end_s(self) -> Optional[float]:
        end = self.last_job_end()
        return None if end is None else self.exit_wall - end

    @property
    def t0_wall(self) -> float:
        """The SIGTERM on the wall clock (the jobs' own timestamps' clock)."""
        return self.exit_wall - self.stop_s

    def event(self, name: str) -> list:
        return [e for e in self.events if e.get("event") == name]

    def describe(self) -> str:
        jobs = ", ".join(f"{j.seconds:g}s:{j.outcome}" for j in self.jobs.values())
        return (f"sidekiq={self.sidekiq} init={self.scenario.init} stop={self.stop_s:.2f}s "
                f"killed={self.killed_by_harness} "
                f"exit={self.exit_status} jobs=[{jobs}]\n--- init stderr ---\n{self.stderr[-6000:]}"
                f"\n--- stdout (tail) ---\n{self.stdout[-3000:]}")


def quiesce_binary() -> str:
    path = os.environ.get("QUIESCE_BIN")
    if path:
        return path
    for candidate in (REPO / "build" / "quiesce",):
        if candidate.exists():
            return str(candidate)
    raise HarnessError("QUIESCE_BIN is not set and build/quiesce does not exist")


def run_stop(sc: StopScenario, quiesce_bin: Optional[str] = None,
             hostname: Optional[str] = None,
             narrate: Callable[[str], None] = lambda _: None,
             rt: Optional[Runtime] = None) -> StopResult:
    """One stop on rt's Sidekiq (by default QUIESCE_SIDEKIQ_MAJOR's)."""
    rt = rt or runtime()
    workdir = Path(tempfile.mkdtemp(prefix="quiesce-sidekiq-"))
    hostname = hostname or f"qtest-{secrets.token_hex(4)}"
    redis = hung = proxy = container = None
    try:
        redis = RedisServer(workdir, tls=sc.quiesce_redis == "tls")
        narrate(f"redis-server on 127.0.0.1:{redis.port}")
        if sc.stale_pids is not None:
            seed_stale_identities(redis.client, hostname, sc.stale_pids, major=rt.major)
        quiesce_url = redis.url
        if sc.quiesce_redis == "tls":
            quiesce_url = redis.tls_url
        elif sc.quiesce_redis == "hung":
            hung = HungRedis()
            quiesce_url = hung.url
        elif sc.quiesce_redis == "down":
            quiesce_url = f"redis://127.0.0.1:{free_port()}/0"
        elif sc.quiesce_redis == "proxy":
            proxy = CountingProxy(redis.port)
            quiesce_url = proxy.url

        command = sidekiq_argv(sc.sidekiq_timeout_s, sc.concurrency,
                               workdir / "sidekiq.yml" if sc.timeout_in_config_file else None,
                               rt, workdir)
        env = {"REDIS_URL": redis.url}
        if sc.timeout_in_sidekiqs_directory:
            app_dir = workdir / "app"
            (app_dir / "config").mkdir(parents=True)
            # The top level's 99 and quiesce's directory (no file: 25) would
            # both leave no room to drain.
            (app_dir / "config" / "sidekiq.yml").write_text(
                f":timeout: 99\nshort: &short\n  :timeout: {sc.sidekiq_timeout_s}\n"
                f"production:\n  <<: *short\n  :concurrency: {sc.concurrency}\n")
            plain = ["sidekiq", "-r", rt.app, "-c", str(sc.concurrency), "-q", QUEUE]
            command = ["sh", "-c", f"cd {shlex.quote(rt.path(workdir, app_dir))} && "
                       f"RAILS_ENV=production exec {shlex.join(plain)}"]
        if sc.timeout_by_erb:
            yml = workdir / "erb.yml"
            yml.write_text(":timeout: 99\nproduction:\n"
                           "  :timeout: <%= Integer(ENV.fetch('QTEST_SIDEKIQ_TIMEOUT')) %>\n")
            command = ["sidekiq", "-r", rt.app, "-e", "production", "-C", rt.path(workdir, yml),
                       "-c", str(sc.concurrency), "-q", QUEUE]
            env["QTEST_SIDEKIQ_TIMEOUT"] = str(sc.sidekiq_timeout_s)
        if sc.redis_via_provider:
            # The sample app hands REDIS_URL to Sidekiq itself; quiesce's URL
            # (the counting proxy's) is only in the variable REDIS_PROVIDER names.
            env = {**env, "REDIS_PROVIDER": "QTEST_REDIS", "QTEST_REDIS": quiesce_url}
        go_file = workdir / "late-go"
        if sc.late_process:
            command = shell_wrapped(command, late_after=rt.path(workdir, go_file))
        elif sc.wrapper or sc.processes > 1:
            command = shell_wrapped(command, sc.processes)
        if sc.command:
            command = sc.command(rt, workdir, command)
        host_quiesce = None
        if sc.init == "tini":
            init_argv = [rt.tini(), "--"]
        elif sc.init == "quiesce":
            host_quiesce = os.path.abspath(quiesce_bin or quiesce_binary())
            init_argv = [rt.quiesce(host_quiesce), "--stop-timeout", f"{sc.budget_s:g}",
                         "--shutdown-margin", f"{sc.margin_s:g}", "--log-format", sc.log_format]
            if not sc.redis_via_provider:
                init_argv += ["--redis-url", quiesce_url]
            if sc.verbosity:
                init_argv.append(sc.verbosity)
            if sc.quiesce_redis == "tls":
                init_argv += ["--redis-ca-file", rt.path(workdir, redis.tls_files["ca"])]
            init_argv += [*sc.quiesce_args, "--"]
        else:
            raise HarnessError(f"unknown init {sc.init}")

        def enqueue_all() -> dict:
            jobs = {}
            for s in sc.durations:
                queue, wrapped = sc.job_shapes.get(s, (QUEUE, None))
                jobs[enqueue(redis.client, float(s), queue, rt.major, wrapped)] = float(s)
            return jobs

        def every_process_up():
            if not container.alive():
                raise HarnessError("container exited before Sidekiq was up:\n"
                                   + container.stderr_text() + container.stdout_text())
            return len(container.sidekiq_host_pids()) >= sc.processes

        jobs = {} if sc.enqueue_after_boot else enqueue_all()
        container = Container(init_argv, command, {**env, **sc.env}, hostname,
                              workdir, live=sc.live, rt=rt, quiesce_binary=host_quiesce)
        if sc.enqueue_after_boot:
            wait_for(every_process_up, 90, "every Sidekiq process's title", step=0.1)
            jobs = enqueue_all()
        where = f"Sidekiq {rt.version} in {rt.root}" if rt.root else "the host's Sidekiq"
        narrate(f"container {hostname} ({where}): {shlex.join(init_argv + command)} "
                f"(PID 1 is host pid {container.init_pid}); "
                f"{len(jobs)} jobs enqueued: {', '.join(f'{s:g}s' for s in jobs.values())}")

        def all_started():
            if not container.alive():
                raise HarnessError("container exited before the jobs started:\n"
                                   + container.stderr_text() + container.stdout_text())
            return redis.client.command("HLEN", "qtest:started") >= len(jobs)

        wait_for(all_started, 90, "every job to start", step=0.1)
        wait_for(lambda: len(container.sidekiq_host_pids()) >= sc.processes, 30,
                 "Sidekiq's process title")
        sidekiq_processes = len(container.sidekiq_host_pids())

        narrate(f"every job is running; SIGTERM to PID 1, budget {sc.budget_s:g}s")
        before_stop = sc.before_stop(redis.client) if sc.before_stop else None
        calls_before = redis.command_calls()
        fault = None
        if sc.redis_fault:
            if not proxy:
                raise HarnessError("redis_fault needs quiesce_redis='proxy'")
            fault = threading.Timer(sc.redis_fault_after_s, proxy.fault, args=(sc.redis_fault,))
        elif sc.during_stop:
            # Its own connection: Resp is not shared between threads.
            fault = threading.Timer(sc.during_stop_after_s,
                                    lambda: sc.during_stop(Resp(redis.port)))
        t0 = time.monotonic()
        if fault:
            fault.start()
        stop_s, killed = container.ecs_stop(
            sc.budget_s, after_signal=(lambda: go_file.touch()) if sc.late_process else lambda: None)
        if fault:
            fault.cancel()
        t_end = time.monotonic()
        exit_wall = container.exit_wall
        narrate(f"container exited after {stop_s:.2f}s"
                + (" (SIGKILLed at the budget)" if killed else ""))
        calls_after = redis.command_calls()
        redis_calls = sum(calls_after.get(k, 0) - calls_before.get(k, 0)
                          for k in calls_after if k != "info")

        stderr = container.stderr_text()
        return StopResult(
            scenario=sc, jobs=job_reports(redis.client, jobs), stop_s=stop_s,
            killed_by_harness=killed, exit_status=container.exit_status, exit_wall=exit_wall,
            events=json_events(stderr), stdout=container.stdout_text(), stderr=stderr,
            sidekiq_processes=sidekiq_processes,
            quiesce_commands=proxy.commands_between(t0, t_end) if proxy else None,
            redis_calls_during_stop=redis_calls,
            sidekiq=f"{rt.version} (root)" if rt.root else f"{rt.major} (host)",
            before_stop=before_stop)
    finally:
        if container:
            container.cleanup()
        for part in (proxy, hung, redis):
            if part:
                part.stop()
        if not os.environ.get("QUIESCE_KEEP_WORKDIR"):
            shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# Two containers of one pod or ECS task: one host name, one Redis.


@dataclass
class PodMember:
    name: str
    stop_s: float
    killed_by_harness: bool
    exit_status: Optional[int]
    exit_wall: float
    events: list
    stderr: str

    def event(self, name: str) -> list:
        return [e for e in self.events if e.get("event") == name]


@dataclass
class PodResult:
    members: dict  # name -> PodMember
    identities: list  # SMEMBERS processes before the stop
    jobs: dict  # jid -> JobReport

    def describe(self) -> str:
        jobs = ", ".join(f"{j.seconds:g}s:{j.outcome}" for j in self.jobs.values())
        parts = [f"identities={self.identities} jobs=[{jobs}]"]
        for m in self.members.values():
            parts.append(f"--- {m.name}: stop={m.stop_s:.2f}s exit={m.exit_status} "
                         f"killed={m.killed_by_harness}\n{m.stderr[-4000:]}")
        return "\n".join(parts)


def run_pod(job_s: float, budget_s: float, sidekiq_timeout_s: int = 3, margin_s: float = 2.0,
            quiesce_bin: Optional[str] = None, rt: Optional[Runtime] = None) -> PodResult:
    """Two quiesce containers under one host name (as two containers of a
    pod or an ECS task), each PID 1 of its own PID namespace, so each
    Sidekiq is pid 2 in its own; one Redis. "busy" works the default queue,
    where one job of job_s runs; "idle" works a queue nobody fills. Both get
    SIGTERM at once, as when the task stops."""
    rt = rt or runtime()
    hostname = f"qpod-{secrets.token_hex(4)}"
    base = Path(tempfile.mkdtemp(prefix="quiesce-pod-"))
    redis = None
    containers: dict[str, Container] = {}
    try:
        redis = RedisServer(base)
        host_quiesce = os.path.abspath(quiesce_bin or quiesce_binary())
        init_argv = [rt.quiesce(host_quiesce), "--stop-timeout", f"{budget_s:g}",
                     "--shutdown-margin", f"{margin_s:g}", "--redis-url", redis.url,
                     "--log-format", "json", "-v", "--"]
        for name, queue in (("busy", QUEUE), ("idle", "pod-idle")):
            workdir = base / name
            workdir.mkdir()
            command = sidekiq_argv(sidekiq_timeout_s, 5, rt=rt, workdir=workdir)
            command[command.index("-q") + 1] = queue
            # Started together, as a task's containers are: the start times
            # are as close as they get in production, and each Sidekiq is
            # the first child of its PID 1, pid 2 in both.
            containers[name] = Container(init_argv, command, {"REDIS_URL": redis.url}, hostname,
                                         workdir, rt=rt, quiesce_binary=host_quiesce)
        for name, c in containers.items():
            wait_for(lambda c=c: len(c.sidekiq_host_pids()) == 1, 90, f"{name}'s Sidekiq title",
                     step=0.1)

        def both_beat():
            members = redis.client.command("SMEMBERS", "processes") or []
            return members if len(members) == 2 else None

        identities = wait_for(both_beat, 3 * rt.heartbeat_s, "both identities in Redis")
        jobs = {enqueue(redis.client, job_s, major=rt.major): job_s}
        wait_for(lambda: redis.client.command("HLEN", "qtest:started") >= 1, 30,
                 "the job to start", step=0.1)

        outcomes: dict[str, tuple] = {}

        def stop(name: str):
            outcomes[name] = containers[name].ecs_stop(budget_s)

        threads = [threading.Thread(target=stop, args=(n,)) for n in containers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        members = {}
        for name, c in containers.items():
            stderr = c.stderr_text()
            members[name] = PodMember(name, outcomes[name][0], outcomes[name][1], c.exit_status,
                                      c.exit_wall, json_events(stderr), stderr)
        return PodResult(members, sorted(identities), job_reports(redis.client, jobs))
    finally:
        for c in containers.values():
            c.cleanup()
        if redis:
            redis.stop()
        if not os.environ.get("QUIESCE_KEEP_WORKDIR"):
            shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------
# Jobs put back by quiesce (stop.recover_jobs).


@dataclass
class RecoveryRun:
    jobs: dict
    exit_status: Optional[int]
    stop_s: Optional[float]  # SIGTERM to exit (None: no stop)
    killed_by_harness: bool
    events: list
    stderr: str

    def event(self, name: str) -> list:
        return [e for e in self.events if e.get("event") == name]

    def describe(self) -> str:
        jobs = ", ".join(f"{j.seconds:g}s:{j.outcome}x{j.queued}" for j in self.jobs.values())
        return (f"exit={self.exit_status} stop={self.stop_s} killed={self.killed_by_harness} "
                f"jobs=[{jobs}]\n--- quiesce stderr ---\n{self.stderr[-6000:]}")


def run_recovery(durations: list, budget_s: float, hidden_timeout_s: Optional[int] = None,
                 hang_redis: bool = False, kill_sidekiq: bool = False, init: str = "quiesce",
                 quiesce_bin: Optional[str] = None, rt: Optional[Runtime] = None) -> RecoveryRun:
    """Jobs running and written into the work hash by a heartbeat, then an
    ECS stop with budget B (or, with kill_sidekiq, a SIGKILL to Sidekiq from
    outside and no stop). With hidden_timeout_s, Sidekiq runs from an
    entrypoint script (`exec sidekiq -t N`) so its timeout is hidden from
    quiesce, which is told only B. With hang_redis, quiesce's Redis stops
    answering 2 s into the stop."""
    rt = rt or runtime()
    workdir = Path(tempfile.mkdtemp(prefix="quiesce-recover-"))
    redis = proxy = container = None
    try:
        redis = RedisServer(workdir)
        quiesce_url = redis.url
        if hang_redis:
            proxy = CountingProxy(redis.port)
            quiesce_url = proxy.url
        command = sidekiq_argv(hidden_timeout_s or 3, rt=rt, workdir=workdir)
        if hidden_timeout_s:
            script = workdir / "entrypoint.sh"
            script.write_text("#!/bin/sh\nexec " + shlex.join(command) + "\n")
            command = ["sh", rt.path(workdir, script)]
        host_quiesce = None
        if init == "tini":
            init_argv = [rt.tini(), "--"]
        else:
            host_quiesce = os.path.abspath(quiesce_bin or quiesce_binary())
            init_argv = [rt.quiesce(host_quiesce), "--stop-timeout", f"{budget_s:g}",
                         "--redis-url",
                         quiesce_url, "--log-format", "json", "-v", "--"]
        jobs = {enqueue(redis.client, float(s), major=rt.major): float(s) for s in durations}
        container = Container(init_argv, command, {"REDIS_URL": redis.url},
                              f"qtest-{secrets.token_hex(4)}", workdir, rt=rt,
                              quiesce_binary=host_quiesce)

        def in_work_hash():
            if not container.alive():
                raise HarnessError("container exited early:\n" + container.stderr_text())
            return set(jobs) <= jids_in_work_hashes(redis.client)

        wait_for(in_work_hash, 60 + 2 * rt.heartbeat_s, "every job in the work hash", step=0.1)
        stop_s = None
        killed = False
        if kill_sidekiq:
            pids = wait_for(container.sidekiq_host_pids, 10, "Sidekiq's title")
            os.kill(pids[0], signal.SIGKILL)
            container.proc.wait(timeout=20)
            container.exit_status = container.proc.returncode
        else:
            fault = None
            if hang_redis:
                fault = threading.Timer(2.0, proxy.fault, args=("hang",))
                fault.start()
            stop_s, killed = container.ecs_stop(budget_s)
            if fault:
                fault.cancel()
        stderr = container.stderr_text()
        return RecoveryRun(jobs=job_reports(redis.client, jobs),
                           exit_status=container.exit_status, stop_s=stop_s,
                           killed_by_harness=killed, events=json_events(stderr), stderr=stderr)
    finally:
        if container:
            container.cleanup()
        for part in (proxy, redis):
            if part:
                part.stop()
        if not os.environ.get("QUIESCE_KEEP_WORKDIR"):
            shutil.rmtree(workdir, ignore_errors=True)
