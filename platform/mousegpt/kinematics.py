"""Per-frame kinematics in physical units from platform keypoints (nose, body_center, tail_base).

Input positions are pixels in the camera image (x right, y down), already cleaned and
smoothed by ``qc.clean`` (fast head movements are measured from its positions before
smoothing). Outputs are millimetres, mm/s and degrees; angles are measured
from the image's +x axis toward +y (clockwise as seen on screen from above). Frames where a
keypoint is missing give NaN in everything derived from it.

Egocentric coordinates put the origin at body_center and the forward axis along
tail_base -> nose; "left" is the animal's left. A bottom-view camera sees the animal
mirrored, so its image x axis is flipped first and left stays the animal's left.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from movement.kinematics import compute_speed
from scipy.signal import butter, sosfiltfilt

from mousegpt.arena import Arena
from mousegpt.errors import InputError
from mousegpt.qc import UNSMOOTHED


def validate_rates(
    fps: float | None, px_per_mm: float | None, source: str, names: tuple[str, str] = ("fps", "px_per_mm")
) -> None:
    """Refuse non-positive or non-finite fps and px_per_mm (or the quantities ``names``), naming the file."""
    for name, value in zip(names, (fps, px_per_mm)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InputError(f"{source}: {name} must be a positive number, got {value}")


def _angle_deg(vec: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(vec[:, 1], vec[:, 0]))


def _wrap_deg(angle: np.ndarray) -> np.ndarray:
    return (angle + 180.0) % 360.0 - 180.0


FAST_HZ = 8.0
"""Head movements at or above this frequency are "fast": twitches and tremor, faster than
the strokes of face grooming or the sway of sniffing (both below 8 Hz in mice)."""


def fast_part(signal: np.ndarray, fps: float, cutoff_hz: float = FAST_HZ) -> np.ndarray:
    """The part of ``signal`` (one value per frame) at ``cutoff_hz`` and above: a 4th-order
    Butterworth high-pass run forwards and backwards (no lag). Gaps are bridged linearly for
    the filter and stay NaN in the output; all NaN when ``fps`` cannot show ``cutoff_hz``
    (below twice it) or fewer than 4 frames have a value.
    """
    out = np.full(len(signal), np.nan)
    valid = ~np.isnan(signal)
    if fps <= 2 * cutoff_hz or valid.sum() < 4:
        return out
    frames = np.arange(len(signal))
    bridged = np.interp(frames, frames[valid], signal[valid])
    sos = butter(4, cutoff_hz, btype="highpass", fs=fps, output="sos")
    filtered = sosfiltfilt(sos, bridged, padlen=min(3 * (2 * len(sos) + 1), len(signal) - 1))
    out[valid] = filtered[valid]
    return out


def _head_yaw_deg(nose: np.ndarray, centre: np.ndarray, tail: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Head direction (body_center -> nose) relative to the torso (tail_base -> body_center), signed."""
    return _wrap_deg(_angle_deg((nose - centre) * mirror) - _angle_deg((centre - tail) * mirror))


def _unwrapped_deg(angle: np.ndarray) -> np.ndarray:
    out = angle.copy()
    valid = ~np.isnan(angle)
    if valid.any():
        out[valid] = np.degrees(np.unwrap(np.radians(angle[valid])))
    return out


def _mirror(view: str) -> np.ndarray:
    """Multiplier that turns image coordinates of ``view`` into coordinates seen from above."""
    return np.array([-1.0, 1.0]) if view == "bottom" else np.ones(2)


