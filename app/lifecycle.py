"""Task states, how they look to clients, and the guarded (compare-and-set) updates that move them."""
from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Update, and_, bindparam, or_, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import celery
from app.models import Task, now

log = logging.getLogger("vidgate.lifecycle")

PENDING = "pending"          # row written, not yet handed to the vendor (or waiting for a channel slot)
SUBMITTING = "submitting"    # a submission was attempted and may have reached the vendor
RUNNING = "running"          # the vendor accepted the job; we poll it
DOWNLOADING = "downloading"  # the vendor finished; we copy the file into storage
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"      # deleted by the client

ACTIVE = (PENDING, SUBMITTING, RUNNING, DOWNLOADING)
BATCHED = (PENDING, SUBMITTING, RUNNING)  # states whose step takes a batch of tasks (TASK_FOR_STATE)
# Left only by a delete: nothing else a client can see changes afterwards (app.finished relies on it).
FINAL = (COMPLETED, FAILED)

# The Celery task that runs a state's next step. A submission or poll message carries a batch: a list of task
# ids of one vendor; every other step's message carries one id.
TASK_FOR_STATE = {
    PENDING: "vidgate.submit_batch",
    SUBMITTING: "vidgate.submit_batch",
    RUNNING: "vidgate.poll_batch",
    DOWNLOADING: "vidgate.download",
    CANCELLED: "vidgate.cleanup",
}

# Submissions are served after every other step waiting in their vendor's queue (Redis serves a queue's lower
# priority numbers first; the embedded broker ignores priorities), so the submissions the dispatcher lets out
# never hold back the polls and downloads of jobs already running: under load, new jobs wait for running ones.
SUBMIT_PRIORITY = 9

# A message that arrives a little early (clock skew between hosts) is still honoured.
DUE_TOLERANCE = 1.0


def public_status(task: Task) -> str:
    """The only four values a client ever sees."""
    if task.state == COMPLETED:
        return "completed"
    if task.state in (FAILED, CANCELLED):
        return "failed"
    if task.state == DOWNLOADING or (task.state == RUNNING and task.upstream_status == "running"):
        return "in_progress"
    return "queued"


def due(at: Any, due_by: Any = None) -> ColumnElement[bool]:
    """SQL condition: the task's next step is due by `due_by` (default: `at`) and nobody holds it at `at`."""
    return and_(Task.next_action_at <= (at if due_by is None else due_by),
                or_(Task.lease_until.is_(None), Task.lease_until <= at))


# Built once: every step runs it, and building and keying an ORM statement costs more than running it.
_CLAIM = (
    update(Task)
    .where(Task.id.in_(bindparam("ids", expanding=True)), Task.state.in_(bindparam("states", expanding=True)),
           due(bindparam("at"), bindparam("due_by")))
    .values(lease_until=bindparam("_lease_until"), version=Task.version + 1, updated_at=bindparam("at"))
    .returning(Task)
    .execution_options(synchronize_session=False)
)


def claim_all(session: Session, task_ids: Sequence[int], states: tuple[str, ...],
              lease_seconds: float) -> list[Task]:
    """Take the next step of those of the tasks that are in `states`, due and not leased, in one statement.

    The lease pushes the dispatcher away while the step runs; if the worker dies, the lease runs out and
    the dispatcher sends the step again. Duplicate and late messages find nothing due and do nothing.
    """
    at = now()
    claimed = session.scalars(_CLAIM, {"ids": list(task_ids), "states": list(states), "at": at,
                                       "due_by": at + DUE_TOLERANCE, "_lease_until": at + lease_seconds}).all()
    session.commit()
    return list(claimed)


def claim(session: Session, task_id: int, states: tuple[str, ...], lease_seconds: float) -> Task | None:
    """`claim_all` for one task: the task, or None when it is not due or someone else has it."""
    claimed = claim_all(session, [task_id], states, lease_seconds)
    return claimed[0] if claimed else None


@functools.cache
def _cas_statement(names: frozenset[str]) -> Update:
    """UPDATE tasks SET <names>, version WHERE id and version match: built and compiled once per set of columns."""
    columns = Task.__mapper__.columns
    return (
        update(Task.__table__)
        .where(columns["id"] == bindparam("_id"), columns["version"] == bindparam("_expected"))
        .values({columns["version"]: bindparam("_version"),
                 **{columns[name]: bindparam(name, type_=columns[name].type) for name in names}})
    )


def compare_and_set(session: Session, task: Task, **values: Any) -> bool:
    """Apply `values` in the session's transaction only if nobody changed the task since we read it; bumps
    the version. A miss writes nothing and leaves the transaction as it was."""
    values.setdefault("updated_at", now())
    # Core on the session's connection, not an ORM statement built anew: every step and poll runs this.
    result = session.connection().execute(
        _cas_statement(frozenset(values)),
        {"_id": task.id, "_expected": task.version, "_version": task.version + 1, **values},
    )
    if result.rowcount != 1:
        return False
    _show_written(task, values)
    return True


def _show_written(task: Task, values: dict[str, Any]) -> None:
    """Show a guarded write on the object, as committed values: a plain attribute change would make the next
    flush write them again, unguarded, over whatever another process wrote meanwhile."""
    for name, value in values.items():
        set_committed_value(task, name, value)
    set_committed_value(task, "version", task.version + 1)


def guarded_update(session: Session, task: Task, **values: Any) -> bool:
    """`compare_and_set`, rolling back on a miss so the caller reads the task as it now is."""
    if compare_and_set(session, task, **values):
        return True
    session.rollback()
    return False


def _step_values(task: Task, values: dict[str, Any]) -> dict[str, Any]:
    """A step's outcome as written: its lease released, and progress never lower than before."""
    values = {"lease_until": None, **values}
    if "progress" in values:
        values["progress"] = max(task.progress, values["progress"])
    return values


def record_step(session: Session, task: Task, **values: Any) -> bool:
    """Write a step's outcome and release its lease, uncommitted, unless the task moved on meanwhile (a miss
    leaves the transaction as it was, so a batch goes on with its other tasks)."""
    return compare_and_set(session, task, **_step_values(task, values))


def finish_step(session: Session, task: Task, **values: Any) -> bool:
    """Record a step's outcome and release its lease, unless the task moved on meanwhile."""
    if record_step(session, task, **values):
        session.commit()
        return True
    session.rollback()
    return False


def send_step(state: str, vendor: str, task_ids: list[int]) -> None:
    """Send the messages of the next step of tasks in `state`, to their vendor's queue: one message for the
    batch where the step takes batches (BATCHED), one per task otherwise. Call only after the rows are committed.

    A failure to send is logged, not raised: the rows already say the step is due, so the dispatcher
    will send it. That is what makes "send after commit" safe without an outbox table.
    """
    name = TASK_FOR_STATE.get(state)
    if name is None:
        return
    priority = SUBMIT_PRIORITY if state in (PENDING, SUBMITTING) else None
    for argument in [task_ids] if state in BATCHED else task_ids:
        try:
            celery.send_task(name, args=[argument], queue=vendor, retry=False, priority=priority)
        except Exception:  # noqa: BLE001 (any broker failure; the dispatcher recovers)
            log.warning("could not send step; the dispatcher will", exc_info=True,
                        extra={"task_ids": argument, "step": name})


def enqueue(task: Task) -> None:
    """Send the task's next step now (a batch of one where the step takes batches); call only after the row is
    committed."""
    send_step(task.state, task.vendor, [task.id])
