"""Are profile statistics right? Power with a planted condition effect, false discoveries without.

    .venv/bin/python benchmarks/profile_stats.py [--animals 8] [--nulls 20] [--seconds 120]

One pool of synthetic ``control`` sessions (``2 x animals``, one animal each) and ``animals``
``stim`` sessions (stim mice run more and rest less, ``mousegpt.synth.program``), analysed from
their truth's pose files. Planted effect: control against stim; the table lists which
behaviours' time fractions reach q < 0.05 and the phenotype prediction. Null: ``--nulls`` times,
``2 x animals`` control animals are split at random into two groups of ``animals``; every test
with q < 0.05 is a false discovery. Reported: the share of tests that were false discoveries, and
the share of null simulations with any.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from jobs.analyze import run
from mousegpt import profile
from mousegpt.inputs import read_manifest
from mousegpt.store import Workspace
from mousegpt.synth import synth_dataset

console = Console(width=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=8)
    parser.add_argument("--nulls", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mousegpt-profile-") as tmp:
        root = Path(tmp)
        ws = Workspace(root / "ws")
        for condition, n, seed in (("control", 2 * args.animals, 300), ("stim", args.animals, 301)):
            synth_dataset(
                root / condition,
                sessions=n,
                seconds=args.seconds,
                seed=seed,
                conditions=(condition,),
                workers=2,
                video=False,
            )
            # synth names animals m01.. in each folder: make them unique
            manifest = [
                replace(spec, animal=f"{condition}-{spec.animal}")
                for spec in read_manifest(root / condition / "manifest.csv")
            ]
            report = run(manifest, ws)
            if report["failed"]:
                raise SystemExit(f"analysis failed: {report['failed']}")
        segments = profile.load_segments(ws)
        control = sorted(segments.loc[segments["group"] == "control", "animal"].unique())

        planted = segments[(segments["group"] == "stim") | segments["animal"].isin(control[: args.animals])]
        result = profile.profile(ws, segments=planted)
        shown = Table(
            title=f"Planted effect: {args.animals} control vs {args.animals} stim animals, "
            "time fraction per behaviour"
        )
        for col in (
            "behaviour",
            "control median",
            "stim median",
            "Cliff's delta [95% CI]",
            "p",
            "q",
            "significant",
        ):
            shown.add_column(col, justify="right")
        for t in result["tests"]:
            if t["metric"] == "time_fraction" and t["level"] == "behavior":
                shown.add_row(
                    t["label"],
                    f"{t['median']['control']:.3f}",
                    f"{t['median']['stim']:.3f}",
                    f"{t['effect_size']:+.2f} [{t['ci95'][0]:+.2f}, {t['ci95'][1]:+.2f}]",
                    f"{t['p']:.2g}",
                    f"{t['q']:.2g}",
                    "yes" if t["significant"] else "",
                )
        console.print(shown)
        p = result["prediction"]
        console.print(
            f"phenotype prediction: accuracy {p['accuracy']:.2f} (chance {p['chance']:.2f}), "
            f"permutation p {p['p_value']:.3g}"
        )

        rng = np.random.default_rng(0)
        rows = []
        for k in range(args.nulls):
            chosen = rng.permutation(control)
            groups = {a: ("A" if i < args.animals else "B") for i, a in enumerate(chosen)}
            null = segments[segments["animal"].isin(groups)].assign(
                group=lambda d, groups=groups: d["animal"].map(groups)
            )
            tests = profile.profile(ws, segments=null, seed=k)["tests"]
            rows.append(
                {
                    "tests": len(tests),
                    "false": sum(t["significant"] for t in tests),
                    "min_q": min(t["q"] for t in tests),
                }
            )
        nulls = pd.DataFrame(rows)
    table = Table(title=f"{args.nulls} null simulations: {args.animals} vs {args.animals} control animals")
    for col in (
        "tests per simulation",
        "false discoveries (q < 0.05)",
        "share of tests",
        "simulations with any",
        "smallest q (median)",
    ):
        table.add_column(col, justify="right")
    table.add_row(
        f"{nulls['tests'].mean():.0f}",
        str(int(nulls["false"].sum())),
        f"{nulls['false'].sum() / nulls['tests'].sum():.2%}",
        f"{(nulls['false'] > 0).mean():.0%}",
        f"{nulls['min_q'].median():.2f}",
    )
    console.print(table)
    console.print(f"finished in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
