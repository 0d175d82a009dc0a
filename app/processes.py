"""The process table: what the Procfile runs and what `vidgate up` starts, from one definition."""
from __future__ import annotations

from workers.celery_config import MAINTENANCE_QUEUE
from workers.vendors import VENDORS

CELERY = "celery -A workers.celery_app"

# Workers run a thread pool: a step mostly waits on its vendor (hundreds of milliseconds a call) and on the
# database, so one process with threads does the work of several prefork children in a fraction of their memory
# (BENCHMARKS.md, polling: 120 MB against 488 MB for prefork -c 4, with the lag target met by both). Scale out by
# running more worker processes per vendor queue. Steps do not rely on Celery's time limits, which only prefork
# enforces: vendor calls have timeouts, poll batches a time budget and downloads a deadline of their own.
WORKER_POOL = "threads"
WORKER_CONCURRENCY = 16
WEB_THREADS = 16


def web_command(app: str, bind: str, workers: str) -> list[str]:
    """gunicorn serving `app`: the Procfile's web process, and the benchmarks' ceiling under the same flags.

    `--reuse-port` gives each worker a listening socket of its own, so the kernel spreads connections evenly.
    On one shared socket the worker that happens to be awake accepts: a client opening its keep-alive
    connections together (a load balancer's pool, wrk) can leave one worker with nearly all of them, bound by
    one core and one GIL while the other idles (58 of 64 measured; BENCHMARKS.md, submit). The price: while a
    single worker drains on its way out (a HUP reload, a worker timeout), connections the kernel hands its socket
    wait and are reset at its exit unless the host sets `net.ipv4.tcp_migrate_req=1`. Deploys on a PaaS replace
    whole processes, where a shared socket loses its queued connections the same way.

    `--no-sendfile`: a stored video leaves in 256 KiB reads and writes (app.routes.videos.STREAM_BUFFER), as a
    ranged read always did, instead of through gunicorn's one `socket.sendfile` call. Measured side by side with
    nginx serving the same 1 GiB file, a whole-file download went from 74-82% of nginx's rate to 110-111% and
    the web's CPU per GiB from 0.47 to 0.35-0.40 s (BENCHMARKS.md, content); memory stays flat (a buffer per
    stream)."""
    return ["gunicorn", app, "-b", bind, "-k", "gthread", "--threads", str(WEB_THREADS), "-w", workers,
            "--reuse-port", "--no-sendfile", "--log-level", "warning"]


def process_table(*, port: str = "$PORT", simulator_port: str = "9100", embedded: bool = False) -> dict[str, str]:
    """Process name -> command. `embedded` trades throughput for memory on a laptop: one web process, 4 threads
    a worker."""
    web_workers = "1" if embedded else "${WEB_CONCURRENCY:-2}"
    table = {
        "web": " ".join(web_command("app.wsgi:app", f"0.0.0.0:{port}", web_workers)),
        "beat": f"{CELERY} beat -l warning",
    }
    concurrency = "4" if embedded else f"${{WORKER_CONCURRENCY:-{WORKER_CONCURRENCY}}}"
    for vendor in VENDORS:
        # Every vendor worker also serves the maintenance queue (dispatcher, housekeeping): no extra
        # process to run, and those jobs keep running as long as any vendor worker does.
        table[f"worker_{vendor}"] = (
            f"{CELERY} worker -Q {vendor},{MAINTENANCE_QUEUE} -n {vendor}@%h -P {WORKER_POOL} -c {concurrency} "
            "-l warning"
        )
    table["simulators"] = f"vidgate simulators --port {simulator_port}"
    return table


def procfile() -> str:
    lines = ["release: vidgate db upgrade"]
    lines += [f"{name}: {command}" for name, command in process_table().items()]
    return "\n".join(lines) + "\n"
