"""Measuring helpers every benchmark shares: wrk and curl runs, alternation, sampling, bulk clients, profiles."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import psutil
import redis

WRK_DIR = Path(__file__).with_name("wrk")
T = TypeVar("T")


# --- statistics ---------------------------------------------------------------------------------------


def median(values: Iterable[float]) -> float:
    data = list(values)
    return statistics.median(data) if data else float("nan")


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`; nan when empty."""
    data = sorted(values)
    if not data:
        return float("nan")
    rank = max(1, min(len(data), round(p / 100 * len(data) + 0.5)))
    return data[rank - 1]


def paired_ratio(target: Sequence[float], reference: Sequence[float]) -> float:
    """Median of the per-round ratios target/reference: each pair ran back to back, so drift cancels."""
    return median(t / r for t, r in zip(target, reference, strict=True) if r)


# --- running a client with its own CPU accounting ----------------------------------------------------


@dataclass
class Finished:
    stdout: str
    returncode: int
    cpu_seconds: float  # user + system of the client process itself (from wait4)
    wall_seconds: float


def run_measured(command: Sequence[str], timeout: float) -> Finished:
    """Run a load client and account its own CPU time, to show it is not the bottleneck."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Finished(stdout, process.returncode, usage.ru_utime + usage.ru_stime, time.monotonic() - started)


# --- wrk -----------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """One wrk run: throughput, latency percentiles (ms) and the errors wrk saw."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int  # connect/read/write/timeout errors plus HTTP status >= 400
    client_cpu: float  # wrk's CPU time / wall time (1.0 = one core)
    server_ms: float = float("nan")  # CPU ms per request of the server processes named (see `costed`)


def wrk(url: str, script: str, args: Sequence[str], connections: int, seconds: float,
        threads: int | None = None) -> LoadResult:
    """A closed-loop wrk run with `connections` concurrent keep-alive connections."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    threads = threads or min(connections, 2)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
               "--timeout", "10s", "-s", str(WRK_DIR / script), url, "--", *args]
    finished = run_measured(command, timeout=seconds + 60)
    match = re.search(r"^BENCH_JSON (.*)$", finished.stdout, re.MULTILINE)
    if finished.returncode or match is None:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stdout[-2000:]}")
    data = json.loads(match.group(1))
    duration = data["duration_us"] / 1e6
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return LoadResult(data["requests"], duration, data["requests"] / duration, data["p50_us"] / 1000,
                      data["p90_us"] / 1000, data["p99_us"] / 1000, data["max_us"] / 1000, errors,
                      finished.cpu_seconds / finished.wall_seconds)


def costed(pids: Sequence[int], run: Callable[[], LoadResult]) -> LoadResult:
    """Run a load and record the CPU the given process trees spent per request answered."""
    before = sum(tree_cpu_seconds(pid) for pid in pids)
    result = run()
    spent = sum(tree_cpu_seconds(pid) for pid in pids) - before
    return dataclasses.replace(result, server_ms=1000 * spent / max(1, result.requests))


def wrk_get(base_url: str, ids_file: Path, template: str, token: str, connections: int,
            seconds: float) -> LoadResult:
    """GET `template % id` over the ids in `ids_file`, rotating."""
    return wrk(base_url, "get.lua", [str(ids_file), template, token], connections, seconds)


def wrk_post(url: str, body_file: Path, content_type: str, token: str, connections: int,
             seconds: float) -> LoadResult:
    """POST the body in `body_file` ("{n}" replaced per request) to `url`."""
    return wrk(url, "post.lua", [str(body_file), content_type, token], connections, seconds)


def alternate(cases: dict[str, Callable[[], T]], rounds: int, between: Callable[[], None] | None = None,
              warmup: bool = False) -> dict[str, list[T]]:
    """Run every case once per round, rotating the order (ABC, BCA, CAB, ...) so none always goes first.

    `warmup` runs each case once first and discards it (pools, caches, lazy imports); `between` runs after
    every case (e.g. to let a back end drain)."""
    names = list(cases)
    results: dict[str, list[T]] = {name: [] for name in names}
    for name in names if warmup else ():
        cases[name]()
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(cases[name]())
            if between is not None:
                between()
    return results


@dataclass
class Summary:
    """Medians over the rounds of one case."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_cpu: float
    requests: int
    server_ms: float

    @classmethod
    def of(cls, results: Sequence[LoadResult]) -> Summary:
        return cls(median(r.rps for r in results), median(r.p50_ms for r in results),
                   median(r.p99_ms for r in results), sum(r.errors for r in results),
                   max(r.client_cpu for r in results), sum(r.requests for r in results),
                   median(r.server_ms for r in results))

    @property
    def latency(self) -> str:
        """The table cell "p50 / p99" in ms."""
        return f"{self.p50_ms:.1f} / {self.p99_ms:.1f}"


