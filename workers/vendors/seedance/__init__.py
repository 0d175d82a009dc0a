"""Seedance vendor: ByteDance's video models on Volcengine Ark (`/api/v3/contents/generations/tasks`)."""
from __future__ import annotations

from collections.abc import Sequence

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.http import recorded
from workers.vendors.seedance import client, mapping, status


class SeedanceAdapter:
    name = "seedance"
    idempotent_submit = False  # Ark takes no idempotency key: a repeated submission is a second task
    supports_remix = False
    # Jobs asked about in one call of the task list (Ark's samples page by 100).
    poll_list_size = 100

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        task = client.create(channel, mapping.create_body(request, model))
        if not task.get("id"):
            raise UpstreamError("retryable", "Ark accepted the task but sent no id", code="upstream_malformed")
        return str(task["id"])

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        return status.to_poll_result(client.retrieve(channel, upstream_id))

    def poll_list(self, channel: ChannelConfig, upstream_ids: Sequence[str]) -> dict[str, PollResult]:
        return {item["id"]: status.to_poll_result(item) for item in client.list_by_ids(channel, upstream_ids)
                if isinstance(item, dict) and item.get("id")}

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        return client.content(recorded(location))

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        client.delete(channel, upstream_id)


adapter = SeedanceAdapter()
