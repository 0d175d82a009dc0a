"""Fixtures for the simulator tests: a simulator on a fake clock, its Flask test client, and a live server."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from simulators.app import create_app, serve_in_thread
from simulators.core import Settings, Simulator

OPENAI_KEY = "sk-sim-openai"


class FakeClock:
    """A clock that only moves when told to, so job state is exact and tests never wait."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepRecorder:
    """Stands in for time.sleep: records requested delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class SimEnv:
    """The pieces a protocol test needs, wired together."""

    sim: Simulator
    app: Flask
    job_seconds: float  # every job's fixed duration (the shortest, should settings give a range)
    clock: FakeClock
    sleeps: SleepRecorder
    client: FlaskClient  # sends the right bearer token by default
    anonymous: FlaskClient  # sends no Authorization header


@pytest.fixture(autouse=True)
def _simulator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate tests from simulator settings and vendor keys in the developer's environment: every
    `VIDGATE_SIM_*` variable, whichever vendor it belongs to, so a new vendor's keys need no entry here."""
    for name in list(os.environ):  # a copy: deleting while iterating the live mapping would fail
        if name.startswith("VIDGATE_SIM_"):
            monkeypatch.delenv(name)


def sim_env(headers: Mapping[str, str] | None = None, **settings: Any) -> SimEnv:
    """A fresh simulator with fixed 10 s jobs (unless `settings` say otherwise) on a fake clock; its `client`
    sends `headers` (a vendor's key, say) on every request, its `anonymous` client nothing."""
    sim = Simulator(Settings(**{"job_seconds": (10.0, 10.0), "result_ttl": 3600.0, "pad_bytes": 0, **settings}))
    clock, sleeps = FakeClock(), SleepRecorder()
    sim.clock, sim.sleep = clock, sleeps
    app = create_app(sim)
    # Let a simulated reset surface as the exception a client library would raise, not as a 500.
    app.testing = True
    client = app.test_client()
    for name, value in (headers or {}).items():
        client.environ_base[f"HTTP_{name.upper().replace('-', '_')}"] = value
    return SimEnv(
        sim=sim,
        app=app,
        job_seconds=sim.settings.job_seconds[0],
        clock=clock,
        sleeps=sleeps,
        client=client,
        anonymous=app.test_client(),
    )


@pytest.fixture
def env() -> SimEnv:
    """A fresh OpenAI-keyed simulator on a fake clock with fixed 10 s jobs, and test clients for it."""
    # 10 s jobs: queued for [0, 1), running for [1, 10), terminal from 10 on.
    return sim_env({"Authorization": f"Bearer {OPENAI_KEY}"})


@dataclass
class LiveSim:
    """A simulator served over real sockets on a loopback port, on the real clock."""

    sim: Simulator
    base_url: str

    @property
    def openai_base(self) -> str:
        """The upstream base URL an OpenAI client is given."""
        return f"{self.base_url}/openai/v1"

    def arm(self, vendor: str, **spec: object) -> None:
        """Inject a fault through the control API, as an operator would."""
        response = requests.post(f"{self.base_url}/_sim/faults", json={"vendor": vendor, **spec}, timeout=5)
        assert response.status_code == 201, response.text

    def stats(self, vendor: str) -> dict[str, Any]:
        """One vendor's counters, read through the control API."""
        return requests.get(f"{self.base_url}/_sim/stats", timeout=5).json()[vendor]


@pytest.fixture
def live() -> Iterator[LiveSim]:
    """A threaded simulator server with short jobs (0.3 s) for socket-level and SDK tests."""
    sim = Simulator(Settings(job_seconds=(0.3, 0.3), result_ttl=3600.0, pad_bytes=0))
    with serve_in_thread(create_app(sim)) as base_url:
        yield LiveSim(sim=sim, base_url=base_url)
