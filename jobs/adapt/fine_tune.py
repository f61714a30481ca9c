"""Fine-tuning the last fuse layer and the classifier (``fine_tune``), and choosing how long
on held-out halves of the lab's segments (``choose_steps``)."""

from __future__ import annotations

import math

import numpy as np
import torch

from jobs.adapt.model import output_log_probs
from jobs.train.config import StageProgress

"""Called with (stage, done, total)."""

STEP_CHOICES = (0, 25, 50, 100, 200, 300)
"""Fine-tuning lengths (full-batch AdamW steps) tried on held-out halves of the lab's bouts;
300 steps take about a second on one CPU thread for a few thousand segments."""
TRAINABLE = ("fuse.3.", "classifier.")
"""Parameters fine-tuned: the last fuse layer and the classifier."""


def targets(base_log_probs, labels: np.ndarray, names: list[str], n_base: int, excluded: list[int]):
    """Per segment, what the adapted model learns to output (over ``names``, the first ``n_base``
    the base model's): a labelled segment's bout class; for one in no bout, the base model's
    probabilities (``base_log_probs``) with ``excluded`` (the lab's core behaviours and the
    parents of its new ones) taken out, or, where the base saw nothing else, an even share of
    the base classes left."""
    index = {b: i for i, b in enumerate(names)}
    target = torch.zeros(len(labels), len(names))
    target[:, :n_base] = base_log_probs.exp()
    target[:, sorted(set(excluded))] = 0
    target /= target.sum(1, keepdim=True).clamp(min=1e-12)
    empty = target.sum(1) < 0.5  # everything the base saw was one of the lab's behaviours
    allowed = torch.ones(len(names))
    allowed[n_base:] = 0
    allowed[sorted(set(excluded))] = 0
    target[empty] = allowed / allowed.sum()
    labelled = labels != ""
    hard = torch.tensor([index.get(x, -1) for x in labels])
    target[torch.from_numpy(labelled)] = torch.nn.functional.one_hot(
        hard[torch.from_numpy(labelled)], len(names)
    ).float()
    return target


def _halves(start_s: np.ndarray) -> np.ndarray:
    """Fold of each of a recording's segments (in time order): 0 for the first half of them, 1
    for the rest."""
    rank = np.argsort(np.argsort(start_s, kind="stable"), kind="stable")
    return (rank >= len(start_s) / 2).astype(int)


def mean_loss(model, inputs: dict, target, rows: np.ndarray, temperature: float):
    """Mean cross-entropy of the describer's output against ``target`` over ``rows`` (every segment alike)."""
    with torch.no_grad():
        return round(
            float(-(target[rows] * output_log_probs(model, inputs, temperature)[rows]).sum(1).mean()), 4
        )


def predict(model, inputs: dict, temperature: float) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.asarray(model.config.behaviors)[
            output_log_probs(model, inputs, temperature).argmax(1).numpy()
        ]


def fine_tune(
    model,
    start_state: dict,
    inputs: dict,
    target,
    rows: np.ndarray,
    steps: int,
    lr: float,
    seed: int,
    temperature: float,
    progress: StageProgress | None = None,
) -> None:
    """``model`` from ``start_state``, trained ``steps`` full-batch steps on ``rows`` (the last fuse layer
    and the classifier; AdamW, cosine decay; every segment weighing the same)."""
    model.load_state_dict(start_state)
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(TRAINABLE))
    if not steps or not len(rows):
        return
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(1, steps)))
    )
    rows_t = torch.from_numpy(np.asarray(rows))
    model.train()
    for step in range(steps):
        optimiser.zero_grad()
        loss = -(target[rows_t] * output_log_probs(model, inputs, temperature)[rows_t]).sum(1).mean()
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress and (step + 1) % 10 == 0:
            progress("fine-tuning", step + 1, steps)
    model.eval()


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> float:
    """Mean F1 over ``classes`` (a class absent from both ``truth`` and ``predicted`` is left out)."""
    scores = []
    for c in classes:
        t, p = truth == c, predicted == c
        if t.sum() + p.sum():
            scores.append(2 * float((t & p).sum()) / float(t.sum() + p.sum()))
    return float(np.mean(scores)) if scores else float("nan")


def choose_steps(
    model,
    start_state: dict,
    inputs: dict,
    target,
    labels: np.ndarray,
    folds: np.ndarray,
    classes: list[str],
    temperature: float,
    lr: float,
    seed: int,
    progress: StageProgress | None = None,
) -> dict:
    """The fine-tuning length (of ``STEP_CHOICES``) whose models, each trained on one fold and
    run on the other, give the best macro-F1 over the lab's ``classes`` on the held-out
    segments (ties: the shorter). Returns {"chosen", "f1": {steps: F1}}; leaves ``model`` at
    ``start_state``."""
    scores: dict[int, float] = {}
    for k, steps in enumerate(STEP_CHOICES):
        predicted = np.empty(len(labels), dtype=object)
        for fold in (0, 1):
            fine_tune(
                model,
                start_state,
                inputs,
                target,
                np.flatnonzero(folds != fold),
                steps,
                lr,
                seed,
                temperature,
            )
            predicted[folds == fold] = predict(model, inputs, temperature)[folds == fold]
        scores[steps] = round(macro_f1(labels, predicted.astype(str), classes), 4)
        if progress:
            progress("choosing how long to fine-tune (held-out halves)", k + 1, len(STEP_CHOICES))
    model.load_state_dict(start_state)
    valid = {s: f for s, f in scores.items() if f == f}
    chosen = max(valid, key=lambda s: (valid[s], -s)) if valid else STEP_CHOICES[-1]
    return {"chosen": chosen, "f1": {str(s): f for s, f in scores.items()}}
