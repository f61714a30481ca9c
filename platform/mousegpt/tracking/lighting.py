"""Metering a frame's overall brightness against a reference image.

Lights that drift over a session, or a camera's automatic exposure, scale every grey level
of a frame alike. The scale is measured as the median ratio of grey levels on a sparse grid
of pixels, which a mouse barely touches; frames are brought back to the reference by it
(``Background.relit``) before they are compared with the background.
"""

from __future__ import annotations

import numpy as np

LIGHT_GRID = 8
"""Pixel spacing of the grid that meters the scene's overall brightness."""
LIGHT_TOLERANCE = 0.02
"""Brightness changes smaller than this fraction are left alone (they are within the threshold)."""
LIGHT_MIN_GREY = 16.0
"""Darker background pixels are left out of the metering: their ratios are mostly noise."""


def _light_gain(frame: np.ndarray, usable: np.ndarray, inverse: np.ndarray) -> float:
    """The median ratio of ``frame``'s grey levels to the reference's on the metering grid:
    ``usable`` marks the grid's points the reference is bright enough at, ``inverse`` is 1 /
    the reference there; 1.0 when no point is usable.
    """
    ratios = frame[::LIGHT_GRID, ::LIGHT_GRID][usable] * inverse
    return float(np.median(ratios)) if ratios.size else 1.0
