"""Fault suite plumbing: each scenario adds a row, and the run rewrites docs/reliability.md from them."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.faults.drive import Outcome

REPORT = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
COMMAND = "python -m pytest tests/faults -m slow"
_rows: list[Outcome] = []


@pytest.fixture
def report() -> list[Outcome]:
    return _rows


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _rows or os.environ.get("VIDGATE_FAULT_REPORT", "1") == "0":
        return
    lines = [
        "# Reliability under faults",
        "",
        "Produced by the fault-injection suite itself (`tests/faults`): each scenario runs the real stack",
        "(gunicorn, beat and Celery workers as separate processes, private PostgreSQL and Redis, the vendor",
        "simulators), drives a batch of tasks through it while the fault happens, and checks every task at the",
        "end. Lost: accepted but not terminal by the end. Duplicated: more than one vendor job for one task.",
        "Corrupted: a completed task whose stored file is missing or is not byte-identical to what the",
        "simulator served. Recovery: from the end of the fault to the last task reaching a terminal state.",
        "",
        f"Reproduce: `{COMMAND}` (last run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
        "",
        "| scenario | tasks driven | completed | failed | lost | duplicated upstream | corrupted | recovery (s) "
        "| notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row.markdown() for row in _rows]
    REPORT.write_text("\n".join(lines) + "\n")
