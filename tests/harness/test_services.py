"""Ports for a run's servers: free, and outside the range the kernel gives outgoing connections."""
from __future__ import annotations

import socket

import pytest

from harness import services


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    port = services.free_port()
    assert services.LOWEST_PORT <= port < services._ephemeral_start()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        in_use = taken.getsockname()[1]
        # The free candidate is one the kernel hands out (while `taken` holds its own, so the two differ) and takes
        # back: a fixed port (14321 once) can be held by another process of the run or linger in TIME_WAIT after an
        # earlier server, and the probe then skips it too.
        with socket.socket() as spare:
            spare.bind(("127.0.0.1", 0))
            free = spare.getsockname()[1]
        candidates = iter([in_use, free])
        monkeypatch.setattr(services.random, "randrange", lambda *_: next(candidates))
        monkeypatch.setattr(services, "_ephemeral_start", lambda: 65_536)
        assert services.free_port() == free
