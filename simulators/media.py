"""Real media bytes for simulated results: one committed sample made unique per job without re-encoding."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from pathlib import Path

ASSETS_DIR = Path(__file__).with_name("assets")
# H.264 320x180, 2 s test pattern (ffmpeg testsrc); committed so ffmpeg is never needed at runtime.
SAMPLE_MP4 = (ASSETS_DIR / "sample.mp4").read_bytes()
# First frame of the same test pattern, baseline JPEG with a JFIF APP0 segment.
THUMBNAIL_BYTES = (ASSETS_DIR / "thumbnail.jpg").read_bytes()

CHUNK_SIZE = 64 * 1024
_ZEROS = bytes(CHUNK_SIZE)
_MAX_32BIT_BOX = 0xFFFFFFFF


def _free_box_header(payload_len: int) -> bytes:
    """ISO-BMFF header of a `free` box holding `payload_len` bytes."""
    size = 8 + payload_len
    if size <= _MAX_32BIT_BOX:
        return struct.pack(">I4s", size, b"free")
    # size field 1 means a 64-bit "largesize" (which counts its own 8 bytes) follows the type.
    return struct.pack(">I4sQ", 1, b"free", size + 8)


def _padding(pad_bytes: int) -> Iterator[bytes]:
    remaining = pad_bytes
    while remaining > 0:
        n = min(remaining, CHUNK_SIZE)
        yield _ZEROS if n == CHUNK_SIZE else _ZEROS[:n]
        remaining -= n


def _video_chunks(head: bytes, pad_bytes: int) -> Iterator[bytes]:
    yield SAMPLE_MP4
    yield head
    yield from _padding(pad_bytes)


def video_for(job_id: str, pad_bytes: int = 0) -> tuple[int, Iterator[bytes]]:
    """(total length, chunk iterator) of a valid MP4 unique to `job_id`, grown by `pad_bytes` zero bytes.

    The sample is followed by a top-level `free` box carrying the job id and the padding:
    players skip `free` boxes, so the file stays playable while every job gets distinct bytes.
    """
    if pad_bytes < 0:
        raise ValueError("pad_bytes must be >= 0")
    tag = f"vidgate-sim job_id={job_id}\n".encode()
    head = _free_box_header(len(tag) + pad_bytes) + tag
    return len(SAMPLE_MP4) + len(head) + pad_bytes, _video_chunks(head, pad_bytes)


def video_sha256(job_id: str, pad_bytes: int = 0) -> str:
    """Hex sha256 of the bytes `video_for(job_id, pad_bytes)` yields."""
    digest = hashlib.sha256()
    for chunk in video_for(job_id, pad_bytes)[1]:
        digest.update(chunk)
    return digest.hexdigest()


def thumbnail_for(job_id: str) -> bytes:
    """The sample JPEG with a COM segment naming `job_id`, so thumbnails also differ per job."""
    comment = f"vidgate-sim job_id={job_id}".encode()
    segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
    # Keep JFIF's APP0 directly after SOI (strict readers expect it there); insert the comment after it.
    at = 2
    if THUMBNAIL_BYTES[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", THUMBNAIL_BYTES[4:6])[0]
    return THUMBNAIL_BYTES[:at] + segment + THUMBNAIL_BYTES[at:]
