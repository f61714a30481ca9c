"""The tracker's front: a whole video in, a ``movement`` poses dataset out."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from movement.io import load_poses

from mousegpt import video
from mousegpt.tracking.background import Background, estimate_background
from mousegpt.tracking.config import BODY_ELLIPSE, TRACKED_KEYPOINTS, TrackerConfig
from mousegpt.tracking.parts import TrackedPart, track_part


def track(
    path: str | Path,
    config: TrackerConfig = TrackerConfig(),
    progress=None,
    background: Background | None = None,
) -> xr.Dataset:
    """Track one mouse through a video, streaming it in chunks.

    Parameters
    ----------
    path : str or pathlib.Path
        The video.
    config : TrackerConfig
        Thresholds, background samples and chunk size.
    progress : callable, optional
        Called with the number of frames done after each chunk.
    background : Background, optional
        The video's background, when it is estimated already; otherwise it is estimated
        here (``estimate_background``).

    Returns
    -------
    xarray.Dataset
        A ``movement`` poses dataset (time in seconds from the container's fps) with the
        TRACKED_KEYPOINTS in pixels of the video as the camera saw it, and the BODY_ELLIPSE
        variables, dims (time, individuals): NaN where no mouse is found, with confidence 0;
        tail_tip alone NaN, with confidence 0, where no tail is seen.

    Raises
    ------
    mousegpt.errors.InputError
        When the video cannot be read.
    """
    info = video.probe(path)
    bg = background or estimate_background(path, config)
    return poses_dataset(track_part(path, bg, config=config, progress=progress), info.fps)


def poses_dataset(part: TrackedPart, fps: float) -> xr.Dataset:
    """A tracked part (usually a whole video) as a ``movement`` poses dataset with the
    BODY_ELLIPSE variables beside it (see ``track``).

    Parameters
    ----------
    part : TrackedPart
        Tracked frames; the dataset's time starts at 0 whatever the part's ``start``.
    fps : float
        The video's frame rate, frames per second.

    Returns
    -------
    xarray.Dataset
        Position in pixels and confidence, one individual "mouse", the TRACKED_KEYPOINTS,
        and the BODY_ELLIPSE variables with their meaning as ``description``; NaN where the
        part is NaN.
    """
    # movement's layout: (time, space, keypoints, individuals)
    position = part.positions.transpose(0, 2, 1)[..., None]
    ds = load_poses.from_numpy(
        position,
        part.confidences[..., None],
        individual_names=["mouse"],
        keypoint_names=list(TRACKED_KEYPOINTS),
        fps=fps,
        source_software="mousegpt-tracker",
    )
    for i, (name, meaning) in enumerate(BODY_ELLIPSE.items()):
        ds[name] = xr.DataArray(
            part.ellipses[:, i : i + 1], dims=("time", "individuals"), attrs={"description": meaning}
        )
    return ds
