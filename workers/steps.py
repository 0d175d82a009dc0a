"""The steps of a task's life as plain functions: claim the task, talk to the vendor, record the outcome.

Each step is idempotent: it acts only on a task that is in its state, due and not leased, and records
its outcome with a compare-and-set, so duplicated, late or replayed messages change nothing.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.channels import ChannelConfig
from app.extensions import channels, db, settings, storage
from app.lifecycle import (
    CANCELLED,
    COMPLETED,
    DOWNLOADING,
    FAILED,
    PENDING,
    RUNNING,
    SUBMITTING,
    claim,
    claim_all,
    compare_and_set,
    due,
    enqueue,
    finish_step,
    guarded_update,
    record_step,
    send_step,
)
from app.models import Channel, Task, now
from app.storage import IncompleteWrite, task_prefixes, thumbnail_key, video_key
from app.video_request import VideoRequest
from workers import schedule
from workers.vendors import ADAPTERS, get_adapter, http
from workers.vendors.base import Download, PollResult, Refusal, ResultExpired, UpstreamError

log = logging.getLogger("vidgate.steps")

MAX_SUBMIT_ATTEMPTS = 8
MAX_DOWNLOAD_ATTEMPTS = 5
DISPATCH_BATCH = 1000


def _info(message: str, task: Task, **extra: object) -> None:
    log.info(message, extra={"task_id": task.public_id, "vendor": task.vendor, "state": task.state, **extra})


@dataclass(frozen=True)
class Outcome:
    """What a step decided for one task: the columns to write, and what to do once they are committed."""

    values: dict[str, Any]
    then: Callable[[], None] | None = None


def _record_outcomes(session: Session, outcomes: list[tuple[Task, Outcome]]) -> list[tuple[Task, Outcome]]:
    """Write a batch's outcomes, each with its own compare-and-set, in one transaction, commit, then run the
    `then` of each one written; the outcomes not written, whose task changed meanwhile (deleted by its client)."""
    written: list[Outcome] = []
    missed: list[tuple[Task, Outcome]] = []
    for task, outcome in outcomes:
        if record_step(session, task, **outcome.values):
            written.append(outcome)
        else:
            missed.append((task, outcome))
    session.commit()
    for outcome in written:
        if outcome.then is not None:
            outcome.then()
    return missed


# --- submit -------------------------------------------------------------------------------------------


# Tasks a submission message carries: a few, so one claim, one count of a channel's slots and one commit serve
# them all while a burst's first tasks still reach the vendor soon and the batches spread over a worker's threads.
SUBMIT_BATCH = 10


def submit(task_ids: Sequence[int]) -> None:
    """Hand a batch of one vendor's tasks to it: one claim, each channel's free slots taken in one transaction,
    the vendor calls side by side on the process's vendor threads, one commit for the outcomes.

    Each outcome is written with its own compare-and-set, as in `poll`: a task deleted meanwhile is left as it
    is (and its new job cancelled upstream) without undoing the others.
    """
    with db.session() as session:
        tasks = claim_all(session, task_ids, (PENDING, SUBMITTING), settings().lease_seconds)
        if not tasks:
            return
        at = now()
        late = {task.id for task in tasks if task.deadline_at <= at}
        fresh = _take_slots(session, [task for task in tasks if task.state == PENDING and task.id not in late])
        outcomes: dict[int, Outcome] = {}
        for task in tasks:
            if task.id in late:
                outcomes[task.id] = _failure(task, "timeout", "the task did not reach the vendor before its deadline")
            elif task.state == PENDING:
                # The dispatcher's count of free slots is advisory (two dispatchers may overlap); this one is not.
                outcomes[task.id] = Outcome({"next_action_at": min(task.deadline_at, at + schedule.CAP_WAIT)})
        to_send = [task for task in tasks if task.id not in outcomes]
        start_by = _calls_start_by()
        handed = _threads().map(lambda task: _hand_over(task, task.id in fresh, start_by), to_send)
        outcomes.update(zip((task.id for task in to_send), handed, strict=True))
        missed = _record_outcomes(session, [(task, outcomes[task.id]) for task in tasks])
    _cancel_orphans([(task, outcome.values["upstream_id"]) for task, outcome in missed
                     if "upstream_id" in outcome.values])


def _take_slots(session: Session, tasks: list[Task]) -> set[int]:
    """Move PENDING tasks to SUBMITTING, oldest first, as far as their channel has free slots; the ids moved.

    Atomic with respect to other workers: each channel's slots are counted once under a row lock on the channel
    (PostgreSQL; SQLite serialises writers anyway), and its tasks moved in the same transaction. NO KEY UPDATE:
    the web's inserts hold KEY SHARE on the channel row (the foreign key), which this need not wait for.
    """
    by_channel: defaultdict[int | None, list[Task]] = defaultdict(list)
    for task in sorted(tasks, key=lambda task: task.id):
        by_channel[task.channel_id].append(task)
    taken: set[int] = set()
    # One order for every worker, so two batches never wait on each other's channel locks.
    for channel_id in sorted(by_channel, key=lambda channel_id: channel_id or 0):
        channel = channels.by_id(channel_id)
        if channel is None:
            log.error("tasks reference channel %s, which is not configured", channel_id,
                      extra={"task_ids": [task.id for task in by_channel[channel_id]]})
            continue
        waiting = by_channel[channel_id]
        session.execute(select(Channel.id).where(Channel.id == channel_id).with_for_update(key_share=True))
        free = len(waiting)
        if channel.max_concurrency:
            in_flight = session.scalar(select(func.count()).select_from(Task).where(
                Task.channel_id == channel_id, Task.state.in_((SUBMITTING, RUNNING))))
            free = min(free, channel.max_concurrency - (in_flight or 0))
        for task in waiting[:max(free, 0)]:
            # Not a plain attribute change, which would be flushed later, unguarded, over a delete that lands
            # while the vendor call runs.
            if compare_and_set(session, task, state=SUBMITTING, submit_attempts=task.submit_attempts + 1):
                taken.add(task.id)
        session.commit()
    return taken


def _hand_over(task: Task, fresh: bool, start_by: float) -> Outcome:
    """The outcome of submitting one task (on a vendor thread: no session here)."""
    if time.monotonic() > start_by:
        # Never sent: a task that took its slot in this step gives it back.
        return Outcome({"state": PENDING, "submit_attempts": task.submit_attempts - 1, "next_action_at": now()}
                       if fresh else {"next_action_at": now()})
    try:
        channel, adapter = _channel(task), get_adapter(task.vendor)
        request, model = VideoRequest.from_json(task.request), channel.models[task.model]
        if not fresh and not adapter.idempotent_submit:
            # An earlier attempt may have created a job without our hearing of it.
            found = _find_earlier_submission(task, adapter, channel, request)
            if isinstance(found, Outcome):
                return found
            if found:
                return _submitted(task, found)
        try:
            return _submitted(task, adapter.submit(channel, request, model, task.submit_key))
        except UpstreamError as error:
            return _submit_failed(task, channel, error)
    except Exception as error:  # noqa: BLE001 (a bug met by one task must not sink its batch's submissions)
        log.exception("submission raised", extra={"task_id": task.public_id, "vendor": task.vendor})
        # It may have raised after the vendor took the job: held SUBMITTING, as when an answer is lost.
        return _outcome_unknown(task, UpstreamError("retryable", f"submission raised {type(error).__name__}"))


def _find_earlier_submission(task: Task, adapter: object, channel: ChannelConfig,
                             request: VideoRequest) -> str | Outcome:
    """The earlier attempt's upstream id; "" when the vendor says there is none; else what to do instead."""
    find = getattr(adapter, "find", None)
    if find is None:
        # Neither a repeat nor a lookup is safe: submitting again could pay for the video twice.
        return _failure(task, "upstream_error", "the vendor did not confirm the submission and cannot be "
                        "asked whether it arrived; not resubmitting to avoid a duplicate job")
    try:
        return find(channel, request, channel.models[task.model], task.submit_key) or ""
    except UpstreamError as error:
        return _outcome_unknown(task, error)


