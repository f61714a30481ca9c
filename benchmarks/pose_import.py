"""Pose import and quality control on every real pose file: what was read, how long it took,
and what QC repaired.

    .venv/bin/python benchmarks/pose_import.py

Files without a frame rate are read at 30 fps (as ``mousegpt analyze --fps 30`` would).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mousegpt import pose, qc

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
FILES = (
    "openfield_m3v1_dlc.csv",
    "openfield_m3v1_dlc_missingdata.csv",
    "pose_sample.nwb",
    "deepof_single_dlc.csv",
    "deepof_single_dlc.h5",
    "deepof_single_sleap.slp",
    "deepof_single_sleap.analysis.h5",
    "deepof_two_mice_dlc.csv",
    "deepof_two_mice_dlc.h5",
)


def main() -> None:
    table = Table(title="Pose import (movement) and quality control on the real pose files")
    for column in (
        "file",
        "source",
        "individual",
        "frames",
        "keypoints",
        "read (s)",
        "QC (s)",
        "low conf.",
        "swaps fixed",
        "jumps removed",
        "gaps filled",
        "missing",
    ):
        table.add_column(
            column, justify="right" if column not in ("file", "source", "individual") else "left"
        )
    pose.load(REAL / FILES[0], fps=30)  # imports and first-call costs stay out of the timings
    for name in FILES:
        started = time.perf_counter()
        ds = pose.load(REAL / name, fps=30)
        read_s = time.perf_counter() - started
        fps = ds.attrs.get("fps") or 30.0
        started = time.perf_counter()
        _, reports = qc.clean(ds, fps)
        qc_s = time.perf_counter() - started
        for individual, r in zip(ds.individuals.values, reports):
            table.add_row(
                name,
                ds.attrs.get("source_software", "?"),
                str(individual),
                str(r.frames),
                str(ds.sizes["keypoints"]),
                f"{read_s:.2f}",
                f"{qc_s:.2f}",
                str(r.low_confidence),
                str(r.swaps_fixed),
                str(r.jumps_removed),
                str(r.gaps_filled),
                f"{r.missing_fraction:.1%}",
            )
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
