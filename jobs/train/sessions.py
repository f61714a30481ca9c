"""Labelled segments of synthetic sessions: each rendered and tracked (``session_examples``)
or seen as a lab's pose file (``pose_session_examples``), one Ray task per session
(``synthetic_examples``). A segment's label is its majority true behaviour."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from jobs.train.config import StageProgress, TrainConfig
from jobs.train.scenes import POSE_FPS, training_scenes
from jobs.train.tracked_video import video_segments
from mousegpt import pose, segments
from mousegpt.describe.tiny import MouseGPTTinyConfig, sequence_features
from mousegpt.errors import InputError
from mousegpt.pipeline import measure_poses
from mousegpt.ray_connection import connect
from mousegpt.synth import Scene, estimator, simulate, truth_table
from mousegpt.synth.dataset import truth_poses, write_session


def most_common_value(values: np.ndarray) -> str:
    """The value that occurs most often in ``values`` (on a tie, the first in sorted order)."""
    names, counts = np.unique(values, return_counts=True)
    return str(names[np.argmax(counts)])


def window_labels(behavior: np.ndarray, variant: np.ndarray, windows) -> tuple[list[str], list[str]]:
    """Per window: its majority behaviour, and that behaviour's majority variant in it."""
    labels, variants = [], []
    for w in windows:
        part, kinds = behavior[w.start_frame : w.end_frame], variant[w.start_frame : w.end_frame]
        label = most_common_value(part)
        labels.append(label)
        variants.append(most_common_value(kinds[part == label]))
    return labels, variants


def session_examples(
    workdir: str,
    name: str,
    seconds: float,
    condition: str,
    seed: int,
    scene: Scene,
    n_steps: int,
    emphasis: dict[str, float] | None = None,
) -> dict:
    """Render one synthetic session, analyse it, and return its labelled segments (the video is deleted)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    out = Path(workdir)
    write_session(out, name, seconds, condition, seed, scene, emphasis=emphasis)
    video_path = out / f"{name}.mp4"
    try:
        seg = video_segments(video_path, scene.px_per_mm, scene.view, scene.fps)
        truth = pd.read_parquet(out / f"{name}.truth.parquet")
    finally:
        for suffix in (".mp4", ".truth.parquet", ".truth_dlc.csv"):
            (out / f"{name}{suffix}").unlink(missing_ok=True)
    labels, variants = window_labels(
        truth["behavior"].to_numpy(), truth["variant"].astype(str).to_numpy(), seg["windows"]
    )
    visible = seg["facts"]["visible_fraction"].to_numpy() >= 0.5
    keep = np.flatnonzero(visible)
    return {
        "session": np.full(len(keep), name),
        "view": np.full(len(keep), scene.view),
        "source": np.full(len(keep), "video"),
        "facts": seg["facts"].iloc[keep].reset_index(drop=True),
        "sequence": sequence_features(seg["kinematics"], seg["windows"], n_steps)[keep],
        "crops": seg["crops"][keep],
        "label": np.asarray(labels)[keep],
        "variant": np.asarray(variants)[keep],
    }


def pose_session_examples(
    name: str,
    seconds: float,
    condition: str,
    seed: int,
    scene: Scene,
    n_steps: int,
    emphasis: dict[str, float] | None = None,
) -> dict:
    """One synthetic session as a lab's pose file would give it, analysed as ``analyze`` analyses
    a pose file alone (default quality control, the scale estimated from the mouse's length,
    the arena from its path), with its labelled segments: the true keypoints seen through a
    pose estimator drawn at random (``synth.estimator``: jitter, drift, lost and wild points,
    which body-centre point the lab tracked), at a frame rate from ``POSE_FPS``. No crops."""
    rng = np.random.default_rng(seed)
    fps = float(rng.choice(POSE_FPS))
    truth = truth_table(simulate(seconds, condition, seed, fps, scene.geometry, emphasis=emphasis), scene)
    length_px = float(
        np.median(np.hypot(truth["nose_x"] - truth["tail_base_x"], truth["nose_y"] - truth["tail_base_y"]))
    )
    seen = estimator.observe(truth_poses(truth, fps), estimator.draw(rng), rng, length_px)
    kin = measure_poses(pose.standardize(seen, source=name), fps, view=scene.view).kinematics
    windows = segments.windows(len(kin), fps)
    facts = segments.facts(kin, fps)
    labels, variants = window_labels(
        truth["behavior"].to_numpy(), truth["variant"].astype(str).to_numpy(), windows
    )
    keep = np.flatnonzero(facts["visible_fraction"].to_numpy() >= 0.5)
    crop_frames, size = MouseGPTTinyConfig().crop_frames, MouseGPTTinyConfig().crop_size
    return {
        "session": np.full(len(keep), name),
        "view": np.full(len(keep), scene.view),
        "source": np.full(len(keep), "pose"),
        "facts": facts.iloc[keep].reset_index(drop=True),
        "sequence": sequence_features(kin, windows, n_steps)[keep],
        "crops": np.zeros((len(keep), crop_frames, size, size), np.uint8),
        "label": np.asarray(labels)[keep],
        "variant": np.asarray(variants)[keep],
    }


def concatenate(parts: list[dict]) -> dict:
    """Parts of the training data (dicts of per-segment arrays) as one; a key some parts lack
    is empty text in those."""
    if not parts:
        raise InputError("no training segments")
    keys = set(parts[0]).union(*parts)
    out = {}
    for key in keys:
        values = [p.get(key) if key in p else np.full(len(p["label"]), "") for p in parts]
        out[key] = pd.concat(values, ignore_index=True) if key == "facts" else np.concatenate(values)
    return out


def synthetic_examples(
    config: TrainConfig,
    n_steps: int,
    progress: StageProgress | None = None,
    stage: str = "simulating and analysing synthetic sessions",
) -> dict:
    """Labelled segments of ``config.sessions`` synthetic sessions rendered and tracked, and of
    ``config.pose_sessions`` more seen as pose files (other seeds), analysed on Ray."""
    import ray

    connect(None)
    plans = training_scenes(config.sessions, config.seed)
    pose_plans = training_scenes(config.pose_sessions, config.seed + 1) if config.pose_sessions else []
    rendered = ray.remote(num_cpus=1, max_retries=1)(session_examples)
    seen_as_pose = ray.remote(num_cpus=1, max_retries=1)(pose_session_examples)
    with tempfile.TemporaryDirectory(prefix="mousegpt-train-") as workdir:
        pending = [
            rendered.remote(workdir, name, config.seconds, cond, s, scene, n_steps, config.emphasis)
            for name, cond, s, scene in plans
        ]
        pending += [
            seen_as_pose.remote(f"pose_{name}", config.seconds, cond, s, scene, n_steps, config.emphasis)
            for name, cond, s, scene in pose_plans
        ]
        total, parts = len(pending), []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            parts.append(ray.get(done[0]))
            if progress:
                progress(stage, len(parts), total)
    parts.sort(key=lambda p: str(p["session"][0]) if len(p["session"]) else "")
    return concatenate(parts)
