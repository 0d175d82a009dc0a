"""Vendor-agnostic simulator state: settings, clock-driven jobs, injectable faults and counters."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# Operations a vendor blueprint announces to the fault registry; "any" in a fault matches all of them.
OPS = ("create", "poll", "content", "cancel")
_EVERY_OP = frozenset(OPS)
# Which operations each fault kind can act on: a fault is only consumed where it has an effect,
# so `op="any"` with `kind="fail_job"` waits for the next create instead of being eaten by a poll.
KIND_OPS: dict[str, frozenset[str]] = {
    "rate_limit": _EVERY_OP,
    "server_error": _EVERY_OP,
    "unavailable": _EVERY_OP,
    "timeout": _EVERY_OP,
    "reset": _EVERY_OP,
    "malformed": _EVERY_OP,
    "fail_job": frozenset({"create"}),
    "moderation": frozenset({"create"}),
    "accept_then_timeout": frozenset({"create"}),
    "stall": frozenset({"content"}),
    "truncate": frozenset({"content"}),
    "expired": frozenset({"content"}),
}
# Options a fault may carry; all numeric and non-negative except the boolean `json`.
_NUMERIC_OPTS = frozenset({"seconds", "retry_after", "after_bytes"})
_FLAG_OPTS = frozenset({"json"})
_TEXT_OPTS = frozenset({"message"})

QUEUED_FRACTION = 0.1  # share of a job's duration spent "queued" before progress starts

Phase = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Outcome = Literal["fail_job", "moderation"]
CounterName = Literal["create_requests", "submissions", "duplicate_creates", "content_downloads", "list_requests",
                      "listed"]


def parse_seconds_range(value: object) -> tuple[float, float]:
    """Job duration range from "3", "2-6", 3, 2.5 or [2, 6]; raises ValueError when unusable."""
    if isinstance(value, bool):
        raise ValueError(f"job seconds must be a number or range, got {value!r}")
    if isinstance(value, int | float):
        low = high = float(value)
    elif isinstance(value, str):
        low_text, _, high_text = value.strip().partition("-")
        low = float(low_text)
        high = float(high_text) if high_text else low
    elif isinstance(value, list | tuple) and len(value) == 2:
        low, high = (float(v) for v in value)
    else:
        raise ValueError(f"job seconds must be a number or range, got {value!r}")
    if not (0 <= low <= high) or not math.isfinite(high):
        raise ValueError(f"job seconds range must satisfy 0 <= min <= max, got {value!r}")
    return low, high


def _non_negative(name: str, value: object, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if kind is int and value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return kind(value)


@dataclass
class Settings:
    """Runtime knobs shared by every vendor; changeable through the control API."""

    job_seconds: tuple[float, float] = (3.0, 3.0)
    result_ttl: float = 3600.0
    pad_bytes: int = 0
    # How long a signed result URL handed out by a poll stays valid (vendors say 1 h to 24 h); a fresh
    # poll hands out a fresh URL, as the vendors do.
    url_ttl: float = 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Settings from VIDGATE_SIM_JOB_SECONDS, _RESULT_TTL, _PAD_BYTES and _URL_TTL."""
        settings = cls()
        settings.update(
            {
                "job_seconds": env.get("VIDGATE_SIM_JOB_SECONDS", "3"),
                "result_ttl": float(env.get("VIDGATE_SIM_RESULT_TTL", "3600")),
                "pad_bytes": int(env.get("VIDGATE_SIM_PAD_BYTES", "0")),
                "url_ttl": float(env.get("VIDGATE_SIM_URL_TTL", "3600")),
            }
        )
        return settings

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply the given subset of settings, all validated before any is changed."""
        unknown = set(changes) - {"job_seconds", "result_ttl", "pad_bytes", "url_ttl"}
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        job_seconds = parse_seconds_range(changes.get("job_seconds", self.job_seconds))
        result_ttl = _non_negative("result_ttl", changes.get("result_ttl", self.result_ttl), float)
        pad_bytes = _non_negative("pad_bytes", changes.get("pad_bytes", self.pad_bytes), int)
        url_ttl = _non_negative("url_ttl", changes.get("url_ttl", self.url_ttl), float)
        self.job_seconds, self.result_ttl, self.pad_bytes = job_seconds, result_ttl, pad_bytes
        self.url_ttl = url_ttl

    def draw_duration(self) -> float:
        """A job duration drawn uniformly from the configured range."""
        return random.uniform(*self.job_seconds)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for the control API."""
        return {
            "job_seconds": list(self.job_seconds),
            "result_ttl": self.result_ttl,
            "pad_bytes": self.pad_bytes,
            "url_ttl": self.url_ttl,
        }


