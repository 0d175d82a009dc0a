"""gunicorn's entry point: the app built, and what building it made kept out of the cycle collector's passes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FROZEN = "import gc, app.wsgi; print(gc.get_freeze_count(), type(app.wsgi.app).__name__)"


def test_importing_the_entry_point_builds_the_app_and_freezes_what_it_made(tmp_path: Path) -> None:
    env = {**os.environ, "VIDGATE_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", FROZEN], env=env, capture_output=True, text=True, check=True)
    frozen, kind = out.stdout.split()
    assert kind == "Flask"
    assert int(frozen) > 50_000  # Flask, SQLAlchemy, Celery, the routes and their schemas: about 120,000 objects
