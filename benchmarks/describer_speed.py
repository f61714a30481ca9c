"""Describer throughput, batched: segments per second on this machine's CPU cores (and GPU if any).

    .venv/bin/python benchmarks/describer_speed.py [--model mousegpt-tiny] [--segments 2048] [--threads 2]

Inputs are real segments of one 60-second synthetic session (facts, per-frame kinematics and
crops, as ``mousegpt analyze`` makes them), repeated to ``--segments``. Rows: the full input
(crops + kinematic sequence + facts), pose only (no crops), facts only (what Serve's
``POST /describe`` sends), and the rule-based describer for reference. Each is timed over the
whole set after one warm-up batch; the time covers everything ``describe`` does (features,
encoders, greedy decoding of the five fields, slot filling, the facts check).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from jobs.train import video_segments
from mousegpt.describe import load_model
from mousegpt.segments import Window
from mousegpt.synth import Scene
from mousegpt.synth.dataset import write_session


def session_inputs(n: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[Window]]:
    """``n`` segments (repeating one session's) with the kinematics and windows they index."""
    with tempfile.TemporaryDirectory() as tmp:
        scene = Scene()
        write_session(tmp, "speed", 60, "control", 11, scene)
        seg = video_segments(Path(tmp) / "speed.mp4", scene.px_per_mm, scene.view, scene.fps)
    reps = int(np.ceil(n / len(seg["facts"])))
    facts = pd.concat([seg["facts"]] * reps, ignore_index=True).iloc[:n]
    crops = np.concatenate([seg["crops"]] * reps)[:n]
    windows = (seg["windows"] * reps)[:n]
    return facts, seg["kinematics"], crops, windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mousegpt-tiny")
    parser.add_argument("--segments", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    facts, kin, crops, windows = session_inputs(args.segments)
    model = load_model(args.model)
    device = getattr(model, "device", "cpu")
    table = Table(
        title=f"Describer throughput, {args.segments} segments, {args.threads} CPU threads, device {device}"
    )
    for column in ("describer", "input", "batch", "seconds", "segments/s"):
        table.add_column(column, justify="right")
    cases = [
        ("crops + sequence + facts", dict(kinematics=kin, crops=crops, windows=windows)),
        ("sequence + facts (pose only)", dict(kinematics=kin, windows=windows)),
        ("facts only", {}),
    ]
    batch = getattr(model, "batch_size", len(facts))
    for name, extra in cases:
        model.describe(
            facts.iloc[:batch],
            **{k: (v[:batch] if k in ("crops", "windows") else v) for k, v in extra.items()},
        )
        start = time.perf_counter()
        model.describe(facts, **extra)
        seconds = time.perf_counter() - start
        table.add_row(model.name, name, str(batch), f"{seconds:.2f}", f"{len(facts) / seconds:.0f}")
    rules = load_model("kinematic")
    start = time.perf_counter()
    rules.describe(facts)
    seconds = time.perf_counter() - start
    table.add_row("kinematic", "facts", "-", f"{seconds:.2f}", f"{len(facts) / seconds:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