@dataclass
class Job:
    """One simulated generation; its state is a pure function of the time asked about."""

    id: str
    vendor: str
    model: str
    prompt: str
    params: dict[str, Any]
    created_at: float
    duration: float
    result_ttl: float
    outcome: Outcome | None = None
    failure_message: str | None = None  # the vendor's reason text when a fault asked for a specific one
    idempotency_key: str | None = None
    pad_bytes: int = 0
    cancelled_at: float | None = None
    expired_at: float | None = None  # set when an `expired` fault forces the result to expire early
    served_sha256: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        """True once the job was cancelled (or deleted) through the vendor API."""
        return self.cancelled_at is not None

    @property
    def ended_at(self) -> float:
        """When the job reaches its terminal state (succeeded or failed)."""
        return self.created_at + self.duration

    @property
    def expires_at(self) -> float:
        """When the result stops being downloadable."""
        return self.expired_at if self.expired_at is not None else self.ended_at + self.result_ttl

    def phase(self, now: float) -> Phase:
        """Vendor-neutral state at `now`: queued for the first 10% of the duration, running, then terminal."""
        if self.cancelled:
            return "cancelled"
        elapsed = now - self.created_at
        if elapsed >= self.duration:
            return "failed" if self.outcome else "succeeded"
        return "queued" if elapsed < self.duration * QUEUED_FRACTION else "running"

    def progress(self, now: float) -> int:
        """Percent done: 0 while queued, rising linearly while running (capped at 99), 100 once terminal."""
        phase = self.phase(now)
        if phase in ("succeeded", "failed"):
            return 100
        if phase != "running":
            return 0
        queued = self.duration * QUEUED_FRACTION
        return min(99, int(100 * (now - self.created_at - queued) / (self.duration - queued)))

    def is_expired(self, now: float) -> bool:
        """True when the result can no longer be downloaded."""
        return now >= self.expires_at


class JobStore:
    """Thread-safe in-memory jobs of every vendor, in creation order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._by_key: dict[tuple[str, str], Job] = {}
        # Per vendor, jobs that may still be running; pruned lazily so in_flight stays cheap over long runs.
        self._active: defaultdict[str, list[Job]] = defaultdict(list)

    def add(self, job: Job) -> tuple[Job, bool]:
        """Store `job`, or return the one stored under its idempotency key; the bool says "created"."""
        with self._lock:
            key = (job.vendor, job.idempotency_key) if job.idempotency_key else None
            if key and key in self._by_key:
                return self._by_key[key], False
            self._jobs[job.id] = job
            self._active[job.vendor].append(job)
            if key:
                self._by_key[key] = job
            return job, True

    def get(self, vendor: str, job_id: str) -> Job | None:
        """The job with this id if it belongs to `vendor` (ids never leak across vendors)."""
        job = self._jobs.get(job_id)
        return job if job is not None and job.vendor == vendor else None

    def list(self, vendor: str) -> list[Job]:
        """All jobs of `vendor`, oldest first, cancelled ones included."""
        with self._lock:
            return [job for job in self._jobs.values() if job.vendor == vendor]

    def cancel(self, job: Job, now: float) -> None:
        """Mark the job cancelled at `now` (first cancel wins)."""
        with self._lock:
            if job.cancelled_at is None:
                job.cancelled_at = now

    def expire(self, job: Job, now: float) -> None:
        """Force the job's result to be expired from `now` on."""
        with self._lock:
            job.expired_at = min(job.expires_at, now)

    def record_served(self, job: Job, sha256: str) -> None:
        """Remember the hash of one complete (or deliberately cut) content response."""
        with self._lock:
            job.served_sha256.append(sha256)

    def in_flight(self, vendor: str, now: float) -> int:
        """How many of the vendor's jobs are queued or running at `now`."""
        with self._lock:
            active = [job for job in self._active[vendor] if job.phase(now) in ("queued", "running")]
            self._active[vendor] = active
            return len(active)

    def clear(self) -> None:
        """Forget every job."""
        with self._lock:
            self._jobs.clear()
            self._by_key.clear()
            self._active.clear()


