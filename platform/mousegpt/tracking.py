"""Weight-free single-mouse tracker: background model, segmentation, body axis, nose vs tail.

Works on top- or bottom-view video of one mouse whose fur contrasts with the floor (dark
on light or light on dark; the polarity is detected). The result is a ``movement`` poses
dataset with keypoints nose, body_center and tail_base in pixels (x right, y down), one
individual, and a confidence in [0, 1] per keypoint. Frames where no mouse is found are NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import xarray as xr
from movement.io import load_poses

from mousegpt import video

TRACKED_KEYPOINTS = ("nose", "body_center", "tail_base")


@dataclass(frozen=True)
class TrackerConfig:
    background_samples: int = 60
    """Frames, spread over the whole video, whose per-pixel median is the background."""
    threshold_fraction: float = 0.4
    """Foreground threshold as a fraction of the mouse-to-floor contrast."""
    min_threshold: float = 18.0
    """Lowest foreground threshold in grey levels, so sensor noise is never foreground."""
    min_area_px: int = 40
    """A foreground blob smaller than this is not a mouse."""
    chunk_size: int = 64


@dataclass(frozen=True)
class Background:
    image: np.ndarray
    """Per-pixel median grey level, float32, dims (y, x)."""
    polarity: int
    """-1 when the mouse is darker than the floor, +1 when lighter."""
    threshold: float
    """Grey-level difference from the background above which a pixel is foreground."""

    @cached_property
    def image_u8(self) -> np.ndarray:
        """The background rounded to uint8, for fast saturating differences."""
        return np.clip(np.round(self.image), 0, 255).astype(np.uint8)

    def contrast(self, frame: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
        """How much darker (dark mouse) or lighter (light mouse) each pixel of ``frame`` is
        than the background there; uint8, negative differences are 0. ``frame`` is the
        window of the image whose top-left corner is (x0, y0)."""
        h, w = frame.shape
        background = self.image_u8[y0:y0 + h, x0:x0 + w]
        return cv2.subtract(background, frame) if self.polarity < 0 else cv2.subtract(frame, background)


def _sorted_percentile(ordered: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(..., q, axis=1)`` (linear interpolation) of rows that are already sorted."""
    position = q / 100 * (ordered.shape[1] - 1)
    lo, frac = int(math.floor(position)), position - math.floor(position)
    hi = min(lo + 1, ordered.shape[1] - 1)
    return ordered[:, lo] * (1 - frac) + ordered[:, hi].astype(np.float64) * frac


def estimate_background(path: str | Path, config: TrackerConfig = TrackerConfig()) -> Background:
    """The empty arena, from frames sampled across the video, plus the mouse's polarity and contrast.

    A per-pixel median would absorb a mouse that rests in one place for half the video, so
    once the polarity is known the background is the 90th percentile (dark mouse) or 10th
    percentile (light mouse) of each pixel: the mouse must cover a pixel in 90% of the
    samples to hide the floor there.
    """
    info = video.probe(path)
    step = max(1, math.ceil(info.n_frames / config.background_samples))
    samples = np.concatenate([chunk for _, chunk in video.iter_chunks(path, chunk_size=32, step=step)])
    n, h, w = samples.shape
    # Each pixel's samples sorted once; every per-pixel percentile below reads from it.
    ordered = np.sort(samples.reshape(n, -1).T, axis=1)
    median = _sorted_percentile(ordered, 50).astype(np.float32)
    diff = samples.reshape(n, -1).astype(np.float32) - median
    # The mouse is the strongest deviation from the background in each sample; its sign
    # tells the polarity.
    darkest, brightest = np.percentile(diff, [0.05, 99.95], axis=1)
    polarity = -1 if np.median(-darkest) >= np.median(brightest) else 1
    image = _sorted_percentile(ordered, 90 if polarity < 0 else 10).astype(np.float32)
    deviation = (samples.reshape(n, -1).astype(np.float32) - image) * polarity
    contrast = float(np.median(np.percentile(deviation, 99.95, axis=1)))
    image = image.reshape(h, w)
    threshold = max(config.min_threshold, config.threshold_fraction * contrast)
    return Background(image=image, polarity=polarity, threshold=threshold)


