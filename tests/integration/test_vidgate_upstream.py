"""Another running Vidgate as an OpenAI-compatible upstream: gateways chain without losing the bytes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask.testing import FlaskClient

from harness.services import wait_for_http
from simulators import media
from tests.conftest import Sim, make_settings, new_token, prepared_app
from tests.integration.processes import ROOT, celery, free_port, start, stop
from tests.workers.test_steps import create_video, run_until


def test_a_vidgate_upstream_serves_a_vidgate_gateway(tmp_path: Path, sim: Sim) -> None:
    # Upstream: a whole Vidgate (gunicorn, a worker with embedded beat) on its own embedded default.
    port = free_port()
    upstream_env = {**os.environ, **make_settings(tmp_path / "upstream", sim.url,
                                                  VIDGATE_DISPATCH_SECONDS="0.5").environ}
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], env=upstream_env, cwd=ROOT, check=True,
                   capture_output=True)
    created = subprocess.run([sys.executable, "-m", "app.cli", "token", "create", "--account", "downstream"],
                             env=upstream_env, cwd=ROOT, check=True, capture_output=True, text=True)
    upstream_token = created.stdout.strip().splitlines()[-1]
    web = start("upstream-web", ["gunicorn", "app.wsgi:app", "-b", f"127.0.0.1:{port}", "-k", "gthread",
                                 "--threads", "4"], upstream_env, tmp_path)
    worker = celery("upstream-worker", ["worker", "-B", "-Q", "openai,maintenance", "-P", "threads", "-c", "2",
                                        "-l", "warning", "-n", f"upstream-{port}@%h"], upstream_env, tmp_path)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=30)
        # Downstream: this process, with one channel pointing at the upstream Vidgate.
        channels = tmp_path / "channels.toml"
        channels.write_text(f"""
[[channels]]
name = "vidgate-upstream"
vendor = "openai"
base_url = "http://127.0.0.1:{port}/v1"
api_key = "${{UPSTREAM_TOKEN}}"
models = {{ "sora-2" = "sora-2" }}
""")
        settings = make_settings(tmp_path / "downstream", sim.url, VIDGATE_CHANNELS=str(channels),
                                 UPSTREAM_TOKEN=upstream_token)
        client: FlaskClient = prepared_app(settings).test_client()
        auth = {"Authorization": f"Bearer {new_token()}"}
        task = run_until(create_video(client, auth, seconds="4"), ("completed", "failed"), timeout=60)
    finally:
        stop(web, worker)
    assert task.state == "completed", (task.error_code, task.error_message)
    [job] = sim.state.jobs.list("openai")  # one job at the vendor, behind two gateways
    assert task.upstream_id.startswith("video_") and task.upstream_id != job.id
    assert task.sha256 == media.video_sha256(job.id)

