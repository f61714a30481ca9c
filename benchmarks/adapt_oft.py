"""Adapting MouseGPT-tiny to a lab's labels: the Sturman open field, first 40 s in, last 40 s out.

    .venv/bin/python benchmarks/adapt_oft.py [--steps N] [--seed S] [--json]

The three raters' per-frame majority (``mousegpt.labels``) of ``Supported``, ``Unsupported``
and ``Grooming`` in the first 40 s of ``../shared/data/real-labelled/sturman_oft`` becomes an
annotations file (``pose``, ``fps: 25``; bouts named "supported rear", "unsupported rear",
"groom"), and ``mousegpt adapt`` fine-tunes the shipped checkpoint on it. Both models then
describe the recording as ``analyze`` does, and only segments that start at 40 s or later are
scored (segment level: a segment shows a class when at least half its frames are in a
majority bout). Adaptation uses only segments wholly inside the annotated span, so none
reaches past 40 s. BEFORE is the shipped model (its ``rear`` for either kind of rearing),
AFTER the adapted one (either of its rearing classes, or ``rear``, for "rearing (either kind)").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OFT = REPO.parent / "shared" / "data" / "real-labelled" / "sturman_oft"
POSE = "12_01_A_190507144429_dlc.csv"
RATERS = "12_01_A_190507144429_labels_3raters.csv"
FPS = 25.0
SPLIT_S = 40.0
CLASSES = {"supported rear": ("Supported",), "unsupported rear": ("Unsupported",), "groom": ("Grooming",)}
REARING = "rearing (either kind)"


def majority_frames(oft: Path, n_frames: int) -> dict[str, np.ndarray]:
    """Per class (and rearing of either kind): the frames most raters labelled so."""
    from mousegpt import labels

    bouts = labels.read_rater_table(oft / RATERS)
    out = {
        name: labels.majority(labels.frame_votes(bouts, types, n_frames, FPS))
        for name, types in CLASSES.items()
    }
    out[REARING] = labels.majority(labels.frame_votes(bouts, ("Supported", "Unsupported"), n_frames, FPS))
    return out


def write_annotations(path: Path, pose_file: Path, frames: dict[str, np.ndarray], until_s: float) -> int:
    """The majority bouts of each class that lie before ``until_s`` (cut there) as annotation lines."""
    lines = []
    last = int(round(until_s * FPS))
    for name in CLASSES:
        on = frames[name][:last].astype(int)
        edges = np.diff(np.r_[0, on, 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            lines.append(
                {"pose": str(pose_file), "fps": FPS, "start_s": a / FPS, "end_s": b / FPS, "behavior": name}
            )
    lines.sort(key=lambda r: r["start_s"])
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return len(lines)


def described(model_path: Path, pose_file: Path) -> tuple[list, np.ndarray]:
    """The recording's windows and each one's behaviour, as ``analyze`` describes it."""
    from jobs.adapt import Bout, recording_segments
    from mousegpt.describe.tiny import TinyDescriber

    seg = recording_segments(Bout(0, str(pose_file), "pose", 0.0, 1.0, "", None, FPS, None, None, "top"))
    descriptions = TinyDescriber(model_path, device="cpu").describe(
        seg["facts"], kinematics=seg["kinematics"], windows=seg["windows"]
    )
    return seg["windows"], np.asarray([d.behavior or "none" for d in descriptions])


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    tp = int((truth & predicted).sum())
    f1 = 2 * tp / (truth.sum() + predicted.sum()) if truth.sum() + predicted.sum() else float("nan")
    return {
        "precision": tp / predicted.sum() if predicted.sum() else float("nan"),
        "recall": tp / truth.sum() if truth.sum() else float("nan"),
        "f1": f1,
        "predicted": int(predicted.sum()),
    }


def run(steps: int | None = None, seed: int = 0) -> dict:
    from jobs.adapt import adapt
    from mousegpt import labels, pose
    from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS

    pose_file = OFT / POSE
    n_frames = pose.n_frames(pose.read(pose_file, fps=FPS))
    frames = majority_frames(OFT, n_frames)
    with tempfile.TemporaryDirectory(prefix="adapt-oft-") as tmp:
        annotations = Path(tmp) / "annotations.jsonl"
        n_bouts = write_annotations(annotations, pose_file, frames, SPLIT_S)
        started = time.perf_counter()
        report = adapt(Path(tmp) / "adapted", annotations, steps=steps, seed=seed)
        wall = time.perf_counter() - started
        windows, before = described(WEIGHTS / DEFAULT_MODEL, pose_file)
        _, after = described(Path(tmp) / "adapted", pose_file)
    test = np.array([w.start_frame >= SPLIT_S * FPS for w in windows])
    rows = []
    for name in [*CLASSES, REARING]:
        truth = labels.segment_truth(frames[name], windows)[test]
        if name == REARING:
            was, now = before == "rear", np.isin(after, ["rear", "supported rear", "unsupported rear"])
        else:
            was, now = before == ("rear" if "rear" in name else name), after == name
        rows.append(
            {
                "class": name,
                "truth": int(truth.sum()),
                "before": scores(truth, was[test]),
                "after": scores(truth, now[test]),
            }
        )
    return {
        "bouts": n_bouts,
        "test_segments": int(test.sum()),
        "adapt_wall_s": round(wall, 1),
        "adapt": {k: report[k] for k in ("segments", "before", "after", "steps", "held_out", "seconds")},
        "rows": rows,
    }


def _fmt(x: float) -> str:
    return "  -  " if x != x else f"{x:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not (OFT / POSE).exists():
        sys.exit(f"{OFT}: the Sturman open-field file is not there")
    result = run(args.steps, args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(
        f"Sturman open field: adapted on {result['bouts']} majority bouts of the first {SPLIT_S:g} s "
        f"({result['adapt']['segments']['labelled']} labelled + "
        f"{result['adapt']['segments']['none_of_these']} "
        f"other segments), tested on the {result['test_segments']} segments from {SPLIT_S:g} s on"
    )
    print(f"{'class':24} {'n':>3}  {'BEFORE P':>8} {'R':>5} {'F1':>5}  {'AFTER P':>8} {'R':>5} {'F1':>5}")
    for r in result["rows"]:
        b, a = r["before"], r["after"]
        print(
            f"{r['class']:24} {r['truth']:>3}  "
            f"{_fmt(b['precision']):>8} {_fmt(b['recall']):>5} {_fmt(b['f1']):>5}  "
            f"{_fmt(a['precision']):>8} {_fmt(a['recall']):>5} {_fmt(a['f1']):>5}"
        )
    print(
        "BEFORE: the shipped model (its rear for either kind). "
        f"Adaptation wall time {result['adapt_wall_s']:.1f} s "
        f"(fine-tuning {result['adapt']['seconds']['training']:.1f} s, {result['adapt']['steps']} steps)."
    )
    if result["adapt"].get("held_out"):
        tried = ", ".join(f"{s}: {f:.2f}" for s, f in result["adapt"]["held_out"]["f1"].items())
        print(
            f"Steps chosen on held-out halves of the first {SPLIT_S:g} s "
            f"(macro-F1 of the lab's classes per length: {tried})."
        )


if __name__ == "__main__":
    main()
