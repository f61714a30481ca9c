"""Training augmentation of a batch (``augment``): its rates and spreads (``AUGMENTATION``, which
the model card states), crops turned, shifted and scaled (``jitter_crops``), and the slow sway
of some kinematic sequences (``wobble``)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mousegpt.describe.tiny import FACT_FEATURES, SEQUENCE_FEATURES


@dataclass(frozen=True)
class Augmentation:
    no_crops: float = 0.25
    """Share of segments that lose their crops (as pose-only inputs have none)."""
    no_sequence: float = 0.1
    """Share that lose their kinematic sequence (facts only)."""
    no_head_yaw: float = 0.2
    """Share that lose their head yaw (pose files whose body centre is derived halfway between
    nose and tail base, so the head never turns from the body axis)."""
    sway: float = 0.3
    """Share of sequences given a slow sway (``wobble``)."""
    turn_sd_deg: float = 8.0
    shift_sd_px: float = 2.0
    scale_sd: float = 0.05
    """Crops are turned, shifted and scaled by these standard deviations (``jitter_crops``)."""
    contrast: tuple[float, float] = (0.7, 1.3)
    """Range of the crops' contrast factor."""
    sequence_noise_sd: float = 0.03
    """Noise on the kinematic sequence (scaled units)."""
    fact_noise_sd: float = 0.05
    """Relative noise on the facts."""


AUGMENTATION = Augmentation()
"""The augmentation training uses."""

WOBBLE = {
    "forward_speed_mm_s": 0.1,
    "left_speed_mm_s": 0.3,
    "angular_speed_deg_s": 0.05,
    "head_speed_mm_s": 0.15,
}
"""Standard deviations (in the scaled units of SEQUENCE_FEATURES: 20 mm/s, 30 mm/s, 18 deg/s,
15 mm/s) of the slow wobble added to some training sequences (``wobble``)."""

_SEQUENCE_YAW = [list(SEQUENCE_FEATURES).index("head_yaw_deg")]
_FACT_YAW = [list(FACT_FEATURES).index(k) for k in ("head_yaw_std_deg", "head_yaw_abs_deg", "head_motion_hz")]
_SEQ = {name: i for i, name in enumerate(SEQUENCE_FEATURES)}


def jitter_crops(
    crops: np.ndarray, generator: np.random.Generator, augmentation: Augmentation = AUGMENTATION
) -> np.ndarray:
    """Each segment's crops turned, shifted and scaled alike (normal draws with the spreads of
    ``augmentation``): another pose estimator puts the centre and the body axis a little elsewhere."""
    size = crops.shape[-1]
    out = np.empty_like(crops)
    for i, segment in enumerate(crops):
        matrix = cv2.getRotationMatrix2D(
            (size / 2, size / 2),
            generator.normal(0, augmentation.turn_sd_deg),
            generator.normal(1, augmentation.scale_sd),
        )
        matrix[:, 2] += generator.normal(0, augmentation.shift_sd_px, size=2)
        for k, crop in enumerate(segment):
            out[i, k] = cv2.warpAffine(crop, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return out


def wobble(sequence: np.ndarray, rows: np.ndarray, generator: np.random.Generator) -> None:
    """A real mouse's body centre sways sideways and its head bobs as it walks, and a tracker's
    body axis swings with the head: on the real openfield video forward speed is half the
    body-centre speed, where a synthetic walk goes straight ahead. Add that sway, smooth over
    the window's steps, to ``rows`` of ``sequence`` (in place), body-centre speed following its
    forward and sideways parts."""
    if not len(rows):
        return
    steps = sequence.shape[1]
    kernel = np.array([0.25, 0.5, 0.25])
    for name, sd in WOBBLE.items():
        noise = generator.normal(0, sd, size=(len(rows), steps + 2))
        smooth = (
            noise[:, :-2] * kernel[0] + noise[:, 1:-1] * kernel[1] + noise[:, 2:] * kernel[2]
        ) / np.sqrt((kernel**2).sum())
        column = _SEQ[name]
        values = sequence[rows, :, column] + smooth.astype(np.float32)
        if name == "head_speed_mm_s":
            values = np.abs(values)  # a speed
        sequence[rows, :, column] = values
    forward, left = sequence[rows, :, _SEQ["forward_speed_mm_s"]], sequence[rows, :, _SEQ["left_speed_mm_s"]]
    sequence[rows, :, _SEQ["speed_mm_s"]] = np.sqrt(forward**2 * 4 + left**2) / 2  # scales 200 and 100 mm/s


def augment(
    crops: np.ndarray,
    sequence: np.ndarray,
    facts: np.ndarray,
    generator: np.random.Generator,
    augmentation: Augmentation = AUGMENTATION,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's (crops, sequence, facts) augmented for training: some rows lose their crops (as
    pose-only inputs do) or their sequence (facts only), or their head yaw (as from pose files
    whose body centre is derived halfway between nose and tail base, so the head never turns
    from the body axis); some sequences sway (``wobble``); crops are jittered (``jitter_crops``)
    and their contrast varies, and the kinematics get a little noise (another pose estimator's
    positions differ a little). ``sequence`` and ``facts`` are changed in place; ``crops``
    (float32) are returned anew."""
    a, n = augmentation, len(crops)
    sequence[..., :-4] += generator.normal(0, a.sequence_noise_sd, size=sequence[..., :-4].shape).astype(
        np.float32
    )
    facts *= generator.normal(1, a.fact_noise_sd, size=facts.shape).astype(np.float32)
    no_yaw = generator.random(n) < a.no_head_yaw
    sequence[np.ix_(no_yaw, np.arange(sequence.shape[1]), _SEQUENCE_YAW)] = 0
    facts[np.ix_(no_yaw, _FACT_YAW)] = 0
    wobble(sequence, np.flatnonzero(generator.random(n) < a.sway), generator)
    crops = jitter_crops(crops, generator, a)
    crops *= generator.uniform(*a.contrast, size=(n, 1, 1, 1)).astype(np.float32)
    crops[generator.random(n) < a.no_crops] = 0
    sequence[generator.random(n) < a.no_sequence] = 0
    np.clip(crops, 0, 255, out=crops)
    return crops, sequence, facts
