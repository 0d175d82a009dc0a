"""What every vendor adapter provides, and the results and errors it speaks in."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest

ErrorKind = Literal["retryable", "rate_limited", "terminal"]
UpstreamState = Literal["queued", "running", "succeeded", "failed"]


class UpstreamError(Exception):
    """A vendor call that did not succeed, classified by what the gateway should do about it.

    `reached` says whether the vendor may have acted on the request: a refused connection did not reach
    it, a read timeout after sending might have. Only unreached submissions may be sent again blindly.
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        code: str = "upstream_error",
        status: int | None = None,
        retry_after: float | None = None,
        reached: bool = True,
        vendor_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after
        self.reached = reached
        self.vendor_code = vendor_code

    @property
    def retryable(self) -> bool:
        return self.kind in ("retryable", "rate_limited")


class ResultExpired(UpstreamError):
    """The vendor's result URL no longer serves the file: poll again for a fresh one."""

    def __init__(self, message: str = "the vendor's result URL has expired") -> None:
        super().__init__("retryable", message, code="result_expired")


class Refusal(ValueError):
    """The vendor cannot honour a field of the request: refused at submission, naming the field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class PollResult:
    state: UpstreamState
    progress: int | None = None
    # Where the finished file is: a URL, or whatever the adapter's `open_result` understands.
    result_location: str | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class Download:
    """A finished video being streamed from the vendor; call `close` when done with it."""

    chunks: Iterator[bytes]
    close: Callable[[], None]
    content_type: str = "video/mp4"
    size: int | None = None


class VendorAdapter(Protocol):
    """One per vendor folder; the core only ever talks to vendors through this."""

    name: str
    # True when sending the same submission twice (with the same key) is recognised as one job.
    idempotent_submit: bool
    supports_remix: bool

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        """Raise Refusal for anything this vendor cannot do; runs in the web process at submission."""

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        """Create the job upstream and return the vendor's id for it (opaque to the core: an adapter may
        pack what its poll needs into it, such as Kling's endpoint or Jimeng's req_key)."""

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult: ...

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download: ...

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        """Best effort: stop the job upstream (or forget it) if the vendor can."""


class Findable(Protocol):
    """Optional: adapters whose vendor can look a job up by our submit key (Kling's external_task_id).

    Used when a submission may have reached the vendor without an answer: found means it did, not found
    means it did not, and it is safe to submit again."""

    def find(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str | None:
        ...


class ListPollable(Protocol):
    """Optional: adapters whose vendor reports on several jobs in one call (Ark's task list filtered by ids).

    A poll batch then asks once per channel for up to `poll_list_size` of its jobs instead of once per job.
    A job missing from the answer (past the list's window, say) is polled on its own, so the list never has
    the last word on a job."""

    poll_list_size: int

    def poll_list(self, channel: ChannelConfig, upstream_ids: Sequence[str]) -> dict[str, PollResult]:
        """The result of each listed job by its upstream id; raises UpstreamError when the call fails."""
        ...
