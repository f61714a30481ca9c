"""Training MouseGPT-tiny: synthetic sessions (and your annotations) in, a checkpoint out.

``train`` (here) runs the steps, each in a module of its own:

1. Data. Synthetic sessions are rendered, tracked and cut into segments exactly as
   ``mousegpt analyze`` would (``tracked_video``: built-in tracker, quality control,
   kinematics, facts, crops), one Ray task per session (``sessions``); their truth gives each
   segment its majority behaviour. Scenes vary view, fur, arena shape and size, frame rate,
   lighting and noise (``scenes``); novel behaviours are never planted. Optional real
   annotations (``annotations``: JSONL lines ``{"video", "start_s", "end_s", "description"}``)
   add tracked real segments whose target text is the annotator's description.
2. Captions. Each segment gets paraphrased five-field captions (``captions``); their
   all-MiniLM-L6-v2 embeddings are the contrastive targets, their tokens the decoder's
   (``tokens``); ``tensors`` turns it all into arrays and batches, augmented (``augment``).
3. Optimisation. DeepSpeed (``deepspeed_config``) drives AdamW (ZeRO stage configurable, gloo
   on CPU); the loop (``loop``) runs in this process, or on ``workers`` Ray Train workers
   (``ray_train``, GPUs when asked for).
4. After training: validation (``evaluate``), the probabilities' temperature (``calibration``),
   the vocabulary facts for novelty detection (``reference``) and the model card (``card``).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, replace
from pathlib import Path

from jobs.train.annotations import annotation_examples, behavior_from_text, read_annotations
from jobs.train.augment import AUGMENTATION, Augmentation
from jobs.train.calibration import (
    CALIBRATION_SESSIONS,
    calibrate,
    calibration_sessions,
    expected_calibration_error,
    fit_temperature,
)
from jobs.train.captions import CAPTIONS_PER_SEGMENT
from jobs.train.card import model_card, write_model_card
from jobs.train.config import TRAINING_EMPHASIS, StageProgress, TrainConfig
from jobs.train.evaluate import evaluate, macro_f1, training_metrics
from jobs.train.loop import train_loop
from jobs.train.ray_train import train_on_ray
from jobs.train.reference import write_vocabulary_facts
from jobs.train.scenes import POSE_FPS, training_scenes
from jobs.train.sessions import concatenate, synthetic_examples
from jobs.train.tensors import prepare
from jobs.train.tracked_video import video_segments
from mousegpt.describe.tiny import MouseGPTTiny, MouseGPTTinyConfig
from mousegpt.errors import InputError

__all__ = [
    "AUGMENTATION",
    "CALIBRATION_SESSIONS",
    "CAPTIONS_PER_SEGMENT",
    "POSE_FPS",
    "TRAINING_EMPHASIS",
    "Augmentation",
    "StageProgress",
    "TrainConfig",
    "behavior_from_text",
    "calibrate",
    "calibration_sessions",
    "expected_calibration_error",
    "fit_temperature",
    "macro_f1",
    "model_card",
    "read_annotations",
    "train",
    "training_scenes",
    "video_segments",
    "write_model_card",
    "write_vocabulary_facts",
]


def train(config: TrainConfig, progress: StageProgress | None = None, data: dict | None = None) -> dict:
    """Build the data (unless given), train, and write the checkpoint, its model card and
    metrics to ``config.out``. Returns the metrics."""
    started = time.perf_counter()
    if config.zero_stage not in (0, 1, 2, 3):
        raise InputError(f"--zero-stage must be 0, 1, 2 or 3, got {config.zero_stage}")
    n_steps = MouseGPTTinyConfig().n_steps
    if data is None:
        parts = [synthetic_examples(config, n_steps, progress)] if config.sessions else []
        if config.annotations:
            parts.append(annotation_examples(config.annotations, n_steps))
        data = concatenate(parts)
    data_seconds = time.perf_counter() - started
    arrays, model_config, train_rows, val_rows = prepare(data, config, progress)
    out = Path(config.out).resolve()  # Ray Train's workers run in folders of their own: never a relative path
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    loop_config = {
        "config": asdict(replace(config, out=str(staging))),
        "model_config": model_config,
        "train_rows": train_rows,
        "val_rows": val_rows,
    }
    train_started = time.perf_counter()
    if config.workers > 0:
        train_on_ray(loop_config, arrays, config)
    else:
        train_loop({**loop_config, "arrays": arrays})
    train_seconds = time.perf_counter() - train_started
    model = MouseGPTTiny.from_pretrained(str(staging))
    validation = evaluate(model, arrays, val_rows, "cpu") if len(val_rows) else (float("nan"), {})
    seconds = {"data": data_seconds, "training": train_seconds, "total": time.perf_counter() - started}
    parameters = sum(p.numel() for p in model.parameters())
    metrics = training_metrics(config, data, train_rows, val_rows, validation, seconds, parameters)
    metrics["calibration"] = calibrate(staging, config, progress)
    Path(staging, "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_vocabulary_facts(staging, config, data, progress)
    if out.exists():
        shutil.rmtree(out)
    staging.replace(out)
    return metrics
