"""Driving a batch of tasks through a running stack and checking every one of them at the end."""
from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.stack import Stack

TERMINAL = ("completed", "failed")
BATCH = 200


@dataclass
class Outcome:
    scenario: str
    driven: int
    completed: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    corrupted: int = 0
    recovery_s: float = 0.0
    notes: str = ""
    failures: Counter[str] = field(default_factory=Counter)

    def markdown(self) -> str:
        failed = f"{self.failed} ({', '.join(f'{k}: {v}' for k, v in self.failures.items())})" if self.failed \
            else "0"
        return (f"| {self.scenario} | {self.driven} | {self.completed} | {failed} | {self.lost} | {self.duplicated} "
                f"| {self.corrupted} | {self.recovery_s:.1f} | {self.notes} |")


def submit_batch(stack: Stack, count: int = BATCH, model: str = "sora-2") -> list[str]:
    """Submit `count` tasks with unique prompts (so vendor jobs can be matched to tasks), 16 at a time.

    A submission the gateway refuses with 503 (its database away) is retried, as a client would; only
    tasks the gateway accepted count as driven."""
    run = uuid.uuid4().hex[:8]

    def one(index: int) -> str:
        for _ in range(600):
            try:
                response = stack.api("POST", "/v1/videos", json={
                    "model": model, "prompt": f"fault-{run}-{index}", "seconds": "4"})
            except requests.RequestException:
                time.sleep(0.5)
                continue
            if response.status_code == 200:
                return response.json()["id"]
            if response.status_code not in (429, 503):
                raise AssertionError(f"submission refused: {response.status_code} {response.text}")
            time.sleep(0.5)
        raise AssertionError("the gateway never accepted the submission")

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, range(count)))


def wait_terminal(stack: Stack, ids: list[str], timeout: float) -> float:
    """Wait until every task is terminal; returns when that happened (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            rows = stack.query("SELECT count(*) FROM tasks WHERE public_id = ANY(:ids) AND state IN "
                               "('completed', 'failed')", ids=ids)
            if rows[0][0] == len(ids):
                return time.monotonic()
        except Exception:  # noqa: BLE001 (the database may be the thing that is down)
            pass
        time.sleep(0.5)
    return time.monotonic()


def verify(stack: Stack, scenario: str, ids: list[str], fault_ended: float, finished: float,
           notes: str = "") -> Outcome:
    """Every accepted task terminal, every file byte-identical to what the vendor served, one job per task."""
    rows = stack.query(
        "SELECT public_id, state, sha256, storage_key, size_bytes, error_code, request FROM tasks "
        "WHERE public_id = ANY(:ids)", ids=ids)
    outcome = Outcome(scenario, driven=len(ids), recovery_s=max(0.0, finished - fault_ended), notes=notes)
    outcome.lost = len(ids) - sum(1 for row in rows if row.state in TERMINAL)
    jobs_by_prompt: dict[str, list[dict]] = {}
    for job in stack.sim("GET", "jobs")["jobs"]:
        jobs_by_prompt.setdefault(job["prompt"], []).append(job)
    storage = Path(stack.env["VIDGATE_DATA_DIR"]) / "storage"
    for row in rows:
        jobs = jobs_by_prompt.get(row.request["prompt"], [])
        outcome.duplicated += len(jobs) > 1
        if row.state == "completed":
            outcome.completed += 1
            served = {sha for job in jobs for sha in job["served_sha256"]}
            path = storage / row.storage_key if row.storage_key else None
            if path is None or not path.exists() or _sha256(path) != row.sha256 or row.sha256 not in served:
                outcome.corrupted += 1
        elif row.state == "failed":
            outcome.failed += 1
            outcome.failures[row.error_code or "MISSING CODE"] += 1
    return outcome


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
