"""Real-data validity: the describer's behaviour labels against human raters on real mice.

    .venv/bin/python benchmarks/real_validity.py [--model mousegpt-tiny] [--json] [--keep DIR]

Runs ``mousegpt analyze`` with default settings (only the frame rate, which DeepLabCut CSVs do
not store, is given) on every labelled file in ``../shared/data/real-labelled`` (its README
says what each holds), then scores each segment's behaviour against the raters:

- ``sturman_oft``: open field, top view, 25 fps, three raters. Rearing (supported against
  the wall and unsupported, together and each kind) and grooming. Per frame, the majority
  of the three raters; segments before the trial starts are left out. The raters' own
  agreement (mean F1 of every pair of raters, on the same segments) is the ceiling.
- ``behaviordepot_freezing``: 50 fps, one human annotation of freezing, scored as ``rest``.

A segment shows a behaviour when at least half its frames do. Per kind of rearing, the
segments of the other kind are left out (the describer has one ``rear`` class). The
synthetic held-out macro-F1 is the checkpoint's own (``benchmarks/describer_quality.py``,
kept in its ``benchmark.json``). These files are the yardstick: nothing is trained on them.

Calibration: per labelled behaviour, the describer's probability of it (``probs``) against
whether the raters saw it: the expected calibration error (10 equal-width bins) and a
reliability plot (``--plots DIR``: ``reliability.png``). ``--card DIR`` writes the summary to
DIR/real_validity.json and re-renders the checkpoint's model card.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.train import expected_calibration_error
from mousegpt import labels, pose, segments
from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS

REPO = Path(__file__).resolve().parents[1]
REAL_LABELLED = REPO.parent / "shared" / "data" / "real-labelled"

TARGETS = {"rearing": 0.7, "freezing as rest": 0.8, "synthetic top": 0.90, "synthetic bottom": 0.85}


@dataclass(frozen=True)
class Measure:
    """One row: segments the raters give ``truth`` against segments described as ``predicted``."""

    name: str
    truth: tuple[str, ...]
    """The raters' behaviour names that count."""
    predicted: str
    """The describer's behaviour."""
    exclude: tuple[str, ...] = ()
    """Raters' behaviours whose segments are left out of this row."""


@dataclass(frozen=True)
class LabelledFile:
    name: str
    pose: Path
    fps: float
    measures: tuple[Measure, ...]
    bouts: pd.DataFrame
    start_s: float = 0.0
    """Segments that start earlier are left out (before the trial)."""


REARS = ("Supported", "Unsupported")
OFT_MEASURES = (
    Measure("rearing", REARS, "rear"),
    Measure("supported rear", ("Supported",), "rear", exclude=("Unsupported",)),
    Measure("unsupported rear", ("Unsupported",), "rear", exclude=("Supported",)),
    Measure("grooming", ("Grooming",), "groom"),
)


def labelled_files(root: Path = REAL_LABELLED) -> list[LabelledFile]:
    oft, freezing = root / "sturman_oft", root / "behaviordepot_freezing"
    raters = oft / "12_01_A_190507144429_labels_3raters.csv"
    oft_bouts, oft_start = labels.read_rater_table(raters), labels.trial_start_s(raters)
    return [
        LabelledFile(
            "sturman_oft (DeepLabCut CSV)",
            oft / "12_01_A_190507144429_dlc.csv",
            25.0,
            OFT_MEASURES,
            oft_bouts,
            oft_start,
        ),
        LabelledFile(
            "sturman_oft (pandas-saved copy)",
            oft / "12_01_A_190507144429DeepCut_resnet50_Blockcourse1May9shuffle1_1030000.csv",
            25.0,
            OFT_MEASURES,
            oft_bouts,
            oft_start,
        ),
        LabelledFile(
            "behaviordepot_freezing",
            freezing / "demo1_tracking.csv",
            50.0,
            (Measure("freezing as rest", ("Freezing",), "rest"),),
            labels.read_behaviordepot(freezing / "demo1_freezing_human.mat", fps=50.0),
        ),
    ]


