"""MiniMax Hailuo vendor: `/v1/video_generation`, status queries, and the two-step file_id → download_url result."""
from __future__ import annotations

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.hailuo import client, mapping, status
from workers.vendors.http import recorded


class HailuoAdapter:
    name = "hailuo"
    # MiniMax takes no idempotency key and cannot look a task up by an id of ours: no `find` either.
    idempotent_submit = False
    supports_remix = False

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        answer = client.create(channel, mapping.create_body(request, model))
        if not answer.get("task_id"):
            raise UpstreamError("retryable", "MiniMax accepted the job but sent no task_id", code="upstream_malformed")
        return str(answer["task_id"])

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        return status.to_poll_result(client.query(channel, upstream_id))

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        # The location is MiniMax's file_id. The URL is asked for right before the download, so it expires only
        # when the TTL is very short; if it does, ResultExpired makes the core poll again and come back here.
        return client.content(client.download_url(channel, recorded(location)))


adapter = HailuoAdapter()
