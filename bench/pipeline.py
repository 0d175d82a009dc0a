"""Pipeline: tasks per second from submission to downloadable content, with vendor jobs that finish at once."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import requests

from bench.common import BENCH_PROCESS, Options, bench_stack, pause_back_end, process_groups, table
from bench.measure import ProcessSampler, ProcessUse, Profiler, bulk_requests, percentile
from bench.report import Section, Verdict
from harness.stack import Stack

NAME = "pipeline"
TASKS, CONCURRENCY = 2_000, 16
CHECKED_DOWNLOADS = 20
LIFTED_CAP = 100_000


def bodies(count: int, tag: str) -> list[tuple[str, dict[str, str]]]:
    return [("/v1/videos", {"model": "sora-2", "prompt": f"pipeline {tag} {i}", "seconds": "4"})
            for i in range(count)]


def wait_completed(stack: Stack, ids: list[str], timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done = stack.query("SELECT count(*) FROM tasks WHERE public_id = ANY(:ids) AND state IN "
                           "('completed', 'failed')", ids=ids)[0][0]
        if done >= len(ids):
            return
        time.sleep(0.5)


def bottleneck_text(busiest: ProcessUse | None, groups: list[tuple[str, float, float]]) -> str:
    """What the CPU samples say: one process at its limit, the whole machine, or neither."""
    if busiest is None:
        return ""
    if busiest.percent >= 80:
        return (f"**Bottleneck:** `{busiest.name}` (pid {busiest.pid}, {busiest.group}) at {busiest.percent:.0f}% "
                "of a core.")
    total = sum(mean for _, mean, _ in groups)
    top_group, top_mean, _ = groups[0]
    if total >= 160:
        return (f"**No single process is at 100% CPU, but the machine is:** everything together used {total:.0f}% "
                f"of the 200% its two cores give, the `{top_group}` tree the most ({top_mean:.0f}%, its busiest "
                f"process {busiest.percent:.0f}%). The back end's cost per task is the limit.")
    return (f"**No process is at 100% CPU and the machine is not saturated** ({total:.0f}% of 200%; the busiest "
            f"process, pid {busiest.pid} in `{busiest.group}`, used {busiest.percent:.0f}%): the pipeline is bound "
            "by waiting, not computing; see \"Where the time goes\".")


@dataclass
class Run:
    """One pass of the pipeline on its own stack."""

    label: str
    ids: list[str]
    completed: int
    rate: float
    latencies: list[float]
    submit_seconds: float
    submit_delays: list[float]  # accepted -> handed to the vendor
    checked: list[bool]
    sampler: ProcessSampler
    front_rate: float = 0.0
    profile: str = ""


def measure(options: Options, label: str, openai_cap: int | None, reference: bool) -> Run:
    """Submit the batch and wait for it on a fresh stack; optionally profile a second batch and measure the
    web front alone afterwards (the reference)."""
    tasks = 200 if options.quick else TASKS
    with bench_stack(NAME, sim_job_seconds="0", cap=openai_cap, options=options) as stack:
        groups = process_groups(stack)
        with ProcessSampler(groups, interval=1.0, solo=[BENCH_PROCESS]) as sampler:
            submitted = bulk_requests(stack.base_url, stack.token, "POST", bodies(tasks, "a"), CONCURRENCY)
            ids = [i for i in submitted.ids if i]
            wait_completed(stack, ids, timeout=120 + tasks / 5)
        rows = stack.query("SELECT state, created_at, submitted_at, completed_at FROM tasks "
                           "WHERE public_id = ANY(:ids)", ids=ids)
        completed = [row for row in rows if row.state == "completed"]
        first = min(row.created_at for row in rows)
        last = max((row.completed_at for row in completed), default=first)
        checked = []
        for public_id in random.sample(ids, min(CHECKED_DOWNLOADS, len(ids))):
            response = requests.get(f"{stack.base_url}/v1/videos/{public_id}/content",
                                    headers={"Authorization": f"Bearer {stack.token}"}, timeout=30)
            checked.append(response.status_code == 200 and response.content[4:8] == b"ftyp")
        run = Run(label, ids, len(completed), len(completed) / (last - first) if last > first else 0.0,
                  sorted(row.completed_at - row.created_at for row in completed), submitted.seconds,
                  sorted(row.submitted_at - row.created_at for row in rows if row.submitted_at), checked, sampler)
        if options.profile and not options.quick:
            seconds, workdir = 15, stack.config.workdir
            worker_pid = stack.processes["worker_openai"].pid
            with Profiler(worker_pid, workdir / "worker.prof", seconds, gil=True) as worker, \
                    Profiler(worker_pid, workdir / "worker-wall.prof", seconds, idle=True) as wall:
                extra = bulk_requests(stack.base_url, stack.token, "POST", bodies(tasks // 2, "profile"), CONCURRENCY)
                wait_completed(stack, [i for i in extra.ids if i], timeout=seconds)
            run.profile = (f"{label}: a second batch of {tasks // 2:,} tasks (not in the figures), recorded for "
                           f"{seconds} s.\n\nWorker ({options.worker_label}), on CPU (GIL holders):\n\n"
                           f"{worker.summary()}"
                           f"\n\nWorker, wall time (idle threads included: where the steps wait):\n\n"
                           f"{wall.summary()}")
        if reference:
            # The same client submitting to the web front alone (beat and workers stopped).
            pause_back_end(stack)
            front = bulk_requests(stack.base_url, stack.token, "POST", bodies(tasks, "front"), CONCURRENCY)
            run.front_rate = sum(1 for i in front.ids if i) / front.seconds
    return run


def run(options: Options) -> Section:
    shipped = measure(options, "shipped channel file (OpenAI cap 100)", None, reference=True)
    lifted = measure(options, f"OpenAI cap raised to {LIFTED_CAP:,}", LIFTED_CAP, reference=False)
    runs = (shipped, lifted)
    verdicts = [Verdict(f"tasks/s end to end, {r.label}", f"{r.rate:.1f}", "-", None) for r in runs]
    verdicts.append(Verdict("vs the web front alone accepting the same client's creates",
                            f"{shipped.rate / shipped.front_rate:.0%} of {shipped.front_rate:.0f}/s", "-", None))
    verdicts.append(Verdict("completed / downloadable (sample)", " and ".join(
        f"{r.completed} of {len(r.ids)} / {sum(r.checked)} of {len(r.checked)}" for r in runs), "all",
        all(r.completed == len(r.ids) and all(r.checked) for r in runs)))
    parts = [
        f"{len(shipped.ids):,} tasks submitted as fast as the API takes them ({CONCURRENCY} at a time, aiohttp) "
        "with the simulator's jobs finishing at once (`job_seconds` 0): every task goes submit -> poll -> download "
        f"-> completed through beat's dispatcher, {options.worker_described}, PostgreSQL "
        "and Redis. Rate = completed tasks / (last `completed_at` - first `created_at`); a sample of completed "
        "tasks is downloaded from `/content` and checked to be an MP4. Run twice, each on a fresh stack: with the "
        "shipped channel file, and with the OpenAI channel's `max_concurrency` raised so the cap cannot bind. "
        "Reference, same run: the same client submitting to the web front with beat and the worker stopped "
        f"({shipped.front_rate:.0f} creates/s).",
        table(["", *(r.label for r in runs)], [
            ["tasks completed", *(f"{r.completed:,} of {len(r.ids):,}" for r in runs)],
            ["tasks/s end to end", *(f"{r.rate:.1f}" for r in runs)],
            ["accepted -> handed to the vendor, p50 / p95 (s)",
             *(f"{percentile(r.submit_delays, 50):.1f} / {percentile(r.submit_delays, 95):.1f}" for r in runs)],
            ["accepted -> completed, p50 / p95 / max (s)",
             *(f"{percentile(r.latencies, 50):.1f} / {percentile(r.latencies, 95):.1f} / "
               f"{max(r.latencies, default=0):.1f}" for r in runs)],
            ["client's submissions (s)",
             *(f"{r.submit_seconds:.1f} ({len(r.ids) / r.submit_seconds:.0f}/s)" for r in runs)],
        ]),
    ]
    for r in runs:
        parts += [
            f"CPU by process tree, {r.label} (100% = one core; 2 cores):",
            table(["process tree", "mean CPU", "p90 CPU"],
                  [[n, f"{m:.0f}%", f"{p:.0f}%"] for n, m, p in r.sampler.cpu_table()]),
            table(["busiest processes", "pid", "tree", "CPU"],
                  [[f"`{u.name}`", str(u.pid), u.group, f"{u.percent:.0f}%"] for u in r.sampler.busiest(5)]),
            bottleneck_text(next(iter(r.sampler.busiest(1)), None), r.sampler.cpu_table()),
        ]
    profile = "\n\n".join(r.profile for r in runs if r.profile)
    return Section(NAME, "Pipeline: submission to downloadable content", "python -m bench pipeline",
                   "\n\n".join(parts), verdicts, profile, options.quick)
