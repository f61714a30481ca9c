"""Does discovery find what was planted, and only that? Ten seeds of the synthetic world.

    .venv/bin/python benchmarks/discovery_quality.py [--seeds 10] [--sessions 4] [--seconds 120] [--video]

Per seed, three workspaces of ``--sessions`` sessions (control and stim): one with
``--novel circling`` planted, one with ``--novel head_twitch``, one with nothing planted. Each
goes through ``mousegpt analyze`` (pose files of the synthetic truth, or with ``--video`` the
rendered videos and the built-in tracker) and ``mousegpt discover``. A segment's truth is the
majority ground-truth behaviour of its frames; it shows the planted behaviour when that fills half
of it or, for bouts shorter than a segment (head twitches of 0.3-0.6 s), half the shortest bout
(``synth.shows_planted``: 0.15 s of a twitch in a 1 s segment).

- planted: precision and recall of the segments showing the planted behaviour in the flagged cluster(s);
- null: whether any cluster was flagged novel (it should not be, in at least 9 of 10 seeds);
- adjusted Rand index of clusters against the truth, over segments of core behaviours (those
  showing the planted behaviour left out).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from jobs.analyze import run
from mousegpt.discover import DiscoverConfig, discover
from mousegpt.inputs import read_manifest
from mousegpt.store import Workspace
from mousegpt.synth import discovery_scores, synth_dataset

console = Console(width=150)
PLANTS = ("circling", "head_twitch", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=200,
        help="seeds 100-103 and 300-307 were used while developing discovery",
    )
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--video", action="store_true", help="render videos and track them (slower)")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mousegpt-discovery-") as tmp:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for planted in PLANTS:
                root = Path(tmp) / f"{seed}-{planted or 'null'}"
                synth_dataset(
                    root / "data",
                    sessions=args.sessions,
                    seconds=args.seconds,
                    seed=seed,
                    conditions=("control", "stim"),
                    novel=(planted,) if planted else (),
                    workers=2,
                    video=args.video,
                )
                ws = Workspace(root / "ws")
                report = run(read_manifest(root / "data" / "manifest.csv"), ws)
                if report["failed"]:
                    raise SystemExit(f"analysis failed: {report['failed']}")
                result = discover(ws, DiscoverConfig(seed=seed))
                scores = discovery_scores(ws, result.clusters, planted)
                rows.append({"seed": seed, "planted": planted or "none", "seconds": result.seconds, **scores})
                console.print(rows[-1])
    table = pd.DataFrame(rows)
    show = Table(
        title=f"Discovery on the synthetic world, {args.seeds} seeds "
        f"({'video' if args.video else 'pose files'})"
    )
    for col in (
        "planted",
        "seeds",
        "precision (mean, min)",
        "recall (mean, min)",
        "seeds meeting 0.8/0.8",
        "seeds with a novel cluster",
        "ARI (mean, min)",
    ):
        show.add_column(col, justify="right")
    for planted, part in table.groupby("planted", sort=False):
        if planted == "none":
            show.add_row(
                planted,
                str(len(part)),
                "-",
                "-",
                "-",
                f"{int((part['novel_clusters'] > 0).sum())}",
                f"{part['ari'].mean():.2f}, {part['ari'].min():.2f}",
            )
        else:
            meets = int(((part["precision"] >= 0.8) & (part["recall"] >= 0.8)).sum())
            show.add_row(
                planted,
                str(len(part)),
                f"{part['precision'].mean():.2f}, {part['precision'].min():.2f}",
                f"{part['recall'].mean():.2f}, {part['recall'].min():.2f}",
                f"{meets}/{len(part)}",
                f"{int((part['novel_clusters'] > 0).sum())}",
                f"{part['ari'].mean():.2f}, {part['ari'].min():.2f}",
            )
    console.print(show)
    console.print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
