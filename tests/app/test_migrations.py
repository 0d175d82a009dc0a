"""The Alembic migrations build exactly the models' schema, on SQLite and on PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.migrate import upgrade
from app.models import Account, Base, Channel, Task
from app.routes import VIEW_BY_PUBLIC_ID


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



def task_row(number: int, key: str | None = None) -> dict[str, object]:
    return {"public_id": f"video_{number}", "account_id": 1, "dialect": "openai", "model": "sora-2",
            "vendor": "openai", "channel_id": 1, "state": "pending", "request": {}, "idempotency_key": key,
            "submit_key": f"s{number}", "deadline_at": 0.0}


def migrated_with_one_account(url: str) -> sqlalchemy.Engine:
    upgrade(url)
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.insert(Account.__table__), {"id": 1, "name": "a"})
        connection.execute(sqlalchemy.insert(Channel.__table__), {"id": 1, "name": "c", "vendor": "openai"})
    return engine


@pytest.mark.services
def test_a_read_by_id_uses_the_public_id_key_before_the_table_is_analyzed(postgres_url: str) -> None:
    # One account's few thousand rows, some with Idempotency-Keys, no ANALYZE yet (a new deployment): with a full
    # (account_id, idempotency_key) index the planner had read by it, walking every entry of the account.
    engine = migrated_with_one_account(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.insert(Task.__table__),
                               [task_row(n, f"key-{n}" if n % 10 == 0 else None) for n in range(4000)])
            analyzed = connection.execute(sqlalchemy.text(
                "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relname = 'tasks'")).one()
            plan = connection.exec_driver_sql(f"EXPLAIN {VIEW_BY_PUBLIC_ID.compile(dialect=connection.dialect)}",
                                              {"public_id": "video_77", "account_id": 1}).scalars().all()
    finally:
        engine.dispose()
    assert tuple(analyzed) == (None, None)
    assert "tasks_public_id_key" in plan[0], plan


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_an_idempotency_key_is_unique_per_account_and_a_missing_one_is_not(
        database: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'k.sqlite'}" if database == "sqlite" else request.getfixturevalue("postgres_url")
    engine = migrated_with_one_account(url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.insert(Task.__table__), [task_row(1), task_row(2), task_row(3, "k")])
        with pytest.raises(sqlalchemy.exc.IntegrityError), engine.begin() as connection:
            connection.execute(sqlalchemy.insert(Task.__table__), task_row(4, "k"))
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.select(Task.public_id).order_by(Task.id)).scalars().all() == [
                "video_1", "video_2", "video_3"]
            definition = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'uq_tasks_account_idempotency'" if database == "sqlite"
                else "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_tasks_account_idempotency'").scalar()
        assert "WHERE" in definition and "idempotency_key IS NOT NULL" in definition  # keyless creates skip it
    finally:
        engine.dispose()
