"""The stack every benchmark runs on (harness, Procfile flags) and the options a benchmark run takes."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from app.processes import WORKER_CONCURRENCY, WORKER_POOL
from harness.stack import ROOT, Stack, StackConfig, running_stack

CHANNELS_DIR = ROOT / "config" / "channels"
# The per-token limit (1200/min by default) would cap every load test; raised, it is still counted in Redis
# (one INCRBY per share of the budget: app/ratelimit.py).
BENCH_PROCESS = "bench client (this process)"
UNLIMITED = {"VIDGATE_RATE_LIMIT_PER_MINUTE": str(10**9)}


@dataclass(frozen=True)
class Options:
    """How a benchmark is run: `quick` shortens everything for a smoke test; `profile` adds a py-spy round."""

    quick: bool = False
    profile: bool = True
    # The worker's pool for the benchmarks with a back end (polling, pipeline); the Procfile's by default.
    worker_pool: str = WORKER_POOL
    worker_concurrency: int = WORKER_CONCURRENCY
    # Worker processes on the OpenAI queue (polling, pipeline): the Procfile's one, or more to see them scale out.
    worker_processes: int = 1

    @property
    def worker_label(self) -> str:
        return f"`-P {self.worker_pool} -c {self.worker_concurrency}`"

    @property
    def procfile_worker(self) -> bool:
        """True when the worker is the Procfile's: only then does a run rewrite BENCHMARKS.md."""
        return (self.worker_pool, self.worker_concurrency, self.worker_processes) == (
            WORKER_POOL, WORKER_CONCURRENCY, 1)

    @property
    def worker_described(self) -> str:
        count = "one worker" if self.worker_processes == 1 else f"{self.worker_processes} worker processes"
        if self.procfile_worker:
            return f"{count} ({self.worker_label}, the Procfile's)"
        return f"{count} ({self.worker_label}; the Procfile runs one, `-P {WORKER_POOL} -c {WORKER_CONCURRENCY}`)"

    def worker_names(self, vendor: str = "openai") -> list[str]:
        """The stack's names of the worker processes on the vendor's queue (process `worker_<name>`)."""
        return [vendor] + [f"{vendor}{n}" for n in range(2, self.worker_processes + 1)]

    def seconds(self, full: float) -> float:
        return 1.0 if self.quick else full

    def rounds(self, full: int) -> int:
        return 1 if self.quick else full


def channel_folder(workdir: Path, vendor: str, cap: int | None) -> Path:
    """The shipped channel files, with the vendor's channel's max_concurrency changed (None: unchanged)."""
    folder = workdir / "channels"
    folder.mkdir(parents=True, exist_ok=True)
    for source in CHANNELS_DIR.glob("*.toml"):
        text = source.read_text()
        if source.name == f"{vendor}.toml" and cap is not None:
            text, replaced = re.subn(r"(?m)^max_concurrency = \d+$", f"max_concurrency = {cap}", text)
            if replaced != 1:
                raise RuntimeError(f"config/channels/{vendor}.toml no longer has one `max_concurrency = N` line")
        (folder / source.name).write_text(text)
    return folder


@contextmanager
def bench_stack(name: str, *, workers: bool = True, sim_job_seconds: str = "1-3", vendor: str = "openai",
                cap: int | None = None, env: dict[str, str] | None = None, options: Options | None = None
                ) -> Iterator[Stack]:
    """A whole stack in a fresh directory (removed afterwards unless VIDGATE_BENCH_KEEP=1), its workers on the
    vendor's queue, the vendor's channel cap set to `cap` (None: the shipped file's).

    `workers=False` stops beat and the workers once the stack is up, to measure the web front alone."""
    workdir = Path(tempfile.mkdtemp(prefix=f"vidgate-bench-{name}-"))
    workdir.chmod(0o755)  # nginx's workers (another user) read the stored files in the content benchmark
    settings = {**UNLIMITED, **(env or {})}
    if cap is not None:
        settings["VIDGATE_CHANNELS"] = str(channel_folder(workdir, vendor, cap))
    options = options or Options()
    config = StackConfig(workdir, sim_job_seconds=sim_job_seconds, env=settings, simulator_module="bench.sim_server",
                         worker_pool=options.worker_pool, worker_concurrency=options.worker_concurrency,
                         workers={name: vendor for name in options.worker_names(vendor)})
    try:
        with running_stack(config) as stack:
            if not workers:
                pause_back_end(stack)
            yield stack
    finally:
        if os.environ.get("VIDGATE_BENCH_KEEP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


def pause_back_end(stack: Stack) -> None:
    """Stop beat and the workers: queued messages wait in Redis, nothing polls or dispatches."""
    for name in [n for n in stack.processes if n == "beat" or n.startswith("worker_")]:
        stack.stop(name)


def process_groups(stack: Stack) -> dict[str, int]:
    """Name -> root pid of every server process of the stack, for sampling."""
    groups = {name: process.pid for name, process in stack.processes.items() if process.poll() is None}
    groups["postgres"] = stack.postgres.pid
    if stack.redis.process is not None:
        groups["redis"] = stack.redis.process.pid
    groups[BENCH_PROCESS] = os.getpid()  # sample it with ProcessSampler(..., solo=[BENCH_PROCESS])
    return groups


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def ms(value: float) -> str:
    return f"{value:.1f}"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def sim_jobs(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every simulator job by id, with `created_at` and `ended_at` (bench/sim_server.py's `/_bench/jobs`)."""
    response = requests.get(f"{stack.sim_url}/_bench/jobs", timeout=60)
    response.raise_for_status()
    return {job["id"]: job for job in response.json()["jobs"]}
