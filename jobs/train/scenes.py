"""The scenes of the synthetic training sessions: what varies between sessions, and each
session's plan (``training_scenes``). The model card states these ranges from here."""

from __future__ import annotations

import numpy as np

from mousegpt.synth import Scene

VIEWS = ("top", "bottom")
FURS = ("black", "white", "agouti")
ARENA_SHAPES = ("square", "circle")
"""Every combination of view, fur and arena shape is used in turn."""
ARENA_MM = (360.0, 400.0)
SCENE_FPS = (25.0, 30.0)
"""Arena sizes (mm) and frame rates of the rendered sessions, one drawn per session."""
LIGHTING = (0.6, 1.2)
NOISE_SIGMA = (1.0, 2.5)
"""Ranges of the lighting and of the sensor noise (grey levels), drawn per session."""
CONDITIONS = ("control", "stim", "anx")
"""The conditions of the sessions, in turn."""

POSE_FPS = (25.0, 30.0, 50.0, 60.0)
"""Frame rates of the pose-file training sessions: labs film at 25-60 fps, and a pose
estimator's jitter looks faster the higher the rate."""


def training_scenes(sessions: int, seed: int) -> list[tuple[str, str, int, Scene]]:
    """Session plans (name, condition, seed, scene): every combination of view, fur and arena
    shape in turn, with arena size, frame rate, lighting and noise drawn per session. The
    quality benchmark's scenes (``benchmarks/describer_quality.py``) use settings outside these."""
    rng = np.random.default_rng(seed)
    combos = [(v, f, a) for v in VIEWS for f in FURS for a in ARENA_SHAPES]
    plans = []
    for i in range(sessions):
        view, fur, shape = combos[i % len(combos)]
        scene = Scene(
            view=view,
            fur=fur,
            arena=shape,
            arena_mm=float(rng.choice(ARENA_MM)),
            fps=float(rng.choice(SCENE_FPS)),
            lighting=float(rng.uniform(*LIGHTING)),
            noise_sigma=float(rng.uniform(*NOISE_SIGMA)),
        )
        condition = CONDITIONS[i % len(CONDITIONS)]
        plans.append((f"train_{i:04d}", condition, 1_000_003 * (seed + 1) + i, scene))
    return plans
