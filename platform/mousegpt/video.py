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

from mousegpt import sources
from mousegpt.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm")


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` reads of a video: its frame size (px), frame rate (fps) and length."""

    path: str | Path
    """As given: a local path or an object-store URL (``sources``)."""
    width: int
    height: int
    fps: float
    n_frames: int
    """Frame count from the container; counted by decoding when the container has none."""

    @property
    def duration_s(self) -> float:
        """The video's length in seconds (``n_frames / fps``)."""
        return self.n_frames / self.fps


def _as_path(path: str | Path) -> str | Path:
    """A local path as a Path; a URL kept as text (a Path would fold its ``//``)."""
    return path if sources.is_url(path) else Path(path)


def _open(path: str | Path) -> av.container.InputContainer:
    """The container of a local video, or of this machine's copy of a remote one; errors name ``path``."""
    local = sources.local(path)
    if not Path(local).exists():
        raise InputError(f"{path}: no such file")
    try:
        container = av.open(str(local))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{path}: not a readable video ({exc.__class__.__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path}: contains no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Read size, frame rate and frame count without decoding the whole file."""
    path = _as_path(path)
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
    path = _as_path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


_PLANAR_YUV_8BIT = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv440p"}


def _grey(frame: av.VideoFrame) -> np.ndarray:
    """The frame's brightness (y, x) uint8: the luma plane as stored when the video has one
    (no conversion: about twice as fast as decoding to grey), else a conversion to grey.
    """
    if frame.format.name in _PLANAR_YUV_8BIT:
        plane = frame.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    return frame.to_ndarray(format="gray")


def iter_chunks(
    path: str | Path,
    chunk_size: int = 64,
    gray: bool = True,
    step: int = 1,
    start: int = 0,
    stop: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame_index, frames)`` chunks of at most ``chunk_size`` decoded frames.

    ``gray`` frames are brightness (y, x): the luma plane as stored (limited-range video
    keeps its 16-235 levels); otherwise RGB (y, x, 3). ``step`` keeps every step-th frame
    (the indices stay those of the full video). ``start``/``stop`` read frames
    ``[start, stop)`` only: the file is sought to the keyframe before ``start`` (a frame's
    index is its timestamp times the frame rate), so a part of a long video costs about its
    own length to decode. A file that breaks mid-stream raises InputError naming the file and
    the frame (and the part's frames and seconds, when reading a part).
    """
    path = _as_path(path)
    buffer: list[np.ndarray] = []
    first = 0
    index = start - 1
    part = start > 0 or stop is not None
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        origin = stream.start_time or 0
        if start > 0 and fps > 0:
            # Seeking before anything is decoded leaves some H.264 streams (4:4:4, ours among
            # them) decoding grey garbage after the seek; one frame decoded first avoids it.
            next(container.decode(stream), None)
            container.seek(
                origin + int(start / fps / stream.time_base), stream=stream, backward=True, any_frame=False
            )
        try:
            for position, frame in enumerate(container.decode(stream)):
                index = (
                    round(float((frame.pts - origin) * stream.time_base) * fps)
                    if start > 0 and frame.pts is not None
                    else position
                )
                if index < start or index % step:
                    continue
                if stop is not None and index >= stop:
                    break
                if not buffer:
                    first = index
                buffer.append(_grey(frame) if gray else frame.to_ndarray(format="rgb24"))
                if len(buffer) == chunk_size:
                    yield first, np.stack(buffer)
                    buffer = []
        except av.error.FFmpegError as exc:
            where = (
                f" (reading frames {start}-{stop if stop is not None else 'end'}, {_seconds(start, fps)}-"
                f"{_seconds(stop, fps)} s)"
                if part
                else ""
            )
            raise InputError(f"{path}: decoding failed after frame {index}{where} ({exc})") from None
    if buffer:
        yield first, np.stack(buffer)
    if index < start:
        raise InputError(f"{path}: video has no decodable frames" + (f" from frame {start}" if start else ""))


def _seconds(frame: int | None, fps: float) -> str:
    return "end" if frame is None else (f"{frame / fps:.1f}" if fps > 0 else "?")


SEEK_GAP = 300
"""Frames to skip beyond which ``read_frames`` seeks rather than decodes its way: about the
keyframe interval of common recordings (a seek lands on the keyframe before its target and
decodes from there)."""


def read_frames(path: str | Path, indices) -> np.ndarray:
    """The brightness frames (frame, y, x) uint8 at ``indices`` (increasing), decoding only
    near them: a gap longer than SEEK_GAP is sought over. Frames past the end are left out,
    and so is a frame in a stretch that fails to decode (the next one is sought), as long as
    at least half of them decode; otherwise InputError names the file and where it broke.
    """
    path = _as_path(path)
    wanted = sorted(set(int(i) for i in indices))
    out: list[np.ndarray] = []
    broken: list[int] = []
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        origin = stream.start_time or 0
        frames = container.decode(stream)
        index, k = -1, 0
        while k < len(wanted):
            try:
                if index >= 0 and fps > 0 and wanted[k] - index > SEEK_GAP:
                    # (a frame is decoded before any seek: see iter_chunks)
                    container.seek(
                        origin + int(wanted[k] / fps / stream.time_base), stream=stream, backward=True
                    )
                    frames = container.decode(stream)
                    index = -1
                frame = next(frames, None)
                if frame is None:
                    break
                index = (
                    round(float((frame.pts - origin) * stream.time_base) * fps)
                    if frame.pts is not None and fps > 0
                    else index + 1
                )
                while k < len(wanted) and wanted[k] < index:  # sought past it (a timestamp gap): skip it
                    k += 1
                if k < len(wanted) and index == wanted[k]:
                    out.append(_grey(frame).copy())
                    k += 1
            except av.error.FFmpegError as exc:
                broken.append(wanted[k])
                if len(broken) > len(wanted) // 2 or fps <= 0:
                    raise InputError(
                        f"{path}: decoding failed after frame {index} ({_seconds(max(index, 0), fps)} s; "
                        f"{exc})"
                    ) from None
                k += 1  # the frame the broken stretch hides is left out; the next one is sought
                if k < len(wanted):
                    container.seek(
                        origin + int(wanted[k] / fps / stream.time_base), stream=stream, backward=True
                    )
                    frames, index = container.decode(stream), -1
    if not out:
        raise InputError(f"{path}: video has no decodable frames")
    return np.stack(out)
