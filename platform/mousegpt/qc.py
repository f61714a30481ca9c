"""Quality control of poses before kinematics, with a report of what it changed.

Works on a ``movement`` poses dataset with platform keypoint names (positions in pixels,
x right, y down; any camera view). The steps, in order:

1. **Missing and unlikely points**: points whose confidence is below ``min_confidence``,
   and points at exactly (0, 0) (how multi-animal DeepLabCut marks a missing point), become NaN.
2. **Head/tail swap repair**: frames are linked to the previous frame when keeping or
   exchanging nose and tail_base is clearly the better match; each linked piece is made
   consistent, then turned round when the mouse would mostly walk backwards (mice move
   head first), or, with too little walking to tell, to agree with most of the source's frames.
3. **Jump rejection**: a point farther than ``max_jump_body_lengths`` from the running
   median of its keypoint is a tracking error and becomes NaN.
4. **Gap filling**: gaps of at most ``max_gap_s`` are linearly interpolated; longer gaps stay NaN.
5. **Smoothing**: a running median over ``smoothing_s``, which never fills a NaN. It removes
   jitter, and with it any movement faster than a few hertz, so the cleaned positions before
   smoothing are kept beside the smoothed ones as ``unsmoothed_position`` (``kinematics``
   measures fast head movements, such as twitches, from them).

A body_center the source did not have (the midpoint of nose and tail_base, see
``pose.standardize``) is derived again after cleaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr
from movement.filtering import interpolate_over_time, rolling_filter

DERIVED_CENTRE = "midpoint of nose and tail_base"
"""``attrs["body_center"]`` of a dataset whose body_center was derived, not measured."""
UNSMOOTHED = "unsmoothed_position"
"""Data variable of a cleaned dataset: positions after steps 1-4, before smoothing."""


@dataclass(frozen=True)
class QCConfig:
    """Settings of pose quality control; the ``_s`` fields are in seconds, turned into frames
    with the session's fps.
    """

    min_confidence: float = 0.6
    """Points below this confidence are dropped; 0 keeps every point that has a position."""
    max_gap_s: float = 0.25
    """Longest gap filled by linear interpolation."""
    smoothing_s: float = 0.2
    """Running-median window; 0 turns smoothing off."""
    max_jump_body_lengths: float = 0.5
    """A point this far (in body lengths) from its keypoint's running median is a jump."""
    jump_window_s: float = 0.2
    """Running-median window for jump rejection (at least 3 frames)."""
    repair_swaps: bool = True
    """Whether step 2 (head/tail swap repair) runs."""


@dataclass(frozen=True)
class QCReport:
    """What quality control did to one individual's poses. Counts are keypoint positions
    (a point in one frame) unless they say frames.
    """

    frames: int
    low_confidence: int
    """Points dropped for low confidence or marked missing (0, 0) by the source."""
    swaps_fixed: int
    """Frames whose nose and tail_base were exchanged."""
    jumps_removed: int
    gaps_filled: int
    """Points filled by interpolation."""
    missing_fraction: float
    """Frames without a body position (body_center) after cleaning."""

    def to_dict(self) -> dict:
        """The report as a plain dict of its fields."""
        return asdict(self)


def _window(seconds: float, fps: float, minimum: int = 1) -> int:
    """An odd number of frames covering ``seconds``."""
    return max(minimum, int(round(seconds * fps))) | 1


def body_length_px(position: xr.DataArray) -> float:
    """Median nose-to-tail_base distance in pixels over frames that have both; NaN if none."""
    nose = position.sel(keypoints="nose").values
    tail = position.sel(keypoints="tail_base").values
    lengths = np.linalg.norm(nose - tail, axis=position.get_axis_num("space"))
    return float(np.nanmedian(lengths)) if np.isfinite(lengths).any() else float("nan")


def drop_unlikely(
    position: xr.DataArray, confidence: xr.DataArray | None, min_confidence: float
) -> xr.DataArray:
    """NaN where confidence < ``min_confidence`` or the point is exactly (0, 0)."""
    zero = (position == 0).all("space")
    keep = ~zero
    if confidence is not None and min_confidence > 0:
        keep &= ~(confidence < min_confidence)  # NaN confidence (not given) keeps the point
    return position.where(keep)