def body_axes(nose: np.ndarray, tail: np.ndarray, view: str = "top") -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors (time, 2) of the animal's own frame, in image coordinates seen from above
    (``_mirror``): ``forward`` along tail_base -> nose, and the animal's ``left``. NaN where
    nose or tail_base is missing.
    """
    axis = (nose - tail) * _mirror(view)
    forward = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    # Seen from above with y down, the animal's left is the forward axis turned a quarter
    # turn anticlockwise on screen: (fx, fy) -> (fy, -fx).
    return forward, np.stack([forward[:, 1], -forward[:, 0]], axis=1)


def egocentric(ds: xr.Dataset, px_per_mm: float, individual: int = 0, view: str = "top") -> xr.DataArray:
    """Every keypoint of one individual in the animal's own frame, in mm.

    Dims (time, space, keypoints) with space = ``forward`` (along tail_base -> nose) and
    ``left`` (the animal's left); the origin is body_center. NaN where body_center, nose
    or tail_base is missing.
    """
    position = ds.position.isel(individuals=individual).transpose("time", "keypoints", "space")
    points = position.values * _mirror(view)
    names = list(position.keypoints.values)
    centre = points[:, names.index("body_center")]
    forward, left = body_axes(points[:, names.index("nose")], points[:, names.index("tail_base")])
    relative = (points - centre[:, None, :]) / px_per_mm
    values = np.stack(
        [np.einsum("tkd,td->tk", relative, forward), np.einsum("tkd,td->tk", relative, left)], axis=1
    )
    return xr.DataArray(
        values,
        dims=("time", "space", "keypoints"),
        coords={"time": position.time.values, "space": ["forward", "left"], "keypoints": names},
        attrs={"units": "mm"},
    )


def compute(
    ds: xr.Dataset, fps: float, px_per_mm: float, arena: Arena | None, individual: int = 0, view: str = "top"
) -> pd.DataFrame:
    """One row per frame, from cleaned positions (see ``qc.clean``).

    Angles are as seen from above: a bottom-view camera sees the animal mirrored, so its x
    axis is flipped before headings and turns are measured (left stays the animal's left).

    Columns: ``time_s``; ``x_mm``, ``y_mm`` (body centre, image axes); ``speed_mm_s`` (body
    centre); ``forward_speed_mm_s`` and ``left_speed_mm_s`` (body-centre velocity in the
    egocentric frame: negative forward speed is walking backwards); ``body_length_mm`` (nose
    to tail base, shortens when the mouse rears, seen from above); ``heading_deg`` (torso
    axis, tail base to body centre); ``angular_speed_deg_s`` (signed rate of change of the
    heading, positive clockwise seen from above); ``head_yaw_deg`` (head direction relative
    to the torso, signed); ``head_speed_mm_s`` (nose speed relative to the body centre);
    ``head_yaw_fast_deg`` (the head yaw's part at ``FAST_HZ`` and above, ``fast_part``, from the
    positions before smoothing when the dataset has them; NaN below 2 * ``FAST_HZ`` fps);
    ``wall_distance_mm`` and ``zone`` (wall, centre, corner; None where the position is missing).
    """
    validate_rates(fps, px_per_mm, str(ds.attrs.get("source_file", "pose")))
    n = int(ds.sizes["time"])
    position = ds.position.isel(individuals=individual).sel(keypoints=["nose", "body_center", "tail_base"])
    position = position.assign_coords(time=np.arange(n) / fps)
    points = {
        k: position.sel(keypoints=k).transpose("time", "space").values
        for k in ("nose", "body_center", "tail_base")
    }
    nose, centre, tail = points["nose"], points["body_center"], points["tail_base"]
    mirror = _mirror(view)

    speed = compute_speed(position.sel(keypoints="body_center")).values / px_per_mm if n > 1 else np.zeros(n)
    velocity = np.gradient(centre * mirror, axis=0) * fps / px_per_mm if n > 1 else np.zeros((n, 2))
    forward, left = body_axes(nose, tail, view)
    torso = (centre - tail) * mirror
    heading = _angle_deg(torso)
    angular = np.gradient(_unwrapped_deg(heading)) * fps if n > 1 else np.zeros(n)
    head_yaw = _head_yaw_deg(nose, centre, tail, mirror)
    # Fast head movements are measured before smoothing, which removes them (see ``qc``).
    raw = (ds[UNSMOOTHED] if UNSMOOTHED in ds else ds.position).isel(individuals=individual)
    raw_points = [
        raw.sel(keypoints=k).transpose("time", "space").values for k in ("nose", "body_center", "tail_base")
    ]
    head_yaw_fast = fast_part(_unwrapped_deg(_head_yaw_deg(*raw_points, mirror)), fps)
    relative_nose = nose - centre
    head_speed = (
        np.linalg.norm(np.gradient(relative_nose, axis=0), axis=1) * fps / px_per_mm if n > 1 else np.zeros(n)
    )

    table = pd.DataFrame(
        {
            "time_s": np.arange(n) / fps,
            "x_mm": centre[:, 0] / px_per_mm,
            "y_mm": centre[:, 1] / px_per_mm,
            "speed_mm_s": speed,
            "forward_speed_mm_s": np.einsum("td,td->t", velocity, forward),
            "left_speed_mm_s": np.einsum("td,td->t", velocity, left),
            "body_length_mm": np.linalg.norm(nose - tail, axis=1) / px_per_mm,
            "heading_deg": heading,
            "angular_speed_deg_s": angular,
            "head_yaw_deg": head_yaw,
            "head_speed_mm_s": head_speed,
            "head_yaw_fast_deg": head_yaw_fast,
        }
    )
    if arena is not None:
        table["wall_distance_mm"] = arena.wall_distance(centre[:, 0], centre[:, 1]) / px_per_mm
        table["zone"] = arena.zones(centre[:, 0], centre[:, 1])
    else:
        table["wall_distance_mm"] = np.nan
        table["zone"] = None
    return table


MOUSE_BODY_MM = 90.0
"""Nose-to-tail-base length of a stretched-out adult mouse, the default scale reference."""
PLAUSIBLE_BODY_MM = (50.0, 130.0)
"""Nose-to-tail-base lengths a mouse can have; a scale giving another is probably wrong."""


def stretched_length_px(ds: xr.Dataset) -> float:
    """The 85th percentile of nose-to-tail-base length in pixels over all frames and
    individuals: the mouse stretched out (rearing and curling only shorten it).
    """
    nose = ds.position.sel(keypoints="nose").transpose("space", ...).values
    tail = ds.position.sel(keypoints="tail_base").transpose("space", ...).values
    lengths = np.hypot(*(nose - tail))
    if np.all(np.isnan(lengths)):
        raise InputError(
            f"{ds.attrs.get('source_file', 'pose')}: "
            "no frame with both nose and tail base to measure the mouse"
        )
    return float(np.nanpercentile(lengths, 85))


def estimate_px_per_mm(ds: xr.Dataset, body_length_mm: float = MOUSE_BODY_MM) -> float:
    """Scale from the mouse itself: its stretched length in pixels over ``body_length_mm``."""
    return stretched_length_px(ds) / body_length_mm


def implausible_scale(ds: xr.Dataset, px_per_mm: float) -> str | None:
    """Why ``px_per_mm`` cannot be right for this mouse (its body length in mm falls outside
    PLAUSIBLE_BODY_MM), with the scale its body length suggests; None when plausible.
    """
    length_px = stretched_length_px(ds)
    length_mm = length_px / px_per_mm
    low, high = PLAUSIBLE_BODY_MM
    if low <= length_mm <= high:
        return None
    return (
        f"px_per_mm {px_per_mm:g} makes the mouse {length_mm:.0f} mm from nose to tail base, implausible "
        f"for a mouse ({low:.0f}-{high:.0f} mm); "
        f"its body length suggests about {length_px / MOUSE_BODY_MM:.2f} px/mm"
    )
