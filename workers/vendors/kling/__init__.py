"""Kling (Kuaishou): text2video and image2video tasks, JWT-authenticated, found again by external_task_id."""
from __future__ import annotations

from app.channels import ChannelConfig, ModelSpec
from app.video_request import VideoRequest
from workers.vendors.base import Download, PollResult, UpstreamError
from workers.vendors.http import recorded
from workers.vendors.kling import client, mapping, status

ENDPOINTS = ("text2video", "image2video")
FIND_PAGE_SIZE = 100
# UNVERIFIED: that Kling lists tasks newest first, so a recent submission is on the first pages.
# Channel option `find_pages`.
FIND_PAGES = 3


def _split(upstream_id: str) -> tuple[str, str]:
    """Our upstream id is "<endpoint>/<task_id>": Kling polls a task under the path it was created on."""
    endpoint, _, task_id = upstream_id.partition("/")
    if endpoint not in ENDPOINTS or not task_id:
        raise UpstreamError("terminal", f"not a Kling upstream id: {upstream_id!r}", code="upstream_error")
    return endpoint, task_id


class KlingAdapter:
    name = "kling"
    idempotent_submit = False  # Kling refuses a repeated external_task_id instead of returning the first job
    supports_remix = False

    def check(self, request: VideoRequest, model: ModelSpec) -> None:
        mapping.check(request, model)

    def submit(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str:
        endpoint = mapping.endpoint(request)
        data = client.create(channel, endpoint, mapping.create_body(request, model, submit_key))
        return f"{endpoint}/{data['task_id']}"

    def find(self, channel: ChannelConfig, request: VideoRequest, model: ModelSpec, submit_key: str) -> str | None:
        """The job an unanswered submission created, looked up by the external_task_id we sent."""
        endpoint = mapping.endpoint(request)
        for page in range(1, int(channel.options.get("find_pages", FIND_PAGES)) + 1):
            tasks = client.list_tasks(channel, endpoint, page, FIND_PAGE_SIZE)
            for task in tasks:
                if (task.get("task_info") or {}).get("external_task_id") == submit_key and task.get("task_id"):
                    return f"{endpoint}/{task['task_id']}"
            if len(tasks) < FIND_PAGE_SIZE:
                break
        return None

    def poll(self, channel: ChannelConfig, upstream_id: str) -> PollResult:
        data = client.retrieve(channel, *_split(upstream_id))
        patterns = channel.options.get("policy_failure_patterns", status.POLICY_FAILURE_PATTERNS)
        return status.to_poll_result(data, patterns)

    def open_result(self, channel: ChannelConfig, upstream_id: str, location: str | None) -> Download:
        return client.result(recorded(location))

    def cancel(self, channel: ChannelConfig, upstream_id: str) -> None:
        """Kling has no cancel call: a job runs to its end upstream, and its result is never fetched."""


adapter = KlingAdapter()
