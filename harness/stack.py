"""Starts Vidgate as its Procfile does (gunicorn, beat, workers) plus the simulators, on private services."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy

from app.processes import WORKER_CONCURRENCY, WORKER_POOL, web_command
from config.settings import normalise_database_url
from harness.services import Postgres, Redis, environment, free_port, wait_for_http, wait_for_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class StackConfig:
    workdir: Path
    web_workers: int = 2
    # Worker name -> queues it consumes; every worker also serves the maintenance queue.
    workers: dict[str, str] = field(default_factory=lambda: {"openai": "openai"})
    worker_concurrency: int = WORKER_CONCURRENCY
    worker_pool: str = WORKER_POOL
    sim_job_seconds: str = "1-3"
    celery_app: str = "workers.celery_app"
    wsgi: str = "app.wsgi:app"
    env: dict[str, str] = field(default_factory=dict)
    # The module run as `python -m <module> --port N` for the simulators (benchmarks wrap it to add routes).
    simulator_module: str = "simulators"


class Stack:
    """Every process in its own session (so a kill takes its children too), logs under workdir/logs."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.logs = config.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.postgres = Postgres()
        self.redis = Redis(self.logs)
        self.web_port, self.sim_port = free_port(), free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.env = environment(
            DATABASE_URL=self.postgres.url, REDIS_URL=self.redis.url, VIDGATE_DATA_DIR=str(config.workdir / "data"),
            VIDGATE_SIMULATOR_URL=self.sim_url, VIDGATE_ALLOW_PRIVATE_HOSTS=f"127.0.0.1:{self.sim_port}",
            PUBLIC_BASE_URL=self.base_url, VIDGATE_SIM_JOB_SECONDS=config.sim_job_seconds,
            VIDGATE_LOG_LEVEL="INFO", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **config.env,
        )
        self.engine = sqlalchemy.create_engine(normalise_database_url(self.postgres.url), pool_pre_ping=True)
        self.token = ""

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> Stack:
        self.spawn("simulators", [sys.executable, "-m", self.config.simulator_module, "--port", str(self.sim_port)])
        self.run_cli("db", "upgrade")
        self.token = self.run_cli("token", "create", "--account", "harness").strip().splitlines()[-1]
        self.start_web()
        self.start_beat()
        for name in self.config.workers:
            self.start_worker(name)
        wait_for_port(self.sim_port)
        self.wait_healthy()
        return self

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.engine.dispose()
        self.redis.close()
        self.postgres.close()

    def run_cli(self, *args: str, env: dict[str, str] | None = None) -> str:
        """`vidgate ARGS` in this stack's environment, plus `env` overrides (another database, say)."""
        result = subprocess.run([sys.executable, "-m", "app.cli", *args], env={**self.env, **(env or {})}, cwd=ROOT,
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"vidgate {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        """Start `command` as process `name` in this stack's environment plus `env` overrides."""
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        self.processes[name] = subprocess.Popen(command, env={**self.env, **(env or {})}, cwd=ROOT, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def kill(self, name: str) -> None:
        """SIGKILL the process and everything it started: no goodbye, no acknowledgements."""
        self.stop(name, signal.SIGKILL)

    def start_web(self) -> None:
        self.spawn("web", self.gunicorn_command(self.config.wsgi, self.web_port))

    def gunicorn_command(self, wsgi: str, port: int) -> list[str]:
        """The web front's gunicorn command line (Procfile flags) for any WSGI app on `port`."""
        return [sys.executable, "-m", *web_command(wsgi, f"127.0.0.1:{port}", str(self.config.web_workers))]

    def start_gunicorn(self, name: str, wsgi: str, env: dict[str, str] | None = None) -> str:
        """Serve another WSGI app with the web front's gunicorn flags on a free port; returns its base URL."""
        port = free_port()
        self.spawn(name, self.gunicorn_command(wsgi, port), env)
        wait_for_port(port)
        return f"http://127.0.0.1:{port}"

    def start_beat(self) -> None:
        self.spawn("beat", [sys.executable, "-m", "celery", "-A", self.config.celery_app, "beat", "-l", "warning",
                            "-s", str(self.config.workdir / "celerybeat-schedule")])

    def start_worker(self, name: str) -> None:
        queues = f"{self.config.workers[name]},maintenance"
        self.spawn(f"worker_{name}", [
            sys.executable, "-m", "celery", "-A", self.config.celery_app, "worker", "-Q", queues,
            "-n", f"{name}-{self.web_port}@%h", "-P", self.config.worker_pool,
            "-c", str(self.config.worker_concurrency), "-l", "warning"])

    def wait_healthy(self, timeout: float = 60.0) -> None:
        if not wait_for_http(f"{self.base_url}/readyz", timeout):
            raise TimeoutError(f"the web front did not become ready; see {self.logs}")

    # --- talking to it ---------------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def sim(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.sim_url}/_sim/{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def query(self, sql: str, **params: Any) -> list[sqlalchemy.Row[Any]]:
        with self.engine.connect() as connection:
            return list(connection.execute(sqlalchemy.text(sql), params))


@contextmanager
def running_stack(config: StackConfig) -> Iterator[Stack]:
    stack = Stack(config)
    try:
        yield stack.start()
    finally:
        stack.close()
