"""The articulated 2-D mouse: from posture variables to keypoints, tail and paws.

Coordinates are arena millimetres as seen from above: origin at the arena's top-left
corner, x to the right, y down (image convention). Angles are radians in that frame, so a
heading of 0 faces +x and the animal's left is ``heading - pi/2``. Every function works on
arrays with one row per frame.

The spine has two halves that bend by ``bend`` (C-shape when turning); rearing (0..1)
foreshortens the head, the front half and (less) the rear half as seen from above or
below, because they rise toward the camera's axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYPOINTS = (
    "nose",
    "left_ear",
    "right_ear",
    "neck",
    "body_center",
    "left_hip",
    "right_hip",
    "tail_base",
    "tail_mid",
    "tail_tip",
)
"""Keypoints of the truth table, as ``<keypoint>_x`` / ``<keypoint>_y`` in pixels."""

TAIL_SEGMENTS = 8
"""The tail is drawn as a chain of this many segments; tail_mid and tail_tip lie on it."""


@dataclass(frozen=True)
class Posture:
    """Per-frame posture, each a float array of shape (frames,)."""

    x: np.ndarray
    """Body centre (mm)."""
    y: np.ndarray
    heading: np.ndarray
    """Direction of the spine at the body centre (rad)."""
    bend: np.ndarray
    """Angle between the front and the rear half of the spine (rad, + bends to the right)."""
    head_yaw: np.ndarray
    """Head direction relative to the front half (rad)."""
    rear: np.ndarray
    """0 on four paws .. 1 fully upright."""
    stretch: np.ndarray
    """Body length relative to the animal's stretched-out length (curled < 1 < stretched)."""
    lift: np.ndarray
    """0 on the floor .. 1 at the top of a jump."""
    forepaws_up: np.ndarray
    """0 forepaws on the floor .. 1 held at the face (grooming) or chest (rearing)."""
    stride: np.ndarray
    """Gait phase (rad)."""
    tail_wave: np.ndarray
    """Phase of the tail's travelling wave (rad)."""


def _unit(angle: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angle), np.sin(angle)], axis=-1)


def skeleton(p: Posture, body_length_mm: float) -> dict[str, np.ndarray]:
    """Keypoints plus drawing points, each (frames, 2) mm, before the camera's projection.

    Besides the KEYPOINTS the result holds ``tail`` (frames, TAIL_SEGMENTS + 1, 2),
    ``paws`` (frames, 4, 2: left fore, right fore, left hind, right hind) and the unit
    directions ``front_dir``, ``rear_dir``, ``head_dir`` (frames, 2).
    """
    length = body_length_mm * p.stretch
    centre = np.stack([p.x, p.y], axis=-1)
    front_angle, rear_angle = p.heading + p.bend / 2, p.heading - p.bend / 2
    head_angle = front_angle + p.head_yaw
    front, rear_, head = _unit(front_angle), _unit(rear_angle), _unit(head_angle)
    left_of = lambda angle: _unit(angle - np.pi / 2)  # noqa: E731
    col = lambda a: a[:, None]  # noqa: E731

    neck = centre + col(0.30 * length * (1 - 0.6 * p.rear)) * front
    nose = neck + col(0.28 * length * (1 - 0.7 * p.rear)) * head
    ear_base = neck + col(0.05 * length * (1 - 0.5 * p.rear)) * head
    ear_side = col(0.075 * body_length_mm * np.ones_like(length)) * left_of(head_angle)
    hunch = 1 - 0.25 * p.rear  # rearing also lifts the lower back toward the camera's axis
    tail_base = centre - col(0.42 * length * hunch) * rear_
    hip_base = centre - col(0.28 * length * hunch) * rear_
    hip_side = col(0.10 * body_length_mm * np.ones_like(length)) * left_of(rear_angle)

    # The tail continues the spine's arc and carries a travelling wave that grows toward the tip.
    segment = 0.9 * body_length_mm / TAIL_SEGMENTS
    tail = [tail_base]
    for i in range(1, TAIL_SEGMENTS + 1):
        frac = i / TAIL_SEGMENTS
        angle = (
            rear_angle + np.pi - 0.8 * p.bend * frac + 0.35 * frac * np.sin(p.tail_wave + 2 * np.pi * frac)
        )
        tail.append(tail[-1] + segment * _unit(angle))
    tail = np.stack(tail, axis=1)

    # Paws: a trotting gait (diagonal pairs in phase); forepaws rise to the face or chest.
    swing = col(0.07 * length * np.sin(p.stride))
    fore_floor = centre + col(0.22 * length) * front
    fore_up = neck + col(0.12 * body_length_mm * np.ones_like(length)) * head
    up = col(p.forepaws_up)
    fore_centre = (1 - up) * fore_floor + up * fore_up
    fore_side = col(0.075 * body_length_mm * (1 - 0.5 * p.forepaws_up)) * left_of(front_angle)
    hind_centre = centre - col(0.30 * length * hunch) * rear_
    hind_side = col(0.115 * body_length_mm * np.ones_like(length)) * left_of(rear_angle)
    paws = np.stack(
        [
            fore_centre + fore_side + swing * front * (1 - up),
            fore_centre - fore_side - swing * front * (1 - up),
            hind_centre + hind_side - swing * rear_,
            hind_centre - hind_side + swing * rear_,
        ],
        axis=1,
    )

    return {
        "nose": nose,
        "left_ear": ear_base + ear_side,
        "right_ear": ear_base - ear_side,
        "neck": neck,
        "body_center": centre,
        "left_hip": hip_base + hip_side,
        "right_hip": hip_base - hip_side,
        "tail_base": tail_base,
        "tail_mid": tail[:, TAIL_SEGMENTS // 2],
        "tail_tip": tail[:, -1],
        "tail": tail,
        "paws": paws,
        "front_dir": front,
        "rear_dir": rear_,
        "head_dir": head,
    }
