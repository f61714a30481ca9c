"""Weight-free single-mouse tracker: background model, segmentation, body axis, nose vs tail.

Works on top- or bottom-view video of one mouse whose fur contrasts with the floor (dark
on light or light on dark; the polarity is detected). The result is a ``movement`` poses
dataset with keypoints nose, body_center, tail_base and tail_tip in pixels of the image as
the camera saw it (x right, y down; a bottom view is mirrored), one individual, and a
confidence in [0, 1] per keypoint; beside the poses, the body ellipse of each frame
(``BODY_ELLIPSE``: length, width, area and orientation of the body without its tail).
Frames where no mouse is found are NaN everywhere; tail_tip alone is NaN, with confidence
0, in frames where no tail is seen.

The background is a per-pixel percentile of frames sampled across the whole video, so a
mouse resting in one place for most of a session stays foreground; each frame's overall
brightness is matched to it first, so lights that drift or a camera's automatic exposure
do not turn the floor into foreground. A mouse that stays still through (nearly) all of a
clip is in the percentile too: it is found there as a mouse-sized blob that differs from
the floor around it, and replaced by the floor (``estimate_background``); or the user gives
an image of the empty arena. Reflections of the mouse in a clear floor or a transparent wall
are fainter than the mouse and lie beyond the arena's floor: they lose to it
(``_mouse_outline``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import xarray as xr
from movement.io import load_poses

from mousegpt import sources, video
from mousegpt.errors import InputError

TRACKED_KEYPOINTS = ("nose", "body_center", "tail_base", "tail_tip")

BODY_ELLIPSE = {
    "body_length_px": "full major axis of the body's equivalent ellipse (same second moments), pixels",
    "body_width_px": "full minor axis of that ellipse, pixels",
    "body_area_px2": "area of the body silhouette without the tail, square pixels",
    "body_orientation_deg": "direction of the major axis towards the nose, degrees from image +x towards +y, [0, 360)",
}
"""Data variables of ``track()`` besides the poses, dims (time, individuals), NaN where no
mouse is found: name -> meaning (in the image, as the camera saw it)."""


@dataclass(frozen=True)
class TrackerConfig:
    background_samples: int = 60
    """Frames, spread over the whole video, whose per-pixel median is the background."""
    threshold_fraction: float = 0.4
    """Foreground threshold as a fraction of the mouse-to-floor contrast."""
    min_threshold: float = 18.0
    """Lowest foreground threshold in grey levels, so sensor noise is never foreground."""
    min_area_px: int = 40
    """A foreground blob smaller than this is not a mouse."""
    chunk_size: int = 64


LIGHT_GRID = 8
"""Pixel spacing of the grid that meters the scene's overall brightness."""
LIGHT_TOLERANCE = 0.02
"""Brightness changes smaller than this fraction are left alone (they are within the threshold)."""
LIGHT_MIN_GREY = 16.0
"""Darker background pixels are left out of the metering: their ratios are mostly noise."""


def _light_gain(frame: np.ndarray, usable: np.ndarray, inverse: np.ndarray) -> float:
    ratios = frame[::LIGHT_GRID, ::LIGHT_GRID][usable] * inverse
    return float(np.median(ratios)) if ratios.size else 1.0


