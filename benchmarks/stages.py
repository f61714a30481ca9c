"""Throughput of each analysis stage on one synthetic and (if present) one real video.

    .venv/bin/python benchmarks/stages.py [--real ../shared/data/real/openfield_m3v1.mp4]

Prints a table: frames/s for decode and tracking (both passes of the tracker: background
model and tracking), segments/s for kinematics+facts, crops, the default describer
(MouseGPT-tiny) and the text embedder. Single process: per core for the tracker and crops;
torch (describer, text embedder) uses the cores it finds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mousegpt import crops, kinematics, tracking, video
from mousegpt.arena import from_background
from mousegpt.describe import load_model
from mousegpt.embed import TextEmbedder
from mousegpt.pipeline import measure_poses
from mousegpt.synth import Scene, synth_dataset

REPO = Path(__file__).resolve().parents[1]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def measure(path: Path, embedder: TextEmbedder, px_per_mm: float | None, model) -> dict:
    info = video.probe(path)
    _, decode_s = timed(lambda: sum(len(c) for _, c in video.iter_chunks(path)))
    bg, bg_s = timed(lambda: tracking.estimate_background(path))
    ds, track_s = timed(lambda: tracking.track(path, background=bg))
    scale = px_per_mm or kinematics.estimate_px_per_mm(ds)
    arena = from_background(bg.image)
    # The same steps as ``analyze`` (``mousegpt.pipeline``): clean, measure, cut.
    measured, facts_s = timed(lambda: measure_poses(ds, info.fps, scale, arena=arena, tracked=True))
    facts, kin, windows = measured.facts, measured.kinematics, measured.windows
    cut, crops_s = timed(lambda: crops.extract(path, measured.poses, windows, bg))
    descriptions, describe_s = timed(
        lambda: model.describe(facts, kinematics=kin, crops=cut, windows=windows)
    )
    _, embed_s = timed(lambda: embedder([d.text() for d in descriptions]))
    n = len(facts)
    return {
        "video": f"{path.name} ({info.width}x{info.height}, {info.n_frames} frames)",
        "decode (frames/s)": info.n_frames / decode_s,
        "tracker incl. background (frames/s)": info.n_frames / (bg_s + track_s),
        "QC + kinematics + facts (segments/s)": n / facts_s,
        "crops (segments/s)": n / crops_s,
        f"describer {model.name} (segments/s)": n / describe_s,
        "text embedding (segments/s)": n / embed_s,
        "whole video (x real time)": info.duration_s
        / (bg_s + track_s + facts_s + crops_s + describe_s + embed_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--real", type=Path, default=REPO.parent / "shared" / "data" / "real" / "openfield_m3v1.mp4"
    )
    args = parser.parse_args()
    embedder = TextEmbedder()
    model = load_model()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (discarded): the first call JIT-compiles movement's filters (a few seconds,
        # once per worker process), which is not the steady-state rate.
        synth_dataset(Path(tmp) / "warm", sessions=1, seconds=3, seed=1, scene=Scene(width=160, height=120))
        measure(Path(tmp) / "warm" / "control_m01.mp4", embedder, None, model)
        scene = Scene(width=640, height=480)
        synth_dataset(tmp, sessions=1, seconds=60, seed=11, scene=scene)
        rows.append(measure(Path(tmp) / "control_m01.mp4", embedder, scene.px_per_mm, model))
    if args.real.exists():
        rows.append(measure(args.real, embedder, None, model))
    table = Table(title="MouseGPT stage throughput (one process)")
    table.add_column("stage")
    for row in rows:
        table.add_column(row["video"], justify="right")
    for key in rows[0]:
        if key != "video":
            table.add_row(key, *(f"{row[key]:,.0f}" if row[key] >= 10 else f"{row[key]:.1f}" for row in rows))
    Console().print(table)


if __name__ == "__main__":
    main()
