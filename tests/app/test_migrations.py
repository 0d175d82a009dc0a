"""The Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.migrate import upgrade
from app.models import Base


def schema_drift(url: str) -> list[object]:
    upgrade(url)
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()


def test_migrations_match_the_models_on_sqlite(tmp_path: Path) -> None:
    assert schema_drift(f"sqlite:///{tmp_path / 'm.sqlite'}") == []


@pytest.mark.services
def test_migrations_match_the_models_on_postgresql(postgres_url: str) -> None:
    assert schema_drift(postgres_url) == []