@dataclass
class Fault:
    """One armed fault: acts on the next `count` matching requests of `vendor`."""

    vendor: str
    op: str
    kind: str
    count: int = 1
    opts: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str, default: float) -> float:
        """A numeric option, or `default` when the fault was armed without it."""
        return float(self.opts.get(name, default))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for the control API."""
        return {"vendor": self.vendor, "op": self.op, "kind": self.kind, "count": self.count, **self.opts}


class Faults:
    """Registry of injected faults, consumed first-armed first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Fault] = []

    def add(self, vendor: str, op: str, kind: str, count: int = 1, **opts: Any) -> Fault:
        """Arm a fault; ValueError for an unknown kind, an op the kind cannot act on, or a bad option."""
        if kind not in KIND_OPS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KIND_OPS)}")
        if op != "any" and op not in KIND_OPS[kind]:
            usable = sorted(KIND_OPS[kind])
            raise ValueError(f"fault kind {kind!r} cannot act on op {op!r}; use 'any' or one of {usable}")
        count = _non_negative("count", count, int)
        if count < 1:
            raise ValueError("count must be >= 1")
        for name, value in opts.items():
            if name in _NUMERIC_OPTS:
                _non_negative(name, value, float)
            elif name in _FLAG_OPTS and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            elif name in _TEXT_OPTS and not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            elif name not in _NUMERIC_OPTS | _FLAG_OPTS | _TEXT_OPTS:
                raise ValueError(f"unknown fault option {name!r}")
        fault = Fault(vendor=vendor, op=op, kind=kind, count=count, opts=dict(opts))
        with self._lock:
            self._armed.append(fault)
        return fault

    def take(self, vendor: str, op: str) -> Fault | None:
        """Consume one use of the first armed fault that can act on this vendor's `op`; a single-use copy."""
        with self._lock:
            for fault in self._armed:
                if fault.vendor == vendor and fault.op in (op, "any") and op in KIND_OPS[fault.kind]:
                    fault.count -= 1
                    if fault.count == 0:
                        self._armed.remove(fault)
                    return dataclasses.replace(fault, count=1, opts=dict(fault.opts))
            return None

    def pending(self) -> list[dict[str, Any]]:
        """Faults still armed, with their remaining counts."""
        with self._lock:
            return [fault.as_dict() for fault in self._armed]

    def clear(self) -> int:
        """Disarm everything; returns how many faults were armed."""
        with self._lock:
            cleared = len(self._armed)
            self._armed.clear()
            return cleared


@dataclass
class _VendorCounters:
    counters: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    max_in_flight: int = 0


class Stats:
    """Per-vendor request counters and the in-flight high-water mark (which proves channel caps hold)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vendors: defaultdict[str, _VendorCounters] = defaultdict(_VendorCounters)

    def incr(self, vendor: str, name: CounterName, count: int = 1) -> None:
        """Count `count` events."""
        with self._lock:
            self._vendors[vendor].counters[name] += count

    def poll(self, vendor: str, job_id: str) -> None:
        """Count one status read of `job_id`."""
        with self._lock:
            self._vendors[vendor].polls[job_id] += 1

    def submitted(self, vendor: str, in_flight: int) -> None:
        """Count a new job and raise the high-water mark to the in-flight count that includes it.

        Overlap only grows when a job starts, so sampling at every submission yields the exact maximum.
        """
        with self._lock:
            entry = self._vendors[vendor]
            entry.counters["submissions"] += 1
            entry.max_in_flight = max(entry.max_in_flight, in_flight)

    def snapshot(self, jobs: JobStore, now: float, vendors: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """JSON-ready counters per vendor; `vendors` are listed even when idle, for a stable shape."""
        with self._lock:
            names = sorted(set(vendors) | set(self._vendors))
            entries = {name: self._vendors.get(name, _VendorCounters()) for name in names}
            result: dict[str, dict[str, Any]] = {}
            for name, entry in entries.items():
                result[name] = {
                    "create_requests": entry.counters["create_requests"],
                    "submissions": entry.counters["submissions"],
                    "duplicate_creates": entry.counters["duplicate_creates"],
                    "content_downloads": entry.counters["content_downloads"],
                    "list_requests": entry.counters["list_requests"],
                    "listed": entry.counters["listed"],
                    "polls": dict(entry.polls),
                    "polls_total": sum(entry.polls.values()),
                    "max_in_flight": entry.max_in_flight,
                }
        for name, view in result.items():
            view["in_flight"] = jobs.in_flight(name, now)
            served = {job.id: list(job.served_sha256) for job in jobs.list(name) if job.served_sha256}
            view["served_sha256"] = served
        return result

    def clear(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._vendors.clear()


class Simulator:
    """Everything the vendor blueprints of one app share; `clock` and `sleep` are swappable for tests."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.jobs = JobStore()
        self.faults = Faults()
        self.stats = Stats()
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] = time.sleep

    def reset(self) -> None:
        """Drop jobs, faults and counters; settings stay."""
        self.jobs.clear()
        self.faults.clear()
        self.stats.clear()
