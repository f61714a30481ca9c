"""Tracking a video frame by frame, in parts that may run in parallel, and joining them.

The tracker's only memory is the last pose it found. A part of a video tracked alone begins
without it; ``stitch`` tracks a part's first frames again with the pose the part before
ended with, until the two agree, so that joined parts are exactly one pass through the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mousegpt import video
from mousegpt.errors import InputError
from mousegpt.tracking.background import Background
from mousegpt.tracking.config import BODY_ELLIPSE, TRACKED_KEYPOINTS, TrackerConfig
from mousegpt.tracking.keypoints import _Pose
from mousegpt.tracking.segmentation import _segment


@dataclass
class TrackedPart:
    """Frames ``[start, start + len)`` of a video as the tracker saw them, NaN where no mouse
    was found (tail_tip alone NaN where no tail was seen).

    Made by ``track_part`` and ``stitch``; ``poses_dataset`` turns it into a poses dataset.
    Arrays are float64.
    """

    start: int
    """Index of the part's first frame in the video."""
    positions: np.ndarray
    """(frame, TRACKED_KEYPOINTS, xy) pixels of the image as the camera saw it; NaN where no
    mouse was found, and at tail_tip where no tail was seen."""
    confidences: np.ndarray
    """(frame, TRACKED_KEYPOINTS) in [0, 1], 0 where no mouse was found (never NaN)."""
    ellipses: np.ndarray
    """(frame, BODY_ELLIPSE), in the units BODY_ELLIPSE states; NaN where no mouse was found."""

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def stop(self) -> int:
        """Index of the frame after the part's last, in the video."""
        return self.start + len(self)

    def pose(self, i: int) -> _Pose | None:
        """The tracker's pose at the part's ``i``-th frame (what it carries to the next frame).

        Parameters
        ----------
        i : int
            A frame of the part, counted from its ``start``.

        Returns
        -------
        _Pose or None
            Keypoints in pixels (tail_tip NaN where no tail was seen); None where no mouse was
            found (the body centre is NaN).
        """
        nose, centre, tail_base, tail_tip = self.positions[i]
        if not np.isfinite(centre).all():
            return None
        return _Pose(
            nose=nose,
            centre=centre,
            tail_base=tail_base,
            tail_tip=tail_tip,
            confidence=float(self.confidences[i, 0]),
            tail_confidence=float(self.confidences[i, 3]),
            ellipse=tuple(float(v) for v in self.ellipses[i]),
        )

    def last_pose(self) -> _Pose | None:
        """The last pose found in the part: the tracker's state at its end.

        Returns
        -------
        _Pose or None
            The pose of the last frame whose body centre is not NaN (see ``pose``); None
            when no mouse was found in the whole part.
        """
        found = np.flatnonzero(np.isfinite(self.positions[:, 1, 0]))
        return self.pose(int(found[-1])) if len(found) else None


