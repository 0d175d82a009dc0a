"""Local-disk storage: whole objects or nothing under a key, and no key that leaves the root."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.storage import IncompleteWrite, open_storage
from app.storage.local import LocalStorage


def test_an_object_is_stored_whole_read_back_and_deleted_with_its_prefix(tmp_path: Path) -> None:
    storage = open_storage((tmp_path / "store").as_uri())
    stored = storage.put_stream("videos/video_1/video.mp4", [b"abc", b"", b"def"], expected_size=6)
    assert (stored.size, stored.sha256[:8]) == (6, "bef57ec7")
    handle, size = storage.open("videos/video_1/video.mp4")
    with handle:
        assert (size, handle.read()) == (6, b"abcdef")
    storage.delete("videos/video_1")
    assert not storage.exists("videos/video_1/video.mp4")
    storage.delete("videos/video_1")  # absent: fine, deletes are retried


def test_a_short_source_leaves_nothing_under_the_key(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(IncompleteWrite):
        storage.put_stream("videos/v/video.mp4", [b"abc"], expected_size=10)
    assert not storage.exists("videos/v/video.mp4")
    assert os.listdir(tmp_path / "videos" / "v") == []  # nor a temp file


@pytest.mark.parametrize("key", ["../outside", "videos/../../outside", "/etc/passwd", "", "."])
def test_a_key_outside_the_root_is_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "store")
    for use in (storage.exists, storage.delete, storage.open):
        with pytest.raises(ValueError, match="escapes the root"):
            use(key)
    with pytest.raises(ValueError, match="escapes the root"):
        storage.put_stream(key, [b"x"])
    assert not (tmp_path / "outside").exists()


def test_a_relative_root_is_the_directory_it_named_when_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = LocalStorage("store")
    monkeypatch.chdir("/")
    storage.put_stream("a/b", [b"x"])
    assert (tmp_path / "store" / "a" / "b").read_bytes() == b"x"
