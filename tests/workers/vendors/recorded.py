"""Recorded vendor answers as `requests.Response` objects, for the adapter tests' classifiers and clients."""
from __future__ import annotations

import json
from collections.abc import Callable
from unittest import mock

import pytest
import requests

from workers.vendors import http
from workers.vendors.base import UpstreamError

RESULT_URL = "https://store.example/results/v.mp4?expires=1&sig=s"


def response(status_code: int, body: object, headers: dict[str, str] | None = None) -> requests.Response:
    """An answer with `body` as JSON, or as the raw bytes given (an HTML error page, an empty body...)."""
    result = requests.Response()
    result.status_code = status_code
    result._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    result._content_consumed = True  # read already, as after a real call: closing it has no socket to release
    result.headers.update(headers or {})
    return result


def download_error(fetch: Callable[[str], object], answer: requests.Response) -> UpstreamError:
    """The error a vendor client's result download (`fetch(url)`) raises when the link is answered so."""
    with mock.patch.object(http, "send", return_value=answer), pytest.raises(UpstreamError) as raised:
        fetch(RESULT_URL)
    return raised.value
