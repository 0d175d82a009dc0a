"""Flask plumbing all vendor blueprints share: bearer auth, fault gates, job creation, content streaming."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import secrets
import socket
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, Literal

from flask import Blueprint, Response, abort, request

from . import media
from .core import Fault, Job, Outcome, Simulator

# The request-level failures a vendor renders in its own error envelope.
FaultErrorKind = Literal["rate_limit", "server_error", "unavailable", "timeout"]
FaultError = Callable[[FaultErrorKind], Response]

_OUTCOMES: dict[str, Outcome] = {"fail_job": "fail_job", "moderation": "moderation"}
_MALFORMED_HTML = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"
_MALFORMED_JSON = '{"result": "unexpected", "items": []}'


def _store_error(code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status=403, mimetype="application/xml")


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response with exactly the given body (no Flask-side key sorting or envelope)."""
    return Response(json.dumps(body), status=status, mimetype="application/json")


def positive_arg(name: str, default: int) -> int | None:
    """The positive integer query parameter `name` (`default` when absent), or None when it is not one."""
    value = request.args.get(name, str(default))
    return int(value) if value.isdigit() and int(value) >= 1 else None


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if the request has one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def drop_connection(sock: socket.socket | None) -> bool:
    """Shut the client's socket so nothing more reaches it; False when there is no real socket (test client).

    werkzeug's dev server exposes the connection as `werkzeug.socket`. shutdown() acts at once even though
    werkzeug still holds file objects on the socket, and its later writes fail with BrokenPipeError,
    which werkzeug treats as a dropped connection and ignores.
    """
    if sock is None:
        return False
    # OSError: the peer already went away, so the connection is down either way.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return True


