"""The background model: the empty arena, the mouse's polarity and the foreground threshold.

The background is a per-pixel percentile of frames sampled across the whole video, so a
mouse resting in one place for most of a session stays foreground; each sample's overall
brightness is matched first (``lighting``). A mouse that rests through (nearly) every
sample is found in the percentile and replaced by the floor (``resting``); or the user gives
an image of the empty arena (``empty_arena``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from mousegpt import video
from mousegpt.tracking.config import TrackerConfig
from mousegpt.tracking.empty_arena import _matched_levels, read_empty_arena
from mousegpt.tracking.floor import _floor_region
from mousegpt.tracking.lighting import LIGHT_GRID, LIGHT_MIN_GREY, LIGHT_TOLERANCE, _light_gain
from mousegpt.tracking.resting import _hidden_mouse


@dataclass(frozen=True)
class Background:
    """The empty arena as the tracker compares each frame with it.

    Made by ``estimate_background``. Frames and the background are 8-bit grey levels
    (y, x) in pixels of the image as the camera saw it; nothing here is NaN.
    """

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

        Parameters
        ----------
        frame : numpy.ndarray
            A grey frame, uint8 (y, x), of the background's size.

        Returns
        -------
        float
            The ratio (1.0: as bright as the background); 1.0 when the background is too dark
            everywhere on the grid to meter.
        """
        usable, inverse = self._meter
        return _light_gain(frame, usable, inverse)

    def relit(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` with its overall brightness brought back to the background's: lights
        that dim or brighten during a session, or a camera's automatic exposure, scale every
        grey level alike.

        Parameters
        ----------
        frame : numpy.ndarray
            A grey frame, uint8 (y, x), of the background's size.

        Returns
        -------
        numpy.ndarray
            ``frame`` itself when its gain (``light_gain``) is within LIGHT_TOLERANCE of 1;
            otherwise a new uint8 frame divided by the gain, saturated at 0 and 255.
        """
        gain = self.light_gain(frame)
        return frame if abs(gain - 1) < LIGHT_TOLERANCE else cv2.convertScaleAbs(frame, alpha=1 / gain)

    @cached_property
    def image_u8(self) -> np.ndarray:
        """The background rounded to uint8 (y, x) grey levels, clipped to [0, 255], for fast
        saturating differences; computed once.
        """
        return np.clip(np.round(self.image), 0, 255).astype(np.uint8)

    def contrast(self, frame: np.ndarray, x0: int = 0, y0: int = 0) -> np.ndarray:
        """How much darker (dark mouse) or lighter (light mouse) each pixel of ``frame`` is
        than the background there.

        Parameters
        ----------
        frame : numpy.ndarray
            A grey window of a frame, uint8 (y, x), brought to the background's brightness
            (``relit``).
        x0, y0 : int
            The window's top-left corner in the whole image, pixels.

        Returns
        -------
        numpy.ndarray
            The difference in the mouse's direction (``polarity``), grey levels, uint8 of
            ``frame``'s shape; differences the other way are 0.
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

    Parameters
    ----------
    path : str or pathlib.Path
        The video.
    config : TrackerConfig
        ``background_samples`` sets how many frames are sampled, ``threshold_fraction`` and
        ``min_threshold`` the foreground threshold.
    empty_arena : str or pathlib.Path, optional
        An image of the arena without the mouse; its grey levels are matched to the
        video's, and the polarity and threshold are still measured on the video's frames.

    Returns
    -------
    Background
        ``image`` float32 (y, x) grey levels, never NaN; ``polarity`` -1 or +1;
        ``threshold`` in grey levels, at least ``config.min_threshold``; ``floor`` the
        arena's floor or None.

    Raises
    ------
    mousegpt.errors.InputError
        When the video cannot be read, or ``empty_arena`` is missing, unreadable or not of
        the video's size (checked before any frame is decoded).
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
