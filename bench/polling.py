"""Polling at scale: 10,000 jobs in flight on one vendor; lag to `completed`, upstream polls, memory, queues.
Then the same jobs' schedule on Seedance, whose task list answers for many jobs in one call."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis

from bench.common import BENCH_PROCESS, Options, bench_stack, process_groups, sim_jobs, table
from bench.measure import ProcessSampler, Profiler, QueueSampler, bulk_requests, percentile
from bench.report import Section, Verdict
from harness.stack import Stack

NAME = "polling"
TASKS, JOB_SECONDS = 10_000, "30-120"
MAX_LAG_P95, MAX_POLLS, MAX_WORKER_RSS = 10.0, 15.0, 300 * 2**20
SUBMIT_CONCURRENCY = 32
# A shorter run on Seedance: the worker asks Ark's task list about a poll batch's jobs in one call.
LISTED_TASKS, LISTED_MODEL = 2_000, "doubao-seedance-1-0-pro-250528"
# new-api (QuantumNous/new-api, /work/shared/reference/newapi-notes.md section 4): a pass every 15 s over at most
# TASK_QUERY_LIMIT unfinished tasks, one channel's tasks one after another with a 1 s sleep between them.
NEWAPI_INTERVAL, NEWAPI_SLEEP, NEWAPI_QUERY_LIMIT = 15.0, 1.0, 1000


@dataclass
class Paper:
    lags: list[float]
    polls: list[int]
    last_done: float


def newapi_schedule(jobs: list[tuple[float, float]], limit: int | None) -> Paper:
    """new-api's polling of `jobs` ((created_at, ended_at), in id order) on one channel, computed on paper.

    A pass starts 15 s after the previous one ended (the 15 s ticker of `UpdateTaskBulk`; a pass that overruns
    delays the next), loads the first `limit` unfinished tasks already submitted, and polls them one by one
    with a 1 s sleep after each; a task whose job has ended by its poll is completed at that poll."""
    done: list[float | None] = [None] * len(jobs)
    polls = [0] * len(jobs)
    clock = jobs[0][0] + NEWAPI_INTERVAL if jobs else 0.0
    remaining = len(jobs)
    while remaining:
        batch = [i for i, (created, _) in enumerate(jobs) if done[i] is None and created <= clock][:limit]
        for index in batch:
            polls[index] += 1
            if jobs[index][1] <= clock:
                done[index] = clock
                remaining -= 1
            clock += NEWAPI_SLEEP
        clock += NEWAPI_INTERVAL
    lags = [finished - ended for finished, (_, ended) in zip(done, jobs, strict=True) if finished is not None]
    return Paper(lags, polls, max(d for d in done if d is not None) - jobs[0][0] if jobs else 0.0)


def wait_terminal(stack: Stack, count: int, timeout: float) -> float:
    """Seconds until `count` tasks are terminal, or the timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        terminal = stack.query("SELECT count(*) FROM tasks WHERE state IN ('completed', 'failed')")[0][0]
        if terminal >= count:
            break
        time.sleep(2)
    return time.monotonic() - started


def completion_lags(rows: list[Any], jobs: dict[str, dict[str, Any]], stopped: float) -> list[float]:
    """Seconds from the vendor finishing each job to the gateway saying `completed`. A task still unfinished when
    the run stopped counts with its lag so far (a lower bound), not as if it had none."""
    return [(row.completed_at if row.state == "completed" else stopped) - jobs[row.upstream_id]["ended_at"]
            for row in rows if row.upstream_id in jobs and row.state != "failed"
            and jobs[row.upstream_id]["ended_at"] <= stopped]


@dataclass
class Listed:
    """The Seedance run: what the worker's list calls cost the vendor and what they gave the client."""

    sent: int
    accepted: int
    statuses: Counter[int]  # of every create attempt (429 and 503 are retried)
    tasks: int
    completed: int
    lags: list[float]
    reads: int  # status reads of single jobs, each job a list named counting as one
    calls: int  # status calls: list calls plus single reads
    list_calls: int
    listed: int