def analyze(files: list[LabelledFile], workspace: Path, model: str) -> tuple[dict, pd.DataFrame]:
    """``mousegpt analyze`` over a manifest of the files (default settings, their frame rates),
    then every segment of the workspace."""
    manifest = workspace / "manifest.csv"
    pd.DataFrame({"pose": [str(f.pose) for f in files], "fps": [f.fps for f in files]}).to_csv(
        manifest, index=False
    )
    mousegpt = str(Path(sys.executable).with_name("mousegpt"))
    common = ["--workspace", str(workspace / "ws"), "--json"]
    run = subprocess.run(
        [mousegpt, "analyze", "--manifest", str(manifest), "--model", model, *common],
        capture_output=True,
        text=True,
    )
    report = (
        json.loads(run.stdout)
        if run.stdout.strip()
        else {"failed": [{"input": "all", "error": run.stderr[-2000:]}]}
    )
    listed = subprocess.run([mousegpt, "segments", *common], capture_output=True, text=True, check=True)
    return report, pd.DataFrame(json.loads(listed.stdout)["segments"])


def scores(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, float]:
    tp = int((truth & predicted).sum())
    precision = tp / predicted.sum() if predicted.sum() else float("nan")
    recall = tp / truth.sum() if truth.sum() else float("nan")
    f1 = 2 * tp / (truth.sum() + predicted.sum()) if truth.sum() + predicted.sum() else float("nan")
    return precision, recall, f1


def rows_for(file: LabelledFile, found: pd.DataFrame) -> list[dict]:
    n_frames = pose.n_frames(pose.read(file.pose, fps=file.fps))
    windows = segments.windows(n_frames, file.fps)
    found = found.sort_values("start_s").reset_index(drop=True)
    if len(found) != len(windows):
        raise RuntimeError(f"{file.pose}: {len(found)} segments stored, {len(windows)} expected")
    keep = np.array([w.start_frame / file.fps >= file.start_s for w in windows])
    described = found["behavior"].fillna("none").to_numpy()
    out = []
    for m in file.measures:
        votes = labels.frame_votes(file.bouts, m.truth, n_frames, file.fps)
        truth = labels.segment_truth(labels.majority(votes), windows)
        rows = keep.copy()
        if m.exclude:
            other = labels.segment_truth(
                labels.majority(labels.frame_votes(file.bouts, m.exclude, n_frames, file.fps)), windows
            )
            rows &= ~other
        predicted = described == m.predicted
        precision, recall, f1 = scores(truth[rows], predicted[rows])
        # The ceiling: how well the raters agree with each other on the same segments.
        per_rater = [labels.segment_truth(v, windows)[rows] for v in votes.values()]
        pairs = [pair for a, b in itertools.combinations(per_rater, 2) if (pair := scores(a, b)[2]) == pair]
        called = pd.Series(described[rows & truth]).value_counts()
        forecast = np.array(
            [
                json.loads(p).get(m.predicted, 0.0) if isinstance(p, str) else p.get(m.predicted, 0.0)
                for p in found["probs"]
            ]
        )[rows]
        out.append(
            {
                "file": file.name,
                "behavior": m.name,
                "segments": int(rows.sum()),
                "truth": int(truth[rows].sum()),
                "predicted": int(predicted[rows].sum()),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "raters": len(votes),
                "rater_f1": float(np.nanmean(pairs)) if pairs else float("nan"),
                "truth_called": {str(k): int(v) for k, v in called.items()},
                "ece": expected_calibration_error(forecast, truth[rows]),
                "uncertain": int(np.sum(found["uncertain"].to_numpy(bool)[rows]))
                if "uncertain" in found
                else 0,
                "reliability": reliability(forecast, truth[rows]),
            }
        )
    return out


