"""The training run's settings (``TrainConfig``) and the progress callback's type."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

StageProgress = Callable[[str, int, int], None]
"""Called with (stage, done, total)."""

TRAINING_EMPHASIS = {"jump": 8.0}
"""Multipliers on the conditions' behaviour rates in training sessions. A jump lasts 0.3-0.5 s,
so it is the majority of a 1 s segment only when it falls inside one and its neighbours
differ; at the conditions' own rates one segment in 500 is a jump, too few to learn from."""


@dataclass
class TrainConfig:
    out: str
    sessions: int = 120
    seconds: float = 60.0
    seed: int = 0
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    zero_stage: int = 1
    workers: int = 0
    """Ray Train workers; 0 trains in this process."""
    gpu: bool = False
    annotations: str | None = None
    validation_fraction: float = 0.1
    emphasis: dict[str, float] = field(default_factory=lambda: dict(TRAINING_EMPHASIS))
    """Multipliers on the synthetic conditions' behaviour rates (``TRAINING_EMPHASIS``)."""
    pose_sessions: int = 120
    """Synthetic sessions seen as a lab's pose file (``pose_session_examples``), besides the
    rendered ones."""
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