# --- curl downloads ------------------------------------------------------------------------------------


@dataclass
class Download:
    status: int
    size: int
    seconds: float
    client_cpu_seconds: float

    @property
    def mib_per_s(self) -> float:
        return self.size / self.seconds / 2**20 if self.seconds else float("nan")


def curl(url: str, headers: dict[str, str] | None = None, output: str = "/dev/null") -> Download:
    """One download with curl (C, writes to /dev/null: not the bottleneck); time from curl's own clock."""
    command = ["curl", "-s", "-o", output, "-w", "%{http_code} %{size_download} %{time_total}"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    finished = run_measured([*command, url], timeout=600)
    status, size, seconds = finished.stdout.split()
    return Download(int(status), int(size), float(seconds), finished.cpu_seconds)


def curl_parallel(url: str, headers: dict[str, str], count: int) -> tuple[float, list[Download]]:
    """`count` simultaneous downloads; returns the aggregate MiB/s (bytes over the slowest's time) and each."""
    results: list[Download] = []
    lock = threading.Lock()

    def one() -> None:
        result = curl(url, headers)
        with lock:
            results.append(result)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return sum(r.size for r in results) / elapsed / 2**20, results


# --- process sampling ------------------------------------------------------------------------------------


def tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants (those still alive)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int, children_only: bool = False) -> list[int]:
    """RSS in bytes of each process of the tree (or only of the root's descendants, e.g. gunicorn workers)."""
    sizes = []
    for process in tree(pid)[1:] if children_only else tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            sizes.append(process.memory_info().rss)
    return sizes


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by the tree's live processes."""
    total = 0.0
    for process in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            cpu = process.cpu_times()
            total += cpu.user + cpu.system
    return total


def tree_pss(pid: int) -> int:
    """Proportional set size of the whole tree: shared pages counted once across its processes."""
    total = 0
    for process in tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += process.memory_full_info().pss
    return total


@dataclass
class GroupSamples:
    cpu: list[float] = field(default_factory=list)  # percent of one core, per interval
    rss: list[int] = field(default_factory=list)  # bytes, sum over the tree
    pss: list[int] = field(default_factory=list)  # bytes, shared pages counted once (only groups asked for)


@dataclass
class ProcessUse:
    """One process's CPU over the sampling window."""

    group: str
    pid: int
    name: str
    first: float
    last: float
    seen: float  # seconds of the window it was seen in

    @property
    def percent(self) -> float:
        return 100 * (self.last - self.first) / self.seen if self.seen else 0.0


