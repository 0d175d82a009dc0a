"""The system as it runs in production, minus gunicorn: the web over real HTTP, a Celery worker serving
every vendor queue and beat as separate processes, the simulators on loopback."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import requests

from simulators.app import serve_in_thread
from tests.conftest import Sim, make_settings, new_token, prepared_app
from tests.integration.processes import celery, stop
from workers.vendors import VENDORS


@dataclass
class Stack:
    base_url: str
    token: str
    sim: Sim
    logs: Path  # the worker's and beat's output

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=self.token, max_retries=0)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)


def run_stack(request: pytest.FixtureRequest, tmp_path: Path, sim: Sim, mode: str) -> Iterator[Stack]:
    # example.com: the seed documents' image URLs, which the simulators accept without fetching.
    env = {"VIDGATE_DISPATCH_SECONDS": "0.5", "VIDGATE_LOG_LEVEL": "DEBUG",
           "VIDGATE_ALLOW_PRIVATE_HOSTS": f"{sim.url.split('//')[1]},example.com"}
    if mode == "services":
        env["DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    settings = make_settings(tmp_path / "instance", sim.url, **env)
    app = prepared_app(settings)
    token = new_token()
    process_env = {**os.environ, **settings.environ}
    queues = ",".join((*VENDORS, "maintenance"))
    worker = celery("worker", ["worker", "-Q", queues, "-P", "threads", "-c", "4", "-l", "warning",
                               "-n", f"all-{tmp_path.name}@%h"], process_env, tmp_path)
    beat = celery("beat", ["beat", "-l", "warning"], process_env, tmp_path)
    try:
        with serve_in_thread(app) as base_url:
            yield Stack(base_url, token, sim, tmp_path)
    finally:
        stop(worker, beat)


@pytest.fixture(params=["embedded", pytest.param("services", marks=pytest.mark.services)])
def stack(request: pytest.FixtureRequest, tmp_path: Path, sim: Sim) -> Iterator[Stack]:
    yield from run_stack(request, tmp_path, sim, request.param)


@pytest.fixture
def services_stack(request: pytest.FixtureRequest, tmp_path: Path, sim: Sim) -> Iterator[Stack]:
    yield from run_stack(request, tmp_path, sim, "services")
