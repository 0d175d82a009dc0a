"""Every model the seed documents name either routes to a vendor adapter or is refused with the reason."""
from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from app.extensions import channels
from tests.workers.test_steps import load
from workers.vendors import ADAPTERS

# Seed 003 (`/v1/videos` model enum) and seed 004 (Vidu models, with the -offpeak variants it mentions).
SEED_003 = [
    "sora-2", "sora-2-pro", "gemini-omni", "happyhorse-1.0", "happyhorse-1.0-i2v", "happyhorse-1.0-t2v",
    "happyhorse-1.0-r2v", "happyhorse-1.0-video-edit", "doubao-seedance-1-0-lite-i2v-250428",
    "doubao-seedance-1-0-lite-t2v-250428", "doubao-seedance-1-0-pro-250528", "doubao-seedance-1-0-pro-fast-251015",
    "doubao-seedance-1-5-pro-251215", "doubao-seedance-2-0-260128", "doubao-seedance-2-0-fast-260128", "veo3",
    "veo3-fast", "veo3-fast-frames", "veo3-frames", "veo3-pro", "veo3-pro-frames", "veo3.1", "veo3.1-4k",
    "veo3.1-components", "veo3.1-fast", "veo3.1-pro", "veo3.1-pro-4k", "kling-video", "grok-imagine-1.0-video",
    "grok-imagine-video-1.5-preview", "grok-video-3", "viduq3-turbo", "hailuo-video",
]
SEED_004 = [
    "viduq3p-540p", "viduq3p-720p", "viduq3p-1080p", "viduq3t-540p", "viduq3t-720p", "viduq3t-1080p",
    "viduq3p-mix-720p", *(f"viduq3{k}-{r}-offpeak" for k in "pt" for r in ("540p", "720p", "1080p")),
]


@pytest.mark.parametrize("model", SEED_003 + SEED_004)
def test_every_seed_model_routes_or_is_refused_with_a_reason(app: object, model: str) -> None:
    route, refusal = channels.route(model), channels.refusal(model)
    assert (route is None) != (refusal is None), f"{model}: must route or be refused, not both or neither"
    if route is not None:
        assert route.vendor in ADAPTERS and route.model.upstream


def test_a_refused_model_says_why(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/video/generations", json={"model": "grok-video-3", "prompt": "p"}, headers=auth)
    error = response.json["error"]
    assert response.status_code == 400 and error["code"] == "model_not_available" and "xAI" in error["message"]


def test_off_peak_models_get_their_own_deadline(client: FlaskClient, auth: dict[str, str]) -> None:
    deadlines = {}
    for model in ("viduq3p-720p", "viduq3p-720p-offpeak"):
        response = client.post("/v1/video/generations", json={"model": model, "prompt": "p", "duration": 5},
                               headers=auth)
        task = load(response.json["id"])
        deadlines[model] = (task.deadline_at - task.created_at) / 60
    assert deadlines == {"viduq3p-720p": pytest.approx(60), "viduq3p-720p-offpeak": pytest.approx(2940)}
