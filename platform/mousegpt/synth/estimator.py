"""How a lab's pose estimator sees the synthetic mouse: the true keypoints made into a pose file.

A trained network (DeepLabCut, SLEAP) places each keypoint a little off, differently in every
frame (jitter) and slowly wandering (its placement drifts with posture and lighting); it loses
points now and then for a few frames (likelihood below the usual 0.6 cut-off), and sometimes
puts one on the wrong spot altogether. Labs also track different points: some a body centre,
some a mid-back nearer the tail, some none (the platform then takes the midpoint of nose and
tail base). ``draw`` picks one such estimator; ``observe`` applies it to true poses.

Calibrated on the real DeepLabCut files in ``../shared/data/real`` and
``../shared/data/real-labelled`` from their poses alone (never their behaviour labels): their
keypoints stray 0.004-0.02 body lengths (90th percentile) from a 0.2 s running median, and
0.5-6% of a keypoint's frames fall below likelihood 0.6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

KEYPOINT_SETS = ("centre", "mid_back", "no_centre")
"""Which body-centre point the lab tracked: the body centre, a mid-back point a quarter of the
way toward the tail base, or none."""


@dataclass(frozen=True)
class Estimator:
    """One lab's pose estimator: its errors (in body lengths, or shares of frames) and the
    keypoints it tracks.
    """

    jitter_bl: float
    """Standard deviation of each keypoint's independent per-frame error, in body lengths."""
    drift_bl: float
    """Standard deviation of each keypoint's slowly wandering error (about 0.3 s), in body lengths."""
    dropout: float
    """Share of a keypoint's frames lost (likelihood below 0.6), in bursts of a few frames."""
    outliers: float
    """Share of a keypoint's frames placed up to a body length away with a high likelihood."""
    keypoints: str
    """One of ``KEYPOINT_SETS``."""


def draw(rng: np.random.Generator) -> Estimator:
    """A plausible lab's pose estimator."""
    return Estimator(
        jitter_bl=float(rng.uniform(0.003, 0.02)),
        drift_bl=float(rng.uniform(0.0, 0.01)),
        dropout=float(rng.uniform(0.0, 0.05)),
        outliers=float(rng.uniform(0.0, 0.003)),
        keypoints=str(rng.choice(KEYPOINT_SETS)),
    )


def _drift(n: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance AR(1) noise (n, 2) with a correlation time of about 0.3 s."""
    a = float(np.exp(-1.0 / (0.3 * fps)))
    noise = rng.normal(0, np.sqrt(1 - a * a), (n, 2))
    out = np.empty((n, 2))
    out[0] = rng.normal(0, 1, 2)
    for i in range(1, n):
        out[i] = a * out[i - 1] + noise[i]
    return out


def observe(
    ds: xr.Dataset, estimator: Estimator, rng: np.random.Generator, body_length_px: float
) -> xr.Dataset:
    """True poses (platform keypoints, pixels, one individual) as ``estimator`` reports them:
    noisy positions and likelihoods (0.9-1 where seen, 0-0.5 where lost); lost points keep a
    position, as DeepLabCut writes one for every point. ``body_center`` is moved or removed
    as ``estimator.keypoints`` says.
    """
    fps = float(ds.attrs.get("fps") or 25.0)
    position = ds.position.transpose("time", "space", "keypoints", "individuals").values.copy()
    n, _, k, _ = position.shape
    names = [str(x) for x in ds.keypoints.values]
    if estimator.keypoints == "mid_back" and {"body_center", "tail_base"} <= set(names):
        c, t = names.index("body_center"), names.index("tail_base")
        position[:, :, c] = 0.75 * position[:, :, c] + 0.25 * position[:, :, t]
    confidence = rng.uniform(0.9, 1.0, (n, k, 1))
    for j in range(k):
        error = rng.normal(0, estimator.jitter_bl, (n, 2)) + estimator.drift_bl * _drift(n, fps, rng)
        position[:, :, j, 0] += error * body_length_px
        lost = np.zeros(n, dtype=bool)
        for start in np.flatnonzero(rng.random(n) < estimator.dropout / 4):  # bursts of 1-7 frames
            lost[start : start + rng.integers(1, 8)] = True
        confidence[lost, j, 0] = rng.uniform(0.0, 0.5, lost.sum())
        wild = np.flatnonzero(rng.random(n) < estimator.outliers)
        position[wild, :, j, 0] += rng.uniform(-1, 1, (len(wild), 2)) * body_length_px
    out = ds.copy()
    out["position"] = (("time", "space", "keypoints", "individuals"), position)
    out["confidence"] = (("time", "keypoints", "individuals"), confidence)
    out["position"] = out.position.transpose(*ds.position.dims)
    out["confidence"] = out.confidence.transpose(*ds.confidence.dims)
    if estimator.keypoints == "no_centre" and "body_center" in names:
        out = out.drop_sel(keypoints="body_center")
    return out
