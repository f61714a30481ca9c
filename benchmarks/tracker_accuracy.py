"""Built-in tracker accuracy: against DeepLabCut on the real openfield video, and against
synthetic ground truth in several scenes.

    .venv/bin/python benchmarks/tracker_accuracy.py

Real video: frames where DeepLabCut's snout and tailbase likelihoods are > 0.9; errors in
pixels (the mouse is about 115 px long). A swap is a frame whose tracked nose is nearer
DeepLabCut's tailbase than its snout. DeepLabCut has no body centre: the tracker's
body_center is compared with the midpoint of snout and tailbase, which is not the same
point (it lies on the chord, a bent body's centre does not), so that row is a sanity check.
DeepLabCut has no tail tip either: only how often one is found is shown.

Synthetic: per scene (view, fur, arena), two 30-second 640x480 sessions (control and
stim, seed 7); errors in pixels and in % of the animal's body length (nose to tail base,
stretched out); frames where a keypoint is not tracked are left out of its errors and
counted separately. The ellipse columns compare the body orientation with the truth's
tail_base-to-nose direction, and the ellipse's length with the truth's nose-to-tail-base
distance.
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
from mousegpt.synth import Scene, read_truth_metadata, synth_dataset

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"

SCENES = [
    ("top", "black", "square"),
    ("top", "white", "circle"),
    ("top", "agouti", "square"),
    ("bottom", "black", "square"),
    ("bottom", "white", "circle"),
    ("bottom", "agouti", "circle"),
]


def _xy(ds, keypoint):
    return ds.position.isel(individuals=0).sel(keypoints=keypoint).transpose("time", "space").values


def _stats(errors: np.ndarray) -> tuple[float, float]:
    """Median and 90th percentile of the finite errors."""
    finite = errors[np.isfinite(errors)]
    return float(np.median(finite)), float(np.percentile(finite, 90))


def real_table() -> Table:
    table = Table(title="Built-in tracker vs DeepLabCut, openfield_m3v1 (pixels)")
    for column in (
        "keypoint",
        "median",
        "90th pct",
        "head/tail swaps",
        "frames without position",
        "frames with tail_tip",
    ):
        table.add_column(column, justify="right")
    ds = tracking.track(REAL / "openfield_m3v1.mp4")
    dlc = load_poses.from_dlc_file(REAL / "openfield_m3v1_dlc.csv", fps=30)
    conf = dlc.confidence.isel(individuals=0)
    good = ((conf.sel(keypoints="snout") > 0.9) & (conf.sel(keypoints="tailbase") > 0.9)).values
    snout, tailbase = _xy(dlc, "snout")[good], _xy(dlc, "tailbase")[good]
    nose_err = np.linalg.norm(_xy(ds, "nose")[good] - snout, axis=1)
    swaps = float(np.mean(np.linalg.norm(_xy(ds, "nose")[good] - tailbase, axis=1) < nose_err))
    missing = float(np.isnan(_xy(ds, "body_center")).any(axis=1).mean())
    tail_tips = float(np.isfinite(_xy(ds, "tail_tip")).all(axis=1).mean())
    midpoint = (snout + tailbase) / 2
    rows = [
        (f"nose vs snout ({good.sum()} frames)", nose_err),
        ("tail_base vs tailbase", np.linalg.norm(_xy(ds, "tail_base")[good] - tailbase, axis=1)),
        (
            "body_center vs snout-tailbase midpoint",
            np.linalg.norm(_xy(ds, "body_center")[good] - midpoint, axis=1),
        ),
    ]
    for i, (name, errors) in enumerate(rows):
        extra = [f"{swaps:.2%}", f"{missing:.2%}", f"{tail_tips:.1%}"] if i == 0 else ["", "", ""]
        table.add_row(name, *(f"{v:.1f}" for v in _stats(errors)), *extra)
    return table


def _track_scene(folder: Path, scene: tuple[str, str, str]) -> pd.DataFrame:
    """Per-frame errors of every session of one scene: px and % of body length per keypoint,
    swap, ellipse orientation error (deg) and length ratio."""
    view, fur, arena = scene
    manifest = synth_dataset(
        folder,
        sessions=2,
        seconds=30,
        seed=7,
        conditions=("control", "stim"),
        scene=Scene(view=view, fur=fur, arena=arena),
    )
    frames = []
    for name in manifest.video:
        truth_path = folder / name.replace(".mp4", ".truth.parquet")
        meta, truth = read_truth_metadata(truth_path), pd.read_parquet(truth_path)
        body_length = meta["body_length_mm"] * meta["px_per_mm"]
        ds = tracking.track(folder / name)
        one = {}
        for k in tracking.TRACKED_KEYPOINTS:
            one[k] = np.linalg.norm(_xy(ds, k) - truth[[f"{k}_x", f"{k}_y"]].to_numpy(), axis=1)
            one[f"{k}_pct"] = 100 * one[k] / body_length
        nose_truth = truth[["nose_x", "nose_y"]].to_numpy()
        tail_truth = truth[["tail_base_x", "tail_base_y"]].to_numpy()
        one["swap"] = np.linalg.norm(_xy(ds, "nose") - tail_truth, axis=1) < one["nose"]
        towards_nose = nose_truth - tail_truth
        truth_deg = np.degrees(np.arctan2(towards_nose[:, 1], towards_nose[:, 0]))
        one["orientation_err"] = np.abs((ds.body_orientation_deg.values[:, 0] - truth_deg + 180) % 360 - 180)
        one["length_ratio"] = ds.body_length_px.values[:, 0] / np.linalg.norm(towards_nose, axis=1)
        frames.append(pd.DataFrame(one))
    return pd.concat(frames, ignore_index=True)


def synthetic_tables() -> tuple[Table, Table]:
    errors = Table(title="Built-in tracker vs synthetic truth: median / 90th pct per scene")
    for column in (
        "scene",
        "keypoint",
        "median px",
        "p90 px",
        "median % body",
        "p90 % body",
        "frames not tracked",
    ):
        errors.add_column(column, justify="left" if column in ("scene", "keypoint") else "right")
    scenes = Table(title="Per scene: head/tail and body ellipse")
    for column in (
        "scene",
        "frames",
        "head/tail swaps",
        "orientation error median / p90 (deg)",
        "ellipse length / truth nose-tail_base, median",
    ):
        scenes.add_column(column, justify="left" if column == "scene" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for scene in SCENES:
            label = "/".join(scene)
            frames = _track_scene(Path(tmp) / label.replace("/", "-"), scene)
            for i, k in enumerate(tracking.TRACKED_KEYPOINTS):
                px, pct = _stats(frames[k].to_numpy()), _stats(frames[f"{k}_pct"].to_numpy())
                errors.add_row(
                    label if i == 0 else "",
                    k,
                    f"{px[0]:.1f}",
                    f"{px[1]:.1f}",
                    f"{pct[0]:.1f}%",
                    f"{pct[1]:.1f}%",
                    f"{frames[k].isna().mean():.1%}",
                    end_section=k == tracking.TRACKED_KEYPOINTS[-1],
                )
            orientation = _stats(frames.orientation_err.to_numpy())
            scenes.add_row(
                label,
                str(len(frames)),
                f"{frames.swap.mean():.2%}",
                f"{orientation[0]:.1f} / {orientation[1]:.1f}",
                f"{frames.length_ratio.median():.3f}",
            )
    return errors, scenes


def main() -> None:
    console = Console(width=150)
    if (REAL / "openfield_m3v1.mp4").exists():
        console.print(real_table())
    for table in synthetic_tables():
        console.print(table)


if __name__ == "__main__":
    main()