def _submitted(task: Task, upstream_id: str) -> Outcome:
    at = now()
    return Outcome({"state": RUNNING, "upstream_id": upstream_id, "submitted_at": at, "upstream_status": "queued",
                    "next_action_at": min(task.deadline_at, at + schedule.FIRST_POLL)},
                   then=lambda: _info("submitted", task, upstream_id=upstream_id, attempt=task.submit_attempts))


def _cancel_orphans(submitted: list[tuple[Task, str]]) -> None:
    """Cancel upstream the new jobs (task, upstream id) of tasks their client deleted while they were submitted."""
    if not submitted:
        return
    by_id = {task.id: (task, upstream_id) for task, upstream_id in submitted}
    with db.autocommit() as connection:
        cancelled = connection.execute(
            select(Task.id).where(Task.id.in_(list(by_id)), Task.state == CANCELLED)).scalars().all()
    for task_id in cancelled:
        task, upstream_id = by_id[task_id]
        _cancel_upstream(get_adapter(task.vendor), _channel(task), upstream_id, task)


def _outcome_unknown(task: Task, error: UpstreamError) -> Outcome:
    """Sent, but no answer: the vendor may have the job. Stay SUBMITTING; the retry either resubmits with the
    same key (idempotent vendors), asks the vendor (`find`) or gives up rather than risk a duplicate."""
    delay = schedule.backoff(task.submit_attempts, error.retry_after)
    return Outcome({"next_action_at": min(task.deadline_at, now() + delay)},
                   then=lambda: _info("submission outcome unknown", task, error=error.message))


