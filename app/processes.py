"""The process table: what the Procfile runs and what `vidgate up` starts, from one definition."""
from __future__ import annotations

from workers.celery_config import MAINTENANCE_QUEUE
from workers.vendors import VENDORS

CELERY = "celery -A workers.celery_app"


def process_table(*, port: str = "$PORT", simulator_port: str = "9100", embedded: bool = False) -> dict[str, str]:
    """Process name -> command. `embedded` trades throughput for memory on a laptop: thread pools."""
    web_workers = "1" if embedded else "${WEB_CONCURRENCY:-2}"
    table = {
        "web": f"gunicorn app.wsgi:app -b 0.0.0.0:{port} -k gthread --threads 16 -w {web_workers} "
               "--log-level warning",
        "beat": f"{CELERY} beat -l warning",
    }
    for vendor in VENDORS:
        # Every vendor worker also serves the maintenance queue (dispatcher, housekeeping): no extra
        # process to run, and those jobs keep running as long as any vendor worker does.
        pool = "-P threads -c 4" if embedded else "-c ${WORKER_CONCURRENCY:-4}"
        table[f"worker_{vendor}"] = (
            f"{CELERY} worker -Q {vendor},{MAINTENANCE_QUEUE} -n {vendor}@%h {pool} -l warning"
        )
    table["simulators"] = f"vidgate simulators --port {simulator_port}"
    return table


def procfile() -> str:
    lines = ["release: vidgate db upgrade"]
    lines += [f"{name}: {command}" for name, command in process_table().items()]
    return "\n".join(lines) + "\n"
