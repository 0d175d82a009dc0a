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


def process_table(*, port: str = "$PORT", simulator_port: str = "9100", embedded: bool = False) -> dict[str, str]:
    """Process name -> command. `embedded` trades throughput for memory on a laptop: one web process, 4 threads
    a worker."""
    web_workers = "1" if embedded else "${WEB_CONCURRENCY:-2}"
    table = {
        "web": f"gunicorn app.wsgi:app -b 0.0.0.0:{port} -k gthread --threads {WEB_THREADS} -w {web_workers} "
               "--log-level warning",
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
