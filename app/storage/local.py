"""Local-disk storage backend: atomic writes by rename, seekable reads for Range requests."""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from app.storage import Hasher, IncompleteWrite, StoredObject


class LocalStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._prefix = os.path.join(self.root, "")

    def _path(self, key: str) -> Path:
        # Keys are built by the gateway from validated ids, but refuse anything that would escape the root.
        # Checked on the normalised text, not by resolving the path: resolving walks every component with a
        # system call on each read and write, and only the gateway puts files (no symlinks) under the root.
        path = os.path.normpath(os.path.join(self._prefix, key))
        if not path.startswith(self._prefix):
            raise ValueError(f"storage key escapes the root: {key!r}")
        return Path(path)

    def put_stream(self, key: str, chunks: Iterable[bytes], expected_size: int | None = None) -> StoredObject:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A private temp name per writer: two writers racing on one key never interleave bytes, and a
        # crash leaves only a temp file behind, never a half-written object under the real name.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        hasher = Hasher()
        try:
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    if chunk:
                        hasher.update(chunk)
                        out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if expected_size is not None and hasher.size != expected_size:
                raise IncompleteWrite(f"expected {expected_size} bytes, got {hasher.size}")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return StoredObject(key=key, size=hasher.size, sha256=hasher.hexdigest)

    def open(self, key: str) -> tuple[BinaryIO, int]:
        handle = open(self._path(key), "rb")  # noqa: SIM115 (the caller streams it and closes it)
        return handle, os.fstat(handle.fileno()).st_size

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
