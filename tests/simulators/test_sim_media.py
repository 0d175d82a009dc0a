"""Tests for simulators.media: per-job MP4s stay valid ISO-BMFF, unique, and grow exactly by the padding."""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from simulators import media


def _boxes(data: bytes) -> list[tuple[str, int, int]]:
    """Top-level ISO-BMFF boxes as (type, offset, size); fails if the boxes do not tile the file exactly."""
    boxes, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8 : offset + 16])[0]
        assert size >= 8, f"bad box size {size} at {offset}"
        boxes.append((kind.decode("ascii"), offset, size))
        offset += size
    assert offset == len(data), "boxes overrun the end of the file"
    return boxes


def _video(job_id: str, pad_bytes: int = 0) -> bytes:
    length, chunks = media.video_for(job_id, pad_bytes)
    data = b"".join(chunks)
    assert len(data) == length, "declared length must match the bytes yielded"
    return data


def test_video_is_the_sample_plus_a_free_box_naming_the_job() -> None:
    data = _video("video_abc123")
    assert data.startswith(media.SAMPLE_MP4)
    assert data[4:8] == b"ftyp"
    boxes = _boxes(data)
    assert boxes[0][0] == "ftyp"
    kind, offset, size = boxes[-1]
    assert kind == "free"
    assert b"video_abc123" in data[offset : offset + size]
    assert {"moov", "mdat"} <= {box[0] for box in boxes}


def test_videos_differ_between_jobs_and_repeat_for_the_same_job() -> None:
    assert _video("job-a") != _video("job-b")
    assert _video("job-a") == _video("job-a")
    assert media.video_sha256("job-a") != media.video_sha256("job-b")


def test_pad_bytes_grow_the_length_exactly_and_stay_inside_the_free_box() -> None:
    plain = media.video_for("job-pad")[0]
    padded = _video("job-pad", 200_000)
    assert len(padded) == plain + 200_000
    kind, offset, size = _boxes(padded)[-1]
    assert kind == "free" and offset + size == len(padded)
    assert padded.endswith(bytes(1000))


def test_padding_is_produced_in_bounded_chunks() -> None:
    length, chunks = media.video_for("job-big", 10 * media.CHUNK_SIZE + 5)
    sizes = [len(chunk) for chunk in chunks]
    assert sum(sizes) == length
    assert max(sizes) <= max(media.CHUNK_SIZE, len(media.SAMPLE_MP4))


def test_free_box_switches_to_64_bit_size_beyond_4_gib() -> None:
    # Only the header is inspected: the 4 GiB of padding is never generated.
    length, chunks = media.video_for("job-huge", 2**32)
    next(chunks)  # the sample
    head = next(chunks)
    size_field, kind, large_size = struct.unpack(">I4sQ", head[:16])
    assert (size_field, kind) == (1, b"free")
    assert len(media.SAMPLE_MP4) + large_size == length


def test_sha256_matches_the_streamed_bytes() -> None:
    assert media.video_sha256("job-x", 1234) == hashlib.sha256(_video("job-x", 1234)).hexdigest()


def test_negative_padding_is_refused() -> None:
    with pytest.raises(ValueError):
        media.video_for("job", -1)


def test_thumbnail_is_a_jpeg_naming_the_job() -> None:
    thumb = media.thumbnail_for("video_t1")
    assert thumb.startswith(b"\xff\xd8\xff\xe0")  # SOI then JFIF APP0 still first
    assert thumb.endswith(b"\xff\xd9")
    assert b"video_t1" in thumb
    assert thumb != media.thumbnail_for("video_t2")
    assert len(thumb) > len(media.THUMBNAIL_BYTES)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed (it is not a runtime dependency)")
def test_padded_video_and_thumbnail_decode_with_ffmpeg(tmp_path: Path) -> None:
    video, thumb = tmp_path / "v.mp4", tmp_path / "t.jpg"
    video.write_bytes(_video("video_ffmpeg", 4096))
    thumb.write_bytes(media.thumbnail_for("video_ffmpeg"))
    for path in (video, thumb):
        result = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0 and not result.stderr, result.stderr
