"""Content: streaming a stored 1 GiB video through `/v1/videos/{id}/content` against nginx serving the same file."""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.common import Options, bench_stack, table
from bench.measure import (
    Download,
    ProcessSampler,
    Profiler,
    alternate,
    curl,
    curl_parallel,
    median,
    paired_ratio,
    tree_cpu_seconds,
)
from bench.report import Section, Verdict
from harness.services import free_port, wait_for_port
from harness.stack import Stack

NAME = "content"
GIB = 2**30
MIN_RATIO, MAX_RSS_GROWTH = 0.80, 30 * 2**20
PARALLEL = 4
NGINX_CONF = """
worker_processes 2;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/logs/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {workdir}/nginx-tmp/body;
    proxy_temp_path {workdir}/nginx-tmp/proxy;
    fastcgi_temp_path {workdir}/nginx-tmp/fastcgi;
    uwsgi_temp_path {workdir}/nginx-tmp/uwsgi;
    scgi_temp_path {workdir}/nginx-tmp/scgi;
    types {{ video/mp4 mp4; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


@dataclass
class Stored:
    public_id: str
    path: Path
    size: int
    sha256: str


def store_video(stack: Stack, size: int) -> Stored:
    """A completed task whose stored file is `size` bytes (distinct 1 MiB blocks, so a wrong offset shows)."""
    public_id = stack.api("POST", "/v1/videos", json={"model": "sora-2", "prompt": "content bench",
                                                      "seconds": "4"}).json()["id"]
    key = f"videos/{public_id}/video.mp4"
    path = Path(stack.env["VIDGATE_DATA_DIR"]) / "storage" / key
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    seed = os.urandom(2**20)
    with open(path, "wb") as out:
        for index in range(size // 2**20):
            block = index.to_bytes(8, "big") + seed[8:]
            digest.update(block)
            out.write(block)
    for directory in (path.parent, path.parent.parent, path.parent.parent.parent, path.parent.parent.parent.parent):
        directory.chmod(0o755)
    with stack.engine.begin() as db:
        db.exec_driver_sql(
            "UPDATE tasks SET state = 'completed', upstream_status = 'succeeded', progress = 100, storage_key = %s, "
            "size_bytes = %s, sha256 = %s, content_type = 'video/mp4', completed_at = %s, expires_at = %s, "
            "next_action_at = NULL, version = version + 1 WHERE public_id = %s",
            (key, size, digest.hexdigest(), time.time(), time.time() + 86400, public_id))
    return Stored(public_id, path, size, digest.hexdigest())


def start_nginx(stack: Stack, root: Path) -> str:
    workdir = stack.config.workdir
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "nginx-tmp" / name).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workdir=workdir, port=port, root=root))
    stack.spawn("nginx", ["nginx", "-c", str(conf), "-p", str(workdir)])
    wait_for_port(port)
    return f"http://127.0.0.1:{port}"


def check_ranges(url: str, headers: dict[str, str], stored: Stored) -> list[list[str]]:
    """Ranged reads: status, Content-Range and the bytes themselves against the file."""
    size = stored.size
    cases = [("first 100 bytes", "bytes=0-99", 0, 100), ("1 MiB across a block boundary",
             f"bytes={2**20 - 512}-{2 * 2**20 - 513}", 2**20 - 512, 2**20),
             ("middle 4 KiB", f"bytes={size // 2}-{size // 2 + 4095}", size // 2, 4096),
             ("suffix: last 100 bytes", "bytes=-100", size - 100, 100),
             ("open-ended: from size - 1000", f"bytes={size - 1000}-", size - 1000, 1000),
             ("past the end", f"bytes={size}-", None, 0)]
    rows = []
    with open(stored.path, "rb") as handle:
        for label, spec, start, length in cases:
            response = requests.get(url, headers={**headers, "Range": spec}, timeout=60)
            if start is None:
                ok = response.status_code == 416
                expected_range = f"bytes */{size}"
            else:
                handle.seek(start)
                expected = handle.read(length)
                expected_range = f"bytes {start}-{start + length - 1}/{size}"
                ok = (response.status_code == 206 and response.content == expected
                      and response.headers.get("Content-Range") == expected_range)
            rows.append([label, f"`{spec}`", str(response.status_code),
                         f"`{response.headers.get('Content-Range', '-')}`", "right" if ok else "**WRONG**"])
    conditional = requests.get(url, headers={**headers, "If-None-Match": f'"{stored.sha256}"'}, timeout=60)
    rows.append(["If-None-Match with the ETag", "-", str(conditional.status_code), "-",
                 "right" if conditional.status_code == 304 else "**WRONG**"])
    return rows


def run(options: Options) -> Section:
    size = 64 * 2**20 if options.quick else GIB
    rounds = options.rounds(3)
    with bench_stack(NAME, workers=False) as stack:
        stored = store_video(stack, size)
        storage = Path(stack.env["VIDGATE_DATA_DIR"]) / "storage"
        nginx = start_nginx(stack, storage) + f"/videos/{stored.public_id}/video.mp4"
        vidgate = f"{stack.base_url}/v1/videos/{stored.public_id}/content"
        auth = {"Authorization": f"Bearer {stack.token}"}
        half = {"Range": f"bytes=0-{size // 2 - 1}"}
        web_pid = stack.processes["web"].pid
        with ProcessSampler({"web": web_pid}, interval=0.05) as idle:
            time.sleep(1)
        baseline = max(idle.samples["web"].rss)
        with ProcessSampler({"web": web_pid}, interval=0.05) as memory:
            server_cpu: dict[str, list[float]] = {"whole": [], "ranged": []}

            def costed(kind: str, headers: dict[str, str]) -> Download:
                """A Vidgate download, noting the web workers' CPU seconds per GiB sent."""
                before = tree_cpu_seconds(web_pid)
                download = curl(vidgate, headers)
                server_cpu[kind].append((tree_cpu_seconds(web_pid) - before) / (download.size / GIB))
                return download

            one = alternate({"vidgate": lambda: costed("whole", auth), "nginx": lambda: curl(nginx)}, rounds,
                            warmup=True)
            ranged = alternate({"vidgate": lambda: costed("ranged", {**auth, **half}),
                                "nginx": lambda: curl(nginx, half)}, rounds)
            parallel = alternate({"vidgate": lambda: curl_parallel(vidgate, auth, PARALLEL),
                                  "nginx": lambda: curl_parallel(nginx, {}, PARALLEL)}, rounds)
            range_rows = check_ranges(vidgate, auth, stored)
        growth = max(memory.samples["web"].rss) - baseline
        profile = ""
        if options.profile and not options.quick:
            with Profiler(web_pid, stack.config.workdir / "web.prof", 8) as profiler:
                deadline = time.monotonic() + 8
                while time.monotonic() < deadline:
                    curl(vidgate, {**auth, **half})
            profile = f"Web front during ranged reads of {size // 2 // 2**20} MiB:\n\n{profiler.summary()}"
    statuses = {d.status for runs in (one, ranged) for results in runs.values() for d in results}
    complete = (all(d.size == size for d in one["vidgate"] + one["nginx"])
                and all(d.size == size // 2 for d in ranged["vidgate"] + ranged["nginx"])
                and all(r.size == size for runs in parallel.values() for _, results in runs for r in results))

    def rate(results: list[Download]) -> float:
        return median(d.mib_per_s for d in results)

    ratio_one = paired_ratio([d.mib_per_s for d in one["vidgate"]], [d.mib_per_s for d in one["nginx"]])
    ratio_ranged = paired_ratio([d.mib_per_s for d in ranged["vidgate"]], [d.mib_per_s for d in ranged["nginx"]])
    ratio_parallel = paired_ratio([r[0] for r in parallel["vidgate"]], [r[0] for r in parallel["nginx"]])
    ranges_ok = all(row[-1] == "right" for row in range_rows)
    client = max(d.client_cpu_seconds / d.seconds for results in one.values() for d in results)
    rows = [
        ["whole file, 1 client", f"{rate(one['vidgate']):,.0f}", f"{rate(one['nginx']):,.0f}", f"{ratio_one:.0%}"],
        [f"whole file, {PARALLEL} clients at once (aggregate)", f"{median(r[0] for r in parallel['vidgate']):,.0f}",
         f"{median(r[0] for r in parallel['nginx']):,.0f}", f"{ratio_parallel:.0%}"],
        ["first half (`Range`, 206), 1 client", f"{rate(ranged['vidgate']):,.0f}", f"{rate(ranged['nginx']):,.0f}",
         f"{ratio_ranged:.0%}"],
    ]
    verdicts = [
        Verdict("whole-file MiB/s vs nginx", f"{ratio_one:.0%}", f">= {MIN_RATIO:.0%}", ratio_one >= MIN_RATIO),
        Verdict(f"{PARALLEL} parallel downloads vs nginx", f"{ratio_parallel:.0%}", f">= {MIN_RATIO:.0%}",
                ratio_parallel >= MIN_RATIO),
        Verdict("ranged (206) MiB/s vs nginx", f"{ratio_ranged:.0%}", f">= {MIN_RATIO:.0%}", ratio_ranged >= MIN_RATIO),
        Verdict("web RSS growth while streaming", f"{growth / 2**20:.1f} MB", "< 30 MB", growth < MAX_RSS_GROWTH),
        Verdict("ranged reads: 206 and the right bytes", "all right" if ranges_ok else "WRONG", "all right",
                ranges_ok),
    ]
    body = "\n\n".join([
        f"A completed task whose stored file is {size / GIB:g} GiB ({size:,} bytes, written into the storage "
        "directory with its row updated to match), read through the gateway with the harness token and straight "
        "from the same file by nginx (`sendfile on`, 2 workers) in the same run. `curl` to `/dev/null`; "
        f"{rounds} alternating rounds after a warm-up; MiB/s medians; ratios are medians of per-round ratios. "
        f"Statuses seen: {sorted(statuses)}; every download had all its bytes: {complete}. "
        f"curl used at most {client:.2f} of a core.",
        table(["read", "Vidgate MiB/s", "nginx MiB/s", "Vidgate / nginx"], rows),
        f"Web RSS (gunicorn master and both workers, sampled every 50 ms) was {baseline / 2**20:.0f} MB idle and "
        f"grew by at most {growth / 2**20:.1f} MB over every Vidgate download above. The web workers' CPU per GiB "
        f"sent: {median(server_cpu['whole']):.2f} s for a whole file (gunicorn writes what its file wrapper reads, "
        "256 KiB at a time: `--no-sendfile`, see `app/processes.py`), "
        f"{median(server_cpu['ranged']):.2f} s for a range (werkzeug's range wrapper reads and writes it in 256 KiB "
        "chunks in Python).",
        "Ranged reads and conditional requests against the file's bytes:",
        table(["read", "Range", "status", "Content-Range", "bytes"], range_rows),
    ])
    return Section(NAME, "Content: GET /v1/videos/{id}/content", "python -m bench content", body, verdicts, profile,
                   options.quick)