class VendorSim:
    """One vendor's view of the shared simulator; a blueprint keeps one and calls it from every view."""

    def __init__(self, sim: Simulator, name: str, fault_error: FaultError, new_id: Callable[[], str]) -> None:
        self.sim = sim
        self.name = name
        self.fault_error = fault_error
        self.new_id = new_id
        self._url_key = secrets.token_bytes(16)

    def file_url(self, job: Job) -> str:
        """A signed result URL valid for `url_ttl` from now, like a vendor's CDN link (serve it with
        `add_file_route`). Each poll hands out a fresh one, so an expired link is cured by polling again."""
        expires = int(self.now() + self.sim.settings.url_ttl)
        return f"{request.host_url}{self.name}/_files/{job.id}.mp4?expires={expires}&sig={self._sign(job.id, expires)}"

    def _sign(self, job_id: str, expires: int) -> str:
        return hmac.new(self._url_key, f"{job_id}:{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def add_file_route(self, bp: Blueprint) -> None:
        """`GET /<vendor>/_files/<id>.mp4`: the object store behind `file_url`. A bad signature, an expired
        link or an expired job gets a 403 in the XML of S3-style stores (TOS, OSS, COS)."""

        @bp.get("/_files/<job_id>.mp4")
        def result_file(job_id: str) -> Response:
            try:
                expires = int(request.args.get("expires", ""))
            except ValueError:
                expires = 0
            signed = hmac.compare_digest(request.args.get("sig", ""), self._sign(job_id, expires))
            fault = self.gate("content", job_id)
            job = self.find(job_id)
            now = self.now()
            if not signed or job is None:
                return _store_error("AccessDenied", "Signature does not match or object does not exist")
            if expires < now or job.is_expired(now) or job.phase(now) != "succeeded":
                return _store_error("AccessDenied", "Request has expired")
            return self.stream_video(job, fault)

    def now(self) -> float:
        """The simulator clock."""
        return self.sim.clock()

    def find(self, job_id: str) -> Job | None:
        """This vendor's job with `job_id`, unless unknown or cancelled (deleted)."""
        job = self.sim.jobs.get(self.name, job_id)
        return job if job is not None and not job.cancelled else None

    def gate(self, op: str, job_id: str | None = None) -> Fault | None:
        """Count the request and apply an armed fault for `op`.

        Faults that replace the response end the request here (via abort); `expired` is applied to the job.
        The fault is returned when the caller must act on it later: fail_job, moderation and
        accept_then_timeout (pass it to create_job), stall and truncate (pass it to the stream helpers).
        """
        if op == "create":
            self.sim.stats.incr(self.name, "create_requests")
        elif op == "poll" and job_id is not None:
            self.sim.stats.poll(self.name, job_id)
        fault = self.sim.faults.take(self.name, op)
        if fault is None:
            return None
        if fault.kind == "expired":
            job = self.find(job_id) if job_id is not None else None
            if job is not None:
                self.sim.jobs.expire(job, self.now())
            return None
        if fault.kind in ("fail_job", "moderation", "accept_then_timeout", "stall", "truncate"):
            return fault
        abort(self._fault_response(fault))

    def _fault_response(self, fault: Fault) -> Response:
        match fault.kind:
            case "reset":
                if not drop_connection(request.environ.get("werkzeug.socket")):
                    # No socket to cut (Flask test client): raise what a client library would surface.
                    raise ConnectionResetError("simulated connection reset")
                return Response(status=502)  # never delivered: the socket is already shut
            case "malformed":
                if fault.opts.get("json"):
                    return Response(_MALFORMED_JSON, status=200, mimetype="application/json")
                return Response(_MALFORMED_HTML, status=200, mimetype="text/html")
            case "timeout":
                # Nothing is done for the request: unlike accept_then_timeout, a create here creates no job.
                self.sim.sleep(fault.option("seconds", 30))
                return self.fault_error("timeout")
            case "rate_limit":
                response = self.fault_error("rate_limit")
                if "retry_after" in fault.opts:
                    # HTTP's Retry-After takes whole seconds; round up so clients never retry early.
                    response.headers["Retry-After"] = str(math.ceil(fault.option("retry_after", 0)))
                return response
            case "server_error":
                return self.fault_error("server_error")
            case _:  # "unavailable", the one request-level kind left
                return self.fault_error("unavailable")

    def create_job(
        self,
        *,
        model: str,
        prompt: str,
        params: dict[str, Any],
        fault: Fault | None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Create a job from the current settings, or return the one already made under `idempotency_key`."""
        settings = self.sim.settings
        now = self.now()
        job, created = self.sim.jobs.add(
            Job(
                id=self.new_id(),
                vendor=self.name,
                model=model,
                prompt=prompt,
                params=params,
                created_at=now,
                duration=settings.draw_duration(),
                result_ttl=settings.result_ttl,
                outcome=_OUTCOMES.get(fault.kind) if fault else None,
                failure_message=fault.opts.get("message") if fault else None,
                idempotency_key=idempotency_key,
                pad_bytes=settings.pad_bytes,
            )
        )
        if created:
            self.sim.stats.submitted(self.name, self.sim.jobs.in_flight(self.name, now))
        else:
            self.sim.stats.incr(self.name, "duplicate_creates")
        if fault is not None and fault.kind == "accept_then_timeout":
            # The job exists and counts as submitted; the client just never hears so in time.
            self.sim.sleep(fault.option("seconds", 30))
        return job

    def stream_video(self, job: Job, fault: Fault | None) -> Response:
        """Stream the job's MP4 with Content-Length, recording a download and the sha256 of what was sent."""
        self.sim.stats.incr(self.name, "content_downloads")
        length, chunks = media.video_for(job.id, job.pad_bytes)
        return self._stream(length, chunks, "video/mp4", fault, partial(self.sim.jobs.record_served, job))

    def stream_bytes(self, data: bytes, content_type: str, fault: Fault | None) -> Response:
        """Serve a small in-memory asset (a thumbnail) through the same stall/truncate faults."""
        return self._stream(len(data), iter((data,)), content_type, fault, None)

    def _stream(
        self,
        length: int,
        chunks: Iterator[bytes],
        content_type: str,
        fault: Fault | None,
        on_done: Callable[[str], None] | None,
    ) -> Response:
        # Captured now: the body generator runs after the request context is gone.
        sock = request.environ.get("werkzeug.socket")
        body = self._deliver(length, chunks, fault, sock, on_done)
        headers = {"Content-Length": str(length)}
        return Response(body, mimetype=content_type, headers=headers, direct_passthrough=True)

    def _deliver(
        self,
        length: int,
        chunks: Iterator[bytes],
        fault: Fault | None,
        sock: socket.socket | None,
        on_done: Callable[[str], None] | None,
    ) -> Iterator[bytes]:
        digest = hashlib.sha256()

        def record() -> None:
            # Called before the last bytes leave: a client holding the whole body may read the stats at once.
            if on_done is not None:
                on_done(digest.hexdigest())

        # Where a stall or truncation strikes; always before the last byte, so a cut body is really short.
        cut = min(int(fault.option("after_bytes", length // 2)), length - 1) if fault else None
        sent = 0
        for chunk in chunks:
            if fault is not None and cut is not None and sent + len(chunk) > cut:
                head, chunk = chunk[: cut - sent], chunk[cut - sent :]
                digest.update(head)
                sent += len(head)
                if fault.kind == "truncate":
                    record()
                    yield head
                    # Content-Length promised more; closing now leaves the client with a short body.
                    drop_connection(sock)
                    return
                yield head
                self.sim.sleep(fault.option("seconds", 30))
                cut = None
            digest.update(chunk)
            sent += len(chunk)
            if sent >= length:
                record()
            yield chunk
