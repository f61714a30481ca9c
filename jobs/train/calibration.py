"""The temperature of the behaviour probabilities, fitted on held-out synthetic sessions after
training (``calibrate``), and the figures that measure it."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from jobs.train.config import StageProgress, TrainConfig
from jobs.train.sessions import synthetic_examples
from mousegpt.describe.model import UNCERTAIN_BELOW
from mousegpt.describe.tiny import MouseGPTTinyConfig, TinyDescriber, fact_features

CALIBRATION_SESSIONS = (12, 24)
"""Held-out synthetic sessions (rendered, seen as pose files) the temperature is fitted on, at
most: a smaller training run holds out fewer (``calibration_sessions``)."""


def calibration_sessions(config: TrainConfig) -> tuple[int, int]:
    """Held-out sessions (rendered, seen as pose files) for the temperature: a tenth of the
    rendered and a fifth of the pose-file training sessions, at least 4 and 8, at most
    ``CALIBRATION_SESSIONS`` (the shipped recipe's 120 + 120 sessions hold out 12 + 24)."""
    most_video, most_pose = CALIBRATION_SESSIONS
    return (
        min(most_video, max(4, math.ceil(config.sessions / 10))),
        min(most_pose, max(8, math.ceil(config.pose_sessions / 5))),
    )


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their counts."""
    edges = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    error = 0.0
    for b in np.unique(edges):
        inside = edges == b
        error += inside.mean() * abs(np.mean(correct[inside]) - np.mean(confidence[inside]))
    return float(error)


def fit_temperature(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.25-10, on a log grid) whose scaled probabilities give the true labels
    the highest likelihood (temperature scaling, Guo et al. 2017). ``log_probs`` (segment,
    behaviour) are log-probabilities; ``labels`` index the true behaviour."""
    best, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(10.0), 81)):
        scaled = log_probs / t
        scaled = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
        nll = -float(np.mean(scaled[np.arange(len(labels)), labels]))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def calibration_figures(log_probs: np.ndarray, labels: np.ndarray, temperature: float) -> dict:
    """How well the probabilities (``log_probs``, before scaling) match how often they are right,
    before and after scaling by ``temperature``, and how many segments fall below
    ``UNCERTAIN_BELOW`` confidence after."""
    before, after = np.exp(log_probs), np.exp(log_probs / temperature)
    after /= after.sum(1, keepdims=True)
    correct = before.argmax(1) == labels
    return {
        "temperature": round(temperature, 4),
        "segments": int(len(labels)),
        "ece_before": round(expected_calibration_error(before.max(1), correct), 4),
        "ece_after": round(expected_calibration_error(after.max(1), correct), 4),
        "uncertain_share": round(float(np.mean(after.max(1) < UNCERTAIN_BELOW)), 4),
        "accuracy_certain": round(float(np.mean(correct[after.max(1) >= UNCERTAIN_BELOW])), 4),
        "accuracy_uncertain": round(float(np.mean(correct[after.max(1) < UNCERTAIN_BELOW])), 4)
        if np.any(after.max(1) < UNCERTAIN_BELOW)
        else None,
    }


def calibrate(folder: str | Path, config: TrainConfig, progress: StageProgress | None = None) -> dict:
    """Fit the checkpoint's temperature on held-out synthetic sessions (``calibration_sessions``:
    other seeds than training's, rendered and seen as pose files, described as ``analyze``
    describes them) and write it into its ``config.json``; returns the calibration figures."""
    n_video, n_pose = calibration_sessions(config)
    held = replace(config, sessions=n_video, pose_sessions=n_pose, seed=config.seed + 1000)
    data = synthetic_examples(
        held, MouseGPTTinyConfig().n_steps, progress, stage="simulating held-out sessions for calibration"
    )
    describer = TinyDescriber(folder, device="cpu")
    facts = torch.from_numpy(fact_features(data["facts"]))
    sequence = torch.from_numpy(data["sequence"].astype(np.float32))
    crops = torch.from_numpy(data["crops"])
    parts = []
    with torch.inference_mode():
        for start in range(0, len(facts), 512):
            part = slice(start, start + 512)
            log_probs, _ = describer._encode(facts[part], sequence[part], crops[part])
            parts.append(log_probs.numpy())
    log_probs = np.concatenate(parts)
    index = {b: i for i, b in enumerate(describer.model.config.behaviors)}
    labels = np.asarray([index[str(b)] for b in data["label"]])
    temperature = fit_temperature(log_probs, labels)
    figures = calibration_figures(log_probs, labels, temperature)
    path = Path(folder, "config.json")
    saved = json.loads(path.read_text())
    path.write_text(
        json.dumps(saved | {"probability_temperature": temperature}, indent=2, sort_keys=True) + "\n"
    )
    return figures