@dataclass(frozen=True)
class Background:
    image: np.ndarray
    """The empty arena's grey level per pixel, float32, dims (y, x)."""
    polarity: int
    """-1 when the mouse is darker than the floor, +1 when lighter."""
    threshold: float
    """Grey-level difference from the background above which a pixel is foreground."""
    floor: np.ndarray | None = None
    """The arena's floor, uint8 (y, x), 1 on it; None where it is not told apart from its
    surroundings. What lies beyond it (the reflection of a mouse in a transparent wall, the
    room) is taken for the mouse only when nothing on the floor can be."""

    @cached_property
    def _meter(self) -> tuple[np.ndarray, np.ndarray]:
        """Where on the light-metering grid the background is bright enough to compare
        with, and 1 / its grey level there.
        """
        grid = self.image[::LIGHT_GRID, ::LIGHT_GRID]
        usable = grid >= LIGHT_MIN_GREY
        return usable, (1.0 / grid[usable]).astype(np.float32)

    def light_gain(self, frame: np.ndarray) -> float:
        """How much brighter the whole scene is in ``frame`` than in the background: the
        median ratio of grey levels on a sparse grid, which the mouse barely touches (a
        ratio per pixel, so walls and floor of any brightness agree).
        """
        usable, inverse = self._meter
        return _light_gain(frame, usable, inverse)

    def relit(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` with its overall brightness brought back to the background's: lights
        that dim or brighten during a session, or a camera's automatic exposure, scale every
        grey level alike.
        """
        gain = self.light_gain(frame)
        return frame if abs(gain - 1) < LIGHT_TOLERANCE else cv2.convertScaleAbs(frame, alpha=1 / gain)

    @cached_property
    def image_u8(self) -> np.ndarray:
        """The background rounded to uint8, for fast saturating differences."""
        return np.clip(np.round(self.image), 0, 255).astype(np.uint8)

    def contrast(self, frame: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
        """How much darker (dark mouse) or lighter (light mouse) each pixel of ``frame`` is
        than the background there; uint8, negative differences are 0. ``frame`` is the
        window of the image whose top-left corner is (x0, y0).
        """
        h, w = frame.shape
        background = self.image_u8[y0 : y0 + h, x0 : x0 + w]
        return cv2.subtract(background, frame) if self.polarity < 0 else cv2.subtract(frame, background)


def _sorted_percentile(ordered: np.ndarray, q: float) -> np.ndarray:
    """``np.percentile(..., q, axis=1)`` (linear interpolation) of rows that are already sorted."""
    position = q / 100 * (ordered.shape[1] - 1)
    lo, frac = int(math.floor(position)), position - math.floor(position)
    hi = min(lo + 1, ordered.shape[1] - 1)
    return ordered[:, lo] * (1 - frac) + ordered[:, hi].astype(np.float64) * frac


def _samples(path: str | Path, n_frames: int, config: TrackerConfig) -> np.ndarray:
    """About ``config.background_samples`` frames spread over the whole video, uint8 (frame,
    y, x), each brought to the brightness of the samples' median: lights drift over a long
    session, and the per-pixel statistics below must compare the floor with itself.
    """
    step = max(1, math.ceil(n_frames / config.background_samples))
    # Sought to, not decoded through: a long video's background costs about as much as a short one's.
    samples = video.read_frames(path, range(0, n_frames, step))
    grid = np.median(samples[:, ::LIGHT_GRID, ::LIGHT_GRID], axis=0)
    usable = grid >= LIGHT_MIN_GREY
    inverse = (1.0 / grid[usable]).astype(np.float32)
    gains = np.array([_light_gain(sample, usable, inverse) for sample in samples])
    if np.any(np.abs(gains - 1) >= LIGHT_TOLERANCE):
        samples = np.stack([cv2.convertScaleAbs(s, alpha=1 / g) for s, g in zip(samples, gains)])
    return samples


def _polarity(samples: np.ndarray, reference: np.ndarray) -> int:
    """-1 when the strongest deviations of ``samples`` (frame, pixel) from ``reference``
    (pixel) are darker, +1 when lighter: the mouse is the strongest deviation in each sample.
    """
    diff = samples.astype(np.float32) - reference
    darkest, brightest = np.percentile(diff, [0.05, 99.95], axis=1)
    return -1 if np.median(-darkest) >= np.median(brightest) else 1


def _contrast(samples: np.ndarray, image: np.ndarray, polarity: int) -> float:
    """The mouse's typical contrast with the background (grey levels): the median over
    samples of the 99.95th percentile of their difference from it, in the mouse's direction.
    """
    deviation = (samples.astype(np.float32) - image.ravel()) * polarity
    return float(np.median(np.percentile(deviation, 99.95, axis=1)))


def estimate_background(
    path: str | Path, config: TrackerConfig = TrackerConfig(), empty_arena: str | Path | None = None
) -> Background:
    """The empty arena, from frames sampled across the video, plus the mouse's polarity and contrast.

    A per-pixel median would absorb a mouse that rests in one place for half the video, so
    once the polarity is known the background is the 90th percentile (dark mouse) or 10th
    percentile (light mouse) of each pixel: the mouse must cover a pixel in 90% of the
    samples to hide the floor there. Samples are first brought to a common overall
    brightness (see ``Background.relit``).

    A mouse that rests in one place through (nearly) every sample, as in a short clip of a
    still mouse, is part of that percentile all the same: it is found as a mouse-sized blob
    that differs from the floor around it while no mouse is seen anywhere else in most
    samples, and the floor is put back in its place (``_hidden_mouse``). ``empty_arena``,
    an image of the arena without the mouse (a file OpenCV reads, of the video's size; see
    ``read_empty_arena``), replaces the estimate.
    """
    info = video.probe(path)
    empty = read_empty_arena(empty_arena, info) if empty_arena is not None else None  # a bad file fails first
    samples = _samples(path, info.n_frames, config)
    n, h, w = samples.shape
    flat = samples.reshape(n, -1)
    hidden = None
    if empty is not None:
        image = _matched_levels(empty, np.median(flat, axis=0).reshape(h, w))
        polarity = _polarity(flat, image.ravel())
    else:
        # Each pixel's samples sorted once; every per-pixel percentile below reads from it.
        ordered = np.sort(flat.T, axis=1)
        polarity = _polarity(flat, _sorted_percentile(ordered, 50).astype(np.float32))
        image = _sorted_percentile(ordered, 90 if polarity < 0 else 10).astype(np.float32).reshape(h, w)
        contrast = _contrast(flat, image, polarity)
        hidden = _hidden_mouse(
            image, samples, polarity, max(config.min_threshold, config.threshold_fraction * contrast), config
        )
        if hidden is not None:
            mask, polarity_hidden, floor = hidden
            # A mouse that never moved, or shifted so slowly that it uncovered as much floor
            # as it covered, left the first guess to noise.
            if polarity_hidden != polarity:
                polarity = polarity_hidden
                image = (
                    _sorted_percentile(ordered, 90 if polarity < 0 else 10).astype(np.float32).reshape(h, w)
                )
            image = np.where(mask > 0, floor, image).astype(np.float32)
    if empty is not None or hidden is not None:
        contrast = _contrast(flat, image, polarity)
    threshold = max(config.min_threshold, config.threshold_fraction * contrast)
    return Background(image=image, polarity=polarity, threshold=threshold, floor=_floor_region(image))


def read_empty_arena(path: str | Path, info: video.VideoInfo) -> np.ndarray:
    """An image of the empty arena (any format OpenCV reads) as grey levels, float32 (y, x).

    Raises InputError naming the file when it is missing, unreadable, or not of the size of
    the video ``info`` describes.
    """
    if sources.is_url(path) and not sources.exists(path):
        raise InputError(f"{path}: no such empty-arena image")
    with sources.as_local(path) as copy:
        return _empty_arena(Path(copy), info)


def _empty_arena(path: Path, info: video.VideoInfo) -> np.ndarray:
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


HIDDEN_WORK_SIDE = 240
"""Short side (px) of the reduced image in which a mouse hidden in the background is looked for."""
FLOOR_SCALE = 0.1
"""Reach (Gaussian sigma) of the floor's local average, as a fraction of the image's short
side: a mouse's body covers only a small part of it."""
MOUSE_AREA = (0.0005, 0.06)
"""Smallest and largest area of a mouse's body, as fractions of the image."""
SEEN_ELSEWHERE = 0.5
"""A blob in the background is the mouse only if the mouse is seen elsewhere in fewer than
this fraction of the samples; otherwise it is part of the arena (an object, a stain)."""


@dataclass(frozen=True)
class _Resting:
    """A mouse-sized blob that differs from the floor around it in a background image."""

    blob: np.ndarray
    """Its pixels, uint8 (y, x) of the full image."""
    sign: int
    """-1 when darker than the floor, +1 when lighter."""
    on_floor: np.ndarray
    """The floor, uint8, at the reduced scale the search works at."""
    small: np.ndarray
    """The image at that scale."""


def _resized(image: np.ndarray, shape: tuple[int, ...], interpolation: int) -> np.ndarray:
    """``image`` at ``shape`` (rows, columns); itself when it has that shape already."""
    return image if image.shape == shape else cv2.resize(image, shape[::-1], interpolation=interpolation)


def _floor_level(image: np.ndarray, floor: np.ndarray, sigma: float) -> np.ndarray:
    """The floor's local average grey level, float32 (y, x): a Gaussian average of the
    pixels of ``image`` where ``floor`` is set, and of those only (walls and the surround
    stay out of it, so it holds up to the floor's edge).
    """
    weights = cv2.GaussianBlur(floor.astype(np.float32), (0, 0), sigma)
    total = cv2.GaussianBlur(image * floor, (0, 0), sigma)
    return total / np.maximum(weights, 1e-3)


def _resting_blob(image: np.ndarray, config: TrackerConfig) -> _Resting | None:
    """The strongest compact, mouse-sized blob on the arena's floor in a background
    ``image``, clear of the image's border, darker or lighter than the floor's local average
    (``_floor_level``) by more than the floor's texture and the sensor noise make it vary;
    None when there is none. The average is taken twice, the second time without what the
    first found far from it, so that a mouse does not make the floor beside it look lighter
    (or darker).
    """
    h, w = image.shape
    scale = max(1, min(h, w) // HIDDEN_WORK_SIDE)
    small = _resized(image, (h // scale, w // scale), cv2.INTER_AREA)
    sigma = FLOOR_SCALE * min(small.shape)
    on_floor = _floor_region(small)
    if on_floor is None:
        on_floor = np.ones(small.shape, np.uint8)
    residual = small - _floor_level(small, on_floor, sigma)
    values = residual[on_floor > 0]
    level = max(config.min_threshold, 5 * 1.4826 * float(np.median(np.abs(values - np.median(values)))))
    residual = small - _floor_level(small, on_floor & (np.abs(residual) <= level), sigma)
    smallest, largest = (f * small.size for f in MOUSE_AREA)
    best = None
    for sign in (-1, 1):
        mask = cv2.morphologyEx(
            ((residual * sign > level) & (on_floor > 0)).astype(np.uint8), cv2.MORPH_OPEN, _SQUARE_3
        )
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, count):
            x, y, bw, bh, area = stats[i]
            if (
                not smallest <= area <= largest
                or x == 0
                or y == 0
                or x + bw == mask.shape[1]
                or y + bh == mask.shape[0]
            ):
                continue
            blob = (labels == i).astype(np.uint8)
            strength = float(residual[blob > 0].sum()) * sign
            if (best is None or strength > best[0]) and _compact(blob):
                best = (strength, sign, blob)
    if best is None:
        return None
    _, sign, blob = best
    return _Resting(blob=_resized(blob, (h, w), cv2.INTER_NEAREST), sign=sign, on_floor=on_floor, small=small)


def _hidden_mouse(
    image: np.ndarray, samples: np.ndarray, polarity: int, threshold: float, config: TrackerConfig
) -> tuple[np.ndarray, int, np.ndarray] | None:
    """A mouse that the percentile background ``image`` holds, because it rested in one
    place through (nearly) all the ``samples``: (its mask, uint8 (y, x); its polarity; the
    floor's estimate, float32 (y, x), to put in its place), or None.

    The candidate is ``_resting_blob``. It is taken for the mouse only when the samples show
    no mouse elsewhere (with the motion's ``polarity`` and ``threshold``) in most of them: a
    mouse that moves about is seen away from a dark object that sits on the floor. The
    floor put in its place is the average of the floor around it.
    """
    resting = _resting_blob(image, config)
    if (
        resting is None
        or _seen_elsewhere(samples, image, resting.blob, polarity, threshold) >= SEEN_ELSEWHERE
    ):
        return None
    small, on_floor = resting.small, resting.on_floor
    # The blur and the faint edge of the fur around the blob go too, but only on the floor:
    # beyond its edge lies something else, that the floor's average does not describe. The
    # floor is found again with the blob filled in: a mouse in a corner cut it off before.
    reach = max(2, int(round(0.15 * math.sqrt(cv2.countNonZero(resting.blob)))))
    mask = cv2.dilate(
        resting.blob, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    )
    floor_level = _floor_level(
        small, on_floor & (1 - _resized(mask, small.shape, cv2.INTER_NEAREST)), FLOOR_SCALE * min(small.shape)
    )
    refound = _floor_region(
        np.where(_resized(resting.blob, small.shape, cv2.INTER_NEAREST) > 0, floor_level, small)
    )
    mask &= _resized(refound if refound is not None else on_floor, image.shape, cv2.INTER_NEAREST)
    return mask, resting.sign, _resized(floor_level, image.shape, cv2.INTER_LINEAR).astype(np.float32)


def _floor_region(image: np.ndarray) -> np.ndarray | None:
    """The arena's floor in a background image: the convex hull of its largest uniform
    region (of either Otsu class), uint8 (y, x); None when no region covers 15% of the
    image. The hull takes back what a mouse resting on the floor cuts out of it.
    """
    grey = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (5, 5), 0)
    _, bright = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best, best_area = None, 0.15 * grey.size
    for mask in (bright, 1 - bright):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        if count > 1:
            i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if stats[i, cv2.CC_STAT_AREA] > best_area:
                best, best_area = (labels == i).astype(np.uint8), stats[i, cv2.CC_STAT_AREA]
    if best is None:
        return None
    hull = np.zeros_like(grey)
    cv2.fillConvexPoly(hull, cv2.convexHull(_largest_outline(best)), 1)
    return hull


def _compact(blob: np.ndarray) -> bool:
    """Whether a blob could be a mouse's body: mostly convex (a curled or bent mouse is) and
    at most five times as long as wide.
    """
    outline = _largest_outline(blob)
    hull = cv2.contourArea(cv2.convexHull(outline))
    (_, _), (a, b), _ = cv2.minAreaRect(outline)
    return hull > 0 and cv2.countNonZero(blob) / hull >= 0.5 and max(a, b) <= 5 * max(1.0, min(a, b))


def _seen_elsewhere(
    samples: np.ndarray, image: np.ndarray, blob: np.ndarray, polarity: int, threshold: float
) -> float:
    """Fraction of ``samples`` in which a mouse-sized blob differs from ``image`` (by more
    than ``threshold`` in the direction ``polarity``) away from ``blob``: outside a body
    length's reach of it, where a resting mouse's moving head and tail stay.
    """
    h, w = image.shape
    reach = int(2 * math.sqrt(cv2.countNonZero(blob)))
    near = cv2.dilate(blob, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    away = near == 0
    background = np.clip(np.round(image), 0, 255).astype(np.uint8)
    smallest = MOUSE_AREA[0] * h * w
    five = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # leaves a body, not a tail
    seen = 0
    for sample in samples:
        diff = cv2.subtract(background, sample) if polarity < 0 else cv2.subtract(sample, background)
        mask = cv2.morphologyEx(((diff > threshold) & away).astype(np.uint8), cv2.MORPH_OPEN, five)
        outline = _largest_outline(mask)
        seen += outline is not None and cv2.contourArea(outline) >= smallest
    return seen / len(samples)


_SQUARE_3 = np.ones((3, 3), np.uint8)
_SQUARE_2 = np.ones((2, 2), np.uint8)


def _open_2x2(mask: np.ndarray) -> np.ndarray:
    """Opening with a 2x2 square. OpenCV's own shifts an even kernel's result by a pixel
    (it does not mirror the kernel for the dilation); mirrored anchors keep it in place.
    """
    return cv2.dilate(cv2.erode(mask, _SQUARE_2, anchor=(0, 0)), _SQUARE_2, anchor=(1, 1))


@dataclass
class _Pose:
    """One frame's mouse, in pixels of the whole image."""

    nose: np.ndarray
    centre: np.ndarray
    """The body centre: the middle of the tail-stripped body's cross-section through its centroid."""
    tail_base: np.ndarray
    tail_tip: np.ndarray
    """NaN when no tail is seen."""
    confidence: float
    """Of the head/tail assignment: 0.5 (a guess) to 1."""
    tail_confidence: float
    ellipse: tuple[float, float, float, float]
    """The values of BODY_ELLIPSE, in its order."""


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


def _spine_points(
    body: np.ndarray, axis: np.ndarray, centroid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tips of the body at both ends of its long ``axis`` (mean of the pixels within 3 px of
    each extreme), and the middle of the body's cross-section through its ``centroid``.

    That middle is the body centre: the centroid of a body bent into a C lies off the
    spine, towards the inside of the bend, but the cross-section is centred on it.
    """
    points = (
        cv2.findNonZero(body).reshape(-1, 2).astype(np.float32) - centroid
    )  # (x, y); faster than np.nonzero
    along = points @ axis
    plus = points[along >= along.max() - 3].mean(axis=0)
    minus = points[along <= along.min() + 3].mean(axis=0)
    normal = np.array([-axis[1], axis[0]], dtype=np.float32)
    across = points[np.abs(along) < 1.5] @ normal
    middle = 0.5 * (across.min() + across.max()) * normal
    return plus + centroid, minus + centroid, middle + centroid


def _farthest(points: np.ndarray, along: np.ndarray) -> np.ndarray:
    """Mean of the ``points`` within 2 px of the largest ``along``: a tip, steady against single pixels."""
    return points[along >= along.max() - 2].mean(axis=0)


def _snout_tip(
    blob: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    nose: np.ndarray,
    centre: np.ndarray,
    half_width: float,
) -> np.ndarray:
    """The nose on the whole silhouette: the opening that strips the tail also blunts the
    thin snout, so the tip is looked for again beyond the opened body's end, along the
    centre-to-nose direction and within a body half-width of it (never the tail, which
    leaves the other end).
    """
    direction = nose - centre
    length = float(np.linalg.norm(direction))
    if length < 1:
        return nose
    direction = direction / length
    points = cv2.findNonZero(blob).reshape(-1, 2).astype(np.float32) - centre
    along = points @ direction
    across = np.abs(points @ np.array([-direction[1], direction[0]], dtype=np.float32))
    ahead = (along > length - half_width) & (across < half_width)
    if not ahead.any() or along[ahead].max() > length + 2 * half_width:
        return _turned_snout(blob, diff, threshold, nose, centre, half_width, nose)
    tip = _farthest(points[ahead], along[ahead]) + centre
    return _turned_snout(
        blob, diff, threshold, nose, centre, half_width, _pale_tip(diff, threshold, tip, centre, half_width)
    )


TURNED_HEAD_REACH = 1.1
"""A turned head's snout lies at least this many times farther from the body centre than the
end of the body's long axis. The ears of a real mouse seen from above bulge about as far as
the axis's end (0.96-1.06 of it on the real open-field video), so they never qualify."""
TURNED_HEAD_CONE = math.cos(math.radians(80))
"""Cosine of the widest angle between a turned snout and the body's centre-to-nose direction."""
TURNED_HEAD_SHARPER = 0.08
"""How much less of a disc around a turned snout's tip the body fills than around the tip
found along the axis: a snout tapers, the shoulder or ear at the axis's end is round."""


def _turned_snout(
    blob: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    nose: np.ndarray,
    centre: np.ndarray,
    half_width: float,
    tip: np.ndarray,
) -> np.ndarray:
    """The snout of a mouse that holds its head turned well to a side (a resting or freezing
    mouse often does): the body's long axis then ends at the shoulder or an ear, and the snout
    is a sharper tip of the outline beyond it and to the side. ``tip`` (found along the axis)
    is kept unless such a tip exists.
    """
    length = float(np.linalg.norm(nose - centre))
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if length < 1 or not contours:
        return tip
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2)
    offset = outline.astype(np.float32) - centre
    reach = np.linalg.norm(offset, axis=1)
    beyond = (reach > TURNED_HEAD_REACH * length) & (
        offset @ ((nose - centre) / length) > TURNED_HEAD_CONE * reach
    )
    if not beyond.any():
        return tip
    # How much of a disc around each outline point the body fills: low at a tapering tip.
    r = max(2, round(0.6 * half_width))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)).astype(np.float32)
    fill = cv2.filter2D(blob.astype(np.float32), -1, disc / disc.sum(), borderType=cv2.BORDER_CONSTANT)
    candidates = np.flatnonzero(beyond)
    best = candidates[np.argmin(fill[outline[candidates, 1], outline[candidates, 0]])]
    tx, ty = np.clip(np.round(tip).astype(int), 0, [blob.shape[1] - 1, blob.shape[0] - 1])
    if fill[outline[best, 1], outline[best, 0]] >= fill[ty, tx] - TURNED_HEAD_SHARPER:
        return tip
    snout = outline[best].astype(np.float32)
    # The snout points away from the head behind it, not from the body centre.
    body = cv2.findNonZero(blob).reshape(-1, 2).astype(np.float32)
    head = body[np.linalg.norm(body - snout, axis=1) < 2 * r].mean(axis=0)
    return _pale_tip(diff, threshold, snout, head, half_width)


def _pale_tip(
    diff: np.ndarray, threshold: float, tip: np.ndarray, centre: np.ndarray, half_width: float
) -> np.ndarray:
    """The snout tapers to a point narrower than the blur, so its very end (and a pink nose
    on a brown coat) is paler than the body: it is followed on from the blob's ``tip`` at
    half the threshold, along the snout's line, in a band (and at most that band's width
    beyond the tip) narrow enough to leave out the head's shadow and blur beside it.
    """
    band = 0.3 * half_width
    direction = (tip - centre) / max(1e-6, float(np.linalg.norm(tip - centre)))
    x0, y0 = (max(0, int(v - band - 2)) for v in tip)
    x1, y1 = (int(v + band + 3) for v in tip)
    found = cv2.findNonZero((diff[y0:y1, x0:x1] > 0.5 * threshold).astype(np.uint8))
    if found is None:
        return tip
    points = found.reshape(-1, 2).astype(np.float32) + np.array([x0, y0], np.float32) - tip
    along = points @ direction
    across = np.abs(points @ np.array([-direction[1], direction[0]], dtype=np.float32))
    band_points = (along > -2) & (across < band)
    if not band_points.any():
        return tip
    return _farthest(points[band_points], along[band_points]) + tip


def _strip_tail(blob: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray]:
    """The body without the tail; the body's half-width and the opening radius (px); and
    each pixel's distance from the body's core (px).

    The tail is much thinner than the body: an opening with a disc of about half the
    body's half-width removes it and leaves the body. Openings and dilations are done with
    distance transforms, whose cost does not grow with the disc's radius.
    """
    inside = cv2.distanceTransform(blob, cv2.DIST_L2, 3)
    half_width = float(inside.max())
    radius = max(1.0, 0.5 * half_width)
    core = (inside > radius).astype(np.uint8)
    from_core = cv2.distanceTransform(1 - core, cv2.DIST_L2, 3)
    body = ((from_core <= radius) & (blob > 0)).astype(np.uint8)
    outline = _largest_outline(body)
    return (blob if outline is None else _filled(outline, body.shape)), half_width, radius, from_core


def _thin_pieces(
    silhouette: np.ndarray, from_core: np.ndarray, radius: float, half_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (x, y) of the thin pieces of ``silhouette`` attached to the body (the tail;
    paws seen from below), and the label of the piece each belongs to.

    Pieces are looked for outside a margin around the body that holds its shadow. Shadows
    and wall reflections are thick or apart from the body, and are left out.
    """
    # The body is the core dilated by ``radius``: beyond it by d means from_core > radius + d.
    outside = silhouette & (from_core > 2 * radius + 1).astype(np.uint8)
    n, labels = cv2.connectedComponents(outside, connectivity=8)
    if n <= 1:
        return np.empty((0, 2), np.float32), np.empty(0, np.int32)
    xy = cv2.findNonZero(outside).reshape(-1, 2)
    xs, ys = xy[:, 0], xy[:, 1]
    piece = labels[ys, xs]
    near = from_core[ys, xs] <= 3 * radius + 3
    touches = np.bincount(piece, weights=near, minlength=n) > 0
    # Thickness is measured away from the body: at its root the tail merges with the
    # body's shadow and blur, and looks as wide as neither.
    thickness = np.where(near, 0, cv2.distanceTransform(outside, cv2.DIST_L2, 3)[ys, xs])
    # Thickest point of each piece: a max per label, by sorting once (ufunc.at is slow).
    order = np.argsort(piece, kind="stable")
    labels_sorted = piece[order]
    starts = np.flatnonzero(np.r_[True, labels_sorted[1:] != labels_sorted[:-1]])
    thickest = np.zeros(n)
    thickest[labels_sorted[starts]] = np.maximum.reduceat(thickness[order], starts)
    thin = touches & (thickest <= max(2.0, 0.4 * half_width))
    keep = thin[piece]
    return xy[keep].astype(np.float32), piece[keep]


def _tail_tip(
    points: np.ndarray, piece: np.ndarray, nose: np.ndarray, tail_base: np.ndarray, half_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Far end of the tail: of the thin pieces that leave the body nearer its tail_base than
    its nose, the one reaching farthest from tail_base; NaN when none reaches beyond a body
    width (a hind paw does not). Also the tail's pixels (x, y), none when no tail is found.
    """
    none = np.full(2, np.nan, np.float32), np.empty((0, 2), np.float32)
    to_base = np.linalg.norm(points - tail_base, axis=1)
    near_tail = np.bincount(piece, weights=to_base < np.linalg.norm(points - nose, axis=1))
    candidates = near_tail[piece] > 0
    if not candidates.any():
        return none
    reach = np.where(candidates, to_base, -1.0)
    tail = piece == piece[np.argmax(reach)]
    far = to_base[tail]
    if far.max() < 2 * half_width:
        return none
    return points[tail][far >= far.max() - 2].mean(axis=0), points[tail]


def _tail_root(
    body: np.ndarray, tail: np.ndarray, from_core: np.ndarray, centre: np.ndarray, tail_base: np.ndarray
) -> np.ndarray:
    """Where the ``tail`` (its pixels, x and y) leaves the ``body``: the body's end in the
    direction from its ``centre`` to the tail's root. A mouse curled to a side ends its long
    axis beside its rump, not at the tail base; the tail shows which way the rump lies.
    ``tail_base`` (the axis's end) is kept when no tail is seen.
    """
    if not len(tail):
        return tail_base
    depth = from_core[tail[:, 1].astype(int), tail[:, 0].astype(int)]
    towards = tail[depth <= depth.min() + 1].mean(axis=0) - centre
    if np.linalg.norm(towards) < 1:
        return tail_base
    inside = cv2.findNonZero(body).reshape(-1, 2).astype(np.float32)
    return _farthest(inside, inside @ (towards / np.linalg.norm(towards)))


def _ellipse(m: dict, axis: np.ndarray, towards_nose: np.ndarray) -> tuple[float, float, float, float]:
    """BODY_ELLIPSE from the body's image moments ``m``: full axes of the ellipse with the
    same second moments (px), the area (px^2) and the axis's direction towards the nose
    (degrees from +x towards +y).
    """
    n = m["m00"]
    xx, xy, yy = m["mu20"] / n, m["mu11"] / n, m["mu02"] / n
    spread = math.hypot((xx - yy) / 2, xy)
    major, minor = (xx + yy) / 2 + spread, max(0.0, (xx + yy) / 2 - spread)
    if axis @ towards_nose < 0:
        axis = -axis
    # The second modulo folds the 360.0 that rounding gives for tiny negative angles.
    orientation = math.degrees(math.atan2(axis[1], axis[0])) % 360.0 % 360.0
    return 4 * math.sqrt(major), 4 * math.sqrt(minor), n, orientation


def _search_box(previous: _Pose, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where to look first in the next frame (x0, y0, x1, y1): around the last mouse and its
    tail, widened by about as far as a mouse moves in a frame.
    """
    length = float(np.linalg.norm(previous.nose - previous.tail_base))
    # A tail not seen may reappear anywhere behind the body, up to about a body length.
    tail = (
        previous.tail_tip if np.isfinite(previous.tail_tip).all() else 2 * previous.tail_base - previous.nose
    )
    points = np.stack([previous.nose, previous.centre, previous.tail_base, tail])
    margin = 0.3 * length + 15
    (x0, y0), (x1, y1) = points.min(axis=0) - margin, points.max(axis=0) + margin
    return max(0, int(x0)), max(0, int(y0)), min(shape[1], int(x1) + 1), min(shape[0], int(y1) + 1)


def _segment(
    frame: np.ndarray, bg: Background, config: TrackerConfig, previous: _Pose | None
) -> _Pose | None:
    """Find the mouse in one grey frame; None when nothing mouse-sized differs from the background."""
    # Search near the last position first (cheap), the whole frame when the mouse is lost.
    if previous is not None:
        x0, y0, x1, y1 = _search_box(previous, frame.shape)
        pose = _segment_window(frame[y0:y1, x0:x1], bg, config, previous, (x0, y0))
        if pose is not None:
            return pose
    return _segment_window(frame, bg, config, previous, (0, 0))


def _segment_window(
    window: np.ndarray, bg: Background, config: TrackerConfig, previous: _Pose | None, offset: tuple[int, int]
) -> _Pose | None:
    """The mouse in ``window``, the part of the frame whose top-left corner is ``offset``."""
    diff = bg.contrast(window, *offset)
    mask = cv2.morphologyEx((diff > bg.threshold).astype(np.uint8), cv2.MORPH_OPEN, _SQUARE_3)
    outline = _mouse_outline(mask, diff, bg.floor, offset, config)
    if outline is None:
        return None
    # Tails are paler and thinner than the body, so they are looked for with a lower
    # threshold. The rest works in the box around the faint silhouette that holds the
    # mouse (filled with 2 to tell it from other faint pixels): body, tail and shadow.
    faint = _open_2x2((diff > 0.35 * bg.threshold).astype(np.uint8))
    x, y, w, h = cv2.floodFill(faint, None, tuple(int(v) for v in outline[0, 0]), 2, flags=8)[3]
    # A margin of background, so that distance transforms see where the silhouette ends.
    x0, y0 = max(0, x - 2), max(0, y - 2)
    crop = slice(y0, y + h + 2), slice(x0, x + w + 2)
    blob = _filled(outline, mask[crop].shape, (-x0, -y0))
    if cv2.countNonZero(blob) < config.min_area_px:
        return None
    silhouette = (faint[crop] == 2).astype(np.uint8)
    return _measure(
        blob,
        silhouette,
        diff[crop],
        bg.threshold,
        previous,
        np.array([offset[0] + x0, offset[1] + y0], np.float32),
    )


RIVAL_AREA = 0.25
"""Blobs smaller than this fraction of the largest in view do not compete with it to be the mouse."""
OFF_FLOOR_WEIGHT = 0.25
"""How much a blob whose centre lies beyond the arena's floor counts against one on it."""


def _mouse_outline(
    mask: np.ndarray,
    diff: np.ndarray,
    floor: np.ndarray | None,
    offset: tuple[int, int],
    config: TrackerConfig,
) -> np.ndarray | None:
    """The outer contour of the blob of ``mask`` that is the mouse; None when the mask is empty.

    Usually there is one blob, or one much larger than the rest. When blobs of similar
    size compete, the one with the most contrast (``diff`` summed over it) wins: a
    reflection in a transparent wall or a clear floor is a mirrored copy of the mouse, as
    large but fainter. A blob whose centre lies beyond the arena's ``floor`` (the window's
    top-left corner is ``offset`` in it) counts for OFF_FLOOR_WEIGHT of its contrast: a
    mouse stands on the floor, its reflections are seen beyond the walls.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) <= 1:
        return contours[0] if contours else None
    areas = np.array([cv2.contourArea(c) for c in contours])
    rivals = [c for c, a in zip(contours, areas) if a >= max(config.min_area_px, RIVAL_AREA * areas.max())]
    if len(rivals) <= 1:
        return contours[int(np.argmax(areas))]
    scores = []
    for contour in rivals:
        x, y, w, h = cv2.boundingRect(contour)
        inside = _filled(contour, (h, w), (-x, -y))
        score = float(diff[y : y + h, x : x + w][inside > 0].sum(dtype=np.float64))
        if floor is not None:
            m = cv2.moments(contour)
            cx, cy = (int(m["m10"] / m["m00"]), int(m["m01"] / m["m00"])) if m["m00"] else (x, y)
            if not floor[min(cy + offset[1], floor.shape[0] - 1), min(cx + offset[0], floor.shape[1] - 1)]:
                score *= OFF_FLOOR_WEIGHT
        scores.append(score)
    return rivals[int(np.argmax(scores))]


def _measure(
    blob: np.ndarray,
    silhouette: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    previous: _Pose | None,
    shift: np.ndarray,
) -> _Pose | None:
    """Keypoints and body ellipse of the mouse ``blob``; ``silhouette`` is the mouse at the
    tail's lower threshold, ``diff`` the contrast image around both and ``shift`` its
    position in the frame.
    """
    body, half_width, radius, from_core = _strip_tail(blob)
    m = cv2.moments(body, binaryImage=True)
    if m["m00"] == 0:
        return None
    centroid = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]], dtype=np.float32)
    angle = 0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])
    axis = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
    plus, minus, centre = _spine_points(body, axis, centroid)

    # Which end is the head? Three votes, each > 0 for "plus is the nose":
    # 1. the tail attaches at the other end;
    points, piece = _thin_pieces(silhouette, from_core, radius, half_width)
    tail_vote = float(np.clip(-((points - centre) @ axis).sum() / (half_width * half_width * 20 + 1), -2, 2))
    # 2. temporal consistency with the previous frame's assignment;
    # 3. a mouse moving fast moves head first.
    continuity = motion = 0.0
    if previous is not None:
        prev_nose, prev_tail = previous.nose - shift, previous.tail_base - shift
        keep = np.linalg.norm(plus - prev_nose) + np.linalg.norm(minus - prev_tail)
        swap = np.linalg.norm(minus - prev_nose) + np.linalg.norm(plus - prev_tail)
        continuity = float(np.tanh((swap - keep) / (half_width + 1)))
        step = centre - (previous.centre - shift)
        if np.linalg.norm(step) > 0.25 * half_width:
            motion = 0.5 * float(np.sign(step @ axis))
    vote = tail_vote + continuity + motion
    nose, tail_base = (plus, minus) if vote >= 0 else (minus, plus)
    nose = _snout_tip(blob, diff, threshold, nose, centre, half_width)
    confidence = float(min(1.0, 0.5 + abs(vote) / 2))

    tail_tip, tail = _tail_tip(points, piece, nose, tail_base, half_width)
    tail_base = _tail_root(body, tail, from_core, centre, tail_base)
    # A short visible tail is likelier a stub or a paw than the tail's end.
    tail_reach = float(np.linalg.norm(tail_tip - tail_base) / (np.linalg.norm(nose - tail_base) + 1))
    tail_confidence = min(confidence, tail_reach) if np.isfinite(tail_reach) else 0.0
    return _Pose(
        nose=nose + shift,
        centre=centre + shift,
        tail_base=tail_base + shift,
        tail_tip=tail_tip + shift,
        confidence=confidence,
        tail_confidence=tail_confidence,
        ellipse=_ellipse(m, axis, nose - centre),
    )


def track(
    path: str | Path,
    config: TrackerConfig = TrackerConfig(),
    progress=None,
    background: Background | None = None,
) -> xr.Dataset:
    """Track one mouse through a video, streaming it in chunks.

    Returns a ``movement`` poses dataset (time in seconds from the container's fps) with
    the TRACKED_KEYPOINTS in pixels of the video as the camera saw it, and the
    BODY_ELLIPSE variables, dims (time, individuals): NaN where no mouse is found.
    ``progress``, if given, is called with the number of frames done after each chunk.
    ``background`` skips estimating it again.
    """
    info = video.probe(path)
    bg = background or estimate_background(path, config)
    return poses_dataset(track_part(path, bg, config=config, progress=progress), info.fps)


@dataclass
class TrackedPart:
    """Frames ``[start, start + len)`` of a video as the tracker saw them, NaN where no mouse
    was found (tail_tip alone NaN where no tail was seen).
    """

    start: int
    positions: np.ndarray
    """(frame, TRACKED_KEYPOINTS, xy) pixels."""
    confidences: np.ndarray
    """(frame, TRACKED_KEYPOINTS), 0 where no mouse was found."""
    ellipses: np.ndarray
    """(frame, BODY_ELLIPSE)."""

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def stop(self) -> int:
        return self.start + len(self)

    def pose(self, i: int) -> _Pose | None:
        """The tracker's pose at the part's ``i``-th frame (what it carries to the next frame);
        None where no mouse was found.
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
        """The last pose found in the part: the tracker's state at its end."""
        found = np.flatnonzero(np.isfinite(self.positions[:, 1, 0]))
        return self.pose(int(found[-1])) if len(found) else None


def _row(pose: _Pose | None) -> tuple[np.ndarray, np.ndarray, tuple]:
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
    then joined by ``stitch``. ``progress`` is called with the part's frames done.
    """
    rows = [_row(pose) for _, pose in _frame_poses(path, background, config, start, stop, None, progress)]
    if not rows:
        raise InputError(f"{path}: no frames from frame {start}")
    positions, confidences, ellipses = (np.asarray(v, np.float64) for v in zip(*rows))
    return TrackedPart(start, positions, confidences, ellipses)


def _same(a: TrackedPart, i: int, b: TrackedPart, j: int) -> bool:
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

    Returns the joined part and, per edge, how many frames were tracked again.
    """
    parts = sorted(parts, key=lambda p: p.start)
    for before, after in zip(parts, parts[1:]):
        if after.start != before.stop:
            raise ValueError(
                f"{path}: parts do not meet: frames {before.start}-{before.stop} then {after.start}-{after.stop}"
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
    """
    count = max(1, round(n_frames / part_frames))
    edges = np.linspace(0, n_frames, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges, edges[1:])]


def poses_dataset(part: TrackedPart, fps: float) -> xr.Dataset:
    """A tracked part (usually a whole video) as a ``movement`` poses dataset with the
    BODY_ELLIPSE variables beside it (see ``track``).
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