def listed_run(options: Options, job_seconds: str) -> Listed:
    """LISTED_TASKS tasks to the Seedance simulator (cap raised so all are in flight), to the end."""
    tasks = 200 if options.quick else LISTED_TASKS
    with bench_stack(f"{NAME}-seedance", sim_job_seconds=job_seconds, vendor="seedance", cap=2 * tasks,
                     options=options) as stack:
        bodies = [("/v1/videos", {"model": LISTED_MODEL, "prompt": f"polling bench {i}", "seconds": "5"})
                  for i in range(tasks)]
        submitted = bulk_requests(stack.base_url, stack.token, "POST", bodies, SUBMIT_CONCURRENCY)
        accepted = sum(1 for i in submitted.ids if i)
        wait_terminal(stack, accepted, timeout=float(job_seconds.split("-")[-1]) + 300.0)
        stopped = time.time()
        rows = stack.query("SELECT upstream_id, state, completed_at FROM tasks")
        jobs = sim_jobs(stack)
        stats = stack.sim("GET", "stats")["seedance"]
    lags = completion_lags(rows, jobs, stopped)
    singles = stats["polls_total"] - stats["listed"]
    return Listed(tasks, accepted, submitted.statuses, len(rows),
                  sum(1 for row in rows if row.state == "completed"), lags, stats["polls_total"],
                  singles + stats["list_requests"], stats["list_requests"], stats["listed"])


def broker_publishes(url: str) -> int:
    """LPUSH calls Redis has served: kombu publishes every Celery message with one."""
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_lpush", {}).get("calls", 0))


