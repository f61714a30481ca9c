"""Short mp4 clips of segments, cut from the source video and cached in the workspace's storage.

Clips are re-encoded as H.264 (yuv420p) so browsers play them; the decoder seeks to the
keyframe before the clip, so cutting a clip late in a long video stays fast.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from fractions import Fraction
from pathlib import Path

import av

from mousegpt import sources
from mousegpt.errors import InputError
from mousegpt.storage import Storage


def cut(video: str | Path, start_s: float, end_s: float, out: Path, pad_s: float = 0.5) -> Path:
    """Write [start_s - pad_s, end_s + pad_s) of ``video`` to ``out`` (atomically). A video in an
    object store is read in ranges around the clip, not copied whole.
    """
    if sources.is_url(video):
        opened = sources.open_remote(video)
    elif Path(video).exists():
        opened = contextlib.nullcontext(str(video))
    else:
        raise InputError(f"{video}: no such file")
    start, end = max(0.0, start_s - pad_s), end_s + pad_s
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.mp4")  # concurrent viewers
    try:
        with opened as readable, av.open(readable) as source, av.open(str(tmp), "w") as target:
            stream = source.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            encoder = target.add_stream("libx264", rate=rate)
            encoder.width = stream.codec_context.width - stream.codec_context.width % 2
            encoder.height = stream.codec_context.height - stream.codec_context.height % 2
            encoder.pix_fmt = "yuv420p"
            encoder.options = {"preset": "veryfast", "crf": "23", "movflags": "+faststart"}
            source.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
            written = 0
            for frame in source.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                if t < start:
                    continue
                if t >= end:
                    break
                image = frame.reformat(width=encoder.width, height=encoder.height, format="yuv420p")
                # Frames numbered from 0 in the encoder's time base (1/rate): without timestamps the
                # container says the clip lasts one frame, and browsers refuse it as a format error.
                image.pts, image.time_base = written, Fraction(1) / rate
                written += 1
                target.mux(encoder.encode(image))
            target.mux(encoder.encode())
    except BaseException:
        tmp.unlink(missing_ok=True)  # an unreadable video, a full disk: leave nothing half-written
        raise
    tmp.replace(out)
    return out


def clip_for(store: Storage, name: str, video: str | None, start_s: float, end_s: float) -> bytes | None:
    """The cached clip ``name`` of ``video`` between two times (s), cut on first use and kept in
    ``store``'s ``clips/``; the mp4's bytes, or None for a pose-only session.
    """
    if not video:
        return None
    # "-v2": clips cut before their frames had timestamps say they last one frame; never reuse them.
    key = f"clips/{name}-v2.mp4"
    if not store.exists(key):
        if store.is_local:
            store.write_with(key, lambda path: cut(video, start_s, end_s, Path(path)))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                store.put_file(str(cut(video, start_s, end_s, Path(tmp) / "clip.mp4")), key)
    return store.read_bytes(key)
