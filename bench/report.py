"""BENCHMARKS.md: each benchmark's section replaced by its latest run, the summary rebuilt from all of them."""
from __future__ import annotations

import json
import platform
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from app.processes import WORKER_CONCURRENCY, WORKER_POOL, web_command

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "BENCHMARKS.md"
ORDER = ("submit", "status", "content", "polling", "pipeline", "peer")
# The Procfile's web flags after the bind address (the benchmarks run two workers).
WEB_FLAGS = " ".join(web_command("app.wsgi:app", "-", "2")[4:])


@dataclass
class Verdict:
    """One figure against its target."""

    figure: str
    measured: str
    target: str
    met: bool | None  # None: reported, no target

    @property
    def mark(self) -> str:
        return {True: "met", False: "**not met**", None: "-"}[self.met]


@dataclass
class Section:
    """What one benchmark run contributes: its part of the document and its verdicts."""

    key: str
    title: str
    command: str
    body: str
    verdicts: list[Verdict] = field(default_factory=list)
    profile: str = ""  # markdown for "Where the time goes"
    quick: bool = False

    def block(self) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        mode = " (`--quick`: smoke-test numbers, not the record)" if self.quick else ""
        verdict_json = json.dumps([asdict(v) for v in self.verdicts])
        rows = "\n".join(f"| {v.figure} | {v.measured} | {v.target} | {v.mark} |" for v in self.verdicts)
        table = f"| figure | measured | target | verdict |\n|---|---|---|---|\n{rows}\n\n" if rows else ""
        return (f"<!-- section:{self.key} -->\n<!-- verdicts: {verdict_json} -->\n## {self.title}\n\n"
                f"Reproduce: `{self.command}` (run {stamp}, commit {commit()}{mode}).\n\n"
                f"{table}{self.body.strip()}\n<!-- /section:{self.key} -->")

    def profile_block(self) -> str:
        return f"<!-- profile:{self.key} -->\n### {self.title}\n\n{self.profile.strip()}\n<!-- /profile:{self.key} -->"


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "workers", "config", "simulators"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("+uncommitted product changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _blocks(text: str, kind: str) -> dict[str, str]:
    pattern = re.compile(rf"<!-- {kind}:(\w+) -->.*?<!-- /{kind}:\1 -->", re.DOTALL)
    return {match.group(1): match.group(0) for match in pattern.finditer(text)}


def _analysis(text: str) -> str:
    match = re.search(r"<!-- analysis -->.*?<!-- /analysis -->", text, re.DOTALL)
    return match.group(0) if match else "<!-- analysis -->\n_No analysis written yet._\n<!-- /analysis -->"


def _verdicts(block: str) -> list[Verdict]:
    match = re.search(r"<!-- verdicts: (.*?) -->", block)
    return [Verdict(**item) for item in json.loads(match.group(1))] if match else []


def _title(block: str) -> str:
    match = re.search(r"^## (.*)$", block, re.MULTILINE)
    return match.group(1) if match else "?"


HEADER = f"""# Benchmarks

Issue 5's measurements, written by the suite itself: `python -m bench` (from the repository root, with the
project's virtualenv) runs every benchmark on the real stack and rewrites this file; `python -m bench NAME`
reruns one and replaces only its section; `--quick` is a short smoke run that prints instead of writing.
The analysis under "Where the time goes" is hand-written and kept across runs.

How the numbers are made:

- **Real servers.** Each benchmark starts the whole stack with `harness/` exactly as the Procfile runs it:
  gunicorn (`{WEB_FLAGS}`), Celery beat and a worker
  (`-P {WORKER_POOL} -c {WORKER_CONCURRENCY}`), a private PostgreSQL and Redis, and the simulators as a subprocess.
  The only settings changed are the per-token rate limit (raised out of the way; it is still counted in Redis,
  one INCRBY per share of the budget) and, where said, the channel cap and simulated job length.
- **References run in the same run, alternating.** The machine is small (2 cores) and shared, so absolute numbers
  drift. Every figure is set against a reference measured minutes apart at most: rounds alternate target and
  reference (rotating which goes first), each figure is the median over rounds, and each ratio is the median of
  the per-round ratios.
- **Load generator.** `wrk` (C, keep-alive, closed loop: concurrency = connections) with Lua scripts in
  `bench/wrk/` for bodies, ids and a machine-readable summary. Its own CPU use is reported beside each table
  (`wrk CPU`, in cores) to show it is not the limit. Downloads use `curl` to `/dev/null`. Where a figure is not a
  request rate (seeding tasks, the pipeline) a small aiohttp client sends the requests.
- **Requirements.** `apt-get install -y wrk nginx`; `pip install psutil py-spy aiohttp` into the project's
  virtualenv (aiohttp already comes with the dev extra); `runuser` and PostgreSQL's server binaries, as for
  `tests/faults`. The peer benchmark creates `bench/.venv-litellm` (python3 -m venv) on first use and installs
  `litellm[proxy]` there. A whole run takes about 40 minutes; `--no-profile` skips the py-spy rounds, and
  `--worker POOL:N` and `--worker-processes P` rerun polling and pipeline with another Celery pool or several
  worker processes on the vendor's queue (printed, not written).
- **What the figures are not.** The vendor is a simulator on loopback that answers in about a millisecond, and
  every process (load generator included) shares the same two cores; real vendors take hundreds of
  milliseconds per call, which matters most for the polling benchmark (see "Where the time goes").
"""


def machine() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return (f"Machine of the last run: {psutil.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
            f"{memory:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}.")


def render(sections: list[Section], previous: str) -> str:
    """The whole document: new sections where given, the previous text's sections elsewhere."""
    old_sections, old_profiles = _blocks(previous, "section"), _blocks(previous, "profile")
    fresh = {section.key: section for section in sections}
    blocks, profiles = [], []
    for key in ORDER:
        if key in fresh:
            blocks.append(fresh[key].block())
            if fresh[key].profile:
                profiles.append(fresh[key].profile_block())
        else:
            if key in old_sections:
                blocks.append(old_sections[key])
            if key in old_profiles:
                profiles.append(old_profiles[key])
    summary = ["## Summary", "", "| benchmark | figure | measured | target | verdict |", "|---|---|---|---|---|"]
    for block in blocks:
        title = _title(block).split(":")[0]
        summary += [f"| {title} | {v.figure} | {v.measured} | {v.target} | {v.mark} |" for v in _verdicts(block)]
    parts = [HEADER, machine(), "\n".join(summary), *blocks, "## Where the time goes", _analysis(previous),
             "### Profiles recorded by the benchmarks",
             "py-spy (`record --subprocesses --nonblocking`, raw stacks) on the named processes during one extra round "
             "that is not part of the figures; `self` is where the samples were, `inclusive` the project's frames "
             "on the stack.", *profiles]
    return "\n\n".join(part.strip() for part in parts) + "\n"


def write(sections: list[Section]) -> Path:
    previous = DOCUMENT.read_text() if DOCUMENT.exists() else ""
    DOCUMENT.write_text(render(sections, previous))
    return DOCUMENT
