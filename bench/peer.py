"""Peer: Vidgate and the LiteLLM proxy in front of the same OpenAI simulator, create and status side by side."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import Options, bench_stack, fmt_rate, pause_back_end, table, write_lines
from bench.measure import LoadResult, Summary, alternate, bulk_requests, paired_ratio, wrk_get, wrk_post
from bench.report import ROOT, Section, Verdict
from harness.services import environment, free_port, wait_for_http, wait_for_port
from harness.stack import Stack

NAME = "peer"
VENV = ROOT / "bench" / ".venv-litellm"
CONCURRENCY = (16, 64)
MIN_CREATE, MIN_STATUS = 1.0, 3.0
READ_TASKS = 200
CREATE_BODY = '{"model":"sora-2","prompt":"peer bench {n}: a lighthouse in a storm","seconds":"4"}'


def ensure_litellm() -> tuple[Path, str]:
    """bench/.venv-litellm with `litellm[proxy]`, created on first use; the executable and the version."""
    executable = VENV / "bin" / "litellm"
    if not executable.exists():
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        # As Python 3.13's venv does: the folder ignores itself (git, and ruff through it).
        (VENV / ".gitignore").write_text("# created by python -m bench\n*\n")
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        "litellm[proxy]"], check=True)
    version = subprocess.run([str(VENV / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('litellm'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    return executable, version


@contextmanager
def litellm_proxy(stack: Stack, executable: Path, workers: int) -> Iterator[tuple[str, str]]:
    """peers.md Mode B (CLI, no config, no database) in front of the stack's OpenAI simulator."""
    key, port = "sk-bench-" + secrets.token_hex(16), free_port()
    env = environment(LITELLM_MASTER_KEY=key, LITELLM_LOCAL_MODEL_COST_MAP="True",
                      OPENAI_API_KEY=stack.env.get("VIDGATE_SIM_OPENAI_KEY", "sk-sim-openai"))
    log = open(stack.logs / "litellm.log", "ab")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(executable), "--model", "openai/sora-2", "--api_base", f"{stack.sim_url}/openai/v1", "--host",
         "127.0.0.1", "--port", str(port), "--num_workers", str(workers)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, timeout=180)
        wait_for_http(f"{base}/health/liveliness", timeout=120, interval=1)  # the port opens before the routes
        yield base, key
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def polls_total(stack: Stack) -> int:
    return int(stack.sim("GET", "stats")["openai"]["polls_total"])


