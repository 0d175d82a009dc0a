"""uq_tasks_account_idempotency covers only rows with an Idempotency-Key (see app.models.Task)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME, COLUMNS = "uq_tasks_account_idempotency", ["account_id", "idempotency_key"]
HAS_KEY = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    # The same rows are unique either way (NULL keys never conflict), so no existing row can break the new index.
    op.drop_index(NAME, table_name="tasks")
    op.create_index(NAME, "tasks", COLUMNS, unique=True, postgresql_where=HAS_KEY, sqlite_where=HAS_KEY)


def downgrade() -> None:
    op.drop_index(NAME, table_name="tasks")
    op.create_index(NAME, "tasks", COLUMNS, unique=True)
