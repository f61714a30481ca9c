"""Built-in tracker accuracy: against DeepLabCut on the real openfield video, and against
synthetic ground truth.

    .venv/bin/python benchmarks/tracker_accuracy.py

Real video: frames where DeepLabCut's snout and tailbase likelihoods are > 0.9; errors in
pixels (the mouse is about 115 px long); a swap is a frame whose tracked nose is nearer
DeepLabCut's tailbase than its snout. Synthetic: four 24-second sessions (seed 7).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from movement.io import load_poses
from rich.console import Console
from rich.table import Table

from mousegpt import tracking
from mousegpt.synth import read_truth_metadata, synth_dataset

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


def _xy(ds, keypoint):
    return ds.position.isel(individuals=0).sel(keypoints=keypoint).transpose("time", "space").values


def _row(name, errors, swaps=None, missing=None):
    e = errors[np.isfinite(errors)]
    return [name, f"{np.median(e):.1f}", f"{np.percentile(e, 90):.1f}",
            "-" if swaps is None else f"{swaps:.2%}", "-" if missing is None else f"{missing:.2%}"]


def main() -> None:
    table = Table(title="Built-in tracker accuracy (pixels)")
    for column in ("keypoint", "median", "90th pct", "head/tail swaps", "frames without position"):
        table.add_column(column, justify="right")
    video = REAL / "openfield_m3v1.mp4"
    if video.exists():
        ds = tracking.track(video)
        dlc = load_poses.from_file(REAL / "openfield_m3v1_dlc.csv", source_software="DeepLabCut", fps=30)
        conf = dlc.confidence.isel(individuals=0)
        good = ((conf.sel(keypoints="snout") > 0.9) & (conf.sel(keypoints="tailbase") > 0.9)).values
        snout, tailbase = _xy(dlc, "snout")[good], _xy(dlc, "tailbase")[good]
        nose_err = np.linalg.norm(_xy(ds, "nose")[good] - snout, axis=1)
        swaps = float(np.mean(np.linalg.norm(_xy(ds, "nose")[good] - tailbase, axis=1) < nose_err))
        missing = float(np.isnan(_xy(ds, "body_center")).any(axis=1).mean())
        table.add_row(*_row(f"real: nose vs DLC snout ({good.sum()} frames)", nose_err, swaps, missing))
        table.add_row(*_row("real: tail_base vs DLC tailbase", np.linalg.norm(_xy(ds, "tail_base")[good] - tailbase, axis=1)))
    with tempfile.TemporaryDirectory() as tmp:
        manifest = synth_dataset(tmp, sessions=4, seconds=24, seed=7)
        errors = {k: [] for k in ("nose", "body_center", "tail_base")}
        lengths_px = [read_truth_metadata(Path(tmp) / n.replace(".mp4", ".truth.parquet"))["body_length_mm"] * px
                      for n, px in zip(manifest.video, manifest.px_per_mm)]
        for name in manifest.video:
            ds = tracking.track(Path(tmp) / name)
            truth = pd.read_parquet(Path(tmp) / name.replace(".mp4", ".truth.parquet"))
            for k in errors:
                errors[k].append(np.linalg.norm(_xy(ds, k) - truth[[f"{k}_x", f"{k}_y"]].to_numpy(), axis=1))
        for k, e in errors.items():
            table.add_row(*_row(f"synthetic: {k} (mouse ~{np.mean(lengths_px):.0f} px)", np.concatenate(e)))
    Console().print(table)


if __name__ == "__main__":
    main()
