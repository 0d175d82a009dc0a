"""Vidu (Shengshu): four create paths (text, image, start-end, reference), polls alone or listed, `creations[].url`."""
from __future__ import annotations

from collections.abc import Sequence

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.http import recorded
from workers.vendors.vidu import client, mapping, status
from workers.vendors.vidu.errors import failure_code


class ViduAdapter:
    name = "vidu"
    idempotent_submit = False  # Vidu has no idempotency key and no lookup by an id of ours
    supports_remix = False
    # Jobs asked about in one call of the task list (100 ids at most, per a third-party emulation of it).
    poll_list_size = 100

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        task = client.create(channel, mapping.path_for(request, model), mapping.create_body(request, model))
        if task.get("state") == "failed":
            # Refused on arrival (moderation of the prompt, say): no job to poll.
            err_code = str(task.get("err_code") or "")
            raise UpstreamError("terminal", f"Vidu refused the task: {err_code or 'failed at submission'}",
                                code=failure_code(err_code, channel.options), vendor_code=err_code or None)
        if not task.get("task_id"):
            raise UpstreamError("retryable", "Vidu accepted the task but sent no task_id", code="upstream_malformed")
        return str(task["task_id"])

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        return status.to_poll_result(client.creations(channel, upstream_id), channel.options)

    def poll_list(self, channel: ChannelConfig, upstream_ids: Sequence[str]) -> dict[str, PollResult]:
        """Only tasks listed with all their own read would say are taken (`status.answers_fully`); the others are
        read on their own. Only third parties describe the list, so an answer shaped otherwise than theirs costs
        calls, never a stuck or misclassified task (a task without its state would read as still running)."""
        results: dict[str, PollResult] = {}
        for task in client.list_by_ids(channel, upstream_ids):
            if not (isinstance(task, dict) and task.get("id") and status.answers_fully(task)):
                continue
            try:
                results[str(task["id"])] = status.to_poll_result(task, channel.options)
            except UpstreamError:
                continue  # a success without its URL, say: the task's own read decides
        return results

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        return client.result(recorded(location))

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        client.cancel(channel, upstream_id)


adapter = ViduAdapter()