def reliability(forecast: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[dict]:
    """Per equal-width bin of the forecast probability: its mean, the share truly labelled, and the count."""
    edges = np.minimum((forecast * bins).astype(int), bins - 1)
    return [
        {
            "forecast": float(forecast[edges == b].mean()),
            "observed": float(truth[edges == b].mean()),
            "segments": int((edges == b).sum()),
        }
        for b in np.unique(edges)
    ]


def plot_reliability(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    for r in rows:
        if r["truth"] and "copy" not in r["file"]:
            points = r["reliability"]
            ax.plot(
                [p["forecast"] for p in points],
                [p["observed"] for p in points],
                marker="o",
                label=f"{r['behavior']} (ECE {r['ece']:.2f})",
            )
            for p in points:
                ax.annotate(str(p["segments"]), (p["forecast"], p["observed"]), fontsize=6, alpha=0.7)
    ax.set_xlabel("describer's probability of the behaviour")
    ax.set_ylabel("share of segments the raters label so")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Calibration on real labelled mice")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summary(rows: list[dict], synthetic: dict[str, float]) -> list[str]:
    """One line per row (the model card's), and the synthetic figures."""
    out = [
        f"{r['file']}, {r['behavior']}: F1 {_fmt(r['f1'])} (precision {_fmt(r['precision'])}, recall "
        f"{_fmt(r['recall'])}; {r['truth']} of {r['segments']} segments; "
        f"raters agree at F1 {_fmt(r['rater_f1'])}; "
        f"ECE {r['ece']:.2f})"
        for r in rows
        if r["truth"] and "copy" not in r["file"]
    ]
    return out + [f"synthetic held-out {v} view macro-F1 {f:.3f}" for v, f in synthetic.items()]


def synthetic_macro_f1(model: str) -> dict[str, float]:
    """The checkpoint's synthetic held-out macro-F1 per view, from its ``benchmark.json``."""
    folder = WEIGHTS / DEFAULT_MODEL if model == DEFAULT_MODEL else Path(model.removeprefix("tiny:"))
    path = folder / "benchmark.json"
    if not path.exists():
        return {}
    out = {}
    for line in json.loads(path.read_text())["summary"]:
        found = re.match(r"(top|bottom) view.*?macro-F1 ([\d.]+)", line)
        if found:
            out[found.group(1)] = float(found.group(2))
    return out


def _fmt(x: float) -> str:
    return "  -  " if x != x else f"{x:.2f}"


def print_table(rows: list[dict], synthetic: dict[str, float], report: dict) -> None:
    head = (
        f"{'file':32} {'behaviour':18} {'segs':>5} {'truth':>5} {'pred':>5} {'prec':>5} "
        f"{'recall':>6} {'F1':>5} "
        f"{'target':>8} {'raters':>6} {'raters F1':>9} {'ECE':>5} {'unsure':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        target = TARGETS.get(r["behavior"])
        print(
            f"{r['file']:32} {r['behavior']:18} {r['segments']:5d} {r['truth']:5d} {r['predicted']:5d} "
            f"{_fmt(r['precision']):>5} {_fmt(r['recall']):>6} {_fmt(r['f1']):>5} "
            f"{'>= ' + format(target, '.2f') if target else '':>8} {r['raters']:6d} {_fmt(r['rater_f1']):>9} "
            f"{r['ece']:5.2f} {r['uncertain']:6d}"
        )
    for view in ("top", "bottom"):
        if view in synthetic:
            print(
                f"{'synthetic held-out (describer_quality.py)':51} {view:>6} "
                f"view macro-F1 {synthetic[view]:.3f} "
                f"(target >= {TARGETS['synthetic ' + view]:.2f})"
            )
    print()
    for r in rows:
        if r["truth"]:
            called = ", ".join(f"{k} {v}" for k, v in r["truth_called"].items())
            print(f"{r['file']}, {r['behavior']}: the raters' segments were described as {called}")
    for failure in report.get("failed", []):
        print(f"FAILED {failure['input']}: {failure['error']}")
    for warning in report.get("warnings", []):
        print(f"warning: {warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="describer, as `mousegpt analyze --model` takes it"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--keep", type=Path, help="analyse into this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--plots", type=Path, help="folder for reliability.png (the calibration plot)")
    parser.add_argument(
        "--card", type=Path, help="checkpoint folder: write real_validity.json and re-render its model card"
    )
    args = parser.parse_args()
    if not REAL_LABELLED.is_dir():
        sys.exit(f"error: {REAL_LABELLED}: the real labelled data is not there")
    files = labelled_files()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        report, found = analyze(files, folder, args.model)
    rows = []
    for f in files:
        mine = found[found["pose"] == str(f.pose.resolve())] if len(found) else found
        if len(mine):
            rows.extend(rows_for(f, mine))
    synthetic = synthetic_macro_f1(args.model)
    if args.plots:
        print(f"wrote {plot_reliability(rows, args.plots / 'reliability.png')}", file=sys.stderr)
    if args.card:
        from jobs.train import write_model_card

        (args.card / "real_validity.json").write_text(
            json.dumps({"model": args.model, "summary": summary(rows, synthetic), "rows": rows}, indent=1)
        )
        write_model_card(args.card, json.loads((args.card / "metrics.json").read_text()))
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "rows": rows,
                    "synthetic_macro_f1": synthetic,
                    "failed": report.get("failed", []),
                    "warnings": report.get("warnings", []),
                },
                indent=1,
            )
        )
    else:
        print(f"model: {args.model}")
        print_table(rows, synthetic, report)


if __name__ == "__main__":
    main()
