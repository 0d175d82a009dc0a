"""The vendor simulators plus `/_bench/jobs`: each job's creation time and end, so lag can be measured."""
from __future__ import annotations

import argparse
from collections.abc import Sequence

from flask import Response

from simulators.app import VENDORS, create_app, get_simulator, make_threaded_server
from simulators.vendor import json_response


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args(argv)
    app = create_app()
    sim = get_simulator(app)

    @app.get("/_bench/jobs")
    def job_times() -> Response:
        """Every job: id, vendor, prompt, created_at and ended_at (created_at + duration: when the vendor is done)."""
        return json_response({"jobs": [
            {"id": job.id, "vendor": job.vendor, "prompt": job.prompt, "created_at": job.created_at,
             "ended_at": job.ended_at}
            for vendor in VENDORS for job in sim.jobs.list(vendor)]})

    make_threaded_server(app, args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
