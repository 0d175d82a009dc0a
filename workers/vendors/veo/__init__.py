"""Google Veo on the Gemini API: `predictLongRunning`, operations polled until `done`, keyed file downloads."""
from __future__ import annotations

import base64

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.veo import client, mapping, status


class VeoAdapter:
    name = "veo"
    idempotent_submit = False  # a repeated predictLongRunning starts (and bills) a second operation
    supports_remix = False

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        body = mapping.body(request, mapping.check(request, model), client.inline_image)
        operation = client.create(channel, model.upstream, body)
        name = operation.get("name")
        if not isinstance(name, str) or "/operations/" not in name:
            raise UpstreamError("retryable", "Veo accepted the job but named no operation", code="upstream_malformed")
        # The operation's resource name is all a poll needs: `models/{model}/operations/{id}`.
        return name

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        return status.to_poll_result(client.operation(channel, upstream_id))

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        if location:
            return client.video_file(channel, location)
        # The video came inline (`encodedVideo`): it is already whole in the operation, so hand it over.
        video = status.first_video(client.operation(channel, upstream_id)) or {}
        if not video.get("encodedVideo"):
            raise UpstreamError("retryable", "Veo's operation no longer holds the video", code="upstream_malformed")
        data = base64.b64decode(str(video["encodedVideo"]))
        return Download(chunks=iter([data]), close=lambda: None, content_type=str(video.get("encoding") or
                        "video/mp4"), size=len(data))

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        """The Gemini API offers no way to cancel a video operation: it runs to the end (and is billed)."""


adapter = VeoAdapter()
