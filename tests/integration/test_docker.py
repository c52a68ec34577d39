"""quiesce under the real Docker engine, as users run it.

The image is docker/Dockerfile.sidekiq on a base that scripts/images makes
from the Sidekiq 7 root (no registry here): the static quiesce as the
ENTRYPOINT in front of the real Sidekiq 7.3.2 and the sample app. Containers
use the host's network to reach the test's redis-server on loopback.
`docker stop -t N` is the orchestrator: SIGTERM to PID 1, SIGKILL after N
seconds. `docker run --init` (Docker's own tini) is the baseline users have
today.

Run in the static build only (the image has none of the host's libraries).
Without a Docker daemon every test is skipped with the reason
"no Docker daemon", which ctest counts as skipped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from sidekiq_harness import (APP, QUEUE, REPO, HarnessError, RedisServer, enqueue, free_port,
                             heartbeat_s, is_static_elf, job_reports, json_events, wait_for)

MAJOR = 7  # The Docker layer is the same for every major; the stop suites cover them all.
HEARTBEAT_S = heartbeat_s(MAJOR)
IMAGE = ""
BASE = ""


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise HarnessError(f"docker {' '.join(args)} failed ({done.returncode}): "
                           f"{done.stderr.strip()}")
    return done


def setUpModule():
    global IMAGE, BASE
    made = subprocess.run([str(REPO / "scripts" / "images"), str(MAJOR)], capture_output=True,
                          text=True)
    if made.returncode == 3:
        raise unittest.SkipTest(f"no Docker daemon: {made.stderr.strip()}")
    if made.returncode != 0:
        raise HarnessError(f"scripts/images {MAJOR} failed: {made.stderr.strip()}")
    base = made.stdout.split()[-1]
    BASE = base
    binary = os.environ.get("QUIESCE_BIN", "")
    if not binary or not is_static_elf(binary):
        raise HarnessError(f"QUIESCE_BIN={binary!r} is not the static quiesce: the image has "
                           "none of the host's libraries")
    context = Path(tempfile.mkdtemp(prefix="quiesce-docker-"))
    try:
        shutil.copy2(binary, context / "quiesce")
        shutil.copytree(APP.parent, context / "app")
        IMAGE = f"quiesce-test-sidekiq:{secrets.token_hex(4)}"
        docker("build", "-q", "--build-arg", f"BASE={base}", "-t", IMAGE, "-f",
               str(REPO / "docker" / "Dockerfile.sidekiq"), str(context))
    finally:
        shutil.rmtree(context, ignore_errors=True)


def tearDownModule():
    if IMAGE:
        docker("rmi", "-f", IMAGE, check=False)


SIDEKIQ = ["sidekiq", "-r", "/app/app.rb", "-t", "3", "-c", "5", "-q", QUEUE]
# An entrypoint script that stays between PID 1 and Sidekiq and runs
# something after it, as many do: the case where the stop is lost today.
WRAPPED = ["sh", "-c", " ".join(SIDEKIQ) + "; echo after-sidekiq status=$?"]


class Container:
    """One `docker run -d`, stopped by `docker stop -t N`."""

    def __init__(self, run_args: list[str], command: list[str]):
        self.name = f"quiesce-test-{secrets.token_hex(4)}"
        docker("run", "-d", "--name", self.name, "--network", "host", *run_args, IMAGE, *command)

    def running(self) -> bool:
        state = docker("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return state.stdout.strip() == "true"

    def stop(self, budget_s: int) -> float:
        t0 = time.monotonic()
        docker("stop", "-t", str(budget_s), self.name, timeout=budget_s + 60)
        return time.monotonic() - t0

    def exit_code(self) -> int:
        return int(docker("inspect", "-f", "{{.State.ExitCode}}", self.name).stdout.strip())

    def logs(self) -> str:
        done = docker("logs", self.name, check=False)
        return done.stdout + done.stderr

    def remove(self):
        docker("rm", "-f", self.name, check=False)


class WithRedis(unittest.TestCase):
    """A redis-server of the test's own on loopback, and at most one
    container, removed after each test."""

    def setUp(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="quiesce-docker-"))
        self.redis = RedisServer(self.workdir)
        self.container = None

    def tearDown(self):
        if self.container:
            self.container.remove()
        self.redis.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class DockerStop(WithRedis):
    """Jobs of 1 s, 6 s and 40 s run on Sidekiq -t 3 when `docker stop -t
    16` comes. The budget has room for the first two; the 40 s job can only
    be requeued."""

    BUDGET_S = 16
    DURATIONS = (1.0, 6.0, 40.0)

    def stop_with_jobs(self, run_args: list[str], command: list[str]):
        jobs = {enqueue(self.redis.client, s, major=MAJOR): s for s in self.DURATIONS}
        self.container = Container(["-e", f"REDIS_URL={self.redis.url}", *run_args], command)

        def all_started():
            if not self.container.running():
                raise HarnessError("the container exited before the jobs started:\n"
                                   + self.container.logs())
            return self.redis.client.command("HLEN", "qtest:started") >= len(jobs)

        wait_for(all_started, 90, "every job to start", step=0.2)
        stop_s = self.container.stop(self.BUDGET_S)
        reports = job_reports(self.redis.client, jobs)
        outcomes = {r.seconds: r.outcome for r in reports.values()}
        return outcomes, stop_s, self.container.exit_code(), self.container.logs()

    def quiesce_env(self) -> list[str]:
        return ["-e", f"QUIESCE_STOP_TIMEOUT={self.BUDGET_S}s", "-e", "QUIESCE_SHUTDOWN_MARGIN=3s",
                "-e", f"QUIESCE_REDIS_URL={self.redis.url}", "-e", "QUIESCE_LOG_FORMAT=json",
                "-e", "QUIESCE_VERBOSITY=2"]

    def test_quiesce_entrypoint_loses_nothing_behind_a_shell_wrapper(self):
        outcomes, stop_s, code, logs = self.stop_with_jobs(self.quiesce_env(), WRAPPED)
        self.assertEqual(outcomes, {1.0: "finished", 6.0: "finished", 40.0: "requeued"}, logs)
        # docker stop's SIGKILL would make it 137; the wrapper's own exit
        # status (its echo after Sidekiq) is what comes out.
        self.assertEqual(code, 0, logs)
        events = [e["event"] for e in json_events(logs)]
        self.assertIn("tstp_sent", events, logs)
        self.assertIn("stop_done", events, logs)
        self.assertIn("after-sidekiq status=0", logs)
        self.assertLess(stop_s, self.BUDGET_S + HEARTBEAT_S, logs)

    def test_quiesce_entrypoint_runs_sidekiq_directly(self):
        outcomes, _, code, logs = self.stop_with_jobs(self.quiesce_env(), [])
        self.assertEqual(outcomes, {1.0: "finished", 6.0: "finished", 40.0: "requeued"}, logs)
        self.assertEqual(code, 0, logs)

    def test_baseline_docker_init_loses_jobs_behind_a_shell_wrapper(self):
        # tini forwards the TERM to the shell, which dies of it; tini exits
        # with it and the kernel kills Sidekiq with its jobs.
        outcomes, _, code, logs = self.stop_with_jobs(["--init", "--entrypoint", WRAPPED[0]],
                                                      WRAPPED[1:])
        self.assertEqual(outcomes[40.0], "lost", logs)
        self.assertEqual(code, 143, logs)

    def test_baseline_docker_init_cuts_off_a_job_the_budget_had_room_for(self):
        # tini forwards the TERM to Sidekiq at once: Sidekiq's 3 s timeout,
        # not the 16 s budget, decides, and the 6 s job is requeued unfinished.
        outcomes, _, _, logs = self.stop_with_jobs(["--init", "--entrypoint", SIDEKIQ[0]],
                                                   SIDEKIQ[1:])
        self.assertEqual(outcomes[6.0], "requeued", logs)
        self.assertEqual(outcomes[40.0], "requeued", logs)


class DockerOperate(WithRedis):
    """The operator's commands through the engine: `docker kill -s TSTP`,
    `docker exec ... quiesce status` and `quiesce quiet
    --exit-when-drained`, and the image's HEALTHCHECK."""

    def run_worker(self, *run_args: str) -> Container:
        self.container = Container(["-e", f"REDIS_URL={self.redis.url}",
                                    "-e", f"QUIESCE_REDIS_URL={self.redis.url}",
                                    "-e", "QUIESCE_LOG_FORMAT=json", "-e", "QUIESCE_VERBOSITY=2",
                                    *run_args], [])
        return self.container

    def exec_quiesce(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return docker("exec", self.container.name, "quiesce", *args, check=False,
                      timeout=timeout)

    def test_tstp_then_status_then_quiet_exit_when_drained(self):
        jobs = {enqueue(self.redis.client, s, major=MAJOR): s for s in (3.0, 6.0)}
        c = self.run_worker()
        wait_for(lambda: self.redis.client.command("HLEN", "qtest:started") >= len(jobs), 90,
                 "both jobs to start", step=0.2)
        docker("kill", "-s", "TSTP", c.name)

        def quiet_phase():
            done = self.exec_quiesce("status", "--json")
            return done.returncode == 0 and json.loads(done.stdout)["phase"] == "quiet"

        wait_for(quiet_phase, 30, "docker exec quiesce status to say quiet", step=0.5)
        status = json.loads(self.exec_quiesce("status", "--json").stdout)
        self.assertEqual(len(status["sidekiq"]), 1, status)
        done = self.exec_quiesce("quiet", "--exit-when-drained", "--wait")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr + c.logs())
        code = int(docker("wait", c.name, timeout=120).stdout.strip())
        self.assertEqual(code, 0, c.logs())
        reports = job_reports(self.redis.client, jobs)
        self.assertEqual({r.outcome for r in reports.values()}, {"finished"}, c.logs())
        events = [e["event"] for e in json_events(c.logs())]
        self.assertIn("quiet_drained", events)
        self.assertNotIn("kill_sent", events)

    def health(self) -> str:
        return docker("inspect", "-f", "{{.State.Health.Status}}", self.container.name,
                      check=False).stdout.strip()

    def test_healthcheck_turns_unhealthy_when_sidekiq_is_frozen(self):
        # The image's own HEALTHCHECK command, checked every second here.
        c = self.run_worker("--health-interval", "1s", "--health-retries", "1",
                            "--health-start-period", "0s")
        wait_for(lambda: self.health() == "healthy", 60, "the container to be healthy", step=0.5)

        # Healthy comes as soon as the main child runs: Sidekiq may not have
        # booted (and named itself) yet.
        def sidekiq_pid():
            found = docker("exec", c.name, "pgrep", "-f", "^sidekiq ", check=False)
            return found.stdout.split()[0] if found.returncode == 0 else None

        pid = wait_for(sidekiq_pid, 60, "Sidekiq to boot in the container", step=0.5)
        frozen = docker("exec", c.name, "kill", "-STOP", pid, check=False)
        self.assertEqual(frozen.returncode, 0, frozen.stderr)
        wait_for(lambda: self.health() == "unhealthy", 30, "the container to be unhealthy",
                 step=0.5)
        log = docker("inspect", "-f", "{{json .State.Health.Log}}", c.name).stdout
        self.assertIn("is stopped", log)
        docker("exec", c.name, "kill", "-CONT", pid)
        wait_for(lambda: self.health() == "healthy", 30, "the container to be healthy again",
                 step=0.5)