def _submit_failed(task: Task, channel: ChannelConfig, error: UpstreamError) -> Outcome:
    at = now()
    if error.kind == "terminal":
        return _failure(task, error.code, error.message)
    if error.reached and error.status is None:
        return _outcome_unknown(task, error)
    if task.submit_attempts >= MAX_SUBMIT_ATTEMPTS:
        return _failure(task, error.code, f"gave up after {task.submit_attempts} attempts: {error.message}")
    # Refused (429, 5xx, or never connected): not accepted, so it is safe to send again, preferably
    # through the next channel that serves the model.
    target = _failover(task, channel)
    delay = 0.0 if target.id != channel.id else schedule.backoff(task.submit_attempts, error.retry_after)
    return Outcome({"state": PENDING, "channel_id": target.id, "vendor": target.vendor,
                    "upstream_model": target.models[task.model].upstream,
                    "next_action_at": min(task.deadline_at, at + delay)},
                   then=lambda: _info("submission refused; will retry", task, error=error.message,
                                      next_channel=target.name, delay=delay))


def _failover(task: Task, current: ChannelConfig) -> ChannelConfig:
    """The next channel after `current` that serves the model and accepts the request, wrapping around."""
    ordered = sorted((c for c in channels.all if c.enabled and task.model in c.models),
                     key=lambda c: (-c.priority, c.name))
    if current not in ordered:
        return ordered[0] if ordered else current
    index = ordered.index(current)
    request = VideoRequest.from_json(task.request)
    for candidate in ordered[index + 1:] + ordered[:index]:
        try:
            get_adapter(candidate.vendor).check(request, candidate.models[task.model])
        except (LookupError, Refusal):
            continue
        # Cycled through every channel since the last backoff: come back to this one after a pause.
        if (task.submit_attempts % len(ordered)) != 0:
            return candidate
    return current


# --- poll ---------------------------------------------------------------------------------------------


class NoAnswer(Enum):
    """Why a task of a poll batch was not polled."""

    PAST_DEADLINE = "past_deadline"  # cancelled upstream instead: the task fails with timeout
    OUT_OF_TIME = "out_of_time"      # the batch ran out of time before its turn: due again at once


Answer = PollResult | UpstreamError | NoAnswer

_vendor_threads: ThreadPoolExecutor | None = None
_vendor_threads_lock = threading.Lock()


def _threads() -> ThreadPoolExecutor:
    """The process's threads for the vendor calls of poll and submission batches, started on first use (so
    after a prefork fork). Each thread keeps its own HTTP session (workers/vendors/http.py), so a vendor's
    connections are reused."""
    global _vendor_threads
    with _vendor_threads_lock:
        if _vendor_threads is None:
            _vendor_threads = ThreadPoolExecutor(settings().poll_threads, thread_name_prefix="vendor")
        return _vendor_threads