def _row(pose: _Pose | None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """One frame of a TrackedPart's positions, confidences and ellipses: NaN positions and
    ellipse, 0 confidences, when ``pose`` is None.
    """
    if pose is None:
        return (
            np.full((len(TRACKED_KEYPOINTS), 2), np.nan),
            np.zeros(len(TRACKED_KEYPOINTS)),
            (np.nan,) * len(BODY_ELLIPSE),
        )
    return (
        np.stack([pose.nose, pose.centre, pose.tail_base, pose.tail_tip]).astype(np.float64),
        np.array([pose.confidence, 1.0, pose.confidence, pose.tail_confidence]),
        pose.ellipse,
    )


def _frame_poses(
    path: str | Path,
    bg: Background,
    config: TrackerConfig,
    start: int,
    stop: int | None,
    previous: _Pose | None,
    progress=None,
):
    """Yield ``(frame index, pose or None)`` for frames ``[start, stop)``, the tracker
    beginning with ``previous`` as the pose before ``start``.
    """
    done = 0
    for first, chunk in video.iter_chunks(path, chunk_size=config.chunk_size, start=start, stop=stop):
        for k, frame in enumerate(chunk):
            pose = _segment(bg.relit(frame), bg, config, previous)
            if pose is not None:
                previous = pose
            yield first + k, pose
        done += len(chunk)
        if progress is not None:
            progress(done)


def track_part(
    path: str | Path,
    background: Background,
    start: int = 0,
    stop: int | None = None,
    config: TrackerConfig = TrackerConfig(),
    progress=None,
) -> TrackedPart:
    """Track frames ``[start, stop)`` of a video (to its end when ``stop`` is None), as if the
    mouse had not been seen before ``start``: parts of a long video are tracked in parallel,
    then joined by ``stitch``.

    Parameters
    ----------
    path : str or pathlib.Path
        The video.
    background : Background
        The video's background (``estimate_background``), estimated once for all parts.
    start : int
        First frame tracked.
    stop : int, optional
        The frame after the last one tracked; None for the end of the video.
    config : TrackerConfig
        Thresholds and chunk size.
    progress : callable, optional
        Called with the number of the part's frames done after each chunk.

    Returns
    -------
    TrackedPart
        Positions in pixels, NaN in frames where no mouse is found (and at tail_tip where
        no tail is seen), with confidence 0 there.

    Raises
    ------
    mousegpt.errors.InputError
        When the video has no frames from ``start`` on, or cannot be decoded.
    """
    rows = [_row(pose) for _, pose in _frame_poses(path, background, config, start, stop, None, progress)]
    if not rows:
        raise InputError(f"{path}: no frames from frame {start}")
    positions, confidences, ellipses = (np.asarray(v, np.float64) for v in zip(*rows))
    return TrackedPart(start, positions, confidences, ellipses)


def _same(a: TrackedPart, i: int, b: TrackedPart, j: int) -> bool:
    """Whether frame ``i`` of ``a`` and frame ``j`` of ``b`` are identical, NaN equal to NaN."""
    return (
        np.array_equal(a.positions[i], b.positions[j], equal_nan=True)
        and np.array_equal(a.confidences[i], b.confidences[j])
        and np.array_equal(a.ellipses[i], b.ellipses[j], equal_nan=True)
    )


def stitch(
    path: str | Path,
    background: Background,
    parts: list[TrackedPart],
    config: TrackerConfig = TrackerConfig(),
) -> tuple[TrackedPart, list[int]]:
    """Join consecutive parts of one video into exactly what one pass through it gives.

    The tracker's only memory is the last pose it found: it searches near it and keeps the
    nose at the same end of the body. A part tracked alone began without that memory, so its
    first frames are tracked again, carrying the pose the part before ended with, until they
    agree with the part's own: from there on the two are the same frame by frame (the same
    pose in, the same pose out). Usually that is the first frame or two; a head/tail choice
    that differs at the edge lasts until the mouse's movement or tail settles it again.

    Parameters
    ----------
    path : str or pathlib.Path
        The video the parts were tracked in.
    background : Background
        The background they were tracked against.
    parts : list of TrackedPart
        Parts in any order that, sorted by ``start``, meet end to end.
    config : TrackerConfig
        The configuration they were tracked with.

    Returns
    -------
    TrackedPart
        The joined part, from the first part's start; NaN where no mouse is found, as in
        the parts.
    list of int
        Per edge between two parts, how many frames were tracked again (0 when no mouse
        was found in any part before the edge, so there was no pose to carry).

    Raises
    ------
    ValueError
        When the parts do not meet end to end.
    """
    parts = sorted(parts, key=lambda p: p.start)
    for before, after in zip(parts, parts[1:]):
        if after.start != before.stop:
            raise ValueError(
                f"{path}: parts do not meet: frames {before.start}-{before.stop} "
                f"then {after.start}-{after.stop}"
            )
    joined, retracked = [parts[0]], []
    for part in parts[1:]:
        carried = next((p.last_pose() for p in reversed(joined) if p.last_pose() is not None), None)
        redone = 0
        if carried is not None:
            fixed = TrackedPart(
                part.start, part.positions.copy(), part.confidences.copy(), part.ellipses.copy()
            )
            frames = _frame_poses(path, background, config, part.start, part.stop, carried)
            for index, pose in frames:
                i = index - part.start
                fixed.positions[i], fixed.confidences[i], fixed.ellipses[i] = _row(pose)
                redone += 1
                if pose is not None and _same(fixed, i, part, i):
                    break
            frames.close()  # the video is closed now, not when the generator is collected
            part = fixed
        retracked.append(redone)
        joined.append(part)
    return TrackedPart(
        parts[0].start,
        *(np.concatenate([getattr(p, f) for p in joined]) for f in ("positions", "confidences", "ellipses")),
    ), retracked


def part_bounds(n_frames: int, part_frames: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of the parts a video of ``n_frames`` is tracked in, each about
    ``part_frames`` long (the last one up to half as long again rather than a short tail).

    Parameters
    ----------
    n_frames : int
        Frames in the video.
    part_frames : int
        The length of a part that is wanted, frames.

    Returns
    -------
    list of tuple of int
        Frame indices ``(start, stop)``, consecutive and covering ``[0, n_frames)``; at
        least one part.
    """
    count = max(1, round(n_frames / part_frames))
    edges = np.linspace(0, n_frames, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges, edges[1:])]
