"""The shared signed, expiring result links (`VendorSim.file_url` / `add_file_route`), through the Hailuo blueprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from simulators import media
from simulators.core import Simulator

from .conftest import FakeClock, SleepRecorder, sim_env

KEY = "minimax-sim-key"
PAD = 300_000  # bigger than a chunk, so cuts and stalls strike mid-file


@dataclass
class Links:
    sim: Simulator
    clock: FakeClock
    sleeps: SleepRecorder
    api: FlaskClient  # MiniMax API calls, with the key
    cdn: FlaskClient  # the object store: no credentials at all

    def finished_job(self) -> tuple[str, str]:
        """(job id, a download link) for a job that has just succeeded."""
        answer = self.api.post("/hailuo/v1/video_generation", json={"model": "T2V-01", "prompt": "a fox"})
        task_id = answer.get_json()["task_id"]
        self.clock.advance(10)
        file_id = self.api.get("/hailuo/v1/query/video_generation", query_string={"task_id": task_id}).get_json()
        return task_id, self.link(file_id["file_id"])

    def link(self, file_id: str) -> str:
        retrieved = self.api.get("/hailuo/v1/files/retrieve", query_string={"file_id": file_id}).get_json()
        return retrieved["file"]["download_url"]


@pytest.fixture
def links() -> Links:
    base = sim_env({"Authorization": f"Bearer {KEY}"}, result_ttl=7200.0, pad_bytes=PAD, url_ttl=600.0)
    return Links(base.sim, base.clock, base.sleeps, base.client, base.anonymous)


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return parts._replace(query=urlencode(query)).geturl()


def _denied(response: TestResponse, reason: str) -> None:
    assert response.status_code == 403 and response.mimetype == "application/xml"
    body = response.get_data(as_text=True)
    assert body.startswith("<?xml") and "<Code>AccessDenied</Code>" in body and reason in body


def test_a_valid_link_streams_the_jobs_exact_bytes_with_content_length(links: Links) -> None:
    job_id, url = links.finished_job()
    assert urlsplit(url).path == f"/hailuo/_files/{job_id}.mp4"
    response = links.cdn.get(url)
    size = media.video_for(job_id, PAD)[0]
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert response.headers["Content-Length"] == str(size) and len(response.data) == size
    digest = hashlib.sha256(response.data).hexdigest()
    assert digest == media.video_sha256(job_id, PAD)
    assert links.sim.jobs.get("hailuo", job_id).served_sha256 == [digest]
    assert links.sim.stats.snapshot(links.sim.jobs, links.clock())["hailuo"]["content_downloads"] == 1


def test_a_tampered_link_is_refused(links: Links) -> None:
    job_id, url = links.finished_job()
    other_id, _ = links.finished_job()
    expires = int(parse_qs(urlsplit(url).query)["expires"][0])
    _denied(links.cdn.get(_with(url, sig="0" * 32)), "Signature does not match")
    _denied(links.cdn.get(_with(url, expires=str(expires + 3600))), "Signature does not match")
    _denied(links.cdn.get(url.replace(job_id, other_id)), "Signature does not match")
    _denied(links.cdn.get(_with(url, expires="soon")), "Signature does not match")


def test_a_link_expires_after_url_ttl_and_a_new_one_works(links: Links) -> None:
    job_id, url = links.finished_job()
    assert int(parse_qs(urlsplit(url).query)["expires"][0]) == int(links.clock() + 600)
    links.clock.advance(600.5)
    _denied(links.cdn.get(url), "Request has expired")
    fresh = links.link(links.api.get("/hailuo/v1/query/video_generation",
                                     query_string={"task_id": job_id}).get_json()["file_id"])
    assert links.cdn.get(fresh).status_code == 200


def test_url_ttl_is_changed_through_the_control_api(links: Links) -> None:
    assert links.cdn.post("/_sim/config", json={"url_ttl": 5}).get_json()["url_ttl"] == 5.0
    _, url = links.finished_job()
    assert int(parse_qs(urlsplit(url).query)["expires"][0]) == int(links.clock() + 5)
    links.clock.advance(5.5)
    _denied(links.cdn.get(url), "Request has expired")
    assert links.cdn.post("/_sim/config", json={"url_ttl": -1}).status_code == 400


def test_the_jobs_own_result_ttl_still_bounds_a_valid_link(links: Links) -> None:
    links.sim.settings.update({"url_ttl": 10_000})
    _, url = links.finished_job()
    links.clock.advance(7200)
    _denied(links.cdn.get(url), "Request has expired")


def test_content_faults_apply_to_file_links(links: Links) -> None:
    job_id, url = links.finished_job()
    size = media.video_for(job_id, PAD)[0]
    links.sim.faults.add("hailuo", "content", "truncate", after_bytes=1000)
    cut = links.cdn.get(url)
    assert cut.headers["Content-Length"] == str(size) and len(cut.data) == 1000
    links.sim.faults.add("hailuo", "content", "stall", after_bytes=1000, seconds=7)
    stalled = links.cdn.get(url)
    assert len(stalled.data) == size and links.sleeps.calls == [7.0]
    links.sim.faults.add("hailuo", "content", "expired")
    _denied(links.cdn.get(url), "Request has expired")
    _denied(links.cdn.get(url), "Request has expired")  # for good: the job's result is gone
