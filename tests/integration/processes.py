"""Starting and stopping the real processes the integration tests run beside the test process."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    """Run `python -m <args>` from the repository root, its output in `<logs>/<name>.log`."""
    log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
    return subprocess.Popen([sys.executable, "-m", *args], env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)


def celery(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    return start(name, ["celery", "-A", "workers.celery_app", *args], env, logs)


def stop(*processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
