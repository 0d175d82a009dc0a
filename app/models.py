"""SQLAlchemy models: accounts, their tokens, upstream channels and video tasks."""
from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def now() -> float:
    """Timestamps are unix seconds: the API speaks them and they compare the same on every database."""
    return time.time()


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)


class ApiToken(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # sha256 of the token: tokens are 256-bit random strings, so a fast hash is enough to make a
    # stolen table useless while keeping the per-request lookup a single indexed equality.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, default=now)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class Channel(Base):
    """A row per channel of the channel file; secrets stay in the environment, never in this table."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    vendor: Mapped[str] = mapped_column(String(32))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)


class Task(Base):
    """One video generation job; `version` guards every state change (compare-and-set)."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    token_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id"), nullable=True)
    dialect: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(100))
    vendor: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id"), nullable=True)
    upstream_model: Mapped[str | None] = mapped_column(String(100), nullable=True)

    state: Mapped[str] = mapped_column(String(16))
    upstream_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)

    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    client_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    remixed_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The client's own id for the task (Kling's external_task_id), echoed back, never sent upstream.
    client_reference: Mapped[str | None] = mapped_column(String(255), nullable=True)

    # The key we send upstream so a retried submission is recognised as the same job by vendors that
    # honour one; and the vendor's own id once it accepted the job.
    submit_key: Mapped[str] = mapped_column(String(64))
    upstream_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0)
    polls: Mapped[int] = mapped_column(Integer, default=0)
    download_attempts: Mapped[int] = mapped_column(Integer, default=0)
    result_location: Mapped[str | None] = mapped_column(Text, nullable=True)

    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)

    created_at: Mapped[float] = mapped_column(Float, default=now)
    updated_at: Mapped[float] = mapped_column(Float, default=now, onupdate=now)
    submitted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    deadline_at: Mapped[float] = mapped_column(Float)
    deleted_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    # Scheduling: when the next step is due (NULL once the task is terminal), who holds it now,
    # and when a message for the step was last sent (so the sweeper re-sends only lost ones).
    next_action_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    lease_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    sent_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    storage_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_tasks_account_id_id", "account_id", "id"),
        Index("ix_tasks_next_action_at", "next_action_at"),
        Index("ix_tasks_channel_state", "channel_id", "state"),
        Index("ix_tasks_expires_at", "expires_at"),
        # Partial: only creates that sent a key have an entry (the others skip this index), and a read by
        # public_id cannot be planned on it. A full index on (account_id, idempotency_key) ties with the
        # public_id key in the planner's costs while the table has no statistics yet (a new deployment, before
        # autovacuum's first ANALYZE), and a status read then walked every index entry of the caller's account.
        Index("uq_tasks_account_idempotency", "account_id", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL"), sqlite_where=text("idempotency_key IS NOT NULL")),
    )
