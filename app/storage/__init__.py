"""Where finished videos live: the storage interface and the factory that picks a backend by URL."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Protocol
from urllib.parse import urlparse


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class IncompleteWrite(Exception):
    """The source ended before the length it announced: the partial object is discarded."""


class Storage(Protocol):
    def put_stream(self, key: str, chunks: Iterable[bytes], expected_size: int | None = None) -> StoredObject:
        """Store the chunks under `key` atomically: readers see the whole object or none of it."""
        ...

    def open(self, key: str) -> tuple[BinaryIO, int]:
        """A seekable reader and the object's size; raises FileNotFoundError when absent."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object and anything below it; absent keys are fine (deletes are retried)."""
        ...


class Hasher:
    """Counts and hashes bytes as they stream past, so a file is never held whole in memory."""

    def __init__(self) -> None:
        self.size = 0
        self._sha = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._sha.update(chunk)

    @property
    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def video_key(public_id: str) -> str:
    return f"videos/{public_id}/video.mp4"


def thumbnail_key(public_id: str) -> str:
    return f"videos/{public_id}/thumbnail"


def task_prefixes(public_id: str) -> tuple[str, str]:
    """Everything stored for a task: its outputs and the input images the client sent."""
    return f"videos/{public_id}", f"inputs/{public_id}"


def inputs_key(public_id: str, index: int) -> str:
    return f"inputs/{public_id}/{index}"


def open_storage(url: str) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        from app.storage.local import LocalStorage

        return LocalStorage(parsed.path)
    raise ValueError(f"unsupported STORAGE_URL scheme {parsed.scheme!r}; supported: file://")

