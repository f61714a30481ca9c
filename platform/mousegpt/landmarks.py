"""Points in a pose file that are not the animal: arena corners and centre, LEDs, objects.

Labs often train their pose network on the arena as well as the mouse (DeepLabCut's
``tl``, ``tr``, ``bl``, ``br`` and ``centre`` of the floor, an LED, an object). Such a point
must never be read as a body part: a floor centre taken for the body centre makes every
moment a turn. A keypoint is a landmark when

- its name says so (``LANDMARK_NAME``: corners, arena, LED, light, object, ...), or
- it stays put while the animal moves: the 90th percentile of its distance from its own
  median position is below ``STILL_SHARE`` of the median keypoint's (a mouse that does not
  move at all leaves every point still, so then nothing is a landmark by motion).

Four landmarks that enclose the animal's path are the floor's corners; ``floor`` turns them
into a ``Floor``: the arena, rectified (the camera's perspective and any stretch of the image
undone by a homography), in which walls, zones and with ``arena_mm`` the scale are measured.
Coordinates are pixels (x right, y down); only confident points count (likelihood at least
``MIN_CONFIDENCE``, NaN confidence counts as confident); NaN positions are ignored.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import cv2
import numpy as np
import xarray as xr

from mousegpt.arena import Arena

LANDMARK_NAME = re.compile(
    r"^(tl|tr|bl|br|top_?left|top_?right|bottom_?left|bottom_?right|(upper|lower)_?(left|right)|"
    r".*corner.*|arena.*|.*_arena|led.*|.*_led|light.*|.*_light|object.*|.*_object|obj\d*|cue.*|"
    r"feeder.*|port.*|lever.*|wall.*)$"
)
"""Normalised keypoint names (``pose.normalise``) that are landmarks whatever they do."""
CORNER_NAME = re.compile(
    r"^(tl|tr|bl|br|top_?(left|right)|bottom_?(left|right)|(upper|lower)_?(left|right)|.*corner.*)$"
)
STILL_SHARE = 0.1
"""A keypoint whose spread is below this share of the median keypoint's stays put."""
MIN_CONFIDENCE = 0.6
ENCLOSED_SHARE = 0.9
"""Four landmarks are the floor's corners when their quadrilateral holds this share of the path."""


MIN_SEEN = 0.1
"""A keypoint seen confidently in fewer frames than this share is not judged by its motion."""


def _confident(ds: xr.Dataset) -> xr.DataArray:
    """Positions, NaN where unlikely or at exactly (0, 0) (multi-animal DeepLabCut's missing point)."""
    position = ds.position.where(~(ds.position == 0).all("space"))
    if "confidence" in ds:
        position = position.where(~(ds.confidence < MIN_CONFIDENCE))
    return position


def spread_px(ds: xr.Dataset) -> xr.DataArray:
    """Per keypoint, how far it travels: the 90th percentile over time of the distance in pixels
    from its median position, the largest over individuals; NaN for a keypoint seen confidently
    in fewer than ``MIN_SEEN`` of the frames.
    """
    position = _confident(ds)
    distance = np.hypot(*(position - position.median("time", skipna=True)).transpose("space", ...))
    spread = distance.quantile(0.9, dim="time", skipna=True).drop_vars("quantile")
    seen = distance.notnull().mean("time") >= MIN_SEEN
    return spread.where(seen).max("individuals", skipna=True)


def find(ds: xr.Dataset, names: list[str]) -> dict[str, str]:
    """Landmark keypoints of ``ds`` (source names) with why each is one: ``"name"`` or ``"still"``.

    ``names`` are the keypoints' normalised names, in the dataset's order.
    """
    spread = spread_px(ds).values
    found = {str(k): "name" for k, n in zip(ds.keypoints.values, names) if LANDMARK_NAME.match(n)}
    # The animal's travel: the median over the points not named as landmarks (most are on the
    # animal; one point thrown about by tracking errors does not set it).
    rest = np.array([s for k, s in zip(ds.keypoints.values, spread) if str(k) not in found])
    mobile = np.nanmedian(rest) if np.isfinite(rest).any() else np.nan
    if np.isfinite(mobile) and mobile > 0:
        for k, s in zip(ds.keypoints.values, spread):
            if str(k) not in found and np.isfinite(s) and s < STILL_SHARE * mobile:
                found[str(k)] = "still"
    return found


