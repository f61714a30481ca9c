"""A video's segments as ``mousegpt analyze`` sees them (``video_segments``): the built-in
tracker, quality control, kinematics, facts (``mousegpt.pipeline``'s steps) and crops."""

from __future__ import annotations

from pathlib import Path

from mousegpt import crops as crops_mod
from mousegpt.pipeline import measure_video


def video_segments(path: str | Path, px_per_mm: float | None, view: str, fps: float | None = None) -> dict:
    """A video's segments as ``analyze`` sees them: facts, per-frame kinematics and crops."""
    measured, background = measure_video(path, px_per_mm, view, fps)
    return {
        "facts": measured.facts,
        "kinematics": measured.kinematics,
        "windows": measured.windows,
        "fps": measured.fps,
        "crops": crops_mod.extract(path, measured.poses, measured.windows, background, view=view),
    }
