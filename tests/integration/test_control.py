"""The control socket end to end: quiesce as PID 1 in front of the real
Sidekiq (QUIESCE_SIDEKIQ_MAJOR's, as in test_sidekiq_stop) and a real
redis-server, asked by the quiesce client from outside the container the
way `docker exec CONTAINER quiesce status` asks from inside it.

Each test boots its own worker; the socket is put in the run's work
directory (QUIESCE_CONTROL_SOCKET / --control-socket) so that workers of
tests running side by side never share one.
"""

import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

import sidekiq_harness as h

HB = h.HEARTBEAT_S
MAJOR = h.SIDEKIQ_MAJOR


class Worker:
    """One container: quiesce, JSON logs, its control socket in workdir,
    and Sidekiq -c 5 behind it."""

    def __init__(self, redis: h.RedisServer, quiesce_url: str = "", extra=()):
        self.rt = h.runtime()
        self.redis = redis
        self.workdir = Path(tempfile.mkdtemp(prefix="quiesce-control-"))
        self.socket = self.workdir / "control.sock"
        self.binary = os.path.abspath(h.quiesce_binary())
        init = [self.rt.quiesce(self.binary), "--log-format", "json", "--verbosity", "2",
                "--redis-url", quiesce_url or redis.url,
                "--control-socket", self.rt.path(self.workdir, self.socket), *extra, "--"]
        command = h.sidekiq_argv(5, 5, rt=self.rt, workdir=self.workdir)
        self.container = h.Container(init, command, {"REDIS_URL": redis.url},
                                     f"qctl-{secrets.token_hex(4)}", self.workdir, rt=self.rt,
                                     quiesce_binary=self.binary)
        h.wait_for(self._up, 90, "Sidekiq's title and the control socket", step=0.1)

    def _up(self):
        if not self.container.alive():
            raise h.HarnessError("container exited at once:\n" + self.container.stderr_text())
        return self.socket.exists() and self.container.sidekiq_host_pids()

    def client(self, *args, user=None, timeout=30) -> subprocess.CompletedProcess:
        argv = [self.binary, *args, "--socket", str(self.socket)]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def status(self) -> dict:
        done = self.client("status", "--json")
        if done.returncode != 0:
            raise h.HarnessError(f"status failed ({done.returncode}): {done.stderr}")
        return json.loads(done.stdout)

    def events(self, name: str) -> list:
        return [e for e in h.json_events(self.container.stderr_text()) if e["event"] == name]

    def close(self):
        self.container.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = Path(tempfile.mkdtemp(prefix="quiesce-control-redis-"))
        cls.redis = h.RedisServer(cls.workdir)

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def worker(self, **kwargs) -> Worker:
        w = Worker(self.redis, **kwargs)
        self.addCleanup(w.close)
        return w

    def start_jobs(self, w: Worker, *seconds: float) -> dict:
        jobs = {h.enqueue(self.redis.client, s, major=MAJOR): s for s in seconds}
        h.wait_for(lambda: all(self.redis.client.command("HEXISTS", "qtest:started", j)
                               for j in jobs), 60, "the jobs to start", step=0.1)
        return jobs

    def test_status_shows_the_busy_count_and_the_jobs_redis_holds(self):
        w = self.worker()
        jobs = self.start_jobs(w, 120, 120)

        # The work hash is written at Sidekiq's next heartbeat.
        def both_jobs_shown():
            procs = w.status()["sidekiq"]
            return procs and procs[0].get("busy") == 2 and len(procs[0].get("jobs", [])) == 2

        h.wait_for(both_jobs_shown, 3 * HB, "status to show both running jobs", step=0.5)
        s = w.status()
        self.assertEqual(s["phase"], "running")
        self.assertTrue(s["main_child"]["running"])
        self.assertTrue(s["redis"]["answered"])
        [p] = s["sidekiq"]
        self.assertEqual(p["concurrency"], 5)
        self.assertTrue(p["version"].startswith(f"{MAJOR}."), p)
        self.assertIn(f":{p['pid']}:", p["identity"])
        self.assertFalse(p["quiet"])
        self.assertGreater(p["rss_kib"], 10_000)  # a Ruby process
        self.assertLess(p["beat_age_s"], 2 * HB)
        self.assertEqual({j["jid"] for j in p["jobs"]}, set(jobs))
        self.assertEqual({j["class"] for j in p["jobs"]}, {"SleepJob"})
        self.assertEqual({j["queue"] for j in p["jobs"]}, {h.QUEUE})
        # Piped (as here) the answer is JSON even without --json.
        table = w.client("status")
        self.assertEqual(table.returncode, 0)
        self.assertTrue(table.stdout.lstrip().startswith("{"))  # piped here: JSON
        health = w.client("health", "--ready")
        self.assertEqual(health.returncode, 0, health.stdout + health.stderr)
        self.assertIn("ready", health.stdout)

    def test_health_fails_while_sidekiq_is_frozen(self):
        w = self.worker()
        ok = w.client("health")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        [pid] = w.container.sidekiq_host_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            bad = w.client("health")
            self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
            self.assertIn("is stopped", bad.stdout)
        finally:
            os.kill(pid, signal.SIGCONT)
        again = w.client("health")
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)

    def test_health_fails_once_every_job_thread_has_ended(self):
        # Each "end-thread" job ends the thread that runs it (app.rb), one of
        # the five; Sidekiq's heartbeat goes on beating all the while.
        w = self.worker()
        ok = w.client("health")
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        for _ in range(5):
            h.enqueue(self.redis.client, 0, major=MAJOR, label="end-thread")

        def failed():
            done = w.client("health")
            return done if done.returncode == 1 else None

        bad = h.wait_for(failed, 60, "health to fail with no job thread left", step=0.2)
        self.assertIn("no job thread left", bad.stdout)
        [p] = w.status()["sidekiq"]
        self.assertEqual(p["job_threads"], 0)
        self.assertLess(p["beat_age_s"], 2 * HB)  # the heartbeat alone says nothing

    def test_health_answers_within_a_second_with_redis_hung(self):
        hung = h.HungRedis()
        self.addCleanup(hung.stop)
        w = self.worker(quiesce_url=hung.url)
        started = time.monotonic()
        done = w.client("health")
        took = time.monotonic() - started
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("Redis did not answer", done.stdout)
        # quiesce gives Redis 0.7 s; the rest is starting the client.
        self.assertLess(took, 1.5)

    def test_quiet_exit_when_drained_finishes_every_job_and_exits_0(self):
        w = self.worker()
        jobs = self.start_jobs(w, 2, 4)
        done = w.client("quiet", "--exit-when-drained", "--wait", timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("idle", done.stdout)
        w.container.proc.wait(60)
        self.assertEqual(w.container.proc.returncode, 0, w.container.stderr_text())
        reports = h.job_reports(self.redis.client, jobs)
        self.assertEqual({r.outcome for r in reports.values()}, {"finished"}, reports)
        self.assertEqual(len(w.events("quiet_started")), 1)
        [drained] = w.events("quiet_drained")
        self.assertTrue(drained["exiting"])
        [term] = w.events("term_sent")
        self.assertEqual(term["reason"], "drained")

    def test_restart_brings_up_a_new_sidekiq_with_no_job_lost(self):
        w = self.worker()
        before = w.status()["sidekiq"]
        h.wait_for(lambda: w.status()["sidekiq"] and w.status()["sidekiq"][0].get("identity"),
                   3 * HB, "the first Sidekiq's identity", step=0.5)
        old_identity = w.status()["sidekiq"][0]["identity"]
        jobs = self.start_jobs(w, 3)
        done = w.client("restart")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

        def new_identity():
            procs = w.status()["sidekiq"]
            return procs and procs[0].get("identity") not in (None, old_identity)

        h.wait_for(new_identity, 60 + 3 * HB, "a new Sidekiq identity", step=0.5)
        s = w.status()
        self.assertEqual(s["restarts"], 1, s)
        self.assertEqual(s["phase"], "running")
        self.assertTrue(w.container.alive())
        self.assertNotEqual(s["main_child"]["pid"], before[0]["pid"] if before else None)
        reports = h.job_reports(self.redis.client, jobs)
        self.assertEqual({r.outcome for r in reports.values()}, {"finished"}, reports)
        [restarted] = w.events("restarted")
        self.assertEqual(restarted["restarts"], 1)
        [term] = w.events("term_sent")
        self.assertEqual(term["reason"], "drained")
        # The new Sidekiq takes work.
        more = self.start_jobs(w, 0.5)
        h.wait_for(lambda: h.job_reports(self.redis.client, more)[next(iter(more))].outcome
                   == "finished", 30, "a job on the new Sidekiq")

    def test_on_drained_runs_once_with_the_drain_in_its_environment(self):
        hook = ["sh", "-c", 'echo "drained jobs=$QUIESCE_DRAIN_JOBS_FINISHED '
                'processes=$QUIESCE_DRAIN_PROCESSES ids=$QUIESCE_SIDEKIQ_IDENTITIES"; '
                'echo "to stderr" >&2']
        w = self.worker(extra=["--on-drained", json.dumps(hook)])
        h.wait_for(lambda: w.status()["sidekiq"] and w.status()["sidekiq"][0].get("identity"),
                   3 * HB, "the Sidekiq identity", step=0.5)
        identity = w.status()["sidekiq"][0]["identity"]
        self.start_jobs(w, 2 * HB)  # running at a beat after the TSTP
        done = w.client("quiet", "--wait", timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        h.wait_for(lambda: w.events("on_drained_done"), 15, "on_drained to finish")
        lines = [e["msg"] for e in w.events("on_drained_output")]
        self.assertEqual(lines, [f"drained jobs=1 processes=1 ids={identity}", "to stderr"])
        self.assertEqual(len(w.events("on_drained")), 1)
        self.assertTrue(w.container.alive())  # a plain quiet: Sidekiq stays, idle

    def test_http_probes_answer_as_health_does_and_bound_their_clients(self):
        port = h.free_port()
        w = self.worker(extra=["--http-listen", f"127.0.0.1:{port}"])

        def get(path: str, method: str = "GET") -> tuple[int, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request(method, path)
                response = conn.getresponse()
                return response.status, response.read().decode()
            finally:
                conn.close()

        h.wait_for(lambda: get("/readyz")[0] == 200, 3 * HB, "/readyz to pass", step=0.5)
        self.assertEqual(get("/livez")[0], 200)
        # HEAD: the GET's status and length, and no body after the head.
        with socket.create_connection(("127.0.0.1", port), timeout=15) as head:
            head.sendall(b"HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while chunk := head.recv(4096):
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer)
        self.assertRegex(answer, rb"Content-Length: [1-9]")
        self.assertTrue(answer.endswith(b"\r\n\r\n"), answer)
        code, body = get("/status")
        self.assertEqual(code, 200)
        self.assertEqual(json.loads(body)["phase"], "running")
        self.assertEqual(get("/nope")[0], 404)
        self.assertEqual(get("/livez", "POST")[0], 405)
        [pid] = w.container.sidekiq_host_pids()
        os.kill(pid, signal.SIGSTOP)
        try:
            code, body = get("/livez")
            self.assertEqual(code, 503)
            self.assertIn("is stopped", body)
        finally:
            os.kill(pid, signal.SIGCONT)
        # A client that never finishes its request is answered 408 and cut
        # off; one that sends too much, 431. Neither holds anything up.
        with socket.create_connection(("127.0.0.1", port), timeout=15) as slow:
            slow.sendall(b"GET /livez HTTP/1.1\r\n")
            self.assertEqual(get("/livez")[0], 200)  # served meanwhile
            answer = slow.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 408"), answer)
        with socket.create_connection(("127.0.0.1", port), timeout=15) as big:
            big.sendall(b"GET /livez HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
            answer = big.recv(4096)
            self.assertTrue(answer.startswith(b"HTTP/1.1 431"), answer)

    def test_a_tstp_sent_to_quiesce_quiets_sidekiq(self):
        w = self.worker()
        os.kill(w.container.init_pid, signal.SIGTSTP)

        def quiet_seen():
            s = w.status()
            procs = s["sidekiq"]
            return s["phase"] == "quiet" and procs and procs[0].get("quiet")

        h.wait_for(quiet_seen, 3 * HB, "status to show Sidekiq quiet", step=0.5)
        [started] = w.events("quiet_started")
        self.assertEqual(started["source"], "signal")
        ready = w.client("health", "--ready")
        self.assertEqual(ready.returncode, 1, ready.stdout)
        self.assertIn("quiet", ready.stdout)
        live = w.client("health")
        self.assertEqual(live.returncode, 0, live.stdout + live.stderr)
        self.assertTrue(w.container.alive())

    def test_another_uid_is_refused(self):
        w = self.worker()
        nobody = 65534
        # The socket's 0700 folder keeps other users out in the first place.
        denied = w.client("health", user=nobody)
        self.assertEqual(denied.returncode, 3, denied.stdout + denied.stderr)
        # Opened up by hand, quiesce still refuses them by their credentials.
        os.chmod(w.socket.parent, 0o755)
        os.chmod(w.socket, 0o777)
        refused = w.client("health", user=nobody)
        self.assertEqual(refused.returncode, 1, refused.stdout + refused.stderr)
        self.assertIn("permission denied", refused.stderr)
        h.wait_for(lambda: w.events("control_refused"), 5, "the refusal in the log")
        self.assertEqual(w.client("health").returncode, 0)

    def test_malformed_requests_get_an_error_and_change_nothing(self):
        w = self.worker()
        for line in (b"not json\n", b'{"command":"quiet","wait":"yes"}\n',
                     b'{"command":"restart-everything"}\n', b"[]\n"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(str(w.socket))
                s.sendall(line)
                reply = b""
                while not reply.endswith(b"\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    reply += chunk
            answer = json.loads(reply)
            self.assertFalse(answer["ok"], line)
            self.assertTrue(answer["error"], line)
        self.assertEqual(w.status()["phase"], "running")
        self.assertEqual(w.events("quiet_started"), [])
        self.assertEqual(w.events("tstp_sent"), [])


if __name__ == "__main__":
    unittest.main()
