"""Model routing: highest priority first, weighted choice within a priority, disabled channels skipped."""
from __future__ import annotations

import random
from collections import Counter

from app.channels import ChannelConfig, ChannelFile, ChannelRegistry, ModelSpec


def registry(*channels: ChannelConfig) -> ChannelRegistry:
    result = ChannelRegistry()
    result.init(ChannelFile(list(channels)))
    return result


def channel(name: str, priority: int = 0, weight: int = 1, enabled: bool = True) -> ChannelConfig:
    return ChannelConfig(name=name, vendor="openai", base_url="http://x", models={"sora-2": ModelSpec(f"up-{name}")},
                         priority=priority, weight=weight, enabled=enabled)


def test_priority_comes_first_and_weights_share_within_it() -> None:
    routes = registry(channel("low", priority=0), channel("a", priority=5, weight=3), channel("b", priority=5),
                      channel("off", priority=9, enabled=False))
    rng = random.Random(7)
    firsts = Counter(routes.candidates("sora-2", rng)[0].name for _ in range(4000))
    assert set(firsts) == {"a", "b"}
    assert 2.6 < firsts["a"] / firsts["b"] < 3.4
    assert all(routes.candidates("sora-2", rng)[-1].name == "low" for _ in range(50))
    route = routes.route("sora-2")
    assert route is not None and route.model.upstream == f"up-{route.channel.name}"
    assert routes.route("unknown-model") is None


def test_a_model_may_carry_its_own_deadline_which_the_adapter_never_sees() -> None:
    spec = ModelSpec.parse({"upstream": "viduq3-pro", "off_peak": True, "deadline_minutes": 2940})
    assert spec == ModelSpec("viduq3-pro", {"off_peak": True}, 2940.0)
    assert ModelSpec.parse("viduq3-pro").deadline_minutes is None