@dataclass
class _Pose:
    nose: np.ndarray
    centre: np.ndarray
    tail_base: np.ndarray
    confidence: float


def _largest_component(mask: np.ndarray) -> np.ndarray | None:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return (labels == biggest).astype(np.uint8)


def _ends(body: np.ndarray, axis: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tips of the body at both ends of its long axis (mean of the pixels within 3 px of each extreme)."""
    points = cv2.findNonZero(body).reshape(-1, 2).astype(np.float32)  # (x, y); faster than np.nonzero
    along = (points - centre) @ axis
    plus = points[along >= along.max() - 3].mean(axis=0)
    minus = points[along <= along.min() + 3].mean(axis=0)
    return plus, minus


def _snout_tip(blob: np.ndarray, nose: np.ndarray, centre: np.ndarray, half_width: float) -> np.ndarray:
    """The nose on the whole silhouette: the opening that strips the tail also blunts the
    thin snout, so the tip is looked for again beyond the opened body's end, along the
    centre-to-nose direction and within a body half-width of it (never the tail, which
    leaves the other end)."""
    direction = nose - centre
    length = float(np.linalg.norm(direction))
    if length < 1:
        return nose
    direction /= length
    points = cv2.findNonZero(blob).reshape(-1, 2).astype(np.float32) - centre
    along = points @ direction
    across = np.abs(points @ np.array([-direction[1], direction[0]], dtype=np.float32))
    ahead = (along > length - half_width) & (across < half_width)
    if not ahead.any():
        return nose
    reach = along[ahead]
    tip = points[ahead][reach >= reach.max() - 2].mean(axis=0) + centre
    return tip if reach.max() <= length + 2 * half_width else nose


def _segment(frame: np.ndarray, bg: Background, config: TrackerConfig, previous: _Pose | None) -> _Pose | None:
    """Find the mouse in one grey frame; None when nothing mouse-sized differs from the background."""
    # Search near the last position first (cheap), the whole frame when the mouse is lost.
    if previous is not None:
        reach = 0.8 * float(np.linalg.norm(previous.nose - previous.tail_base)) + 15
        x0, y0 = (max(0, int(v - reach)) for v in previous.centre)
        x1, y1 = int(previous.centre[0] + reach), int(previous.centre[1] + reach)
        pose = _segment_window(frame[y0:y1, x0:x1], bg, config, previous, (x0, y0))
        if pose is not None:
            return pose
    return _segment_window(frame, bg, config, previous, (0, 0))


def _segment_window(frame, bg: Background, config: TrackerConfig, previous: _Pose | None, offset) -> _Pose | None:
    x0, y0 = offset
    diff = bg.contrast(frame, x0, y0)
    mask = (diff > bg.threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    blob = _largest_component(mask)
    if blob is None or blob.sum() < config.min_area_px:
        return None
    # The tail is much thinner than the body: an opening with a disc of about half the
    # body's half-width removes it and leaves the body. Openings and dilations are done
    # with distance transforms, whose cost does not grow with the disc's radius.
    inside = cv2.distanceTransform(blob, cv2.DIST_L2, 3)
    half_width = float(inside.max())
    radius = max(1.0, 0.5 * half_width)
    core = (inside > radius).astype(np.uint8)
    body = ((cv2.distanceTransform(1 - core, cv2.DIST_L2, 3) <= radius) & (blob > 0)).astype(np.uint8)
    body = _largest_component(body)
    if body is None:
        body = blob
    m = cv2.moments(body, binaryImage=True)
    if m["m00"] == 0:
        return None
    centre = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]], dtype=np.float32)
    angle = 0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])
    axis = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
    plus, minus = _ends(body, axis, centre)

    # Which end is the head? Three votes, each > 0 for "plus is the nose":
    # 1. the tail attaches at the other end. Tails are paler and thinner than the body, so
    #    they are looked for with a lower threshold, outside a margin that holds the shadow.
    faint = (diff > 0.35 * bg.threshold).astype(np.uint8)
    faint = cv2.morphologyEx(faint, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    from_body = cv2.distanceTransform(1 - body, cv2.DIST_L2, 3)
    tail = faint & (from_body > radius + 1).astype(np.uint8)
    n, labels = cv2.connectedComponents(tail, connectivity=8)
    tail_vote = 0.0
    if n > 1:
        near = from_body <= 2 * radius + 3
        thickness = cv2.distanceTransform(tail, cv2.DIST_L2, 3)
        xy = cv2.findNonZero(tail).reshape(-1, 2)
        xs, ys = xy[:, 0], xy[:, 1]
        piece = labels[ys, xs]
        reach = (xy.astype(np.float32) - centre) @ axis
        touches = np.bincount(piece, weights=near[ys, xs], minlength=n) > 0
        # Thickest point of each piece: a max per label, by sorting once (ufunc.at is slow).
        order = np.argsort(piece, kind="stable")
        labels_sorted = piece[order]
        starts = np.flatnonzero(np.r_[True, labels_sorted[1:] != labels_sorted[:-1]])
        thickest = np.zeros(n)
        thickest[labels_sorted[starts]] = np.maximum.reduceat(thickness[ys, xs][order], starts)
        # A tail is thin and attached; shadows and wall reflections are thick or apart.
        is_tail = touches & (thickest <= max(2.0, 0.3 * half_width))
        is_tail[0] = False
        reach_sum = np.bincount(piece, weights=reach, minlength=n)
        tail_vote = -float(reach_sum[is_tail].sum()) / (half_width * half_width * 20 + 1)
    tail_vote = float(np.clip(tail_vote, -2, 2))
    # 2. temporal consistency with the previous frame's assignment;
    # 3. a mouse moving fast moves head first.
    continuity = motion = 0.0
    if previous is not None:
        prev_nose, prev_tail = previous.nose - (x0, y0), previous.tail_base - (x0, y0)
        keep = np.linalg.norm(plus - prev_nose) + np.linalg.norm(minus - prev_tail)
        swap = np.linalg.norm(minus - prev_nose) + np.linalg.norm(plus - prev_tail)
        continuity = float(np.tanh((swap - keep) / (half_width + 1)))
        step = centre - (previous.centre - (x0, y0))
        if np.linalg.norm(step) > 0.25 * half_width:
            motion = 0.5 * float(np.sign(step @ axis))
    vote = tail_vote + continuity + motion
    nose, tail_base = (plus, minus) if vote >= 0 else (minus, plus)
    nose = _snout_tip(blob, nose, centre, half_width)
    shift = np.array([x0, y0], dtype=np.float32)
    return _Pose(nose=nose + shift, centre=centre + shift, tail_base=tail_base + shift,
                 confidence=float(min(1.0, 0.5 + abs(vote) / 2)))


def track(path: str | Path, config: TrackerConfig = TrackerConfig(), progress=None,
          background: Background | None = None) -> xr.Dataset:
    """Track one mouse through a video, streaming it in chunks.

    Returns a ``movement`` poses dataset (time in seconds from the container's fps) with
    keypoints nose, body_center and tail_base. ``progress``, if given, is called with the
    number of frames done after each chunk. ``background`` skips estimating it again.
    """
    info = video.probe(path)
    bg = background or estimate_background(path, config)
    positions, confidences = [], []
    previous: _Pose | None = None
    for _, chunk in video.iter_chunks(path, chunk_size=config.chunk_size):
        for frame in chunk:
            pose = _segment(frame, bg, config, previous)
            if pose is None:
                positions.append(np.full((3, 2), np.nan))
                confidences.append(np.zeros(3))
            else:
                positions.append(np.stack([pose.nose, pose.centre, pose.tail_base]))
                confidences.append(np.array([pose.confidence, 1.0, pose.confidence]))
                previous = pose
        if progress is not None:
            progress(len(positions))
    # movement's layout: (time, space, keypoints, individuals)
    position = np.stack(positions).transpose(0, 2, 1)[..., None]
    confidence = np.stack(confidences)[..., None]
    return load_poses.from_numpy(
        position, confidence, individual_names=["mouse"], keypoint_names=list(TRACKED_KEYPOINTS),
        fps=info.fps, source_software="mousegpt-tracker",
    )
