"""Fixed windows over a session and the kinematic facts of each (the describer's input).

The facts are defined, with their units and ranges, in ``records.FACTS``; they use the units
of ``kinematics``: mm, mm/s, degrees, Hz. A window where fewer than half the frames have a
position gets NaN facts and ``visible_fraction`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mousegpt.records import FACTS, IMMOBILE_MM_S

WINDOW_S = 1.0
HOP_S = 0.5

FACT_COLUMNS = tuple(f.name for f in FACTS)
"""The facts' column names, in order (each ``records.Fact`` says its unit and meaning)."""


@dataclass(frozen=True)
class Window:
    """One window of a session: its position in the session and its frames.

    ``index`` counts windows from 0; ``start_frame`` and ``end_frame`` are frame numbers.
    """

    index: int
    start_frame: int
    end_frame: int
    """Exclusive."""


def windows(n_frames: int, fps: float, window_s: float = WINDOW_S, hop_s: float = HOP_S) -> list[Window]:
    """Windows of ``window_s`` every ``hop_s``; a session shorter than one window is one window."""
    length = max(1, int(round(window_s * fps)))
    hop = max(1, int(round(hop_s * fps)))
    starts = range(0, max(1, n_frames - length + 1), hop)
    return [Window(i, s, min(n_frames, s + length)) for i, s in enumerate(starts)]


def dominant_frequency(signal: np.ndarray, fps: float) -> float:
    """Frequency (Hz) of the strongest oscillation in ``signal`` (mean removed); 0 if flat."""
    values = signal[~np.isnan(signal)]
    if len(values) < 4 or np.std(values) < 1e-9:
        return 0.0
    spectrum = np.abs(np.fft.rfft((values - values.mean()) * np.hanning(len(values))))
    freqs = np.fft.rfftfreq(len(values), d=1.0 / fps)
    return float(freqs[1:][np.argmax(spectrum[1:])])


def _rms(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.sqrt(np.mean(values**2))) if len(values) else np.nan


def stretched_length(kin: pd.DataFrame) -> float:
    """The session's stretched-out body length (mm): the 85th percentile of ``body_length_mm``,
    NaN where no frame has one.
    """
    return (
        float(np.nanpercentile(kin["body_length_mm"], 85)) if kin["body_length_mm"].notna().any() else np.nan
    )


def facts(
    kin: pd.DataFrame,
    fps: float,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    some: list[Window] | None = None,
    reference_length: float | None = None,
    first_frame: int = 0,
) -> pd.DataFrame:
    """One row per window: segment_index, start_s, end_s and the columns in FACT_COLUMNS.

    ``body_length_ratio`` is the window's body length over the session's 85th percentile
    (the stretched-out length), so a rearing mouse, foreshortened from above, is well below 1;
    ``body_length_ratio_min`` is its 10th percentile within the window, so a rear that fills
    only part of the window still shows.

    A part of a session is computed as in the whole one given ``some`` of its windows, the
    session's ``reference_length`` (``stretched_length``) and the frame ``kin``'s first row
    is (``first_frame``).
    """
    if reference_length is None:
        reference_length = stretched_length(kin)
    rows = []
    for w in windows(len(kin), fps, window_s, hop_s) if some is None else some:
        part = kin.iloc[w.start_frame - first_frame : w.end_frame - first_frame]
        visible = float(part["x_mm"].notna().mean())
        row = {
            "segment_index": w.index,
            "start_s": w.start_frame / fps,
            "end_s": w.end_frame / fps,
            "visible_fraction": visible,
        }
        if visible < 0.5:
            rows.append(row | {c: np.nan for c in FACT_COLUMNS if c not in row} | {"zone": None})
            continue
        xy = part[["x_mm", "y_mm"]].dropna().to_numpy()
        heading = part["heading_deg"].dropna().to_numpy()
        zones = part["zone"].dropna()
        row.update(
            {
                "speed_mean_mm_s": float(np.nanmean(part["speed_mm_s"])),
                "speed_max_mm_s": float(np.nanmax(part["speed_mm_s"])),
                "displacement_mm": float(np.linalg.norm(xy[-1] - xy[0])),
                "body_length_mm": float(np.nanmean(part["body_length_mm"])),
                "body_length_ratio": float(np.nanmean(part["body_length_mm"]) / reference_length),
                "body_length_ratio_min": float(
                    np.nanpercentile(part["body_length_mm"], 10) / reference_length
                ),
                "heading_change_deg": float(np.degrees(np.unwrap(np.radians(heading)))[-1] - heading[0])
                if len(heading)
                else np.nan,
                "angular_speed_deg_s": float(np.nanmean(np.abs(part["angular_speed_deg_s"]))),
                "head_yaw_std_deg": float(np.nanstd(part["head_yaw_deg"])),
                "head_yaw_abs_deg": float(np.nanmedian(np.abs(part["head_yaw_deg"]))),
                "head_motion_hz": dominant_frequency(part["head_yaw_deg"].to_numpy(), fps),
                "head_speed_mm_s": float(np.nanmean(part["head_speed_mm_s"])),
                "head_yaw_fast_deg": _rms(part["head_yaw_fast_deg"].to_numpy()),
                "immobile_fraction": float(np.mean(part["speed_mm_s"].dropna() < IMMOBILE_MM_S)),
                "wall_distance_mm": float(np.nanmean(part["wall_distance_mm"]))
                if part["wall_distance_mm"].notna().any()
                else np.nan,
                "zone": zones.mode().iloc[0] if len(zones) else None,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=["segment_index", "start_s", "end_s", *FACT_COLUMNS])
