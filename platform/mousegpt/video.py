"""Streamed video decoding with PyAV.

Frames are decoded in fixed-size chunks so memory does not grow with video length.
Frames are returned as uint8 arrays with dims (frame, y, x) for grey or (frame, y, x, rgb).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mousegpt.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm")


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    n_frames: int
    """Frame count from the container; counted by decoding when the container has none."""

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Read size, frame rate and frame count without decoding the whole file."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate or float(rate) <= 0:
            raise InputError(f"{path}: the container has no frame rate; pass --fps")
        n_frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0 or n_frames <= 0:
        raise InputError(f"{path}: video has no decodable frames")
    return VideoInfo(path=path, width=width, height=height, fps=float(Fraction(rate)), n_frames=n_frames)


def count_frames(path: str | Path) -> int:
    """Frames actually in the file, counted from its packets (no decoding)."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


_PLANAR_YUV_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv440p"}


def _grey(frame: av.VideoFrame) -> np.ndarray:
    """The frame's brightness (y, x) uint8: the luma plane as stored when the video has one
    (no conversion: about twice as fast as decoding to grey), else a conversion to grey."""
    if frame.format.name in _PLANAR_YUV_8BIT:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    return frame.to_ndarray(format="gray")


def iter_chunks(
    path: str | Path, chunk_size: int = 64, gray: bool = True, step: int = 1
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame_index, frames)`` chunks of at most ``chunk_size`` decoded frames.

    ``gray`` frames are brightness (y, x): the luma plane as stored (limited-range video
    keeps its 16-235 levels); otherwise RGB (y, x, 3). ``step`` keeps every step-th frame
    (the indices stay those of the full video). A file that breaks mid-stream raises
    InputError naming the file and the frame.
    """
    path = Path(path)
    buffer: list[np.ndarray] = []
    first = 0
    index = -1
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index % step:
                    continue
                if not buffer:
                    first = index
                buffer.append(_grey(frame) if gray else frame.to_ndarray(format="rgb24"))
                if len(buffer) == chunk_size:
                    yield first, np.stack(buffer)
                    buffer = []
        except av.error.FFmpegError as exc:
            raise InputError(f"{path}: decoding failed after frame {index} ({exc})") from None
    if buffer:
        yield first, np.stack(buffer)
    if index < 0:
        raise InputError(f"{path}: video has no decodable frames")
