"""Small helpers over binary masks and point sets that the segmentation shares.

Openings, outlines and filled blobs in OpenCV's conventions (uint8 masks, contours of
(x, y) pixels), and the tip of a point set along a direction.
"""

from __future__ import annotations

import cv2
import numpy as np

_SQUARE_3 = np.ones((3, 3), np.uint8)
_SQUARE_2 = np.ones((2, 2), np.uint8)


def _open_2x2(mask: np.ndarray) -> np.ndarray:
    """Opening with a 2x2 square. OpenCV's own shifts an even kernel's result by a pixel
    (it does not mirror the kernel for the dilation); mirrored anchors keep it in place.
    """
    return cv2.dilate(cv2.erode(mask, _SQUARE_2, anchor=(0, 0)), _SQUARE_2, anchor=(1, 1))


def _largest_outline(mask: np.ndarray) -> np.ndarray | None:
    """Outer contour of the largest 8-connected blob of ``mask``, by the area it encloses;
    None when the mask is empty. Tracing outlines is several times cheaper than labelling.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=cv2.contourArea) if contours else None


def _filled(outline: np.ndarray, shape: tuple[int, int], offset=(0, 0)) -> np.ndarray:
    """The blob within ``outline`` (a contour, shifted by ``offset``) as a uint8 mask of
    ``shape``, holes filled: a hole in a mouse is a part of it with little contrast (eyes,
    a highlight, a seam between fur tones), not floor.
    """
    filled = np.zeros(shape, np.uint8)
    cv2.drawContours(filled, [outline], -1, 1, -1, offset=offset)
    return filled


def _farthest(points: np.ndarray, along: np.ndarray) -> np.ndarray:
    """Mean of the ``points`` within 2 px of the largest ``along``: a tip, steady against single pixels."""
    return points[along >= along.max() - 2].mean(axis=0)
