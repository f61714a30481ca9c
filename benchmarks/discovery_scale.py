"""Discovery at scale: time and peak memory of ``mousegpt discover`` on a million segments.

    .venv/bin/python benchmarks/discovery_scale.py [--segments 1000000] [--sample-size 20000]

A catalogue of ``--segments`` segments is built from a small analysed synthetic workspace
(pose files, control and stim, one session planted with circling), every segment copied many
times with a little noise on its embedding (renormalised) and facts, in sessions of 240
segments (two minutes each). ``discover`` then runs in a child process, whose wall time and
peak resident memory (its own ``getrusage``) are reported with the time of each stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.table import Table

from mousegpt.segments import FACT_COLUMNS
from mousegpt.store import SEGMENT_COLUMNS, Workspace

console = Console(width=120)
SESSION_SEGMENTS = 240


def seed_workspace(root: Path) -> Workspace:
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest
    from mousegpt.synth import synth_dataset

    synth_dataset(
        root / "data",
        sessions=4,
        seconds=120,
        seed=5,
        conditions=("control", "stim"),
        novel=("circling",),
        video=False,
    )
    ws = Workspace(root / "seed")
    run(read_manifest(root / "data" / "manifest.csv"), ws)
    return ws


def build(source: Workspace, target: Workspace, n: int, seed: int = 0) -> float:
    """Fill ``target`` with ``n`` noisy copies of ``source``'s segments; returns seconds taken."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    with source.connect(read_only=True) as con:
        base = (
            con.cursor()
            .sql("SELECT * FROM segments WHERE behavior IS NOT NULL ORDER BY vec_id")
            .to_arrow_table()
        )
        conditions = dict(con.execute("SELECT session_id, condition FROM sessions").fetchall())
    column = base.column("embedding").combine_chunks()
    embedding = column.values.to_numpy().reshape(-1, column.type.list_size)
    frame = base.drop_columns(["embedding", "vec_id", "cluster_id"]).to_pandas()
    frame["condition"] = frame["session_id"].map(conditions)
    numeric = [c for c in FACT_COLUMNS if c != "zone"]
    with target.connect() as con:
        con.execute("BEGIN")
        done, session = 0, 0
        while done < n:
            size = min(200_000, n - done)
            rows = rng.integers(0, len(frame), size)
            part = frame.iloc[rows].reset_index(drop=True)
            part[numeric] = part[numeric] * rng.normal(1.0, 0.05, size=(size, len(numeric)))
            vectors = embedding[rows] + rng.normal(0, 0.02, size=(size, embedding.shape[1])).astype(
                np.float32
            )
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            sessions = session + np.arange(size) // SESSION_SEGMENTS
            part["session_id"] = [f"scale{s:06d}" for s in sessions]
            part["segment_index"] = np.arange(size) % SESSION_SEGMENTS
            part["start_s"] = part["segment_index"] * 0.5
            part["end_s"] = part["start_s"] + 1.0
            part["segment_id"] = [f"scale{s:06d}-{i:06d}" for s, i in zip(sessions, part["segment_index"])]
            for s in np.unique(sessions):
                con.execute(
                    "INSERT INTO sessions (session_id, animal, condition, fps, view, duration_s, added_at) "
                    "VALUES (?, ?, ?, 25, 'top', 120, now())",
                    [
                        f"scale{s:06d}",
                        f"a{s % 64:02d}",
                        part["condition"].iloc[int((s - session) * SESSION_SEGMENTS)],
                    ],
                )
            table = pa.Table.from_pandas(part.drop(columns=["condition"]), preserve_index=False)
            table = table.append_column(
                "embedding", pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
            )
            con.register("chunk", table)
            columns = [c for c in SEGMENT_COLUMNS if c not in ("vec_id", "cluster_id")]
            con.execute(
                f"INSERT INTO segments ({', '.join(columns)}, vec_id) "
                f"SELECT {', '.join(columns)}, nextval('vec_ids') FROM chunk"
            )
            con.unregister("chunk")
            done += size
            session = int(sessions[-1]) + 1
            console.print(f"  built {done:,} segments", style="dim")
        con.execute("COMMIT")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=1_000_000)
    parser.add_argument("--sample-size", type=int, default=20_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # the measured process: discovery alone
        from mousegpt.discover import DiscoverConfig, discover

        result = discover(Workspace(Path(args.child)), DiscoverConfig(sample_size=args.sample_size))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kB -> GB
        print(
            json.dumps(
                {
                    "segments": result.segments,
                    "sample": result.sample,
                    "seconds": result.seconds,
                    "timings": result.timings,
                    "clusters": len(result.clusters),
                    "peak_gb": peak,
                    "novel": [c.name for c in result.clusters if c.novel],
                }
            )
        )
        return
    with tempfile.TemporaryDirectory(prefix="mousegpt-scale-") as tmp:
        root = Path(tmp)
        source = seed_workspace(root)
        target = Workspace(root / "scale")
        build_s = build(source, target, args.segments)
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(target.root), "--sample-size", str(args.sample_size)],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if child.returncode:
            raise SystemExit(child.stderr[-3000:])
        result = json.loads(child.stdout.strip().splitlines()[-1])
    table = Table(
        title=f"mousegpt discover on {result['segments']:,} segments (fitted on {result['sample']:,})"
    )
    for col in ("stage", "seconds"):
        table.add_column(col, justify="right")
    for stage, seconds in result["timings"].items():
        table.add_row(stage, f"{seconds:.1f}")
    table.add_row("discover() total", f"{result['seconds']:.1f}")
    table.add_row("process wall time (with imports)", f"{wall:.1f}")
    table.add_row("peak resident memory of the process (GB)", f"{result['peak_gb']:.2f}")
    console.print(table)
    console.print(
        f"{result['clusters']} clusters; novel: {result['novel']}; catalogue built in {build_s:.0f} s"
    )


if __name__ == "__main__":
    main()
