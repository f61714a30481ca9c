"""How fast the synthetic world renders, per core, at 640x480 including H.264 encoding.

Prints three tables:
1. one process on one core (OpenCV and x264 on one thread), per scene: simulation,
   drawing alone, and drawing + encoding to mp4 (the figure that matters, target >= 300 frames/s);
2. whole sessions rendered in parallel on a local Ray (one CPU per session);
3. peak memory of a process writing a short and a 10x longer session (no video is held in memory).

Run: ``.venv/bin/python benchmarks/synth_speed.py [--seconds 60]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from mousegpt.synth import Renderer, Scene, simulate, synth_dataset
from mousegpt.synth.dataset import encode

SCENES = {
    "top, black, square": Scene(),
    "top, white, circle": replace(Scene(), fur="white", arena="circle"),
    "bottom, agouti, square": replace(Scene(), view="bottom", fur="agouti"),
}


def per_core(seconds: float, tmp: Path) -> Table:
    cv2.setNumThreads(1)
    table = Table(title=f"One core, 640x480, {seconds:.0f} s sessions ({seconds * 25:.0f} frames), frames/s")
    for column in ("scene", "simulate", "draw", "draw + encode", "mp4 MB/min"):
        table.add_column(column, justify="right" if column != "scene" else "left")
    for i, (name, scene) in enumerate(SCENES.items()):
        started = time.perf_counter()
        traj = simulate(seconds, "stim", 100 + i, scene.fps, scene.geometry)
        simulate_fps = len(traj) / (time.perf_counter() - started)
        renderer = Renderer(traj, scene, 100 + i)
        started = time.perf_counter()
        for f in range(len(traj)):
            renderer.i420(f)
        draw_fps = len(traj) / (time.perf_counter() - started)
        path = tmp / f"scene{i}.mp4"
        started = time.perf_counter()
        encode(Renderer(traj, scene, 100 + i), path)
        total_fps = len(traj) / (time.perf_counter() - started)
        mb_per_min = path.stat().st_size / 1e6 / (seconds / 60)
        table.add_row(
            name, f"{simulate_fps:,.0f}", f"{draw_fps:,.0f}", f"{total_fps:,.0f}", f"{mb_per_min:.1f}"
        )
    return table


def on_ray(seconds: float, tmp: Path) -> Table:
    workers = os.cpu_count() or 1
    sessions = 2 * workers
    table = Table(
        title=f"synth_dataset on a local Ray: {sessions} sessions of {seconds:.0f} s, {workers} CPUs"
    )
    for column in ("workers", "wall s", "frames/s", "frames/s per worker"):
        table.add_column(column, justify="right")
    synth_dataset(tmp / "warm", sessions=2, seconds=1, workers=workers)  # starts Ray and its workers
    for n in sorted({1, workers}):
        started = time.perf_counter()
        synth_dataset(
            tmp / f"ray{n}",
            sessions=sessions,
            seconds=seconds,
            seed=3,
            conditions=("control", "stim", "anx"),
            workers=n,
        )
        wall = time.perf_counter() - started
        frames = sessions * seconds * 25
        table.add_row(str(n), f"{wall:.1f}", f"{frames / wall:,.0f}", f"{frames / wall / n:,.0f}")
    return table


def memory(seconds: float, tmp: Path) -> Table:
    table = Table(title="Peak memory of one process writing one 640x480 session")
    table.add_column("session length", justify="right")
    table.add_column("peak RSS MB", justify="right")
    for length in (seconds, 10 * seconds):
        code = (
            "import resource, sys; from mousegpt.synth import Scene, write_session; "
            f"write_session(sys.argv[1], 'mem', {length}, 'control', 1, Scene()); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        out = subprocess.run([sys.executable, "-c", code, str(tmp)], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        table.add_row(
            f"{length:.0f} s ({length * 25:.0f} frames)", f"{int(out.stdout.split()[-1]) / 1024:.0f}"
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="session length (s)")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        console.print(per_core(args.seconds, Path(tmp)))
        console.print(on_ray(args.seconds, Path(tmp)))
        console.print(memory(args.seconds / 2, Path(tmp)))


if __name__ == "__main__":
    main()