def swap_plan(nose: np.ndarray, tail: np.ndarray, centre: np.ndarray, max_link: int) -> np.ndarray:
    """Frames (bool, shape (time,)) whose nose and tail_base should be exchanged.

    ``nose``, ``tail`` and ``centre`` are (time, 2) arrays in pixels, NaN where missing.
    Frames without both nose and tail are never exchanged.
    """
    n = len(nose)
    plan = np.zeros(n, dtype=bool)
    frames = np.flatnonzero(np.isfinite(nose).all(1) & np.isfinite(tail).all(1))
    if len(frames) < 2:
        return plan
    length = float(np.median(np.linalg.norm(nose[frames] - tail[frames], axis=1)))
    margin = 0.5 * length
    # Links between consecutive frames that both have a nose and a tail.
    a, b = frames[:-1], frames[1:]
    keep = np.linalg.norm(nose[b] - nose[a], axis=1) + np.linalg.norm(tail[b] - tail[a], axis=1)
    exchange = np.linalg.norm(nose[b] - tail[a], axis=1) + np.linalg.norm(tail[b] - nose[a], axis=1)
    linked = (b - a <= max_link) & (np.abs(keep - exchange) > margin)
    flips = linked & (exchange < keep)
    # Parity relative to the first frame of each linked piece.
    piece = np.r_[0, np.cumsum(~linked)]
    parity = np.r_[0, np.cumsum(flips)] % 2
    # Motion evidence: the body centre's step along the nose direction (after parity).
    step = np.full((len(frames), 2), np.nan)
    step[1:] = centre[b] - centre[a]
    step[1:][b - a > 1] = np.nan  # a step over a gap says little about the direction
    direction = np.where(parity[:, None] == 1, tail[frames] - nose[frames], nose[frames] - tail[frames])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True) + 1e-9
    along = np.einsum("ij,ij->i", step, direction)
    # Only steps of at least 1% of the body length (smaller ones are jitter) and within
    # about 35 degrees of the body axis count: a mouse exploring a wall shuffles sideways
    # and backwards with its head on the wall.
    distance = np.linalg.norm(step, axis=1)
    along[~((distance > 0.01 * length) & (np.abs(along) >= 0.8 * distance))] = 0.0
    forward = np.bincount(piece, weights=np.clip(along, 0, None))
    backward = np.bincount(piece, weights=np.clip(-along, 0, None))
    # Walking of at least a body length, three times as much one way as the other, decides;
    # otherwise the piece follows most of the source's own frames.
    decisive = (forward + backward >= length) & (
        np.maximum(forward, backward) >= 3 * np.minimum(forward, backward)
    )
    mostly_flipped = np.bincount(piece, weights=parity) / np.bincount(piece) > 0.5
    turn_round = np.where(decisive, backward > forward, mostly_flipped)
    plan[frames] = (parity == 1) != turn_round[piece]
    return plan


def _exchange(ds: xr.Dataset, plan: xr.DataArray) -> xr.Dataset:
    """Exchange nose and tail_base (position and confidence) where ``plan`` (dims time,
    individuals) is true. A tail_tip found from the wrong end is dropped there, and the
    tracker's body orientation (towards the nose) turns round.
    """
    names = list(ds.keypoints.values)
    order = [names.index({"nose": "tail_base", "tail_base": "nose"}.get(k, k)) for k in names]
    out = ds.copy()
    for var in ("position", "confidence"):
        if var in ds:
            swapped = ds[var].isel(keypoints=order).assign_coords(keypoints=names)
            if "tail_tip" in names:
                swapped.loc[{"keypoints": "tail_tip"}] = np.nan if var == "position" else 0.0
            out[var] = xr.where(plan, swapped, ds[var]).transpose(*ds[var].dims)
    if "body_orientation_deg" in ds:
        out["body_orientation_deg"] = xr.where(
            plan, (ds.body_orientation_deg + 180) % 360, ds.body_orientation_deg
        )
    return out


