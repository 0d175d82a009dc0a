"""Jimeng vendor: Volcengine's visual CV async API (`CVSync2AsyncSubmitTask` / `CVSync2AsyncGetResult`)."""
from __future__ import annotations

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.http import recorded
from workers.vendors.jimeng import client, mapping, status


class JimengAdapter:
    name = "jimeng"
    idempotent_submit = False  # Jimeng takes no idempotency key: a repeated submission is a second job
    supports_remix = False

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        body = mapping.create_body(request, model)
        task_id = client.submit(channel, body).get("task_id")
        if not task_id:
            raise UpstreamError("retryable", "Jimeng accepted the job but sent no task_id", code="upstream_malformed")
        # GetResult needs the req_key the task was submitted with, and a family model does not say which.
        return f"{body['req_key']}:{task_id}"

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        req_key, _, task_id = upstream_id.partition(":")
        return status.to_poll_result(client.get_result(channel, req_key, task_id))

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        return client.content(recorded(location))

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        """Jimeng documents no cancel call for these tasks: the job runs to its end upstream."""


adapter = JimengAdapter()
