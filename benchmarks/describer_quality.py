"""Quality of a describer on data it was never trained on: behaviour F1, retrieval, real-video agreement.

    .venv/bin/python benchmarks/describer_quality.py [--model mousegpt-tiny] [--sessions 6]
                                                     [--seconds 60] [--emphasis 8]
                                                     [--card platform/mousegpt/describe/weights/mousegpt-tiny]

1. Behaviour. Synthetic sessions per view (top, bottom), furs and arena shapes in turn, with
   seeds and scene settings never used in training (``jobs.train.training_scenes``: 640x480,
   360/400 mm arenas, lighting 0.6-1.2, noise 1-2.5; here 720x540, a 440 mm arena, lighting
   0.5, noise 2.8), go through ``mousegpt analyze`` (tracker, QC, crops, model). Each
   segment's truth is the majority ground-truth behaviour of its frames; macro-F1 is over the
   behaviours that occur. The rule-based describer, run on the same segments' facts, is the
   baseline. Jumps are planted as often as in training (``--emphasis``, default
   ``jobs.train.TRAINING_EMPHASIS``): at the conditions' own rates a jump is the majority of
   about one segment in a thousand, and macro-F1 would weigh a class of one or two segments
   like the others (``--emphasis 1`` measures at those rates).
2. Retrieval. ``mousegpt search`` over all those segments with queries that avoid the
   vocabulary's words; precision@10 is the share of the 10 hits whose truth is the behaviour
   asked for (for "along the wall", also in the wall or corner zone); recall@10 (the usual
   text-to-video definition) is whether any of the 10 is.
3. Real video. The openfield video analysed with the built-in tracker's pose and with
   DeepLabCut's pose (both with crops from the video): the share of segments given the same
   behaviour.

``--card DIR`` also writes the summary to DIR/benchmark.json and re-renders DIR's model card.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from jobs.analyze import run
from jobs.train import TRAINING_EMPHASIS, macro_f1
from mousegpt.describe import load_model
from mousegpt.inputs import input_specs, read_manifest
from mousegpt.search import Searcher
from mousegpt.segments import FACT_COLUMNS
from mousegpt.store import Workspace
from mousegpt.synth import Scene, segment_truth, synth_dataset
from mousegpt.vocabulary import BEHAVIORS

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
UNSEEN_SCENE = dict(width=720, height=540, arena_mm=440.0, lighting=0.5, noise_sigma=2.8)
UNSEEN_SEED = 4242
QUERIES = {
    "standing up on its hind legs": ("rear", None),
    "cleaning its face": ("groom", None),
    "lying still": ("rest", None),
    "scurrying along the wall": ("run", {"wall", "corner"}),
}
console = Console(width=160)


def synthetic_workspace(
    root: Path, model: str, sessions: int, seconds: float, emphasis: dict[str, float] | None = None
) -> Workspace:
    ws = Workspace(root / "workspace")
    for k, view in enumerate(("top", "bottom")):
        folder = root / view
        synth_dataset(
            folder,
            sessions=sessions,
            seconds=seconds,
            seed=UNSEEN_SEED + k,
            conditions=("control", "stim", "anx"),
            scene=Scene(view=view, **UNSEEN_SCENE),
            furs=("black", "white", "agouti"),
            arenas=("square", "circle"),
            workers=2,
            emphasis=emphasis,
        )
        report = run(read_manifest(folder / "manifest.csv"), ws, model=model)
        if report["failed"]:
            raise SystemExit(f"analysis failed: {report['failed']}")
    return ws


def catalogue_segments(ws: Workspace) -> pd.DataFrame:
    with ws.connect(read_only=True) as con:
        return con.execute(
            "SELECT s.*, ss.video, ss.view FROM segments s JOIN sessions ss USING (session_id) "
            "ORDER BY s.session_id, s.segment_index"
        ).fetchdf()


def behaviour_tables(segments: pd.DataFrame, model: str, emphasis: float = 1.0) -> tuple[Table, list[str]]:
    baseline = load_model("kinematic").describe(segments[list(FACT_COLUMNS)])
    segments = segments.assign(baseline=[d.behavior for d in baseline])
    planted = f", jumps {emphasis:g}x as often" if emphasis != 1 else ""
    table = Table(title=f"Segment behaviour vs majority ground truth, unseen scenes{planted} ({model})")
    for column in ("view", "segments", "macro-F1", "rules macro-F1", *BEHAVIORS):
        table.add_column(column, justify="right")
    summary = []
    for view, part in segments.groupby("view"):
        known = part[part["truth"].notna() & part["behavior"].notna()]
        f1, per_class = macro_f1(known["truth"].to_numpy(), known["behavior"].to_numpy())
        base, _ = macro_f1(known["truth"].to_numpy(), known["baseline"].fillna("none").to_numpy())
        counts = known["truth"].value_counts()
        table.add_row(
            view,
            str(len(known)),
            f"{f1:.3f}",
            f"{base:.3f}",
            *[f"{per_class[b]:.2f} (n={counts[b]})" if b in per_class else "-" for b in BEHAVIORS],
        )
        summary.append(
            f"{view} view{planted}: macro-F1 {f1:.3f} over {len(known)} segments "
            f"(rules: {base:.3f}); per class: "
            + ", ".join(f"{b} {v:.2f} (n={counts[b]})" for b, v in per_class.items())
        )
    return table, summary


def retrieval_table(ws: Workspace, segments: pd.DataFrame) -> tuple[Table, list[str]]:
    truth = segments.set_index("segment_id")[["truth", "zone"]]
    searcher = Searcher(ws)
    table = Table(title="Text-to-segment retrieval, paraphrased queries (top 10 distinct moments)")
    for column in ("query", "behaviour asked for", "precision@10", "recall@10", "hits' truth"):
        table.add_column(column, justify="right")
    precisions, summary = [], []
    for query, (behavior, zones) in QUERIES.items():
        hits = searcher.search(query, k=10)
        right = [
            truth.loc[h.segment_id, "truth"] == behavior
            and (zones is None or truth.loc[h.segment_id, "zone"] in zones)
            for h in hits
        ]
        precision = float(np.mean(right)) if right else 0.0
        precisions.append(precision)
        table.add_row(
            query,
            behavior + (" at a wall" if zones else ""),
            f"{precision:.1f}",
            f"{float(any(right)):.0f}",
            ", ".join(str(truth.loc[h.segment_id, "truth"]) for h in hits),
        )
        summary.append(f'"{query}": precision@10 {precision:.1f}, recall@10 {float(any(right)):.0f}')
    table.add_row("mean", "", f"{np.mean(precisions):.2f}", "", "")
    return table, summary


def real_agreement(root: Path, model: str) -> tuple[Table, list[str]]:
    video, dlc = REAL / "openfield_m3v1.mp4", REAL / "openfield_m3v1_dlc.csv"
    table = Table(title=f"Real openfield video: tracker pose vs DeepLabCut pose ({model})")
    for column in (
        "describer",
        "segments compared",
        "same behaviour",
        "tracker's labels",
        "DeepLabCut's labels",
    ):
        table.add_column(column, justify="right")
    runs = {}
    for name, spec in (
        ("tracker", input_specs([str(video)])),
        ("dlc", input_specs([str(video)], pose=str(dlc))),
    ):
        ws = Workspace(root / f"real-{name}")
        report = run(spec, ws, model=model)
        if report["failed"]:
            raise SystemExit(f"analysis failed: {report['failed']}")
        runs[name] = catalogue_segments(ws).set_index("start_s")
    both = runs["tracker"].merge(
        runs["dlc"], left_index=True, right_index=True, suffixes=("_tracker", "_dlc")
    )
    both = both[both["behavior_tracker"].notna() & both["behavior_dlc"].notna()]
    summary = []
    for describer in (model, "kinematic"):
        if describer == model:
            a, b = both["behavior_tracker"], both["behavior_dlc"]
        else:
            rules = load_model("kinematic")
            a = pd.Series(
                [d.behavior for d in rules.describe(runs["tracker"].loc[both.index, list(FACT_COLUMNS)])]
            )
            b = pd.Series(
                [d.behavior for d in rules.describe(runs["dlc"].loc[both.index, list(FACT_COLUMNS)])]
            )
        agree = float(np.mean(a.to_numpy() == b.to_numpy()))
        fmt = lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items())  # noqa: E731
        table.add_row(describer, str(len(both)), f"{agree:.1%}", fmt(a), fmt(b))
        summary.append(
            f"real openfield, {describer}: tracker pose and DeepLabCut pose agree on {agree:.1%} "
            f"of {len(both)} segments"
        )
    return table, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mousegpt-tiny")
    parser.add_argument("--sessions", type=int, default=6, help="synthetic sessions per view")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--emphasis",
        type=float,
        default=TRAINING_EMPHASIS["jump"],
        metavar="X",
        help="plant jumps X times as often as the conditions do (default: as in training)",
    )
    parser.add_argument("--no-real", action="store_true", help="skip the real-video agreement")
    parser.add_argument(
        "--card", type=Path, help="checkpoint folder: write benchmark.json and re-render its model card"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    summary = []
    with tempfile.TemporaryDirectory(prefix="mousegpt-bench-") as tmp:
        root = Path(tmp)
        ws = synthetic_workspace(
            root,
            args.model,
            args.sessions,
            args.seconds,
            {"jump": args.emphasis} if args.emphasis != 1 else None,
        )
        segments = catalogue_segments(ws)
        segments["truth"] = segment_truth(segments)
        table, lines = behaviour_tables(segments, args.model, args.emphasis)
        console.print(table)
        summary += lines
        table, lines = retrieval_table(ws, segments)
        console.print(table)
        summary += lines
        if (REAL / "openfield_m3v1.mp4").exists() and not args.no_real:
            table, lines = real_agreement(root, args.model)
            console.print(table)
            summary += lines
    console.print(f"finished in {time.perf_counter() - started:.0f} s")
    if args.card:
        from jobs.train import write_model_card

        (args.card / "benchmark.json").write_text(
            json.dumps({"model": args.model, "summary": summary}, indent=1)
        )
        write_model_card(args.card, json.loads((args.card / "metrics.json").read_text()))


if __name__ == "__main__":
    main()
