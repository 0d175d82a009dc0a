"""Model routing: highest priority first, weighted choice within a priority, disabled channels skipped; the
channels table mirrored from the file."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.channels import ChannelConfig, ChannelFile, ChannelRegistry, ModelSpec
from app.db import Database
from app.models import Base, Channel


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


class FailingOnce(Database):
    """A database whose first transaction fails at its commit, as when the connection drops."""

    failed = False

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with super().transaction() as session:
            yield session
            if not self.failed:
                self.failed = True
                raise OperationalError("COMMIT", {}, Exception("connection lost"))


def test_channel_ids_are_used_only_once_their_rows_are_committed(tmp_path: Path) -> None:
    database = FailingOnce()
    database.init(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(database.engine)
    routes = ChannelRegistry()
    routes.init(ChannelFile([channel("only")]), database)
    with pytest.raises(OperationalError):
        routes.all  # noqa: B018 (the sync runs on first use)
    # Nothing was committed, so nothing may route to the row the failed sync had inserted.
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Channel)) == 0
    [synced] = routes.all
    with database.session() as session:
        assert session.scalar(select(Channel.id).where(Channel.name == "only")) == synced.id
