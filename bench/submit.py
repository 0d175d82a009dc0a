"""Submit: `POST /v1/videos` (JSON and multipart) against a trivial JSON route on the same gunicorn setup."""
from __future__ import annotations

from pathlib import Path

from bench.common import Options, bench_stack, fmt_rate, ms, table
from bench.measure import LoadResult, Profiler, Summary, alternate, costed, paired_ratio, wrk_get, wrk_post
from bench.report import Section, Verdict

NAME = "submit"
CONCURRENCY = (1, 16, 64)
MIN_RATIO, MAX_P99_MS = 0.40, 50.0
JSON_BODY = '{"model":"sora-2","prompt":"bench {n}: a red fox running through fresh snow","seconds":"4",' \
            '"size":"1280x720"}'
BOUNDARY = "vidgatebench7MA4YWxkTrZu0gW"


def multipart_body() -> str:
    """The form the OpenAI SDK sends for `client.videos.create(...)` without a file."""
    fields = {"model": "sora-2", "prompt": "bench {n}: a red fox running through fresh snow", "seconds": "4",
              "size": "1280x720"}
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             for name, value in fields.items()]
    return "".join(parts) + f"--{BOUNDARY}--\r\n"


def run(options: Options) -> Section:
    # Five rounds, as for status: with three, one slow round of the ceiling on a shared host moved a median.
    seconds, rounds = options.seconds(5), options.rounds(5)
    with bench_stack(NAME, workers=False) as stack:
        workdir = stack.config.workdir
        ceiling = stack.start_gunicorn("ceiling", "bench.trivial_app:app")
        bodies = {
            "JSON": (_write(workdir / "body.json", JSON_BODY), "application/json"),
            "multipart": (_write(workdir / "body.multipart", multipart_body()),
                          f"multipart/form-data; boundary={BOUNDARY}"),
        }
        healthz_ids = _write(workdir / "healthz.ids", "x\n")
        web, top = stack.processes["web"].pid, stack.processes["ceiling"].pid
        rows, verdicts = [], []
        accepted = 0
        for body_name, (body_file, content_type) in bodies.items():
            for concurrency in CONCURRENCY:
                cases = {
                    "vidgate": lambda f=body_file, t=content_type, c=concurrency: costed([web], lambda: wrk_post(
                        f"{stack.base_url}/v1/videos", f, t, stack.token, c, seconds)),
                    "ceiling": lambda f=body_file, t=content_type, c=concurrency: costed([top], lambda: wrk_post(
                        f"{ceiling}/ping", f, t, "", c, seconds)),
                    "healthz": lambda c=concurrency: costed([web], lambda: wrk_get(
                        stack.base_url, healthz_ids, "/healthz", "", c, seconds)),
                }
                if body_name == "JSON":  # the floor stores the raw body; one body shape is enough to show it
                    cases["floor"] = lambda f=body_file, t=content_type, c=concurrency: costed([top], lambda: wrk_post(
                        f"{ceiling}/floor", f, t, "", c, seconds))
                results = alternate(cases, rounds, warmup=True)
                accepted += sum(r.requests for r in results["vidgate"])
                row, ratio, target = _row(body_name, concurrency, results)
                rows.append(row)
                verdicts.append(Verdict(f"{body_name} c={concurrency} req/s vs ceiling", f"{ratio:.0%}",
                                        f">= {MIN_RATIO:.0%}", ratio >= MIN_RATIO))
                if concurrency == max(CONCURRENCY):
                    verdicts.append(Verdict(f"{body_name} c={concurrency} p99", f"{ms(target.p99_ms)} ms",
                                            f"< {MAX_P99_MS:.0f} ms", target.p99_ms < MAX_P99_MS))
        written = stack.query("SELECT count(*) FROM tasks")[0][0]
        profile = ""
        if options.profile and not options.quick:
            json_file, json_type = bodies["JSON"]
            with Profiler(stack.processes["web"].pid, workdir / "web.prof", seconds, gil=True) as profiler:
                wrk_post(f"{stack.base_url}/v1/videos", json_file, json_type, stack.token, 64, seconds)
            profile = ("Web front (gunicorn, both workers) during `POST /v1/videos` JSON at c=64:\n\n"
                       + profiler.summary())
    body = "\n\n".join([
        "Vidgate's create route against the ceiling: a trivial Flask app (`bench/trivial_app.py`: reads the body, "
        "answers a JSON of the size of a Video object) under the very same gunicorn flags, and the real app's "
        "`/healthz` (no database: the cost of the app's own request hooks and JSON logging), and for JSON the "
        "trivial app's floor, `POST /floor`: raw psycopg2 and redis-py, one committed INSERT of the body and one "
        "Redis INCR per request, a rate-limited create done the plain way, with no framework logic (Vidgate's "
        "limiter pays its Redis round trip once per share of a token's budget). Beat and the workers "
        "are stopped so only the web front is measured (a create writes its row and sends nothing: beat's dispatcher "
        "sends the submission). The floor's latency shows what a durable write costs the tail on this host, with "
        "no framework at all. "
        f"{rounds} alternating rounds of {seconds:.0f} s per case after a warm-up run; medians; ratio = median of "
        "per-round ratios. Latency in ms (p50 / p99).",
        table(["body", "c", "Vidgate req/s", "Vidgate p50 / p99", "ceiling req/s", "ceiling p50 / p99",
               "/healthz req/s", "floor req/s", "floor p50 / p99", "Vidgate / ceiling", "floor / ceiling",
               "web CPU ms/request (Vidgate / ceiling / healthz)", "errors",
               "wrk CPU (cores)"], rows),
        f"Sanity: the measured rounds got {accepted:,} answered creates and the tasks table holds {written:,} rows "
        "(it also holds the warm-ups' rows and those in flight when wrk stopped).",
    ])
    return Section(NAME, "Submit: POST /v1/videos", "python -m bench submit", body, verdicts, profile, options.quick)


def _row(body: str, concurrency: int, results: dict[str, list[LoadResult]]) -> tuple[list[str], float, Summary]:
    target, ceiling, healthz = (Summary.of(results[k]) for k in ("vidgate", "ceiling", "healthz"))
    ratio = paired_ratio([r.rps for r in results["vidgate"]], [r.rps for r in results["ceiling"]])
    client = max(target.client_cpu, ceiling.client_cpu, healthz.client_cpu)
    floor_rate, floor_latency, floor_ratio = "-", "-", "-"
    if "floor" in results:
        floor = Summary.of(results["floor"])
        floor_rate, floor_latency = fmt_rate(floor.rps), floor.latency
        floor_ratio = f"{paired_ratio([r.rps for r in results['floor']], [r.rps for r in results['ceiling']]):.0%}"
    row = [body, str(concurrency), fmt_rate(target.rps), target.latency, fmt_rate(ceiling.rps), ceiling.latency,
           fmt_rate(healthz.rps), floor_rate, floor_latency, f"{ratio:.0%}", floor_ratio,
           f"{target.server_ms:.2f} / {ceiling.server_ms:.2f} / {healthz.server_ms:.2f}",
           f"{target.errors} / {ceiling.errors}", f"{client:.2f}"]
    return row, ratio, target


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