def _calls_start_by() -> float:
    """The monotonic time after which a batch starts no more vendor calls: a call may take the connect and read
    timeouts, and none may outlast the step's time limit (those of the first second always start, should the
    lease be set too short for the timeouts)."""
    budget = settings().step_time_limit - http.CONNECT_TIMEOUT - http.READ_TIMEOUT
    return time.monotonic() + max(budget, 1.0)


def poll(task_ids: Sequence[int]) -> None:
    """Poll a batch of one vendor's RUNNING tasks: one claim, the vendor calls side by side, one commit.

    Each outcome is written with its own compare-and-set in one transaction, so a task that changed meanwhile
    (deleted by its client) is left as it is without undoing the others.
    """
    with db.session() as session:
        tasks = claim_all(session, task_ids, (RUNNING,), settings().lease_seconds)
        if not tasks:
            return
        answers, listed = _ask(tasks)
        _record_outcomes(session, [(task, _poll_outcome(task, answer, task.id in listed))
                                   for task, answer in zip(tasks, answers, strict=True)])


def _ask(tasks: list[Task]) -> tuple[list[Answer], set[int]]:
    """The vendor's answer for each task, asked on the process's vendor threads: one list call per chunk of a
    channel's tasks where the vendor has one (see ListPollable), one call per task otherwise; and the ids of
    the tasks a list call answered for."""
    start_by = _calls_start_by()  # tasks not asked by then are put back, due at once

    def ask(task: Task) -> Answer:
        if time.monotonic() > start_by:
            return NoAnswer.OUT_OF_TIME
        try:
            channel, adapter = _channel(task), get_adapter(task.vendor)
            if task.deadline_at <= now():
                _cancel_upstream(adapter, channel, task.upstream_id, task)
                return NoAnswer.PAST_DEADLINE
            return adapter.poll(channel, task.upstream_id or "")
        except UpstreamError as error:
            return error
        except Exception as error:  # noqa: BLE001 (a bug met by one task must not sink its batch)
            log.exception("poll raised", extra={"task_id": task.public_id, "vendor": task.vendor})
            return UpstreamError("retryable", f"poll raised {type(error).__name__}")

    def ask_together(chunk: list[Task]) -> dict[int, Answer]:
        """Answers by task id from one list call; a task it does not answer for is left to `ask`."""
        if time.monotonic() > start_by:
            return dict.fromkeys((task.id for task in chunk), NoAnswer.OUT_OF_TIME)
        try:
            results = get_adapter(chunk[0].vendor).poll_list(_channel(chunk[0]), [t.upstream_id for t in chunk])
        except UpstreamError as error:
            if error.kind == "rate_limited":  # asking one by one would only add to the vendor's load
                return dict.fromkeys((task.id for task in chunk), error)
            return {}  # any other failure: one by one, no worse than without the list
        except Exception:  # noqa: BLE001 (as in ask)
            log.exception("poll list raised", extra={"vendor": chunk[0].vendor, "tasks": len(chunk)})
            return {}
        return {task.id: results[task.upstream_id] for task in chunk if task.upstream_id in results}

    chunks = _list_chunks(tasks)
    in_chunks = {task.id for chunk in chunks for task in chunk}
    alone = [task for task in tasks if task.id not in in_chunks]
    threads = _threads()
    asked_alone = threads.map(ask, alone)  # map submits every call at once: both kinds run side by side
    asked_together = threads.map(ask_together, chunks)
    answers: dict[int, Answer] = dict(zip((task.id for task in alone), asked_alone, strict=True))
    listed: set[int] = set()
    for answered in asked_together:
        answers.update(answered)
        listed.update(answered)
    unlisted = [task for task in tasks if task.id not in answers]
    answers.update(zip((task.id for task in unlisted), threads.map(ask, unlisted), strict=True))
    return [answers[task.id] for task in tasks], listed