class ProcessSampler:
    """Samples CPU (percent of one core) and RSS of named process trees in a background thread."""

    def __init__(self, groups: dict[str, int], interval: float = 1.0, solo: Iterable[str] = (),
                 pss: Iterable[str] = ()) -> None:
        """`groups`: name -> root pid; names in `solo` count the root process only, not its descendants;
        names in `pss` also sample the tree's proportional set size (slower: reads smaps)."""
        self.groups, self.interval, self.solo, self.pss = groups, interval, set(solo), set(pss)
        self.samples: dict[str, GroupSamples] = {name: GroupSamples() for name in groups}
        self.processes: dict[int, ProcessUse] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-sampler")

    def _cpu_times(self) -> dict[str, dict[int, float]]:
        """Per group, CPU seconds so far of each live process of its tree (by pid)."""
        times: dict[str, dict[int, float]] = {}
        for name, pid in self.groups.items():
            times[name] = {}
            for process in tree(pid)[:1] if name in self.solo else tree(pid):
                try:
                    cpu = process.cpu_times()
                    if process.pid not in self.processes:
                        label = " ".join(process.cmdline()[:6])[:90] or process.name()
                        self.processes[process.pid] = ProcessUse(name, process.pid, label, cpu.user + cpu.system,
                                                                 cpu.user + cpu.system, 0.0)
                    times[name][process.pid] = cpu.user + cpu.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        return times

    def _run(self) -> None:
        previous, previous_at = self._cpu_times(), time.monotonic()
        while not self._stop.wait(self.interval):
            current, at = self._cpu_times(), time.monotonic()
            for name in self.groups:
                # A process born in the interval counts from zero; one that died loses its last interval.
                used = sum(max(0.0, seconds - previous[name].get(pid, 0.0)) for pid, seconds in current[name].items())
                self.samples[name].cpu.append(100 * used / (at - previous_at))
                rss = tree_rss(self.groups[name])
                self.samples[name].rss.append(rss[0] if name in self.solo and rss else sum(rss))
                if name in self.pss:
                    self.samples[name].pss.append(tree_pss(self.groups[name]))
                for pid, seconds in current[name].items():
                    use = self.processes.get(pid)
                    if use is not None and use.group == name:
                        use.seen += at - previous_at if pid in previous[name] else 0.0
                        use.last = seconds
            previous, previous_at = current, at

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def busiest(self, count: int = 8) -> list[ProcessUse]:
        """The single processes that used the most CPU while they were seen, busiest first."""
        return sorted(self.processes.values(), key=lambda use: -use.percent)[:count]

    def cpu_table(self) -> list[tuple[str, float, float]]:
        """(group, mean CPU %, p90 CPU %) per group, busiest first."""
        rows = [(name, statistics.fmean(s.cpu) if s.cpu else 0.0, percentile(s.cpu, 90))
                for name, s in self.samples.items()]
        return sorted(rows, key=lambda row: -row[1])


PRIORITY_SEPARATOR = "\x06\x16"  # kombu.transport.redis's default `sep`


class QueueSampler:
    """Samples LLEN of every Redis list (Celery's queues) in a background thread; keeps each queue's maximum."""

    def __init__(self, url: str, interval: float = 1.0) -> None:
        self.client = redis.Redis.from_url(url)
        self.interval = interval
        self.longest: Counter[str] = Counter()
        self.series: list[tuple[float, int]] = []  # (time, total queued)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-queues")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            lengths: Counter[str] = Counter()
            for key in self.client.scan_iter(count=1000):
                if self.client.type(key) != b"list":
                    continue
                # kombu keeps one list per priority step of a queue, named queue + separator + step (none for 0).
                name = key.decode(errors="replace").partition(PRIORITY_SEPARATOR)[0]
                lengths[name] += self.client.llen(key)
            for name, length in lengths.items():
                self.longest[name] = max(self.longest[name], length)
            self.series.append((time.time(), sum(lengths.values())))

    def __enter__(self) -> QueueSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def worst(self) -> tuple[str, int]:
        if not self.longest:
            return "-", 0
        name, length = self.longest.most_common(1)[0]
        return name, length


# --- bulk API client -------------------------------------------------------------------------------------


@dataclass
class Bulk:
    ids: list[str]
    statuses: Counter[int]
    seconds: float
    latencies_ms: list[float]


