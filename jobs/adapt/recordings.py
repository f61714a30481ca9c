"""The annotated recordings' segments, cut exactly as ``analyze`` cuts them
(``recording_segments``), each labelled with the bout covering at least half of it
(``segment_labels``); all of them together as the model's inputs (``labelled_segments``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from jobs.adapt.bouts import Bout
from mousegpt import arena as arena_mod
from mousegpt import calibration, pipeline, tracking, video
from mousegpt import crops as crops_mod
from mousegpt.describe.tiny import MouseGPTTinyConfig, fact_features, sequence_features
from mousegpt.inputs import InputSpec


def recording_segments(bout: Bout, ds=None, uses_crops: bool = True) -> dict:
    """A recording's segments as ``analyze`` cuts them (first individual): facts, the
    kinematic sequence features, crops (videos) and windows. ``ds``: its poses, already read."""
    warnings: list[str] = []
    bout = replace(bout, view=bout.view or "top")
    if bout.kind == "pose":
        spec = InputSpec(
            video=None,
            pose=bout.file,
            fps=bout.fps,
            px_per_mm=bout.px_per_mm,
            view=bout.view,
            arena_mm=bout.arena_mm,
        )
        if ds is None:
            ds, fps = calibration.imported_poses(spec, None, bout.fps, warnings)
        else:
            fps = bout.fps or float(ds.attrs["fps"])
        background = arena = None
        marks = ds.attrs.get("landmarks") or {}
        ds, _ = pipeline.clean(ds, fps)
    else:
        spec = InputSpec(
            video=bout.file, fps=bout.fps, px_per_mm=bout.px_per_mm, view=bout.view, arena_mm=bout.arena_mm
        )
        fps = bout.fps or video.probe(bout.file).fps
        background = tracking.estimate_background(bout.file)
        arena = arena_mod.from_background(background.image)
        marks = {}
        ds, _ = pipeline.clean(tracking.track(bout.file, background=background), fps, tracked=True)
    calibrated = calibration.calibrate(spec, ds, arena, marks, warnings)
    kin = pipeline.measure(calibrated.poses, fps, calibrated.px_per_mm, calibrated.walls(arena), bout.view)
    windows, facts = pipeline.cut(kin, fps)
    crops = (
        crops_mod.extract(bout.file, ds, windows, background, view=bout.view)
        if background is not None and uses_crops
        else None
    )
    return {
        "facts": facts,
        "sequence": sequence_features(kin, windows, MouseGPTTinyConfig().n_steps),
        "crops": crops,
        "windows": windows,
        "fps": fps,
        "kinematics": kin,
    }


def segment_labels(windows, fps: float, bouts: list[Bout]) -> tuple[np.ndarray, np.ndarray]:
    """Per window: the behaviour of the bout covering at least half of it (the one covering
    most; "" when none), and whether it lies wholly within the recording's annotated span."""
    start = np.array([w.start_frame for w in windows]) / fps
    end = np.array([w.end_frame for w in windows]) / fps
    length = np.maximum(end - start, 1e-9)
    best, label = np.zeros(len(windows)), np.full(len(windows), "", dtype=object)
    for b in bouts:
        cover = (np.minimum(end, b.end_s) - np.maximum(start, b.start_s)).clip(min=0) / length
        take = (cover >= 0.5 - 1e-9) & (cover > best)
        label[take], best[take] = b.behavior, cover[take]
    span = (start >= min(b.start_s for b in bouts) - 1e-9) & (end <= max(b.end_s for b in bouts) + 1e-9)
    return label.astype(str), span


def labelled_segments(bouts: list[Bout], poses: dict[str, object], progress=None) -> list[dict]:
    """Per annotated recording, its visible segments within its annotated span: facts, sequence,
    crops (one blank pixel per segment where there are none), label ("" when in no bout) and file."""
    by_file: dict[str, list[Bout]] = {}
    for b in bouts:
        by_file.setdefault(b.file, []).append(b)
    parts = []
    for done, (file, own) in enumerate(by_file.items(), start=1):
        if progress:
            progress("analysing the annotated recordings", done - 1, len(by_file))
        seg = recording_segments(own[0], poses.get(file))
        label, span = segment_labels(seg["windows"], seg["fps"], own)
        keep = np.flatnonzero(span & (seg["facts"]["visible_fraction"].to_numpy() >= 0.5))
        n = len(keep)
        crops = seg["crops"][keep] if seg["crops"] is not None else np.zeros((n, 1, 1, 1), np.uint8)
        parts.append(
            {
                "facts": seg["facts"].iloc[keep],
                "sequence": seg["sequence"][keep],
                "crops": crops,
                "label": label[keep],
                "file": np.full(n, file),
            }
        )
    if progress:
        progress("analysing the annotated recordings", len(by_file), len(by_file))
    return parts


def stacked_inputs(parts: list[dict]):
    """The segments of all ``parts`` as the model's input tensors (facts, sequence, crops); crops
    are None when no recording has any, and blank for a recording without them."""
    facts = torch.from_numpy(fact_features(pd.concat([p["facts"] for p in parts], ignore_index=True)))
    sequence = torch.from_numpy(np.concatenate([p["sequence"] for p in parts]).astype(np.float32))
    size = max(p["crops"].shape[1:] for p in parts)
    crops = torch.from_numpy(
        np.concatenate(
            [
                p["crops"] if p["crops"].shape[1:] == size else np.zeros((len(p["crops"]), *size), np.uint8)
                for p in parts
            ]
        )
    )
    return facts, sequence, (crops if size != (1, 1, 1) else None)