def _list_chunks(tasks: list[Task]) -> list[list[Task]]:
    """Tasks to ask about with list calls: per channel whose vendor has one, chunks of its list size. A task
    alone on its channel, or past its deadline (cancelled instead), is asked on its own."""
    by_channel: defaultdict[int | None, list[Task]] = defaultdict(list)
    at = now()
    for task in tasks:
        if task.upstream_id and task.deadline_at > at and hasattr(ADAPTERS.get(task.vendor), "poll_list"):
            by_channel[task.channel_id].append(task)
    chunks = []
    for on_channel in by_channel.values():
        if len(on_channel) > 1:
            size = ADAPTERS[on_channel[0].vendor].poll_list_size
            chunks += [on_channel[i:i + size] for i in range(0, len(on_channel), size)]
    return chunks


def _poll_outcome(task: Task, answer: Answer, listed: bool) -> Outcome:
    at = now()
    if answer is NoAnswer.OUT_OF_TIME:
        return Outcome({"next_action_at": at})
    if answer is NoAnswer.PAST_DEADLINE:
        return _failure(task, "timeout", "the vendor did not finish the video before the deadline")
    if isinstance(answer, UpstreamError):
        if answer.kind == "terminal":
            return _failure(task, answer.code, answer.message)
        delay = max(schedule.MAX_POLL, answer.retry_after or 0.0)
        return Outcome({"polls": task.polls + 1, "next_action_at": min(task.deadline_at, at + delay)})
    if answer.state == "failed":
        return _failure(task, answer.error_code or "upstream_error", answer.error_message or "the vendor failed")
    if answer.state == "succeeded":
        return Outcome({"state": DOWNLOADING, "upstream_status": "succeeded", "polls": task.polls + 1,
                        "result_location": answer.result_location, "next_action_at": at, "sent_at": at},
                       then=lambda: enqueue(task))
    longest = schedule.MAX_LISTED_POLL if listed else schedule.MAX_POLL
    delay = schedule.poll_delay(at - (task.submitted_at or at), answer.progress, longest)
    return Outcome({"upstream_status": answer.state, "polls": task.polls + 1,
                    "progress": answer.progress if answer.progress is not None else task.progress,
                    "next_action_at": min(task.deadline_at, at + delay)})


# --- download -----------------------------------------------------------------------------------------


def download(task_id: int) -> None:
    with db.session() as session:
        task = claim(session, task_id, (DOWNLOADING,), settings().lease_seconds)
        if task is None:
            return
        channel, adapter = _channel(task), get_adapter(task.vendor)
        attempts = task.download_attempts + 1
        try:
            result = adapter.open_result(channel, task.upstream_id or "", task.result_location)
            try:
                stored = storage.put_stream(video_key(task.public_id), _keep_lease(session, task, result), result.size)
            finally:
                result.close()
        except ResultExpired:
            # Ask the vendor again: a fresh poll hands out a fresh URL.
            at = now()
            if attempts >= MAX_DOWNLOAD_ATTEMPTS:
                fail(session, task, "upstream_error", "the vendor's result URL kept expiring before download")
            else:
                finish_step(session, task, state=RUNNING, download_attempts=attempts, next_action_at=at)
            return
        except (UpstreamError, IncompleteWrite, _LeaseLost) as error:
            _download_failed(session, task, attempts, error)
            return
        _store_thumbnail(adapter, channel, task)
        at = now()
        completed = finish_step(
            session, task, state=COMPLETED, progress=100, download_attempts=attempts, storage_key=stored.key,
            size_bytes=stored.size, sha256=stored.sha256, content_type=result.content_type, completed_at=at,
            expires_at=at + settings().retention_hours * 3600, next_action_at=None,
        )
        if completed:
            storage.delete(task_prefixes(task.public_id)[1])
            _info("completed", task, bytes=stored.size, sha256=stored.sha256)
        else:
            session.refresh(task)
            if task.state == CANCELLED:  # deleted mid-download: the file must not outlive the task
                _delete_files(task)


class _LeaseLost(Exception):
    """The task changed under a long download (deleted, most likely): stop copying."""