def positions(ds: xr.Dataset) -> dict[str, tuple[float, float]]:
    """Each keypoint's median confident position (x, y) in pixels; keypoints never seen are left out."""
    median = (
        _confident(ds).median(["time", "individuals"], skipna=True).transpose("keypoints", "space").values
    )
    return {
        str(k): (float(x), float(y))
        for k, (x, y) in zip(ds.keypoints.values, median)
        if np.isfinite([x, y]).all()
    }


def _clockwise(points: np.ndarray) -> np.ndarray:
    """Indices that order four points top-left, top-right, bottom-right, bottom-left (image axes)."""
    centre = points.mean(0)
    order = np.argsort(np.arctan2(points[:, 1] - centre[1], points[:, 0] - centre[0]))
    start = int(np.argmin(points[order].sum(1)))  # the top-left corner has the smallest x + y
    return np.roll(order, -start)


def _enclosed_share(quad: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return 0.0
    contour = quad.astype(np.float32).reshape(-1, 1, 2)
    inside = [cv2.pointPolygonTest(contour, (float(a), float(b)), False) >= 0 for a, b in zip(x[ok], y[ok])]
    return float(np.mean(inside))


@dataclass(frozen=True)
class Floor:
    """A four-cornered arena floor seen through the camera, and the map that rectifies it."""

    corners: tuple[str, ...]
    """Source names of the corner landmarks: top-left, top-right, bottom-right, bottom-left."""
    quad_px: np.ndarray
    """(4, 2) the corners in image pixels, in that order."""
    homography: np.ndarray
    """3x3 map from image pixels to rectified pixels, where the floor is ``arena``."""
    arena: Arena

    @property
    def stretch(self) -> float:
        """How much longer the floor's sides along x look than along y (1 for a square seen straight on)."""
        along_x, along_y = _sides(self.quad_px)
        return float(along_x / along_y)

    def rectify(self, ds: xr.Dataset) -> xr.Dataset:
        """``ds`` with every position variable mapped through the homography (NaN stays NaN)."""
        out = ds.copy()
        for var in ("position", "unsmoothed_position"):
            if var in ds:
                values = ds[var].transpose(..., "space")
                flat = values.values.reshape(-1, 1, 2).astype(np.float64)
                mapped = cv2.perspectiveTransform(flat, self.homography).reshape(values.shape)
                out[var] = values.copy(data=mapped).transpose(*ds[var].dims)
        return out


def _sides(quad: np.ndarray) -> tuple[float, float]:
    """Mean lengths (px) of a clockwise quadrilateral's sides along x and along y."""
    along_x = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    along_y = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    return float(along_x), float(along_y)


def floor(
    where: dict[str, tuple[float, float]], centre_x: np.ndarray, centre_y: np.ndarray, square: bool = False
) -> Floor | None:
    """The floor from four landmarks (``where``: source name -> median (x, y) pixels, as
    ``positions`` gives) that enclose the animal's path (``centre_x``, ``centre_y``: its body
    positions, pixels); corner names are tried first. None without such four.

    The rectified floor keeps the image's scale: its sides are the mean lengths of the
    quadrilateral's opposite sides, or, with ``square``, all the mean of the four (a square floor
    whose image is stretched, as when pixels are not square or the camera looks at an angle).
    """
    named = [k for k in where if CORNER_NAME.match(k.strip().lower().replace(" ", "_").replace("-", "_"))]
    others = [k for k in where if k not in named]
    candidates = ([tuple(named)] if len(named) == 4 else []) + list(itertools.combinations(named + others, 4))
    for names in dict.fromkeys(candidates):
        points = np.array([where[k] for k in names])
        order = _clockwise(points)
        quad = points[order]
        if not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
            continue
        if _enclosed_share(quad, centre_x, centre_y) < ENCLOSED_SHARE:
            continue
        ordered = tuple(names[i] for i in order)
        along_x, along_y = _sides(quad)
        if square:
            along_x = along_y = (along_x + along_y) / 2
        x0, y0 = quad.mean(0) - np.array([along_x, along_y]) / 2
        target = np.array([[x0, y0], [x0 + along_x, y0], [x0 + along_x, y0 + along_y], [x0, y0 + along_y]])
        homography = cv2.getPerspectiveTransform(quad.astype(np.float32), target.astype(np.float32))
        arena = Arena(
            shape="rect",
            cx=float(x0 + along_x / 2),
            cy=float(y0 + along_y / 2),
            width=float(along_x),
            height=float(along_y),
        )
        return Floor(corners=ordered, quad_px=quad, homography=homography, arena=arena)
    return None