def run(options: Options) -> Section:
    seconds, rounds = options.seconds(5), options.rounds(3)
    executable, version = ensure_litellm()
    with bench_stack(NAME, sim_job_seconds="600") as stack, litellm_proxy(stack, executable, 2) as (proxy, key):
        workdir = stack.config.workdir
        # Status first, with Vidgate's back end running: the same number of in-flight jobs behind each.
        creates = [("/v1/videos", {"model": "sora-2", "prompt": f"peer read {i}", "seconds": "4"})
                   for i in range(READ_TASKS)]
        ours = bulk_requests(stack.base_url, stack.token, "POST", creates, 16)
        theirs = bulk_requests(proxy, key, "POST", creates, 16)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and stack.query(
                "SELECT count(*) FROM tasks WHERE state IN ('pending', 'submitting')")[0][0]:
            time.sleep(1)
        our_ids = write_lines(workdir / "vidgate.ids", [i for i in ours.ids if i])
        their_ids = write_lines(workdir / "litellm.ids", [i for i in theirs.ids if i])
        upstream: dict[str, list[float]] = {"vidgate": [], "litellm": []}

        def counted(name: str, measure: Callable[[], LoadResult]) -> LoadResult:
            before = polls_total(stack)
            load = measure()
            upstream[name].append((polls_total(stack) - before) / max(1, load.requests))
            return load

        status_rows, create_rows, verdicts = [], [], []
        for concurrency in CONCURRENCY:
            results = alternate({
                "vidgate": lambda c=concurrency: counted("vidgate", lambda: wrk_get(
                    stack.base_url, our_ids, "/v1/videos/%s", stack.token, c, seconds)),
                "litellm": lambda c=concurrency: counted("litellm", lambda: wrk_get(
                    proxy, their_ids, "/v1/videos/%s", key, c, seconds)),
            }, rounds, warmup=True)
            ratio = paired_ratio([r.rps for r in results["vidgate"]], [r.rps for r in results["litellm"]])
            status_rows.append(_row(concurrency, results, ratio, upstream))
            verdicts.append(Verdict(f"status c={concurrency}: Vidgate / LiteLLM req/s", f"{ratio:.2f}x",
                                    f">= {MIN_STATUS:.0f}x", ratio >= MIN_STATUS))
        # Creates: Vidgate's front with its back end paused (its upstream submission happens later, in a
        # worker; see the pipeline benchmark for that cost); LiteLLM creates upstream inside the request.
        pause_back_end(stack)
        body = workdir / "create.json"
        body.write_text(CREATE_BODY)
        for concurrency in CONCURRENCY:
            results = alternate({
                "vidgate": lambda c=concurrency: wrk_post(f"{stack.base_url}/v1/videos", body, "application/json",
                                                          stack.token, c, seconds),
                "litellm": lambda c=concurrency: wrk_post(f"{proxy}/v1/videos", body, "application/json", key, c,
                                                          seconds),
            }, rounds, warmup=True)
            ratio = paired_ratio([r.rps for r in results["vidgate"]], [r.rps for r in results["litellm"]])
            create_rows.append(_row(concurrency, results, ratio, None))
            verdicts.insert(len(create_rows) - 1, Verdict(f"create c={concurrency}: Vidgate / LiteLLM req/s",
                                                          f"{ratio:.2f}x", f">= {MIN_CREATE:.0f}x",
                                                          ratio >= MIN_CREATE))
    header = ["c", "Vidgate req/s", "Vidgate p50 / p99 ms", "LiteLLM req/s", "LiteLLM p50 / p99 ms",
              "Vidgate / LiteLLM", "errors", "wrk CPU (cores)"]
    body_text = "\n\n".join([
        f"LiteLLM proxy {version} (`bench/.venv-litellm`, created on first run) started as "
        "`/work/shared/reference/peers.md` Mode B: `litellm --model openai/sora-2 --api_base SIM/openai/v1 "
        "--num_workers 2` (2 worker processes, like gunicorn's `-w 2`), no database; both gateways in front of the "
        f"same simulator process. {rounds} alternating rounds of {seconds:.0f} s per case after a warm-up; medians; "
        "ratios are medians of per-round ratios.",
        "**Create** (`POST /v1/videos`, JSON). LiteLLM forwards each create to the simulator inside the request "
        "(re-encoded as multipart); Vidgate writes the task and its dispatcher and worker submit it later, so its "
        "back end (beat, worker) is paused for this part to measure what a client waits for.",
        table(header, create_rows),
        f"**Status** (`GET /v1/videos/{{id}}`) over {READ_TASKS} tasks created on each gateway beforehand, jobs "
        "lasting 600 s (so all are in progress during the reads), Vidgate's worker and beat running and polling "
        "them. Upstream calls per client read = the simulator's status reads during the run / requests answered: "
        "LiteLLM forwards every read; Vidgate answers from its table while its worker polls on its own schedule.",
        table([*header[:6], "upstream calls per read (Vidgate / LiteLLM)", *header[6:]], status_rows),
    ])
    return Section(NAME, "Peer: LiteLLM proxy side by side", "python -m bench peer", body_text, verdicts, "",
                   options.quick)


def _row(concurrency: int, results: dict[str, list[LoadResult]], ratio: float,
         upstream: dict[str, list[float]] | None) -> list[str]:
    ours, theirs = Summary.of(results["vidgate"]), Summary.of(results["litellm"])
    row = [str(concurrency), fmt_rate(ours.rps), ours.latency, fmt_rate(theirs.rps), theirs.latency,
           f"{ratio:.2f}x"]
    if upstream is not None:
        count = len(results["vidgate"])  # the warm-up run was counted first: skip it
        vidgate, litellm = upstream["vidgate"][-count:], upstream["litellm"][-count:]
        row.append(f"{sum(vidgate) / len(vidgate):.3f} / {sum(litellm) / len(litellm):.2f}")
    return [*row, f"{ours.errors} / {theirs.errors}", f"{max(ours.client_cpu, theirs.client_cpu):.2f}"]
