"""OpenAI-compatible vendor: Sora-style `/v1/videos` upstreams, including another Vidgate."""
from __future__ import annotations

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.openai import client, mapping, status


class OpenAIAdapter:
    name = "openai"
    idempotent_submit = True  # we send Idempotency-Key; Vidgate and the simulator honour it
    supports_remix = True

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        if request.remix_of_upstream_id:
            video = client.remix(channel, request.remix_of_upstream_id, request.prompt or "", submit_key)
        else:
            video = client.create(channel, request, mapping.create_fields(request, model.upstream), submit_key)
        if not video.get("id"):
            raise UpstreamError("retryable", "upstream accepted the job but sent no id", code="upstream_malformed")
        return str(video["id"])

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        return status.to_poll_result(client.retrieve(channel, upstream_id))

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        return client.content(channel, upstream_id)

    def open_thumbnail(self, channel: ChannelConfig, upstream_id: str) -> Download:
        return client.content(channel, upstream_id, variant="thumbnail")

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        client.delete(channel, upstream_id)


adapter = OpenAIAdapter()
