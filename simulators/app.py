"""The simulator web app: every vendor blueprint plus the /_sim control API, and ways to serve it."""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Blueprint, Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from workers.vendors import VENDORS as GATEWAY_VENDORS

from .core import Simulator
from .vendor import json_response


def _discover() -> dict[str, Callable[[Simulator], Blueprint]]:
    """Vendor name -> blueprint factory, one `simulators/<vendor>/` package each, mounted at /<vendor>.

    Adding a vendor is adding its folder (with VENDOR and create_blueprint): nothing to register here."""
    found = {}
    for vendor in GATEWAY_VENDORS:
        if importlib.util.find_spec(f"simulators.{vendor}") is not None:
            module = importlib.import_module(f"simulators.{vendor}")
            found[module.VENDOR] = module.create_blueprint
    return found


VENDORS: dict[str, Callable[[Simulator], Blueprint]] = _discover()
_EXTENSION = "vidgate_simulator"


def create_app(simulator: Simulator | None = None) -> Flask:
    """A Flask app serving every vendor simulator and `/_sim` over `simulator` (fresh, from env, if None)."""
    sim = simulator if simulator is not None else Simulator()
    app = Flask(__name__)
    app.extensions[_EXTENSION] = sim
    for name, factory in VENDORS.items():
        app.register_blueprint(factory(sim), url_prefix=f"/{name}")
    app.register_blueprint(_control_blueprint(sim), url_prefix="/_sim")
    return app


def get_simulator(app: Flask) -> Simulator:
    """The shared state behind an app made by create_app (for tests: clock, faults, stats)."""
    sim: Simulator = app.extensions[_EXTENSION]
    return sim


def _control_blueprint(sim: Simulator) -> Blueprint:
    """Test-only control API: arm faults, read counters, change settings, reset. No auth: bind to loopback."""
    bp = Blueprint("sim_control", __name__)

    def bad_request(message: str) -> Response:
        return json_response({"error": message}, 400)

    @bp.get("/faults")
    def list_faults() -> Response:
        return json_response({"faults": sim.faults.pending()})

    @bp.post("/faults")
    def add_fault() -> Response:
        spec = request.get_json(silent=True)
        if not isinstance(spec, dict):
            return bad_request("expected a JSON object {vendor, op, kind, count, ...options}")
        vendor = spec.pop("vendor", None)
        if not isinstance(vendor, str) or vendor not in VENDORS:
            return bad_request(f"unknown vendor {vendor!r}; expected one of {sorted(VENDORS)}")
        try:
            op, kind, count = spec.pop("op", "any"), spec.pop("kind", None), spec.pop("count", 1)
            fault = sim.faults.add(vendor, op, kind, count, **spec)
        except (TypeError, ValueError) as exc:  # TypeError: a non-string kind or op from JSON
            return bad_request(str(exc))
        return json_response(fault.as_dict(), 201)

    @bp.delete("/faults")
    def clear_faults() -> Response:
        return json_response({"cleared": sim.faults.clear()})

    @bp.get("/stats")
    def stats() -> Response:
        return json_response(sim.stats.snapshot(sim.jobs, sim.clock(), VENDORS))

    @bp.get("/jobs")
    def jobs() -> Response:
        """Every job of every vendor with what a test needs to match it to a gateway task."""
        now = sim.clock()
        listed = [
            {"id": job.id, "vendor": job.vendor, "model": job.model, "prompt": job.prompt,
             "idempotency_key": job.idempotency_key, "phase": job.phase(now), "served_sha256": job.served_sha256}
            for vendor in VENDORS for job in sim.jobs.list(vendor)
        ]
        return json_response({"jobs": listed})

    @bp.get("/config")
    def read_config() -> Response:
        return json_response(sim.settings.as_dict())

    @bp.post("/config")
    def change_config() -> Response:
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return bad_request("expected a JSON object {job_seconds, result_ttl, pad_bytes}")
        try:
            sim.settings.update(changes)
        except (TypeError, ValueError) as exc:
            return bad_request(str(exc))
        return json_response(sim.settings.as_dict())

    @bp.post("/reset")
    def reset() -> Response:
        sim.reset()
        return json_response({"reset": True})

    @bp.get("/healthz")
    def healthz() -> Response:
        return json_response({"ok": True, "vendors": sorted(VENDORS)})

    return bp


def make_threaded_server(app: Flask | None = None, host: str = "127.0.0.1", port: int = 0) -> BaseWSGIServer:
    """A bound, not yet running, threaded werkzeug server (port 0 picks a free one: see `.server_port`)."""
    # Threaded so slow content streams, stalls and timeouts never block other requests.
    return make_server(host, port, app if app is not None else create_app(), threaded=True)


@contextmanager
def serve_in_thread(app: Flask | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve in a background thread for the duration of the block; yields the base URL (no trailing slash)."""
    server = make_threaded_server(app, host, port)
    # A short poll interval keeps shutdown (which waits for one poll) quick between tests.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="vidgate-simulators", daemon=True
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()  # serve_forever closes the listening socket as it returns
        thread.join()


def serve(host: str = "127.0.0.1", port: int = 9100) -> None:
    """Serve every simulator in the foreground until Ctrl-C (no reloader, no debugger)."""
    server = make_threaded_server(None, host, port)
    base = f"http://{host}:{server.server_port}"
    print(f"Vidgate simulators on {base} (control API: {base}/_sim)", flush=True)
    for name in VENDORS:
        print(f"  {name}: {base}/{name}", flush=True)
    server.serve_forever()  # werkzeug's serve_forever returns quietly on Ctrl-C and closes the socket
