"""Adapting MouseGPT-tiny to a lab's own labels in minutes (``mousegpt adapt``).

``adapt`` (here) runs the steps, each in a module of its own:

1. Annotations (``bouts``). A JSONL file, one bout per line: ``video`` or ``pose`` (a path
   relative to the file's folder, or absolute), ``start_s``, ``end_s``, ``behavior``,
   optionally ``description``, and what a recording needs to be analysed (``fps``,
   ``px_per_mm``, ``arena_mm``, ``view``). Every line is checked, and every recording opened to
   check the times against its duration, before anything is analysed (``read_bouts``).
2. Segments (``recordings``). Each annotated recording is cut into segments exactly as
   ``analyze`` cuts it (``recording_segments``). A segment takes the behaviour of the bout
   covering at least half of it. Within a recording's annotated span (its first bout's start to
   its last bout's end) a segment in no bout is none of the annotated behaviours: its target is
   the base model's own probabilities with the annotated behaviours (and the core behaviours the
   lab's names specialise, e.g. rear for "supported rear") taken out (``fine_tune.targets``),
   which keeps what the model knew and says these are not the lab's behaviours. Segments
   outside the span are not used.
3. Classes (``model``). A behaviour name that is not a class yet becomes one (the classifier
   gains a row, started from its parent core behaviour's row: the one
   ``jobs.train.behavior_from_text`` finds in the name, or the mean of all). Core names stay
   their classes.
4. Fine-tuning (``fine_tune``). The encoders are frozen; their outputs for the views the
   describer averages (crops + kinematics + facts, kinematics + facts, facts) are computed once.
   The last fuse layer and the classifier are trained with AdamW on the describer's own output
   (the mean of the views' probabilities, scaled by the checkpoint's temperature), every segment
   weighing the same, full-batch steps on one thread, seeded: the same files and seed give the
   same checkpoint.
5. How long to fine-tune (``fine_tune.choose_steps``). A few bouts are easily over-learnt: the
   lab's class then swallows its neighbours on minutes it has not seen. Unless ``steps`` is
   given, each length in ``STEP_CHOICES`` is tried on two folds of the lab's own segments (the
   first and the second half of every recording's annotated span; trained on one, scored on the
   other), and the length with the best held-out macro-F1 over the lab's behaviours is used on
   all of them (the shorter one on a tie; 0 keeps the base model, its new classes started from
   their parents).
6. The adapted checkpoint, its figures and a short card are written whole or not at all
   (``checkpoint``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from jobs.adapt.bouts import KEYS, Bout, behavior_name, read_bouts
from jobs.adapt.checkpoint import write_checkpoint
from jobs.adapt.fine_tune import (
    STEP_CHOICES,
    TRAINABLE,
    StageProgress,
    _halves,
    choose_steps,
    fine_tune,
    macro_f1,
    mean_loss,
    predict,
    targets,
)
from jobs.adapt.model import base_path, expanded_model, fuse_inputs, new_classes, output_log_probs
from jobs.adapt.recordings import labelled_segments, recording_segments, segment_labels, stacked_inputs
from mousegpt.describe.tiny import MouseGPTTiny
from mousegpt.errors import InputError

__all__ = [
    "KEYS",
    "STEP_CHOICES",
    "TRAINABLE",
    "Bout",
    "StageProgress",
    "adapt",
    "base_path",
    "behavior_name",
    "choose_steps",
    "macro_f1",
    "read_bouts",
    "recording_segments",
    "segment_labels",
]


def adapt(
    out: str | Path,
    annotations: str | Path,
    base: str | Path | None = None,
    steps: int | None = None,
    seed: int = 0,
    lr: float = 3e-3,
    progress: StageProgress | None = None,
) -> dict:
    """Fine-tune a MouseGPT-tiny checkpoint on the bouts in ``annotations`` and write the
    adapted checkpoint to ``out`` (whole or not at all). ``steps``: the fine-tuning length, or
    None to choose it on held-out halves of the bouts (``choose_steps``). Returns the figures
    (``adaptation.json``)."""
    started = time.perf_counter()
    out = Path(out)
    source = base_path(base)
    if out.exists() and not (out / "config.json").is_file() and any(out.iterdir()):
        raise InputError(f"{out}: exists and holds something else than a checkpoint; not replacing it")
    bouts, poses = read_bouts(annotations)
    torch.manual_seed(seed)
    base_model = MouseGPTTiny.from_pretrained(str(source)).eval()
    added = new_classes(list(base_model.config.behaviors), bouts)
    model = expanded_model(base_model, added)
    names = list(model.config.behaviors)
    temperature = float(getattr(model.config, "probability_temperature", 1.0) or 1.0)

    # Segments of every annotated recording, labelled.
    parts = labelled_segments(bouts, poses, progress)
    labels = np.concatenate([p["label"] for p in parts])
    if not (labels != "").any():
        raise InputError(
            f"{annotations}: no segment is covered by a bout for at least half its length "
            "(bouts shorter than half a second?)"
        )
    inputs = fuse_inputs(model, *stacked_inputs(parts))

    # Targets: the bout's class, or the base model's probabilities without the lab's behaviours.
    n_base = len(base_model.config.behaviors)
    with torch.no_grad():
        base_log_probs = output_log_probs(base_model, inputs, temperature)
    index = {b: i for i, b in enumerate(names)}
    lab = sorted({b.behavior for b in bouts})
    excluded = [index[b] for b in lab if b in index and index[b] < n_base]
    excluded += [index[e["parent"]] for e in added.values() if e["parent"] in index]
    target = targets(base_log_probs, labels, names, n_base, excluded)
    labelled = labels != ""
    # Every segment counts alike (weighing rare classes up made the lab's classes over-called on
    # unseen minutes).
    parent = {name: e["parent"] for name, e in added.items()}
    base_said = np.asarray(base_model.config.behaviors)[base_log_probs.argmax(1).numpy()]
    right_before = [p == t or parent.get(t) == p for p, t in zip(base_said[labelled], labels[labelled])]
    every = np.arange(len(labels))
    before_loss = mean_loss(model, inputs, target, every, temperature)
    start_state = {k: v.clone() for k, v in model.state_dict().items()}
    trained_started = time.perf_counter()
    threads = torch.get_num_threads()
    # Small matrices: one thread is fastest, and gives the same numbers on any machine.
    torch.set_num_threads(1)
    try:
        held_out = None
        if steps is None:
            folds = np.concatenate([_halves(p["facts"]["start_s"].to_numpy()) for p in parts])
            held_out = choose_steps(
                model, start_state, inputs, target, labels, folds, lab, temperature, lr, seed, progress
            )
            steps = held_out["chosen"]
        fine_tune(model, start_state, inputs, target, every, steps, lr, seed, temperature, progress)
    finally:
        torch.set_num_threads(threads)
    train_seconds = time.perf_counter() - trained_started
    predicted = predict(model, inputs, temperature)
    right_after = predicted[labelled] == labels[labelled]
    after_loss = mean_loss(model, inputs, target, every, temperature)
    model.eval()

    counts_by = {str(k): int(v) for k, v in zip(*np.unique(labels[labelled], return_counts=True))}
    report = {
        "checkpoint": str(out),
        "base": str(source),
        "behaviors": names,
        "new_behaviors": added,
        "annotations": {"file": str(annotations), "bouts": len(bouts), "recordings": len(parts)},
        "segments": {
            "labelled": int(labelled.sum()),
            "none_of_these": int((~labelled).sum()),
            "by_behavior": counts_by,
        },
        "before": {"loss": before_loss, "accuracy": round(float(np.mean(right_before)), 4)},
        "after": {"loss": after_loss, "accuracy": round(float(np.mean(right_after)), 4)},
        "steps": steps,
        "held_out": held_out,
        "seed": seed,
        "trainable": list(TRAINABLE),
        "seconds": {"training": round(train_seconds, 2), "total": round(time.perf_counter() - started, 2)},
    }
    write_checkpoint(out, source, model, report)
    return report