# A download that trickles on this long is cut off and tried again later. Enforced here rather than by Celery's
# time limits, which only the prefork pool applies (the Procfile runs threads).
DOWNLOAD_TIME_LIMIT = 3600.0


def _keep_lease(session: Session, task: Task, result: Download) -> Iterator[bytes]:
    """Pass chunks through, renewing the lease every third of it so a long download is not taken over."""
    lease = settings().lease_seconds
    renewed = started = time.monotonic()
    for chunk in result.chunks:
        if time.monotonic() - started > DOWNLOAD_TIME_LIMIT:
            raise UpstreamError("retryable", f"the download took longer than {DOWNLOAD_TIME_LIMIT:.0f} s")
        if time.monotonic() - renewed > lease / 3:
            if not guarded_update(session, task, lease_until=now() + lease):
                raise _LeaseLost()
            session.commit()
            renewed = time.monotonic()
        yield chunk


def _download_failed(session: Session, task: Task, attempts: int, error: Exception) -> None:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    if isinstance(error, UpstreamError) and error.kind == "terminal" or attempts >= MAX_DOWNLOAD_ATTEMPTS:
        fail(session, task, "upstream_error", f"could not download the video: {message}")
        return
    delay = schedule.backoff(attempts, getattr(error, "retry_after", None))
    finish_step(session, task, download_attempts=attempts, next_action_at=now() + delay)
    _info("download failed; will retry", task, error=message, delay=delay)


def _store_thumbnail(adapter: object, channel: ChannelConfig, task: Task) -> None:
    """Best effort: a missing thumbnail never holds up the video."""
    open_thumbnail = getattr(adapter, "open_thumbnail", None)
    if open_thumbnail is None:
        return
    try:
        thumbnail = open_thumbnail(channel, task.upstream_id)
        try:
            storage.put_stream(thumbnail_key(task.public_id), thumbnail.chunks, thumbnail.size)
        finally:
            thumbnail.close()
    except (UpstreamError, IncompleteWrite) as error:
        _info("no thumbnail", task, error=str(error))


# --- cleanup after delete, failure --------------------------------------------------------------------


def cleanup(task_id: int) -> None:
    with db.session() as session:
        task = claim(session, task_id, (CANCELLED,), settings().lease_seconds)
        if task is None:
            return
        if task.upstream_id and task.completed_at is None and task.error_code is None:
            _cancel_upstream(get_adapter(task.vendor), _channel(task), task.upstream_id, task)
        _delete_files(task)
        finish_step(session, task, storage_key=None, next_action_at=None)


def fail(session: Session, task: Task, code: str, message: str) -> None:
    outcome = _failure(task, code, message)
    if finish_step(session, task, **outcome.values) and outcome.then is not None:
        outcome.then()


def _failure(task: Task, code: str, message: str) -> Outcome:
    def then() -> None:
        storage.delete(task_prefixes(task.public_id)[1])
        _info("failed", task, code=code, error=message)

    return Outcome({"state": FAILED, "error_code": code, "error_message": message[:2000], "completed_at": None,
                    "expires_at": None, "next_action_at": None}, then)


def _delete_files(task: Task) -> None:
    for prefix in task_prefixes(task.public_id):
        storage.delete(prefix)


def _cancel_upstream(adapter: object, channel: ChannelConfig, upstream_id: str | None, task: Task) -> None:
    cancel = getattr(adapter, "cancel", None)
    if not upstream_id or cancel is None:
        return
    try:
        cancel(channel, upstream_id)
    except UpstreamError as error:
        _info("upstream cancel failed", task, error=error.message)


def _channel(task: Task) -> ChannelConfig:
    channel = channels.by_id(task.channel_id)
    if channel is None:
        raise LookupError(f"task {task.public_id} references channel {task.channel_id}, which is not configured")
    return channel


# --- the dispatcher and housekeeping -----------------------------------------------------------------


