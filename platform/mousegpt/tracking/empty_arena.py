"""An image of the empty arena that the user gives in place of the estimated background.

The image is read as grey levels, checked against the video's size, and brought to the
grey levels of the video's frames (a photo or an exported frame may show the floor at
other levels than the video's luma).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mousegpt import sources, video
from mousegpt.errors import InputError


def read_empty_arena(path: str | Path, info: video.VideoInfo) -> np.ndarray:
    """An image of the empty arena (any format OpenCV reads) as grey levels, float32 (y, x).

    Parameters
    ----------
    path : str or pathlib.Path
        The image: a local path or a URL that ``mousegpt.sources`` reads.
    info : mousegpt.video.VideoInfo
        The video the image is for; the image must be of its width and height in pixels.

    Returns
    -------
    numpy.ndarray
        Grey levels 0-255 as the file holds them (colour is converted to grey), float32
        (y, x); no NaN. Their levels are matched to the video's by ``estimate_background``.

    Raises
    ------
    mousegpt.errors.InputError
        Naming the file, when it is missing, unreadable, or not of the size of the video
        ``info`` describes.
    """
    if sources.is_url(path) and not sources.exists(path):
        raise InputError(f"{path}: no such empty-arena image")
    with sources.as_local(path) as copy:
        return _empty_arena(Path(copy), info)


def _empty_arena(path: Path, info: video.VideoInfo) -> np.ndarray:
    """``read_empty_arena`` of a local file."""
    if not path.is_file():
        raise InputError(f"{path}: no such empty-arena image")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(f"{path}: not an image OpenCV can read (empty-arena image)")
    h, w = image.shape
    if (w, h) != (info.width, info.height):
        raise InputError(
            f"{path}: empty-arena image is {w}x{h} but the video {Path(str(info.path)).name} is "
            f"{info.width}x{info.height}; it must be a frame of the same camera"
        )
    return image.astype(np.float32)


def _matched_levels(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` brought to the grey levels of ``reference`` (the video's median frame) by
    the straight line through their matched quantiles: a frame exported in full range, or
    a photo taken at another exposure, shows the same floor at other levels than the video's
    luma. The mouse covers too few pixels to move the quantiles.
    """
    q = np.linspace(2, 98, 49)
    gain, offset = np.polyfit(np.percentile(image, q), np.percentile(reference, q), 1)
    return (gain * image + offset).astype(np.float32)
