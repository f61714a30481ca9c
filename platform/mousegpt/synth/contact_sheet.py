"""A contact sheet: one frame of every behaviour in both camera views, for a person to look at."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from mousegpt.synth.body import KEYPOINTS
from mousegpt.synth.motion import simulate
from mousegpt.synth.program import BOUT_SECONDS, NOVEL_BEHAVIORS, VARIANTS
from mousegpt.synth.render import FUR, Renderer, Scene

CELL = 220
"""Side of one cell (px)."""

KEYPOINT_COLOURS = [
    tuple(
        int(c)
        for c in cv2.applyColorMap(np.uint8([[int(255 * i / (len(KEYPOINTS) - 1))]]), cv2.COLORMAP_TURBO)[
            0, 0
        ]
    )
    for i in range(len(KEYPOINTS))
]


def _rows() -> list[tuple[str, str]]:
    rows = []
    for behavior in (*BOUT_SECONDS, *NOVEL_BEHAVIORS):
        rows += [(behavior, v) for v in VARIANTS.get(behavior, ("",))][
            : 2 if behavior in ("rear", "groom") else 1
        ]
    return rows


def _label(image: np.ndarray, text: str, scale: float = 0.45) -> None:
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (0, 0), (w + 8, h + 10), (0, 0, 0), -1)
    cv2.putText(image, text, (4, h + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _cell(scene: Scene, behavior: str, variant: str, seed: int, keypoints: bool) -> np.ndarray:
    """The middle frame of a bout of ``behavior``, cropped around the mouse."""
    geometry = scene.geometry
    size = geometry.size_mm
    # A supported rear happens facing a wall; everything else in the middle of the arena.
    start = (size / 2, 0.2 * size, -np.pi / 2) if variant == "supported" else (size / 2, size / 2, 0.3)
    traj = simulate(
        3.0,
        "control",
        seed,
        scene.fps,
        geometry,
        program=[("walk", 1.0), (behavior, 2.0, variant)],
        start=start,
    )
    middle = int(round((1.0 + (0.2 if behavior == "jump" else 1.0)) * scene.fps))
    renderer = Renderer(traj, scene, seed)
    frame = cv2.cvtColor(renderer.i420(middle), cv2.COLOR_YUV2BGR_I420)
    points = renderer.points
    if keypoints:
        for colour, name in zip(KEYPOINT_COLOURS, KEYPOINTS):
            cv2.circle(frame, tuple(int(round(v)) for v in points[name][middle]), 3, colour, -1, cv2.LINE_AA)
    half = int(1.4 * traj.body_length_mm * scene.px_per_mm)
    cx, cy = (int(round(v)) for v in points["body_center"][middle])
    padded = cv2.copyMakeBorder(frame, half, half, half, half, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    crop = padded[cy : cy + 2 * half, cx : cx + 2 * half]
    return cv2.resize(crop, (CELL, CELL), interpolation=cv2.INTER_AREA)


def contact_sheet(path: str | Path, scene: Scene | None = None, seed: int = 0) -> Path:
    """Write a PNG grid: a row per behaviour (and variant), columns top / top with truth
    keypoints / bottom / bottom with keypoints; furs alternate by row; a last row of whole
    frames shows the arenas. Returns the path.
    """
    scene = scene or Scene()
    furs = list(FUR)
    grid = []
    for r, (behavior, variant) in enumerate(_rows()):
        fur = furs[r % len(furs)]
        cells = []
        for view in ("top", "bottom"):
            for with_keypoints in (False, True):
                cell = _cell(replace(scene, view=view, fur=fur), behavior, variant, seed + r, with_keypoints)
                _label(
                    cell,
                    f"{behavior}{' ' + variant if variant else ''}, "
                    f"{view}{' + truth' if with_keypoints else ''}",
                )
                cells.append(cell)
        grid.append(np.hstack(cells))
    wholes = []
    for i, (view, fur, arena) in enumerate(
        [
            ("top", "black", "square"),
            ("top", "white", "circle"),
            ("bottom", "agouti", "square"),
            ("top", "agouti", "circle"),
        ]
    ):
        whole_scene = replace(scene, view=view, fur=fur, arena=arena)
        traj = simulate(1.0, "control", seed + 100 + i, whole_scene.fps, whole_scene.geometry)
        frame = cv2.cvtColor(Renderer(traj, whole_scene, seed).i420(0), cv2.COLOR_YUV2BGR_I420)
        frame = cv2.resize(
            frame, (CELL, int(CELL * scene.height / scene.width)), interpolation=cv2.INTER_AREA
        )
        frame = cv2.copyMakeBorder(
            frame, 0, CELL - frame.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
        _label(frame, f"{arena} {view} {fur}")
        wholes.append(frame)
    grid.append(np.hstack(wholes))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(grid))
    return path