def dispatch() -> int:
    """Send every step that is due and not already sent: the table, not the broker, is the schedule.

    Polls go out in batches of `poll_batch` per vendor queue, submissions in batches of SUBMIT_BATCH.
    Submissions are metered: a channel is sent no more than its free slots (its cap, less its jobs in flight
    and the submissions already sent), and a vendor queue holds at most `submit_backlog` of them, so tasks
    waiting for a slot cost no messages and a burst of creates waits in the table; those sent are served after
    the queue's other steps (SUBMIT_PRIORITY).

    This is also the safety net: a message lost with the broker, or taken by a worker that died, is
    sent again once `resend_after_seconds` has passed without the task moving.
    """
    at = now()
    config = settings()
    stale = at - config.resend_after_seconds
    with db.session() as session:
        # A retried submission that may have reached the vendor holds its channel slot already.
        rows = list(session.execute(
            select(Task.id, Task.state, Task.vendor)
            .where(due(at), _unsent(stale), Task.state.in_((SUBMITTING, RUNNING, DOWNLOADING, CANCELLED)))
            .order_by(Task.next_action_at).limit(DISPATCH_BATCH)
        ))
        rows += _submissions(session, at, stale, config.submit_backlog)
        if not rows:
            return 0
        session.execute(update(Task).where(Task.id.in_([row.id for row in rows])).values(sent_at=at)
                        .execution_options(synchronize_session=False))
        session.commit()
    batches: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in rows:
        batches[(row.state, row.vendor)].append(row.id)
    for (state, vendor), ids in batches.items():
        size = config.poll_batch if state == RUNNING else SUBMIT_BATCH  # send_step splits the unbatched steps
        for start in range(0, len(ids), size):
            send_step(state, vendor, ids[start:start + size])
    return len(rows)


def _unsent(stale: float) -> ColumnElement[bool]:
    """SQL: no message was sent for the step since it became due, or the one sent is presumed lost."""
    return or_(Task.sent_at.is_(None), Task.sent_at < Task.next_action_at, Task.sent_at <= stale)


def _submissions(session: Session, at: float, stale: float, backlog: int) -> list[Row[Any]]:
    """PENDING tasks to send a submit for: oldest first per channel, within the channel's free slots and
    its vendor queue's backlog. Counts, not locks: `_take_slot` still guards the cap."""
    sent = and_(Task.state.in_((PENDING, SUBMITTING)), Task.sent_at >= Task.next_action_at, Task.sent_at > stale)
    waiting = and_(Task.state == PENDING, due(at), _unsent(stale))
    groups = session.execute(
        select(Task.vendor, Task.channel_id,
               func.count().filter(Task.state.in_((SUBMITTING, RUNNING))).label("in_flight"),
               func.count().filter(sent).label("sent"),
               func.count().filter(sent, Task.state == PENDING).label("sent_pending"),
               func.count().filter(waiting).label("waiting"))
        .where(Task.next_action_at.is_not(None), Task.state.in_((PENDING, SUBMITTING, RUNNING)))
        .group_by(Task.vendor, Task.channel_id)
    ).all()
    room: dict[str, int] = defaultdict(lambda: backlog)  # per vendor queue
    for group in groups:
        room[group.vendor] -= group.sent
    chosen: list[Row[Any]] = []
    for group in groups:
        channel = channels.by_id(group.channel_id)
        free = room[group.vendor]
        if channel is not None and channel.max_concurrency:
            free = min(free, channel.max_concurrency - group.in_flight - group.sent_pending)
        if group.waiting and free > 0:
            picked = session.execute(
                select(Task.id, Task.state, Task.vendor)
                .where(Task.channel_id == group.channel_id, Task.vendor == group.vendor, waiting)
                .order_by(Task.id).limit(free)
            ).all()
            room[group.vendor] -= len(picked)
            chosen += picked
    return chosen


def housekeeping() -> int:
    """Remove the files of videos past their retention; their content then answers 404 video_expired."""
    at = now()
    removed = 0
    with db.session() as session:
        expired = session.scalars(
            select(Task).where(Task.state == COMPLETED, Task.storage_key.is_not(None), Task.expires_at <= at)
            .limit(DISPATCH_BATCH)
        )
        for task in list(expired):
            storage.delete(task_prefixes(task.public_id)[0])
            if guarded_update(session, task, storage_key=None):
                session.commit()
                removed += 1
    return removed