def bulk_requests(base_url: str, token: str, method: str, paths_and_bodies: Sequence[tuple[str, Any]],
                  concurrency: int, retry_statuses: tuple[int, ...] = (429, 503)) -> Bulk:
    """Send requests with `concurrency` in flight (aiohttp, one event loop); ids of 200 answers in order.

    Used where the figure is not the client's request rate (seeding tasks, the pipeline), so a Python
    client is enough; the wrk runs carry the request-rate figures."""

    async def main() -> Bulk:
        results: list[str] = [""] * len(paths_and_bodies)
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(paths_and_bodies)):
            queue.put_nowait(index)
        headers = {"Authorization": f"Bearer {token}"}
        connector = aiohttp.TCPConnector(limit=concurrency)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(base_url, headers=headers, connector=connector, timeout=timeout) as http:

            async def worker() -> None:
                while not queue.empty():
                    index = queue.get_nowait()
                    path, body = paths_and_bodies[index]
                    for _attempt in range(100):
                        started = time.perf_counter()
                        async with http.request(method, path, json=body) as response:
                            payload = await response.read()
                        latencies.append((time.perf_counter() - started) * 1000)
                        statuses[response.status] += 1
                        if response.status not in retry_statuses:
                            break
                        await asyncio.sleep(0.5)
                    if response.status == 200 and payload[:1] == b"{":
                        results[index] = json.loads(payload).get("id", "")

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return Bulk(results, statuses, time.monotonic() - started, latencies)

    return asyncio.run(main())


# --- profiles ---------------------------------------------------------------------------------------------


class Profiler:
    """py-spy recording of a process tree in the background (raw collapsed stacks), summarised afterwards."""

    def __init__(self, pid: int, output: Path, seconds: float, rate: int = 50, idle: bool = False,
                 gil: bool = False) -> None:
        """`idle`: include threads that wait (sockets, locks, the database): wall time rather than CPU.
        `gil`: only threads holding the GIL: where a GIL-bound process spends its Python CPU."""
        self.output, self.idle, self.gil = output, idle, gil
        self.command = [self.executable() or "py-spy", "record", "--pid", str(pid), "--subprocesses", "--nonblocking",
                        "--format", "raw",
                        "--rate", str(rate), "--duration", str(max(1, round(seconds))), "--output", str(output),
                        *(["--idle"] if idle else []), *(["--gil"] if gil else [])]
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def executable() -> str | None:
        """py-spy from this interpreter's virtualenv (pip install py-spy), else from PATH."""
        beside = Path(sys.executable).parent / "py-spy"
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def __enter__(self) -> Profiler:
        if self.executable():
            self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def summary(self, top: int = 12) -> str:
        """Markdown: the functions holding most samples (self) and the project's own frames (inclusive)."""
        if not self.output.exists():
            return "_py-spy not available or recorded nothing._"
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for line in self.output.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            frames = [_frame_name(frame) for frame in stack.split(";")[1:]]  # first is the process/thread
            if not frames:
                continue
            own[frames[-1]] += count
            for frame in set(frames):
                if _is_project(frame):
                    inclusive[frame] += count
        if not total:
            return "_no samples._"
        kind = ("all threads, waiting ones included" if self.idle else "threads holding the GIL only" if self.gil
                else "active threads only")
        lines = [f"{total} samples ({kind}).", "",
                 "| self % | function | | inclusive % | project function |", "|---|---|---|---|---|"]
        own_rows, incl_rows = own.most_common(top), inclusive.most_common(top)
        for index in range(max(len(own_rows), len(incl_rows))):
            left = own_rows[index] if index < len(own_rows) else ("", 0)
            right = incl_rows[index] if index < len(incl_rows) else ("", 0)
            lines.append(f"| {100 * left[1] / total:.1f} | `{left[0]}` | | "
                         f"{100 * right[1] / total:.1f} | `{right[0]}` |" if right[0] else
                         f"| {100 * left[1] / total:.1f} | `{left[0]}` | | | |")
        return "\n".join(lines)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")
_PROJECT_DIRS = ("/app/", "/workers/", "/simulators/", "/config/")


def _frame_name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


def _is_project(frame: str) -> bool:
    return any(f"({d.strip('/')}/" in frame for d in _PROJECT_DIRS)


def group_by(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    grouped: defaultdict[str, list[T]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return dict(grouped)
