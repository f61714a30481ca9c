"""What MouseGPT-tiny reads and writes, as arrays and tokens (numpy only; the network that
reads them is ``tiny_network``).

Per segment the model reads the per-frame kinematic sequence (``sequence_features``,
resampled to ``n_steps``), the segment's facts (``fact_features``) and, when there is a
video, mouse-centred crops (``mousegpt.crops``). It writes the five description fields as
one token sequence (``caption_tokens``, ``detokenize``), measured values as slot tokens
(``captions.SLOTS``) filled from the facts afterwards.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mousegpt.describe import captions
from mousegpt.vocabulary import ZONES

if TYPE_CHECKING:
    from mousegpt.segments import Window

SEQUENCE_FEATURES: dict[str, float] = {
    "speed_mm_s": 200.0,
    "forward_speed_mm_s": 200.0,
    "left_speed_mm_s": 100.0,
    "angular_speed_deg_s": 360.0,
    "head_yaw_deg": 90.0,
    "head_speed_mm_s": 100.0,
    "body_length_ratio": 1.0,
    "wall_distance_mm": 100.0,
}
"""Per-frame kinematics the model reads (columns of ``kinematics.compute``, and the body
length over the session's stretched length) and the scale each is divided by; then one
column per zone and one saying whether the frame has a position."""

FACT_FEATURES: dict[str, float] = {
    "speed_mean_mm_s": 200.0,
    "speed_max_mm_s": 400.0,
    "displacement_mm": 100.0,
    "body_length_ratio": 1.0,
    "body_length_ratio_min": 1.0,
    "heading_change_deg": 180.0,
    "angular_speed_deg_s": 360.0,
    "head_yaw_std_deg": 45.0,
    "head_yaw_abs_deg": 90.0,
    "head_motion_hz": 10.0,
    "head_speed_mm_s": 100.0,
    "immobile_fraction": 1.0,
    "wall_distance_mm": 100.0,
    "visible_fraction": 1.0,
}
"""Segment facts the model reads and their scales; then one column per zone."""

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<sep>", "<unk>")
PAD, BOS, EOS, SEP, UNK = range(len(SPECIAL_TOKENS))
_TOKEN = re.compile(r"<\w+>|[A-Za-z]+(?:[-'][A-Za-z]+)*|\d+|[^\sA-Za-z\d]")


def _zones(values) -> np.ndarray:
    return np.stack([np.asarray([v == z for v in values], np.float32) for z in ZONES], axis=-1)


def sequence_features(kin: pd.DataFrame, windows: list[Window], n_steps: int) -> np.ndarray:
    """(segment, step, feature) float32: each window's per-frame kinematics at ``n_steps``
    evenly spaced frames, scaled by SEQUENCE_FEATURES; NaN becomes 0 (the last column says
    which frames had a position). The body length is read over the session's stretched
    length: ``kin``'s ``body_length_ratio`` column where it has one (a part of a session, as
    ``analysis.plan_sessions`` cuts it), else over ``kin``'s own 85th percentile.
    """
    from mousegpt.segments import stretched_length  # not at the top: `import mousegpt.describe` stays cheap

    table = kin
    if "body_length_ratio" not in kin:
        table = kin.assign(body_length_ratio=kin["body_length_mm"].to_numpy(float) / stretched_length(kin))
    columns = [table[c].to_numpy(float) / scale for c, scale in SEQUENCE_FEATURES.items()]
    per_frame = np.concatenate(
        [
            np.stack(columns, axis=1),
            _zones(table["zone"].to_numpy()),
            table[["x_mm"]].notna().to_numpy(np.float32),
        ],
        axis=1,
    )
    per_frame = np.nan_to_num(np.clip(per_frame, -5, 5), nan=0.0).astype(np.float32)
    if not windows:
        return np.zeros((0, n_steps, per_frame.shape[1]), np.float32)
    steps = np.stack(
        [np.round(np.linspace(w.start_frame, w.end_frame - 1, n_steps)).astype(int) for w in windows]
    )
    return per_frame[np.clip(steps, 0, len(per_frame) - 1)]


def fact_features(facts: pd.DataFrame) -> np.ndarray:
    """(segment, feature) float32: the facts scaled by FACT_FEATURES, then the zone one-hot; NaN becomes 0."""
    columns = [
        pd.to_numeric(facts[c], errors="coerce").to_numpy(float) / scale
        if c in facts
        else np.zeros(len(facts))
        for c, scale in FACT_FEATURES.items()
    ]
    zones = facts["zone"].to_numpy() if "zone" in facts else np.full(len(facts), None)
    values = np.concatenate([np.stack(columns, axis=1), _zones(zones)], axis=1)
    return np.nan_to_num(np.clip(values, -5, 5), nan=0.0).astype(np.float32)


def tokenize(text: str) -> list[str]:
    """The words, numbers, punctuation and ``<slot>`` tokens of ``text``, in order."""
    return _TOKEN.findall(text)


def caption_tokens(fields: dict[str, str]) -> list[str]:
    """One token sequence for the five fields: fields joined by ``<sep>``, no bos/eos."""
    out: list[str] = []
    for i, name in enumerate(captions.FIELDS):
        if i:
            out.append("<sep>")
        out.extend(tokenize(fields[name]))
    return out


def detokenize(tokens: list[str]) -> dict[str, str | list[str]]:
    """The five fields from generated tokens (slots left in); keywords as a list."""
    parts: list[list[str]] = [[]]
    for token in tokens:
        if token == "<sep>":
            parts.append([])
        elif token not in SPECIAL_TOKENS:
            parts[-1].append(token)
    parts = (parts + [[]] * 5)[:5]
    return {name: " ".join(words) for name, words in zip(captions.FIELDS, parts)}
