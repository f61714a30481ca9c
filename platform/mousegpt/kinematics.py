"""Per-frame kinematics in physical units from platform keypoints (nose, body_center, tail_base).

Input positions are pixels in the camera image (x right, y down). Outputs are millimetres,
mm/s and degrees; angles are measured from the image's +x axis toward +y (clockwise as
seen on screen). Frames where a keypoint is missing give NaN in everything derived from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from movement.filtering import rolling_filter
from movement.kinematics import compute_speed

from mousegpt.arena import Arena
from mousegpt.errors import InputError

SMOOTHING_S = 0.2
"""Rolling-median window applied to positions before differentiating, against tracking jitter."""


def validate_rates(fps: float | None, px_per_mm: float | None, source: str) -> None:
    """Refuse non-positive or non-finite fps and px_per_mm, naming the file."""
    for name, value in (("fps", fps), ("px_per_mm", px_per_mm)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InputError(f"{source}: {name} must be a positive number, got {value}")


def _angle_deg(vec: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(vec[:, 1], vec[:, 0]))


def _wrap_deg(angle: np.ndarray) -> np.ndarray:
    return (angle + 180.0) % 360.0 - 180.0


def compute(ds: xr.Dataset, fps: float, px_per_mm: float, arena: Arena | None, individual: int = 0,
            view: str = "top") -> pd.DataFrame:
    """One row per frame.

    Angles are as seen from above: a bottom-view camera sees the animal mirrored, so its x
    axis is flipped before headings and turns are measured (left stays the animal's left).

    Columns: ``time_s``; ``x_mm``, ``y_mm`` (body centre); ``speed_mm_s`` (body centre);
    ``body_length_mm`` (nose to tail base, shortens when the mouse rears, seen from above);
    ``heading_deg`` (torso axis, tail base to body centre); ``angular_speed_deg_s`` (signed
    rate of change of the heading); ``head_yaw_deg`` (head direction relative to the torso,
    signed); ``head_speed_mm_s`` (nose speed relative to the body centre); ``wall_distance_mm``
    and ``zone`` (wall, centre, corner; None where the position is missing).
    """
    validate_rates(fps, px_per_mm, str(ds.attrs.get("source_file", "pose")))
    n = int(ds.sizes["time"])
    position = ds.position.isel(individuals=individual).sel(keypoints=["nose", "body_center", "tail_base"])
    position = position.assign_coords(time=np.arange(n) / fps)
    window = max(1, int(round(SMOOTHING_S * fps)) | 1)
    smooth = rolling_filter(position, window=window, statistic="median", min_periods=1) if n >= window else position
    points = {k: smooth.sel(keypoints=k).transpose("time", "space").values for k in ("nose", "body_center", "tail_base")}
    nose, centre, tail = points["nose"], points["body_center"], points["tail_base"]
    mirror = np.array([-1.0, 1.0]) if view == "bottom" else np.ones(2)

    speed = compute_speed(smooth.sel(keypoints="body_center")).values / px_per_mm if n > 1 else np.zeros(n)
    torso = (centre - tail) * mirror
    heading = _angle_deg(torso)
    unwrapped = heading.copy()
    valid = ~np.isnan(heading)
    if valid.any():
        unwrapped[valid] = np.degrees(np.unwrap(np.radians(heading[valid])))
    angular = np.gradient(unwrapped) * fps if n > 1 else np.zeros(n)
    head_yaw = _wrap_deg(_angle_deg((nose - centre) * mirror) - heading)
    relative_nose = nose - centre
    head_speed = np.linalg.norm(np.gradient(relative_nose, axis=0), axis=1) * fps / px_per_mm if n > 1 else np.zeros(n)

    table = pd.DataFrame({
        "time_s": np.arange(n) / fps,
        "x_mm": centre[:, 0] / px_per_mm,
        "y_mm": centre[:, 1] / px_per_mm,
        "speed_mm_s": speed,
        "body_length_mm": np.linalg.norm(nose - tail, axis=1) / px_per_mm,
        "heading_deg": heading,
        "angular_speed_deg_s": angular,
        "head_yaw_deg": head_yaw,
        "head_speed_mm_s": head_speed,
    })
    if arena is not None:
        table["wall_distance_mm"] = arena.wall_distance(centre[:, 0], centre[:, 1]) / px_per_mm
        table["zone"] = arena.zones(centre[:, 0], centre[:, 1])
    else:
        table["wall_distance_mm"] = np.nan
        table["zone"] = None
    return table


def estimate_px_per_mm(ds: xr.Dataset, body_length_mm: float = 90.0, individual: int = 0) -> float:
    """Scale from the mouse itself: the 85th percentile of nose-to-tail-base length (px),
    a stretched-out adult mouse, divided by ``body_length_mm``."""
    position = ds.position.isel(individuals=individual)
    nose = position.sel(keypoints="nose").transpose("time", "space").values
    tail = position.sel(keypoints="tail_base").transpose("time", "space").values
    lengths = np.linalg.norm(nose - tail, axis=1)
    if np.all(np.isnan(lengths)):
        raise InputError(f"{ds.attrs.get('source_file', 'pose')}: no frame with both nose and tail base to estimate px_per_mm")
    return float(np.nanpercentile(lengths, 85) / body_length_mm)