def _derive_centre(ds: xr.Dataset) -> xr.Dataset:
    """body_center as the midpoint of nose and tail_base (when the source had none)."""
    pair = ds.position.sel(keypoints=["nose", "tail_base"])
    centre = pair.mean("keypoints", skipna=False)
    position = ds.position.copy()
    position.loc[{"keypoints": "body_center"}] = centre.transpose(*position.sel(keypoints="body_center").dims)
    return ds.assign(position=position)


def clean(ds: xr.Dataset, fps: float, config: QCConfig = QCConfig()) -> tuple[xr.Dataset, list[QCReport]]:
    """Clean the poses of every individual; returns the cleaned dataset and one report per
    individual (in the dataset's order). Needs keypoints nose, tail_base and body_center.
    """
    # xarray's default running-median and gap-filling kernels come from numbagg, whose JIT
    # compilation costs every fresh worker process 10-20 s; bottleneck's are compiled ahead.
    with xr.set_options(use_numbagg=False, use_bottleneck=True):
        return _clean(ds, fps, config)


def _clean(ds: xr.Dataset, fps: float, config: QCConfig) -> tuple[xr.Dataset, list[QCReport]]:
    derived_centre = ds.attrs.get("body_center") == DERIVED_CENTRE
    confidence = ds.get("confidence")
    source = ds.position
    position = drop_unlikely(source, confidence, config.min_confidence)
    low_confidence = (source.notnull().all("space") & position.isnull().any("space")).sum(
        ["time", "keypoints"]
    )
    ds = ds.assign(position=position)

    plan = xr.zeros_like(position.isel(space=0, keypoints=0, drop=True), dtype=bool)
    if config.repair_swaps:
        max_link = _window(0.5, fps)
        for k in range(ds.sizes["individuals"]):
            one = ds.position.isel(individuals=k)
            xy = {
                name: one.sel(keypoints=name).transpose("time", "space").values
                for name in ("nose", "tail_base", "body_center")
            }
            plan[dict(individuals=k)] = swap_plan(xy["nose"], xy["tail_base"], xy["body_center"], max_link)
        ds = _exchange(ds, plan)
    if derived_centre:
        ds = _derive_centre(ds)

    position = ds.position
    window = _window(config.jump_window_s, fps, minimum=3)
    if ds.sizes["time"] > window:
        reference = rolling_filter(position, window=window, statistic="median", min_periods=1)
        distance = np.hypot(*(position - reference).transpose("space", ...))
        limits = xr.DataArray(
            [
                config.max_jump_body_lengths * body_length_px(position.isel(individuals=k))
                for k in range(ds.sizes["individuals"])
            ],
            dims="individuals",
        )
        jumps = distance > limits  # NaN distances and NaN limits are never jumps
        if derived_centre:
            jumps.loc[{"keypoints": "body_center"}] = False  # derived again below, from the cleaned ends
        position = position.where(~jumps)
    else:
        jumps = xr.zeros_like(position.isel(space=0), dtype=bool)
    before_fill = position
    position = interpolate_over_time(position, max_gap=max(1, int(round(config.max_gap_s * fps))))
    filled = (before_fill.isnull().any("space") & position.notnull().all("space")).sum(["time", "keypoints"])
    before_smoothing = position
    window = _window(config.smoothing_s, fps) if config.smoothing_s > 0 else 1
    if 3 <= window <= ds.sizes["time"]:  # a window of one frame would not smooth anything
        smooth = rolling_filter(position, window=window, statistic="median", min_periods=window // 2 + 1)
        position = smooth.where(position.notnull())
    ds = ds.assign(position=position, **{UNSMOOTHED: before_smoothing})
    if derived_centre:
        ds = _derive_centre(ds)
        ds[UNSMOOTHED] = _derive_centre(ds.assign(position=ds[UNSMOOTHED])).position
    missing = ds.position.sel(keypoints="body_center").isnull().any("space").mean("time")
    reports = [
        QCReport(
            frames=int(ds.sizes["time"]),
            low_confidence=int(low_confidence[k]),
            swaps_fixed=int(plan.isel(individuals=k).sum()),
            jumps_removed=int(jumps.isel(individuals=k).sum()),
            gaps_filled=int(filled[k]),
            missing_fraction=float(missing[k]),
        )
        for k in range(ds.sizes["individuals"])
    ]
    return ds, reports
