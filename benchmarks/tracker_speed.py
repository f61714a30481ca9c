"""Built-in tracker speed on one core, beside PyAV's decode rate for the same file.

The process pins itself to one CPU (Linux), so decoder and OpenCV threads share one core.
Columns: decoding alone (brightness frames, as the tracker reads them); the background
pass; tracking given the background; and the whole ``track()`` call (both passes).
Target: >= 400 frames/s per core at 640x480 for the tracking pass.

Run: ``.venv/bin/python benchmarks/tracker_speed.py``
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mousegpt import tracking, video
from mousegpt.synth import Scene, synth_dataset

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "openfield_m3v1.mp4"


def _rate(n: int, started: float) -> float:
    return n / (time.perf_counter() - started)


def row(name: str, path: Path) -> list[str]:
    info = video.probe(path)
    started = time.perf_counter()
    n = sum(len(chunk) for _, chunk in video.iter_chunks(path))
    decode = _rate(n, started)
    started = time.perf_counter()
    background = tracking.estimate_background(path)
    background_s = time.perf_counter() - started
    started = time.perf_counter()
    tracking.track(path, background=background)
    track = _rate(n, started)
    started = time.perf_counter()
    tracking.track(path)
    whole = _rate(n, started)
    return [
        name,
        f"{info.width}x{info.height}, {n} frames",
        f"{decode:,.0f}",
        f"{background_s:.2f}",
        f"{track:,.0f}",
        f"{whole:,.0f}",
    ]


def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import cv2

    cv2.setNumThreads(1)
    table = Table(title="Built-in tracker on one core (frames/s)")
    for column in ("video", "size", "PyAV decode", "background pass s", "tracking", "whole track()"):
        table.add_column(column, justify="right" if column != "video" else "left")
    if REAL.exists():
        table.add_row(*row("real: openfield_m3v1", REAL))
    with tempfile.TemporaryDirectory() as tmp:
        for label, scene in (
            ("synthetic: top, black", Scene()),
            ("synthetic: bottom, white, circle", Scene(view="bottom", fur="white", arena="circle")),
        ):
            manifest = synth_dataset(Path(tmp) / label[-5:], sessions=1, seconds=60, seed=11, scene=scene)
            table.add_row(*row(label, Path(tmp) / label[-5:] / manifest.video[0]))
    Console().print(table)


if __name__ == "__main__":
    main()
