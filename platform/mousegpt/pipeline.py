"""The analysis pipeline's steps, one function each, composed once for a whole recording.

    track (``tracking``) -> clean (``qc``) -> measure (``kinematics``) -> cut (``segments``)
    -> crops (``crops``) -> describe (``describe``) -> embed (``embed``)

``analysis`` runs these steps spread over a cluster (a video tracked in parts, a session
described in chunks); ``measure_poses`` and ``measure_video`` compose them in one process, for
training (``jobs/train``), adaptation, the describers' checks and the stage benchmark. Both
call the same functions, so what a model is trained on is what ``analyze`` computes.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import xarray as xr

from mousegpt import arena as arena_mod
from mousegpt import kinematics, pose, qc, segments, tracking, video
from mousegpt.segments import Window

TRACKER_QC = qc.QCConfig(min_confidence=0.0)
"""Quality control of the built-in tracker's poses: its confidences rank how sure it is of
head versus tail, they are not likelihoods; it leaves frames without a mouse empty itself."""


def clean(ds: xr.Dataset, fps: float, tracked: bool = False) -> tuple[xr.Dataset, list[qc.QCReport]]:
    """Step 2: quality control (``qc.clean``) with the settings for the poses' origin.

    Parameters
    ----------
    ds : xarray.Dataset
        Poses in the platform's keypoints (``pose.standardize``), pixels.
    fps : float
        Frames per second.
    tracked : bool
        The poses come from the built-in tracker (``TRACKER_QC``), not a pose file.

    Returns
    -------
    tuple
        The cleaned poses (implausible points set to NaN, short gaps filled) and one
        ``qc.QCReport`` per individual.
    """
    return qc.clean(ds, fps, TRACKER_QC if tracked else qc.QCConfig())


def arena_from_path(ds: xr.Dataset) -> arena_mod.Arena | None:
    """The arena of a pose file alone, which has no image to find the walls in: the extent of
    the first individual's path, padded by a quarter body length (pixels). None when the path
    has no position at all.
    """
    centre = pose.positions(ds)["body_center"]
    pad = 0.25 * qc.body_length_px(ds.position.isel(individuals=0))
    return arena_mod.from_track(centre[:, 0], centre[:, 1], pad_px=pad)


def measure(
    cleaned: xr.Dataset,
    fps: float,
    px_per_mm: float,
    arena: arena_mod.Arena | None,
    view: str = "top",
    individual: int = 0,
) -> pd.DataFrame:
    """Step 3: per-frame kinematics of one individual (``kinematics.compute``), mm and
    degrees; NaN where the frame has no position.
    """
    return kinematics.compute(cleaned, fps, px_per_mm, arena, individual=individual, view=view)


def cut(kin: pd.DataFrame, fps: float) -> tuple[list[Window], pd.DataFrame]:
    """Step 4: the session's windows and each one's facts (``segments.facts``); a window with
    under half its frames seen has NaN facts.
    """
    windows = segments.windows(len(kin), fps)
    return windows, segments.facts(kin, fps, some=windows)


@attrs.frozen
class Measured:
    """One individual of a recording, cleaned, measured and cut into segments.

    Attributes
    ----------
    poses : xarray.Dataset
        The cleaned poses (pixels), all individuals.
    kinematics : pandas.DataFrame
        Per-frame kinematics of the first individual (``kinematics.compute``).
    windows : list of Window
        The segments' frame ranges.
    facts : pandas.DataFrame
        One row of facts per window (``segments.facts``).
    fps : float
        Frames per second.
    px_per_mm : float
        The scale used, pixels per mm.
    arena : Arena or None
        The walls used for wall distance and zones (pixels).
    """

    poses: xr.Dataset
    kinematics: pd.DataFrame
    windows: list[Window]
    facts: pd.DataFrame
    fps: float
    px_per_mm: float
    arena: arena_mod.Arena | None


def measure_poses(
    ds: xr.Dataset,
    fps: float,
    px_per_mm: float | None = None,
    view: str = "top",
    arena: arena_mod.Arena | None = None,
    tracked: bool = False,
) -> Measured:
    """Steps 2 to 4 on poses: clean, measure and cut the first individual.

    Parameters
    ----------
    ds : xarray.Dataset
        Poses in the platform's keypoints, pixels: a pose file's (``pose.load``), or the
        tracker's (``tracked``).
    fps : float
        Frames per second.
    px_per_mm : float, optional
        The scale; estimated from the mouse's body length when None
        (``kinematics.estimate_px_per_mm``).
    view : str
        ``top`` or ``bottom``.
    arena : Arena, optional
        The walls; from the extent of the path when None (``arena_from_path``).
    tracked : bool
        The poses come from the built-in tracker.
    """
    cleaned, _ = clean(ds.isel(individuals=[0]), fps, tracked)
    px_per_mm = px_per_mm or kinematics.estimate_px_per_mm(cleaned)
    arena = arena if arena is not None else arena_from_path(cleaned)
    kin = measure(cleaned, fps, px_per_mm, arena, view)
    windows, facts = cut(kin, fps)
    return Measured(cleaned, kin, windows, facts, fps, px_per_mm, arena)


def measure_video(
    path: str | Path,
    px_per_mm: float | None = None,
    view: str = "top",
    fps: float | None = None,
    background: tracking.Background | None = None,
) -> tuple[Measured, tracking.Background]:
    """Steps 1 to 4 on a video in one process: track it against its background (estimated
    when None), then ``measure_poses`` with the arena found in the background image.

    Returns the measured session and the background (crops are cut against it).
    """
    background = background or tracking.estimate_background(path)
    ds = tracking.track(path, background=background)
    fps = fps or video.probe(path).fps
    arena = arena_mod.from_background(background.image)
    return measure_poses(ds, fps, px_per_mm, view, arena, tracked=True), background


def search_vectors(descriptions: list, text_vectors: np.ndarray) -> np.ndarray:
    """Step 7's result: each segment's search vector, its description's text embedding plus
    the model's motion embedding where the model learned one (both unit vectors in the same
    space), renormalised, so a query matches what was written and what was seen.
    """
    vectors = np.asarray(text_vectors, np.float32).copy()
    for i, d in enumerate(descriptions):
        if d.motion is not None:
            vectors[i] += d.motion
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
