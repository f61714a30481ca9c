"""What the tracker measures and the settings it runs with.

``TRACKED_KEYPOINTS`` and ``BODY_ELLIPSE`` name the tracker's output (see ``track``);
``TrackerConfig`` holds the thresholds and sample sizes of the background model and the
segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACKED_KEYPOINTS = ("nose", "body_center", "tail_base", "tail_tip")

BODY_ELLIPSE = {
    "body_length_px": "full major axis of the body's equivalent ellipse (same second moments), pixels",
    "body_width_px": "full minor axis of that ellipse, pixels",
    "body_area_px2": "area of the body silhouette without the tail, square pixels",
    "body_orientation_deg": (
        "direction of the major axis towards the nose, degrees from image +x towards +y, [0, 360)"
    ),
}
"""Data variables of ``track()`` besides the poses, dims (time, individuals), NaN where no
mouse is found: name -> meaning (in the image, as the camera saw it)."""


@dataclass(frozen=True)
class TrackerConfig:
    """Settings of the tracker: the background model's sampling and the foreground threshold.

    The defaults suit 8-bit grey video of one mouse that contrasts with the floor; every
    stage of the tracker takes the same configuration. Each field is documented below it,
    with its unit.
    """

    background_samples: int = 60
    """Frames, spread over the whole video, whose per-pixel percentile is the background
    (``estimate_background``)."""
    threshold_fraction: float = 0.4
    """Foreground threshold as a fraction of the mouse-to-floor contrast."""
    min_threshold: float = 18.0
    """Lowest foreground threshold in grey levels, so sensor noise is never foreground."""
    min_area_px: int = 40
    """A foreground blob smaller than this (square pixels) is not a mouse."""
    chunk_size: int = 64
    """Frames decoded and tracked at a time; ``track``'s ``progress`` is told after each chunk."""
