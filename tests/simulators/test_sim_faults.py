"""Every injectable fault has an observable effect: through the test client, and over real sockets where it matters."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from simulators import media

if TYPE_CHECKING:
    from .conftest import LiveSim, SimEnv

VIDEOS = "/openai/v1/videos"
AUTH = {"Authorization": "Bearer sk-sim-openai"}


def _arm(env: SimEnv, **spec: Any) -> None:
    response = env.client.post("/_sim/faults", json={"vendor": "openai", **spec})
    assert response.status_code == 201, response.get_json()


def _stats(env: SimEnv) -> dict[str, Any]:
    return env.client.get("/_sim/stats").get_json()["openai"]


def _completed_video(env: SimEnv) -> str:
    video_id = env.client.post(VIDEOS, data={"prompt": "fault target"}).get_json()["id"]
    env.clock.advance(env.job_seconds)
    return video_id


@pytest.mark.parametrize(
    ("kind", "status", "type_", "code"),
    [
        ("rate_limit", 429, "requests", "rate_limit_exceeded"),
        ("server_error", 500, "server_error", None),
        ("unavailable", 503, "server_error", None),
    ],
)
def test_error_faults_on_create_answer_in_the_envelope_and_create_nothing(
    env: SimEnv, kind: str, status: int, type_: str, code: str | None
) -> None:
    _arm(env, op="create", kind=kind)
    response = env.client.post(VIDEOS, data={"prompt": "x"})
    assert response.status_code == status
    error = response.get_json()["error"]
    assert (error["type"], error["code"]) == (type_, code) and error["message"]
    assert "Retry-After" not in response.headers
    stats = _stats(env)
    assert (stats["create_requests"], stats["submissions"]) == (1, 0)
    # The fault is spent: the retry goes through.
    assert env.client.post(VIDEOS, data={"prompt": "x"}).status_code == 200
    assert _stats(env)["submissions"] == 1


def test_rate_limit_sends_retry_after_in_whole_seconds(env: SimEnv) -> None:
    _arm(env, op="poll", kind="rate_limit", retry_after=2.5, count=2)
    video_id = env.client.post(VIDEOS, data={"prompt": "x"}).get_json()["id"]
    for _ in range(2):
        response = env.client.get(f"{VIDEOS}/{video_id}")
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert env.client.get(f"{VIDEOS}/{video_id}").status_code == 200
    assert _stats(env)["polls"] == {video_id: 3}  # refused polls still count as polls


def test_faults_on_other_ops_leave_create_alone(env: SimEnv) -> None:
    _arm(env, op="content", kind="server_error")
    _arm(env, op="cancel", kind="unavailable")
    video_id = env.client.post(VIDEOS, data={"prompt": "x"}).get_json()["id"]
    assert env.client.delete(f"{VIDEOS}/{video_id}").status_code == 503
    job = env.sim.jobs.get("openai", video_id)
    assert job is not None and not job.cancelled
    env.clock.advance(env.job_seconds)
    assert env.client.get(f"{VIDEOS}/{video_id}/content").status_code == 500
    assert env.client.get(f"{VIDEOS}/{video_id}/content").status_code == 200


def test_op_any_hits_whichever_request_comes_first(env: SimEnv) -> None:
    video_id = env.client.post(VIDEOS, data={"prompt": "x"}).get_json()["id"]
    _arm(env, op="any", kind="unavailable")
    assert env.client.get(VIDEOS).status_code == 503  # a list is a status read ("poll")
    assert env.client.get(f"{VIDEOS}/{video_id}").status_code == 200


def test_timeout_waits_then_gives_up_without_creating(env: SimEnv) -> None:
    _arm(env, op="create", kind="timeout", seconds=12)
    response = env.client.post(VIDEOS, data={"prompt": "x"})
    assert env.sleeps.calls == [12.0]
    assert response.status_code == 504 and response.get_json()["error"]["type"] == "server_error"
    assert env.sim.jobs.list("openai") == []
    _arm(env, op="poll", kind="timeout")  # default delay
    env.client.get(VIDEOS)
    assert env.sleeps.calls == [12.0, 30.0]


def test_accept_then_timeout_creates_the_job_before_stalling(env: SimEnv) -> None:
    _arm(env, op="create", kind="accept_then_timeout", seconds=7)
    response = env.client.post(VIDEOS, data={"prompt": "x"})
    assert env.sleeps.calls == [7.0]
    [job] = env.sim.jobs.list("openai")
    assert response.status_code == 200 and response.get_json()["id"] == job.id
    assert _stats(env)["submissions"] == 1


def test_reset_raises_a_connection_error_in_the_test_client(env: SimEnv) -> None:
    _arm(env, op="create", kind="reset")
    with pytest.raises(ConnectionResetError):
        env.client.post(VIDEOS, data={"prompt": "x"})
    assert env.sim.jobs.list("openai") == []


def test_malformed_answers_200_with_a_body_that_is_not_a_video_object(env: SimEnv) -> None:
    _arm(env, op="create", kind="malformed")
    response = env.client.post(VIDEOS, data={"prompt": "x"})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.get_json(silent=True) is None
    _arm(env, op="poll", kind="malformed", json=True)
    response = env.client.get(VIDEOS)
    body = response.get_json()
    assert response.status_code == 200 and isinstance(body, dict)
    assert "object" not in body and "data" not in body and "error" not in body
    video_id = _completed_video(env)
    _arm(env, op="content", kind="malformed")
    response = env.client.get(f"{VIDEOS}/{video_id}/content")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert not response.data.startswith(media.SAMPLE_MP4[:8])


def test_stall_pauses_the_stream_after_some_bytes_then_finishes(env: SimEnv) -> None:
    video_id = _completed_video(env)
    _arm(env, op="content", kind="stall", after_bytes=1000, seconds=5)
    response = env.client.get(f"{VIDEOS}/{video_id}/content", buffered=False)
    chunks = iter(response.response)
    first = next(chunks)
    assert len(first) == 1000 and env.sleeps.calls == []
    rest = b"".join(chunks)
    response.close()
    assert env.sleeps.calls == [5.0]
    assert first + rest == b"".join(media.video_for(video_id)[1])


def test_truncate_promises_the_full_length_but_sends_less(env: SimEnv) -> None:
    video_id = _completed_video(env)
    _arm(env, op="content", kind="truncate", after_bytes=4096)
    response = env.client.get(f"{VIDEOS}/{video_id}/content")
    full_length = media.video_for(video_id)[0]
    assert int(response.headers["Content-Length"]) == full_length
    assert len(response.data) == 4096 < full_length
    # The served hash is of what was really sent, so a gateway that stored a cut file is caught.
    assert _stats(env)["served_sha256"][video_id] == [hashlib.sha256(response.data).hexdigest()]


def test_truncate_always_cuts_before_the_end(env: SimEnv) -> None:
    video_id = _completed_video(env)
    _arm(env, op="content", kind="truncate", after_bytes=10**9)
    response = env.client.get(f"{VIDEOS}/{video_id}/content")
    assert len(response.data) == int(response.headers["Content-Length"]) - 1


def test_expired_fault_expires_the_result_for_good(env: SimEnv) -> None:
    video_id = _completed_video(env)
    _arm(env, op="content", kind="expired")
    for _ in range(2):
        response = env.client.get(f"{VIDEOS}/{video_id}/content")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "video_expired"
    assert env.client.get(f"{VIDEOS}/{video_id}").get_json()["expires_at"] <= env.clock.now


def test_max_in_flight_records_the_concurrency_high_water_mark(env: SimEnv) -> None:
    for _ in range(3):
        env.client.post(VIDEOS, data={"prompt": "x"})
    assert (_stats(env)["in_flight"], _stats(env)["max_in_flight"]) == (3, 3)
    env.clock.advance(env.job_seconds)
    env.client.post(VIDEOS, data={"prompt": "x"})
    assert (_stats(env)["in_flight"], _stats(env)["max_in_flight"]) == (1, 3)


# --- over real sockets -------------------------------------------------------------------------------------


def _live_arm(live: LiveSim, **spec: Any) -> None:
    response = requests.post(f"{live.base_url}/_sim/faults", json={"vendor": "openai", **spec}, timeout=5)
    assert response.status_code == 201, response.text


def _live_completed_video(live: LiveSim) -> str:
    video_id = requests.post(f"{live.openai_base}/videos", data={"prompt": "x"}, headers=AUTH, timeout=5).json()["id"]
    time.sleep(0.35)  # the live fixture's jobs take 0.3 s
    return video_id


def test_reset_drops_the_connection_without_a_response(live: LiveSim) -> None:
    _live_arm(live, op="create", kind="reset")
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{live.openai_base}/videos", data={"prompt": "x"}, headers=AUTH, timeout=5)
    assert live.sim.jobs.list("openai") == []
    # The server is unharmed: the next request is answered.
    assert requests.get(f"{live.openai_base}/videos", headers=AUTH, timeout=5).status_code == 200


def test_timeout_makes_the_client_time_out_without_a_job(live: LiveSim) -> None:
    _live_arm(live, op="create", kind="timeout", seconds=0.6)
    with pytest.raises(requests.Timeout):
        requests.post(f"{live.openai_base}/videos", data={"prompt": "x"}, headers=AUTH, timeout=0.2)
    assert live.sim.jobs.list("openai") == []


def test_accept_then_timeout_leaves_a_job_the_client_never_heard_of(live: LiveSim) -> None:
    _live_arm(live, op="create", kind="accept_then_timeout", seconds=0.6)
    with pytest.raises(requests.Timeout):
        requests.post(f"{live.openai_base}/videos", data={"prompt": "x"}, headers=AUTH, timeout=0.2)
    assert len(live.sim.jobs.list("openai")) == 1
    assert requests.get(f"{live.base_url}/_sim/stats", timeout=5).json()["openai"]["submissions"] == 1


def test_stall_makes_a_streaming_read_time_out_while_others_stream(live: LiveSim) -> None:
    video_id = _live_completed_video(live)
    _live_arm(live, op="content", kind="stall", after_bytes=2048, seconds=1.0)
    url = f"{live.openai_base}/videos/{video_id}/content"
    stalled = requests.get(url, headers=AUTH, stream=True, timeout=(2, 0.3))
    chunks = stalled.iter_content(2048)
    assert stalled.status_code == 200 and len(next(chunks)) == 2048
    # The server is threaded: another download completes while the first one hangs.
    assert requests.get(url, headers=AUTH, timeout=2).content == b"".join(media.video_for(video_id)[1])
    with pytest.raises(requests.ConnectionError, match="timed out"):  # requests wraps a streaming read timeout
        next(chunks)
    stalled.close()


def test_truncate_breaks_the_body_for_a_real_client(live: LiveSim) -> None:
    video_id = _live_completed_video(live)
    _live_arm(live, op="content", kind="truncate")
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        requests.get(f"{live.openai_base}/videos/{video_id}/content", headers=AUTH, timeout=5)


def test_concurrent_creates_raise_the_in_flight_high_water_mark(live: LiveSim) -> None:
    live.sim.settings.update({"job_seconds": 5})  # long enough that all four surely overlap
    barrier = threading.Barrier(4)

    def submit() -> None:
        barrier.wait()
        requests.post(f"{live.openai_base}/videos", data={"prompt": "x"}, headers=AUTH, timeout=5)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = requests.get(f"{live.base_url}/_sim/stats", timeout=5).json()["openai"]
    assert stats["submissions"] == 4 and stats["max_in_flight"] == 4