def run(options: Options) -> Section:
    tasks = 300 if options.quick else TASKS
    job_seconds = "10-20" if options.quick else JOB_SECONDS
    with bench_stack(NAME, sim_job_seconds=job_seconds, cap=2 * tasks, options=options) as stack:
        groups = process_groups(stack)
        worker_pid = stack.processes["worker_openai"].pid
        publishes_before = broker_publishes(stack.redis.url)
        bodies = [("/v1/videos", {"model": "sora-2", "prompt": f"polling bench {i}", "seconds": "4"})
                  for i in range(tasks)]
        worker_groups = [f"worker_{name}" for name in options.worker_names()]
        with ProcessSampler(groups, interval=2.0, solo=[BENCH_PROCESS], pss=worker_groups) as sampler, \
                QueueSampler(stack.redis.url) as queues:
            started = time.time()
            submitted = bulk_requests(stack.base_url, stack.token, "POST", bodies, SUBMIT_CONCURRENCY)
            submit_seconds = time.time() - started
            profile = ""
            if options.profile and not options.quick:
                with Profiler(worker_pid, stack.config.workdir / "worker.prof", 20, rate=25, gil=True) as profiler:
                    time.sleep(20)
                profile = (f"Worker ({options.worker_label}), 20 s right after the submissions, at 25 Hz "
                           f"(inside the measured run):\n\n{profiler.summary()}")
            # Bounded: the longest job, plus slack for a back end that falls behind.
            slack = 60.0 if options.quick else 400.0
            waited = wait_terminal(stack, tasks, timeout=float(job_seconds.split("-")[-1]) + slack)
            stopped = time.time()
        publishes = broker_publishes(stack.redis.url) - publishes_before
        rows = stack.query("SELECT public_id, upstream_id, state, error_code, created_at, completed_at, polls, "
                           "next_action_at FROM tasks")
        jobs = sim_jobs(stack)
        stats = stack.sim("GET", "stats")["openai"]
    listed = listed_run(options, job_seconds)
    accepted = sum(1 for i in submitted.ids if i)
    states = Counter(row.state for row in rows)
    failures = Counter(row.error_code for row in rows if row.state == "failed")
    lags = completion_lags(rows, jobs, stopped)
    reach = [jobs[row.upstream_id]["created_at"] - row.created_at for row in rows if row.upstream_id in jobs]
    polls = [stats["polls"].get(job_id, 0) for job_id in jobs]
    unfinished = accepted - states["completed"] - states["failed"]
    # Lost for good: not terminal and nothing scheduled (the dispatcher would never pick it up again).
    orphaned = sum(1 for row in rows if row.state not in ("completed", "failed") and row.next_action_at is None)
    # Per worker (the target is a worker's): the largest of their peaks when several run.
    worker_rss = max(max(sampler.samples[group].rss, default=0) for group in worker_groups)
    worker_pss = max(max(sampler.samples[group].pss, default=0) for group in worker_groups)
    queue_name, queue_max = queues.worst()
    largest = "" if options.worker_processes == 1 else f" (the largest of the {options.worker_processes} workers)"
    ordered = sorted((job["created_at"], job["ended_at"]) for job in jobs.values())
    paper = {limit: newapi_schedule(ordered, limit) for limit in (NEWAPI_QUERY_LIMIT, None)}
    p50, p95 = percentile(lags, 50), percentile(lags, 95)
    mean_polls = sum(polls) / len(polls) if polls else float("nan")
    verdicts = [
        Verdict("lag vendor done -> `completed`, p95", f"{p95:.1f} s (p50 {p50:.1f} s)", f"<= {MAX_LAG_P95:.0f} s",
                p95 <= MAX_LAG_P95),
        Verdict("upstream polls per task (mean)", f"{mean_polls:.1f} (p95 {percentile(polls, 95):.0f})",
                f"<= {MAX_POLLS:.0f}", mean_polls <= MAX_POLLS),
        Verdict("worker RSS, peak, summed over its processes", f"{worker_rss / 2**20:.0f} MB",
                f"<= {MAX_WORKER_RSS // 2**20} MB", worker_rss <= MAX_WORKER_RSS),
        Verdict("worker PSS, peak (shared pages counted once)", f"{worker_pss / 2**20:.0f} MB",
                f"<= {MAX_WORKER_RSS // 2**20} MB", worker_pss <= MAX_WORKER_RSS),
        Verdict("lost: not terminal, nothing scheduled", f"{orphaned} of {accepted:,}", "0", orphaned == 0),
        Verdict(f"unfinished when the run stopped ({waited:.0f} s after the submissions)", f"{unfinished:,}", "0",
                unfinished == 0),
        Verdict("broker's longest queue (peak LLEN)", f"{queue_max:,} (`{queue_name}`)", "-", None),
        Verdict(f"Seedance ({listed.sent:,} tasks): lag p95", f"{percentile(listed.lags, 95):.1f} s",
                f"<= {MAX_LAG_P95:.0f} s", percentile(listed.lags, 95) <= MAX_LAG_P95),
        Verdict("Seedance: upstream status calls per task (Ark's task list)",
                f"{listed.calls / max(1, listed.tasks):.2f}", f"<= {MAX_POLLS:.0f}",
                listed.calls / max(1, listed.tasks) <= MAX_POLLS),
        Verdict("Seedance: accepted", f"{listed.accepted:,} of {listed.sent:,}", "all",
                listed.accepted == listed.sent),
        Verdict("Seedance: completed", f"{listed.completed:,} of {listed.accepted:,} accepted", "all",
                listed.completed == listed.accepted > 0),
    ]
    cpu_rows = [[name, f"{mean:.0f}%", f"{p90:.0f}%"] for name, mean, p90 in sampler.cpu_table()]
    paper_rows = []
    for limit, result in paper.items():
        label = f"TASK_QUERY_LIMIT {limit:,}" if limit else "no query limit (one pass over all tasks)"
        paper_rows.append([label, f"{percentile(result.lags, 50):,.0f} s", f"{percentile(result.lags, 95):,.0f} s",
                           f"{sum(result.polls) / len(result.polls):.2f}", f"{result.last_done:,.0f} s"])
    run_rows = [["Vidgate (this run)", f"{p50:.1f} s", f"{p95:.1f} s", f"{mean_polls:.2f}",
                 f"{max(r.completed_at for r in rows if r.completed_at) - ordered[0][0]:,.0f} s" if lags else "-"]]
    body = "\n\n".join([
        f"{tasks:,} tasks submitted through the API ({SUBMIT_CONCURRENCY} at a time, {submit_seconds:.0f} s, "
        f"{accepted:,} accepted; statuses {dict(submitted.statuses)}) to the OpenAI simulator with jobs lasting "
        f"{job_seconds} s (drawn uniformly), the OpenAI channel's cap raised to {2 * tasks:,} so they are all in "
        f"flight at once (the simulator saw at most {stats['max_in_flight']:,} at the same moment). Back end: "
        f"{options.worker_described}, beat with the 1 s dispatcher. The "
        "simulator records each "
        "job's end (creation + drawn duration); lag is the task's `completed_at` minus that (a task still unfinished "
        "when the run stops counts with its lag so far, a lower bound). The run stopped "
        f"{waited:.0f} s after the submissions, with states {dict(states)}"
        + (f" and failures {dict(failures)}" if failures else "") + ".",
        table(["", "p50", "p95", "max"], [
            ["lag: vendor done -> `completed` (s)", f"{p50:.1f}", f"{p95:.1f}", f"{max(lags, default=0):.1f}"],
            ["accepted -> job created at the vendor (s)", f"{percentile(reach, 50):.1f}",
             f"{percentile(reach, 95):.1f}", f"{max(reach, default=0):.1f}"],
            ["upstream polls per task", f"{percentile(polls, 50):.0f}", f"{percentile(polls, 95):.0f}",
             f"{max(polls, default=0)}"],
        ]),
        f"Broker: {publishes:,} messages published ({publishes / max(1, accepted):.1f} per task; a task needs at "
        f"least 2 + its polls), longest queue `{queue_name}` at {queue_max:,}. Worker RSS peaked at "
        f"{worker_rss / 2**20:.0f} MB summed over its processes{largest} (PSS peak {worker_pss / 2**20:.0f} MB: "
        "pages shared between processes counted once).",
        "CPU by process tree over the run (100% = one core; the machine has 2):",
        table(["process", "mean CPU", "p90 CPU"], cpu_rows),
        f"**Seedance: one list call for many jobs.** The same job lengths on the Seedance simulator, {listed.sent:,} "
        f"tasks sent ({listed.accepted:,} accepted; statuses {dict(listed.statuses)}), its channel's cap raised so "
        "all are in flight, the same worker on the `seedance` queue. A poll "
        "batch (up to `VIDGATE_POLL_BATCH`, 50, due jobs) asks Ark's task list "
        "(`GET /contents/generations/tasks?filter.task_ids=...`, pages of up to 100) about its jobs in one call per "
        "channel, and only a job the list leaves out on its own. Ark reports no progress, so a job is asked again "
        "after a quarter of its age, at most 5 s later for a job asked about in a list (`MAX_LISTED_POLL`; 10 s "
        "when asked alone). Status reads count each job a list named; calls count HTTP requests:",
        table(["vendor", "tasks completed", "lag p50", "lag p95", "status reads per task",
               "upstream status calls per task", "jobs per list call"], [
            ["OpenAI (one call per job)", f"{states['completed']:,} of {accepted:,}", f"{p50:.1f} s", f"{p95:.1f} s",
             f"{mean_polls:.2f}", f"{mean_polls:.2f}", "-"],
            ["Seedance (Ark's task list)", f"{listed.completed:,} of {listed.accepted:,}",
             f"{percentile(listed.lags, 50):.1f} s", f"{percentile(listed.lags, 95):.1f} s",
             f"{listed.reads / max(1, listed.tasks):.2f}", f"{listed.calls / max(1, listed.tasks):.2f}",
             f"{listed.listed / max(1, listed.list_calls):.1f}"],
        ]),
        "**new-api on paper, same jobs.** new-api polls in a loop: a pass every 15 s, one channel's tasks one at a "
        f"time with a 1 s sleep between them, at most {NEWAPI_QUERY_LIMIT:,} tasks per pass "
        "(`TASK_QUERY_LIMIT`). Replaying this run's jobs (their creation times and durations from the simulator) "
        "through that schedule (`bench/polling.py: newapi_schedule`): one channel gets about one poll per second "
        f"whatever the load, so {tasks:,} tasks take {tasks:,} polls of 1 s, i.e. about {tasks:,} s ({tasks / 3600:.1f}"
        " h) for the last to be seen done, and the median task waits about half that:",
        table(["schedule", "lag p50", "lag p95", "polls per task", "last completion after first submission"],
              run_rows + [["new-api, " + row[0], *row[1:]] for row in paper_rows]),
    ])
    return Section(NAME, "Polling at scale: 10,000 jobs in flight", "python -m bench polling", body, verdicts,
                   profile, options.quick)