class DockerCompose(unittest.TestCase):
    """examples/docker-compose.yml, built and brought up for real (with
    compose.override.yml for what this machine cannot pull): the worker gets
    healthy, `docker-compose exec worker quiesce status` sees its Sidekiq,
    and `docker-compose stop` lets a running job finish."""

    def test_the_example_compose_file_comes_up_and_stops_cleanly(self):
        if not shutil.which("docker-compose"):
            self.fail("docker-compose is not installed (scripts/deps installs it)")
        context = Path(tempfile.mkdtemp(prefix="quiesce-compose-"))
        self.addCleanup(shutil.rmtree, context, True)
        shutil.copy2(os.environ["QUIESCE_BIN"], context / "quiesce")
        shutil.copytree(APP.parent, context / "app")
        project = f"qcompose{secrets.token_hex(4)}"
        port = free_port()
        env = {**os.environ, "QTEST_BASE": BASE, "QTEST_REDIS_PORT": str(port),
               "QTEST_CONTEXT": str(context),
               "QTEST_DOCKERFILE": str(REPO / "docker" / "Dockerfile.sidekiq"),
               "QTEST_WORKER_IMAGE": f"quiesce-test-compose:{project}"}
        files = ["-f", str(REPO / "examples" / "docker-compose.yml"),
                 "-f", str(REPO / "tests" / "integration" / "compose.override.yml")]

        def compose(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
            return subprocess.run(["docker-compose", "-p", project, *files, *args], env=env,
                                  capture_output=True, text=True, timeout=timeout)

        def down():
            compose("down", "-v", "--rmi", "local", "--timeout", "1")
            docker("rmi", "-f", env["QTEST_WORKER_IMAGE"], check=False)

        self.addCleanup(down)
        up = compose("up", "-d", "--build")
        self.assertEqual(up.returncode, 0, up.stdout + up.stderr)
        worker = compose("ps", "-q", "worker").stdout.strip()
        self.assertTrue(worker, "no worker container")

        def healthy():
            state = docker("inspect", "-f", "{{.State.Health.Status}}", worker, check=False)
            return state.stdout.strip() == "healthy"

        wait_for(healthy, 90, "the compose worker to be healthy", step=0.5)

        # Healthy once the main child runs; Sidekiq shows up once it has
        # booted and beaten its heart.
        def one_sidekiq():
            status = compose("exec", "-T", "worker", "quiesce", "status", "--json")
            if status.returncode != 0:
                raise AssertionError(status.stdout + status.stderr)
            return len(json.loads(status.stdout)["sidekiq"]) == 1

        wait_for(one_sidekiq, 90, "quiesce status in the worker to show its Sidekiq", step=0.5)

        from sidekiq_harness import Resp
        redis = Resp(port)
        jid = enqueue(redis, 4.0, major=MAJOR)
        wait_for(lambda: redis.command("HEXISTS", "qtest:started", jid), 60, "the job to start",
                 step=0.2)
        stop = compose("stop", "worker", timeout=120)
        self.assertEqual(stop.returncode, 0, stop.stdout + stop.stderr)
        self.assertTrue(redis.command("HEXISTS", "qtest:finished", jid), "the job was cut off")
        code = docker("inspect", "-f", "{{.State.ExitCode}}", worker).stdout.strip()
        logs = docker("logs", worker, check=False)
        self.assertEqual(code, "0", logs.stdout + logs.stderr)
        redis.close()


if __name__ == "__main__":
    unittest.main()
