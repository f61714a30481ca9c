"""The vocabulary in kinematic terms, for novelty detection (``write_vocabulary_facts``): the
facts of the training segments, tracked video and the same sessions read as pose files
(``pose_reference``)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.train.config import StageProgress, TrainConfig
from jobs.train.scenes import training_scenes
from jobs.train.sessions import most_common_value, synthetic_examples
from mousegpt import segments
from mousegpt.describe.tiny import MouseGPTTinyConfig
from mousegpt.pipeline import measure_poses
from mousegpt.synth import simulate, truth_table
from mousegpt.synth.dataset import truth_poses


def pose_reference(
    config: TrainConfig, progress: StageProgress | None = None
) -> tuple[pd.DataFrame, np.ndarray]:
    """Facts and majority labels of the training sessions as a pose file alone would give them:
    the same simulated sessions (same seeds, scenes and emphasis), their true keypoints read as
    an imported pose file (``pipeline.measure_poses``). Nothing is rendered. Pose-file facts
    differ from tracked-video facts (all ten keypoints, no tracker noise), so novelty detection
    measures each kind of session against its own kind (``vocabulary_facts.parquet``)."""
    plans = training_scenes(config.sessions, config.seed)
    parts, labels = [], []
    for done, (_, condition, seed, scene) in enumerate(plans, start=1):
        truth = truth_table(
            simulate(config.seconds, condition, seed, scene.fps, scene.geometry, emphasis=config.emphasis),
            scene,
        )
        poses = truth_poses(truth, scene.fps)
        facts = measure_poses(poses, scene.fps, scene.px_per_mm, scene.view).facts
        behavior = truth["behavior"].to_numpy()
        windows = segments.windows(len(truth), scene.fps)
        keep = facts["visible_fraction"].to_numpy() >= 0.5
        parts.append(facts[keep])
        labels.append(
            np.asarray([most_common_value(behavior[w.start_frame : w.end_frame]) for w in windows])[keep]
        )
        if progress:
            progress("simulating the sessions as pose files", done, len(plans))
    return pd.concat(parts, ignore_index=True), np.concatenate(labels)


def write_vocabulary_facts(
    folder: str | Path, config: TrainConfig, data: dict | None = None, progress: StageProgress | None = None
) -> Path:
    """The vocabulary in kinematic terms, for novelty detection (``mousegpt discover``):
    ``vocabulary_facts.parquet`` in ``folder``, from the training data's tracked-video segments
    (``data``, built again from ``config`` when not given) and the same sessions read as pose
    files. The weights do not depend on it, so a checkpoint's file can be rebuilt on its own
    (``mousegpt train OUT --reference-only``) when the facts change."""
    from mousegpt.discover import REFERENCE_FILE, vocabulary_reference  # discover loads faiss and duckdb

    if data is None:  # the rendered sessions alone: the pose-file part is simulated again below
        data = synthetic_examples(replace(config, pose_sessions=0), MouseGPTTinyConfig().n_steps, progress)
    video = data["source"] == "video" if "source" in data else np.ones(len(data["label"]), dtype=bool)
    references = [
        vocabulary_reference(
            data["facts"][video].reset_index(drop=True), data["label"][video], config.seed
        ).assign(source="video")
    ]
    if config.sessions:
        pose_facts, pose_labels = pose_reference(config, progress)
        references.append(vocabulary_reference(pose_facts, pose_labels, config.seed).assign(source="pose"))
    path = Path(folder, REFERENCE_FILE)
    partial = path.with_name(f".{path.name}.partial")
    pd.concat(references, ignore_index=True).to_parquet(partial, index=False)
    partial.replace(path)
    return path
