"""Scoring a model: macro-F1 (``macro_f1``), a model's on rows of the training arrays
(``evaluate``), and the figures of a training run (``training_metrics``)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from jobs.train.config import TrainConfig
from jobs.train.tensors import batch_tensors
from mousegpt.vocabulary import BEHAVIORS


def macro_f1(truth: np.ndarray, predicted: np.ndarray, labels=None) -> tuple[float, dict[str, float]]:
    """Macro-F1 over the classes present in ``truth``, and the F1 of each."""
    from sklearn.metrics import f1_score

    present = [b for b in (labels or BEHAVIORS) if b in set(truth)]
    per_class = f1_score(truth, predicted, labels=present, average=None, zero_division=0)
    return float(np.mean(per_class)) if present else float("nan"), dict(zip(present, map(float, per_class)))


def evaluate(model, arrays: dict, rows: np.ndarray, device, batch: int = 512) -> tuple[float, dict]:
    """The model's macro-F1 (and per-class F1) on ``rows`` of the training arrays, from
    crops, kinematics and facts together; rows without a core label are left out."""
    model.eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch):
            b = batch_tensors(arrays, rows[start : start + batch], device)
            dtype = next(model.parameters()).dtype
            logits, _ = model.encode(b["facts"].to(dtype), b["sequence"].to(dtype), b["crops"].to(dtype))
            predicted.append(logits.argmax(-1).cpu().numpy())
    names = np.asarray(model.config.behaviors)
    truth = arrays["labels"][rows]
    known = truth >= 0
    pred = names[np.concatenate(predicted)] if predicted else np.asarray([], str)
    model.train()
    return macro_f1(names[truth[known]], pred[known])


def training_metrics(
    config: TrainConfig,
    data: dict,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    validation: tuple[float, dict],
    seconds: dict[str, float],
    parameters: int,
) -> dict:
    """A training run's figures (``metrics.json``, less the calibration): segments, labels,
    validation F1, seconds, the config (less the paths) and the model's size."""
    f1, per_class = validation
    labels = data["label"][train_rows]
    sources = data.get("source", np.full(len(data["label"]), ""))
    return {
        "segments": {"train": int(len(train_rows)), "validation": int(len(val_rows))},
        "segments_by_source": {str(k): int(v) for k, v in zip(*np.unique(sources, return_counts=True))},
        "train_label_counts": {b: int(np.sum(labels == b)) for b in BEHAVIORS},
        "validation_macro_f1": round(f1, 4),
        "validation_f1": {k: round(v, 4) for k, v in per_class.items()},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "config": {k: v for k, v in asdict(config).items() if k not in ("out", "annotations")},
        "parameters": int(parameters),
    }
