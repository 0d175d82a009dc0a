"""Alibaba Wan through DashScope: async video-synthesis tasks polled at /tasks/{id}, OSS result links."""
from __future__ import annotations

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.http import image_data_url, recorded
from workers.vendors.wan import client, mapping, status


class WanAdapter:
    name = "wan"
    idempotent_submit = False  # DashScope has no idempotency key: a repeated create is a second task
    supports_remix = False

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        # Client URLs go as they are; stored bytes as base64 data URLs, which DashScope takes for images.
        body = mapping.body(request, model, mapping.check(request, model), image_data_url)
        created = client.create(channel, mapping.endpoint(model), body)
        output = created.get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamError("retryable", "DashScope accepted the task but sent no task_id",
                                code="upstream_malformed")
        return task_id

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        # Only "running" changes the default reading of UNKNOWN; anything else keeps "failed".
        running = channel.options.get(status.UNKNOWN_STATUS_OPTION) == "running"
        return status.to_poll_result(client.task(channel, upstream_id), "running" if running else "failed")

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        return client.video(recorded(location))

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        client.cancel(channel, upstream_id)


adapter = WanAdapter()
