"""Fixtures for the simulator tests: a simulator on a fake clock, its Flask test client, and a live server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
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
    job_seconds: float  # every job's fixed duration
    clock: FakeClock
    sleeps: SleepRecorder
    client: FlaskClient  # sends the right bearer token by default
    anonymous: FlaskClient  # sends no Authorization header


@pytest.fixture(autouse=True)
def _simulator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Isolate tests from simulator settings in the developer's environment."""
    for name in (
        "VIDGATE_SIM_OPENAI_KEY",
        "VIDGATE_SIM_JOB_SECONDS",
        "VIDGATE_SIM_RESULT_TTL",
        "VIDGATE_SIM_PAD_BYTES",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env() -> SimEnv:
    """A fresh simulator on a fake clock with fixed 10 s jobs, and test clients for it."""
    # 10 s jobs: queued for [0, 1), running for [1, 10), terminal from 10 on.
    sim = Simulator(Settings(job_seconds=(10.0, 10.0), result_ttl=3600.0, pad_bytes=0))
    clock, sleeps = FakeClock(), SleepRecorder()
    sim.clock, sim.sleep = clock, sleeps
    app = create_app(sim)
    # Let a simulated reset surface as the exception a client library would raise, not as a 500.
    app.testing = True
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {OPENAI_KEY}"
    return SimEnv(
        sim=sim,
        app=app,
        job_seconds=10.0,
        clock=clock,
        sleeps=sleeps,
        client=client,
        anonymous=app.test_client(),
    )


@dataclass
class LiveSim:
    """A simulator served over real sockets on a loopback port, on the real clock."""

    sim: Simulator
    base_url: str

    @property
    def openai_base(self) -> str:
        """The upstream base URL an OpenAI client is given."""
        return f"{self.base_url}/openai/v1"


@pytest.fixture
def live() -> Iterator[LiveSim]:
    """A threaded simulator server with short jobs (0.3 s) for socket-level and SDK tests."""
    sim = Simulator(Settings(job_seconds=(0.3, 0.3), result_ttl=3600.0, pad_bytes=0))
    with serve_in_thread(create_app(sim)) as base_url:
        yield LiveSim(sim=sim, base_url=base_url)
