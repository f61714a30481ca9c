"""Training MouseGPT-tiny: synthetic sessions (and your annotations) in, a checkpoint out.

1. Data. Synthetic sessions are rendered, tracked and cut into segments exactly as
   ``mousegpt analyze`` would (built-in tracker, quality control, kinematics, facts, crops),
   one Ray task per session; their truth gives each segment its majority behaviour. Scenes
   vary view, fur, arena shape and size, frame rate, lighting and noise (``training_scenes``);
   novel behaviours are never planted. Optional real annotations (JSONL lines
   ``{"video", "start_s", "end_s", "description"}``) add tracked real segments whose target
   text is the annotator's description.
2. Captions. Each segment gets paraphrased five-field captions (``describe.captions``);
   their all-MiniLM-L6-v2 embeddings are the contrastive targets.
3. Optimisation. DeepSpeed drives AdamW (ZeRO stage configurable, gloo on CPU); the loop runs
   in this process, or on ``workers`` Ray Train workers (GPUs when asked for).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mousegpt import arena as arena_mod
from mousegpt import crops as crops_mod
from mousegpt import kinematics, qc, segments, tracking, video
from mousegpt.analysis import TRACKER_QC
from mousegpt.describe import captions
from mousegpt.describe.model import UNCERTAIN_BELOW
from mousegpt.describe.tiny import (
    BOS,
    EOS,
    FACT_FEATURES,
    PAD,
    SEQUENCE_FEATURES,
    SPECIAL_TOKENS,
    UNK,
    MouseGPTTiny,
    MouseGPTTinyConfig,
    caption_tokens,
    fact_features,
    in_dtype,
    sequence_features,
    tokenize,
)
from mousegpt.errors import InputError
from mousegpt.synth import Scene
from mousegpt.vocabulary import BEHAVIORS

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total)."""

CAPTIONS_PER_SEGMENT = 2
"""Decoder targets per segment (a step draws one)."""
TEXT_POOL = 48
"""Embedded captions per (caption key, zone) group: the contrastive targets."""
TRAINING_EMPHASIS = {"jump": 8.0}
"""Multipliers on the conditions' behaviour rates in training sessions. A jump lasts 0.3-0.5 s,
so it is the majority of a 1 s segment only when it falls inside one and its neighbours
differ; at the conditions' own rates one segment in 500 is a jump, too few to learn from."""


@dataclass
class TrainConfig:
    out: str
    sessions: int = 120
    seconds: float = 60.0
    seed: int = 0
    epochs: int = 20
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    zero_stage: int = 1
    workers: int = 0
    """Ray Train workers; 0 trains in this process."""
    gpu: bool = False
    annotations: str | None = None
    validation_fraction: float = 0.1
    emphasis: dict[str, float] = field(default_factory=lambda: dict(TRAINING_EMPHASIS))
    """Multipliers on the synthetic conditions' behaviour rates (``TRAINING_EMPHASIS``)."""
    pose_sessions: int = 120
    """Synthetic sessions seen as a lab's pose file (``pose_session_examples``), besides the rendered ones."""
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)


# ---------------------------------------------------------------- data


def training_scenes(sessions: int, seed: int) -> list[tuple[str, str, int, Scene]]:
    """Session plans (name, condition, seed, scene): every combination of view, fur and arena
    shape in turn, with arena size, frame rate, lighting and noise drawn per session. The
    quality benchmark's scenes (``benchmarks/describer_quality.py``) use settings outside these."""
    rng = np.random.default_rng(seed)
    combos = [
        (v, f, a)
        for v in ("top", "bottom")
        for f in ("black", "white", "agouti")
        for a in ("square", "circle")
    ]
    plans = []
    for i in range(sessions):
        view, fur, shape = combos[i % len(combos)]
        scene = Scene(
            view=view,
            fur=fur,
            arena=shape,
            arena_mm=float(rng.choice([360.0, 400.0])),
            fps=float(rng.choice([25.0, 30.0])),
            lighting=float(rng.uniform(0.6, 1.2)),
            noise_sigma=float(rng.uniform(1.0, 2.5)),
        )
        condition = ("control", "stim", "anx")[i % 3]
        plans.append((f"train_{i:04d}", condition, 1_000_003 * (seed + 1) + i, scene))
    return plans


def _majority(values: np.ndarray) -> str:
    names, counts = np.unique(values, return_counts=True)
    return str(names[np.argmax(counts)])


def video_segments(path: str | Path, px_per_mm: float | None, view: str, fps: float | None = None) -> dict:
    """A video's segments as ``analyze`` sees them: facts, per-frame kinematics and crops."""
    background = tracking.estimate_background(path)
    arena = arena_mod.from_background(background.image)
    ds = tracking.track(path, background=background)
    fps = fps or video.probe(path).fps
    cleaned, _ = qc.clean(ds, fps, TRACKER_QC)
    px_per_mm = px_per_mm or kinematics.estimate_px_per_mm(cleaned)
    kin = kinematics.compute(cleaned, fps, px_per_mm, arena, view=view)
    windows = segments.windows(len(kin), fps)
    return {
        "facts": segments.facts(kin, fps),
        "kinematics": kin,
        "windows": windows,
        "fps": fps,
        "crops": crops_mod.extract(path, cleaned, windows, background, view=view),
    }


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
    import cv2

    from mousegpt.synth.dataset import write_session

    cv2.setNumThreads(1)
    import torch

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
    labels, variants = [], []
    for w in seg["windows"]:
        part = truth.iloc[w.start_frame : w.end_frame]
        label = _majority(part["behavior"].to_numpy())
        labels.append(label)
        variants.append(_majority(part.loc[part["behavior"] == label, "variant"].astype(str).to_numpy()))
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


POSE_FPS = (25.0, 30.0, 50.0, 60.0)
"""Frame rates of the pose-file training sessions: labs film at 25-60 fps, and a pose
estimator's jitter looks faster the higher the rate."""


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
    from mousegpt import pose
    from mousegpt.analysis import pose_file_kinematics
    from mousegpt.synth import estimator, simulate, truth_table
    from mousegpt.synth.dataset import truth_poses

    rng = np.random.default_rng(seed)
    fps = float(rng.choice(POSE_FPS))
    truth = truth_table(simulate(seconds, condition, seed, fps, scene.geometry, emphasis=emphasis), scene)
    length_px = float(
        np.median(np.hypot(truth["nose_x"] - truth["tail_base_x"], truth["nose_y"] - truth["tail_base_y"]))
    )
    seen = estimator.observe(truth_poses(truth, fps), estimator.draw(rng), rng, length_px)
    kin = pose_file_kinematics(pose.standardize(seen, source=name), fps, view=scene.view)
    windows = segments.windows(len(kin), fps)
    facts = segments.facts(kin, fps)
    behavior, variant = truth["behavior"].to_numpy(), truth["variant"].astype(str).to_numpy()
    labels = [_majority(behavior[w.start_frame : w.end_frame]) for w in windows]
    variants = [
        _majority(variant[w.start_frame : w.end_frame][behavior[w.start_frame : w.end_frame] == label])
        for w, label in zip(windows, labels)
    ]
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


def pose_reference(config: TrainConfig, progress: Progress | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Facts and majority labels of the training sessions as a pose file alone would give them:
    the same simulated sessions (same seeds, scenes and emphasis), their true keypoints read as
    an imported pose file (``analysis.pose_file_facts``). Nothing is rendered. Pose-file facts
    differ from tracked-video facts (all ten keypoints, no tracker noise), so novelty detection
    measures each kind of session against its own kind (``vocabulary_facts.parquet``)."""
    from mousegpt.analysis import pose_file_facts
    from mousegpt.synth import simulate, truth_table
    from mousegpt.synth.dataset import truth_poses

    plans = training_scenes(config.sessions, config.seed)
    parts, labels = [], []
    for done, (_, condition, seed, scene) in enumerate(plans, start=1):
        truth = truth_table(
            simulate(config.seconds, condition, seed, scene.fps, scene.geometry, emphasis=config.emphasis),
            scene,
        )
        facts = pose_file_facts(truth_poses(truth, scene.fps), scene.fps, scene.px_per_mm, scene.view)
        behavior = truth["behavior"].to_numpy()
        windows = segments.windows(len(truth), scene.fps)
        keep = facts["visible_fraction"].to_numpy() >= 0.5
        parts.append(facts[keep])
        labels.append(np.asarray([_majority(behavior[w.start_frame : w.end_frame]) for w in windows])[keep])
        if progress:
            progress("simulating the sessions as pose files", done, len(plans))
    return pd.concat(parts, ignore_index=True), np.concatenate(labels)


_BEHAVIOR_WORDS = {
    "rear": r"\b(rear\w*|hind legs|upright|stands? up)\b",
    "groom": r"\b(groom\w*|wash\w*|lick\w*|clean\w*|scratch\w*)\b",
    "jump": r"\b(jump\w*|leap\w*|hop\w*)\b",
    "run": r"\b(run\w*|dash\w*|sprint\w*|scurr\w*|rac\w+)\b",
    "turn": r"\b(turn\w*|rotat\w*|pivot\w*)\b",
    "sniff": r"\b(sniff\w*|investigat\w*)\b",
    "rest": r"\b(rest\w*|immobil\w*|still|sleep\w*|freez\w*|motionless)\b",
    "walk": r"\b(walk\w*|locomot\w*)\b",
}


def behavior_from_text(text: str) -> str | None:
    """The core behaviour a free-text annotation names (the first one found in this order), or None."""
    lowered = text.lower()
    return next((b for b, pattern in _BEHAVIOR_WORDS.items() if re.search(pattern, lowered)), None)


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Annotation lines ``{"video", "start_s", "end_s", "description"}``; video paths relative to the file's folder.

    Raises InputError naming the file and line of the first bad one."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
        missing = [k for k in ("video", "start_s", "end_s", "description") if k not in row]
        if not isinstance(row, dict) or missing:
            raise InputError(f"{path}:{number}: missing {', '.join(missing) or 'fields'}")
        try:
            start, end = float(row["start_s"]), float(row["end_s"])
        except (TypeError, ValueError):
            raise InputError(f"{path}:{number}: start_s and end_s must be numbers") from None
        if not (0 <= start < end):
            raise InputError(f"{path}:{number}: need 0 <= start_s < end_s, got {start} and {end}")
        if not str(row["description"]).strip():
            raise InputError(f"{path}:{number}: empty description")
        video = (path.parent / row["video"]).resolve()
        if not video.exists():
            raise InputError(f"{path}:{number}: video {row['video']} not found")
        rows.append(
            {
                "video": str(video),
                "start_s": start,
                "end_s": end,
                "description": str(row["description"]).strip(),
                "px_per_mm": row.get("px_per_mm"),
                "view": row.get("view", "top"),
            }
        )
    if not rows:
        raise InputError(f"{path}: no annotations")
    return pd.DataFrame(rows)


def annotation_examples(path: str | Path, n_steps: int) -> dict:
    """Segments of the annotated videos whose middle falls inside an annotation, with its text."""
    table = read_annotations(path)
    parts = []
    for (video_path, px, view), group in table.groupby(["video", "px_per_mm", "view"], dropna=False):
        seg = video_segments(video_path, None if pd.isna(px) else float(px), view)
        middles = (seg["facts"]["start_s"] + seg["facts"]["end_s"]).to_numpy() / 2
        sequence = sequence_features(seg["kinematics"], seg["windows"], n_steps)
        for row in group.itertuples():
            inside = np.flatnonzero(
                (middles >= row.start_s)
                & (middles <= row.end_s)
                & (seg["facts"]["visible_fraction"].to_numpy() >= 0.5)
            )
            label = behavior_from_text(row.description) or ""
            parts.append(
                {
                    "session": np.full(len(inside), Path(video_path).name),
                    "view": np.full(len(inside), view),
                    "facts": seg["facts"].iloc[inside].reset_index(drop=True),
                    "sequence": sequence[inside],
                    "crops": seg["crops"][inside],
                    "label": np.full(len(inside), label),
                    "variant": np.full(len(inside), ""),
                    "description": np.full(len(inside), row.description),
                }
            )
    return concatenate(parts)


def concatenate(parts: list[dict]) -> dict:
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
    progress: Progress | None = None,
    stage: str = "simulating and analysing synthetic sessions",
) -> dict:
    """Labelled segments of ``config.sessions`` synthetic sessions rendered and tracked, and of
    ``config.pose_sessions`` more seen as pose files (other seeds), analysed on Ray."""
    import ray

    from mousegpt.cluster import connect

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


# ---------------------------------------------------------------- captions


def build_captions(
    data: dict, seed: int, per_segment: int = CAPTIONS_PER_SEGMENT
) -> tuple[list[list[dict]], list[str]]:
    """``per_segment`` caption field sets per segment (slots filled from its facts for the
    text embedding, kept as slots for the decoder) and each segment's caption key."""
    rng = np.random.default_rng(seed)
    facts = data["facts"].to_dict("records")
    out, keys = [], []
    for i, f in enumerate(facts):
        label, variant = str(data["label"][i]), str(data["variant"][i])
        described = str(data["description"][i]) if "description" in data else ""
        key = captions.caption_key(label, variant) if label else "annotation"
        keys.append(key if not described else f"annotation:{described}")
        sets = []
        for _ in range(per_segment):
            fields = captions.sample(key, rng, f.get("zone")) if label else {n: "" for n in captions.FIELDS}
            if described:
                fields["overall"] = described
            sets.append(fields)
        out.append(sets)
    return out, keys


def caption_embeddings(
    data: dict,
    caption_sets: list[list[dict]],
    keys: list[str],
    seed: int,
    progress: Progress | None = None,
    pool: int = TEXT_POOL,
) -> tuple[np.ndarray, np.ndarray]:
    """Contrastive targets: for every (caption key, zone) among the segments, ``pool`` captions
    with their slots filled from the facts of random segments of that group, embedded with
    all-MiniLM-L6-v2; and each segment's group. A training step draws one of its group's
    captions, so a segment meets many wordings (embedding one caption per segment per epoch
    would cost more than the training). A segment with an annotator's description has it alone."""
    from mousegpt.embed import TextEmbedder

    rng = np.random.default_rng(seed + 1)
    facts = data["facts"].to_dict("records")
    zones = [str(f.get("zone")) for f in facts]
    groups = sorted({(k, z) for k, z in zip(keys, zones)})
    group_index = {g: i for i, g in enumerate(groups)}
    members: dict[tuple, list[int]] = {}
    for i, g in enumerate(zip(keys, zones)):
        members.setdefault(g, []).append(i)
    texts = []
    for key, zone in groups:
        rows = members[(key, zone)]
        for _ in range(pool):
            i = int(rng.choice(rows))
            fields = (
                caption_sets[i][0]
                if key.startswith("annotation:")
                else captions.sample(key, rng, facts[i].get("zone"))
            )
            texts.append(
                " ".join(
                    [captions.fill(fields[n], facts[i]) for n in captions.FIELDS[:4] if fields[n]]
                    + (["Keywords: " + fields["keywords"] + "."] if fields["keywords"] else [])
                )
            )
    embedder = TextEmbedder(batch_size=128)
    chunks = []
    for start in range(0, len(texts), 512):
        chunks.append(embedder(texts[start : start + 512]))
        if progress:
            progress("embedding captions", min(start + 512, len(texts)), len(texts))
    text = np.concatenate(chunks).reshape(len(groups), pool, -1).astype(np.float32)
    return text, np.asarray([group_index[g] for g in zip(keys, zones)], np.int64)


def build_vocab(caption_sets: list[list[dict]]) -> list[str]:
    """Special tokens, then every token of every caption, in first-seen order."""
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for wordings in [[captions.CAPTIONS[k][f] for f in captions.FIELDS] for k in captions.CAPTIONS]:
        for texts in wordings:
            for token in tokenize(" ".join(texts)) + ["<sep>"]:
                if token not in seen:
                    seen.add(token)
                    vocab.append(token)
    for sets in caption_sets:
        for fields in sets:
            for token in caption_tokens(fields):
                if token not in seen:
                    seen.add(token)
                    vocab.append(token)
    for zone in ("wall", "centre", "corner"):
        if zone not in seen:
            vocab.append(zone)
    return vocab


def encode_tokens(fields: dict, index: dict[str, int], length: int) -> np.ndarray:
    ids = [BOS] + [index.get(t, UNK) for t in caption_tokens(fields)][: length - 2] + [EOS]
    return np.asarray(ids + [PAD] * (length - len(ids)), np.int64)


# ---------------------------------------------------------------- optimisation


def deepspeed_config(config: TrainConfig, steps: int, world_size: int) -> dict:
    micro = max(1, config.batch_size // world_size)
    return {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": 1,
        "optimizer": {
            "type": "AdamW",
            "params": {"lr": config.lr, "weight_decay": config.weight_decay, "torch_adam": True},
        },
        "scheduler": {
            "type": "WarmupCosineLR",
            "params": {"total_num_steps": max(steps, 2), "warmup_num_steps": min(200, max(1, steps // 10))},
        },
        "zero_optimization": {"stage": config.zero_stage},
        "gradient_clipping": 1.0,
        "steps_per_print": 10**9,
        "bf16": {"enabled": bool(config.gpu)},
    }


def _jitter(crops: np.ndarray, generator: np.random.Generator) -> np.ndarray:
    """Each segment's crops turned (sd 8 degrees), shifted (sd 2 px) and scaled (sd 5%) alike:
    another pose estimator puts the centre and the body axis a little elsewhere."""
    import cv2

    size = crops.shape[-1]
    out = np.empty_like(crops)
    for i, segment in enumerate(crops):
        matrix = cv2.getRotationMatrix2D(
            (size / 2, size / 2), generator.normal(0, 8), generator.normal(1, 0.05)
        )
        matrix[:, 2] += generator.normal(0, 2, size=2)
        for k, crop in enumerate(segment):
            out[i, k] = cv2.warpAffine(crop, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)
    return out


_SEQUENCE_YAW = [list(SEQUENCE_FEATURES).index("head_yaw_deg")]
_FACT_YAW = [list(FACT_FEATURES).index(k) for k in ("head_yaw_std_deg", "head_yaw_abs_deg", "head_motion_hz")]
_SEQ = {name: i for i, name in enumerate(SEQUENCE_FEATURES)}
WOBBLE = {
    "forward_speed_mm_s": 0.1,
    "left_speed_mm_s": 0.3,
    "angular_speed_deg_s": 0.05,
    "head_speed_mm_s": 0.15,
}
"""Standard deviations (in the scaled units of SEQUENCE_FEATURES: 20 mm/s, 30 mm/s, 18 deg/s,
15 mm/s) of the slow wobble added to some training sequences (``_wobble``)."""


def _wobble(sequence: np.ndarray, rows: np.ndarray, generator: np.random.Generator) -> None:
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


def _tensors(arrays: dict, rows: np.ndarray, device, generator: np.random.Generator | None = None) -> dict:
    """One batch; with a ``generator``, training augmentation: some rows lose their crops (as
    pose-only inputs do) or their sequence (facts only), or their head yaw (as from pose files
    whose body centre is derived halfway between nose and tail base, so the head never turns
    from the body axis); some sequences sway (``_wobble``); crops are jittered (``_jitter``) and their contrast varies, and the
    kinematics get a little noise (another pose estimator's positions differ a little)."""
    import torch

    crops = arrays["crops"][rows].astype(np.float32)
    sequence = arrays["sequence"][rows].copy()
    facts = arrays["facts"][rows].copy()
    if generator is not None:
        sequence[..., :-4] += generator.normal(0, 0.03, size=sequence[..., :-4].shape).astype(np.float32)
        facts *= generator.normal(1, 0.05, size=facts.shape).astype(np.float32)
        no_yaw = generator.random(len(rows)) < 0.2
        sequence[np.ix_(no_yaw, np.arange(sequence.shape[1]), _SEQUENCE_YAW)] = 0
        facts[np.ix_(no_yaw, _FACT_YAW)] = 0
        _wobble(sequence, np.flatnonzero(generator.random(len(rows)) < 0.3), generator)
        crops = _jitter(crops, generator)
        crops *= generator.uniform(0.7, 1.3, size=(len(rows), 1, 1, 1)).astype(np.float32)
        crops[generator.random(len(rows)) < 0.25] = 0
        sequence[generator.random(len(rows)) < 0.1] = 0
        np.clip(crops, 0, 255, out=crops)
    draw = generator or np.random.default_rng(0)
    caption = draw.integers(0, arrays["tokens"].shape[1], len(rows))
    pooled = draw.integers(0, arrays["text"].shape[1], len(rows))
    return {
        "facts": torch.from_numpy(facts).to(device),
        "sequence": torch.from_numpy(sequence).to(device),
        "crops": torch.from_numpy(crops).to(device),
        "labels": torch.from_numpy(arrays["labels"][rows]).to(device),
        "text_embeddings": torch.from_numpy(arrays["text"][arrays["text_group"][rows], pooled]).to(device),
        "caption_groups": torch.from_numpy(arrays["groups"][rows]).to(device),
        "tokens": torch.from_numpy(arrays["tokens"][rows, caption]).to(device),
        "label_weights": torch.from_numpy(arrays["label_weights"]).to(device),
    }


def macro_f1(truth: np.ndarray, predicted: np.ndarray, labels=None) -> tuple[float, dict[str, float]]:
    """Macro-F1 over the classes present in ``truth``, and the F1 of each."""
    from sklearn.metrics import f1_score

    present = [b for b in (labels or BEHAVIORS) if b in set(truth)]
    per_class = f1_score(truth, predicted, labels=present, average=None, zero_division=0)
    return float(np.mean(per_class)) if present else float("nan"), dict(zip(present, map(float, per_class)))


def train_loop(loop_config: dict) -> None:
    """The training loop, one per worker: DeepSpeed over a torch.distributed group (gloo on CPU,
    nccl on GPU); rank 0 evaluates and writes the checkpoint."""
    import deepspeed
    import torch
    import torch.distributed as dist

    in_ray = loop_config.get("in_ray", False)
    if in_ray:
        # Ray forwards a worker's stdout to the driver's stdout, which carries the --json
        # document: this worker's output (progress, DeepSpeed's logs) goes to stderr instead.
        sys.stdout.flush()
        os.dup2(2, 1)
    config = TrainConfig(**loop_config["config"])
    arrays = loop_config["arrays"]
    if not isinstance(arrays, dict):  # a Ray object reference
        import ray

        arrays = ray.get(arrays)
    if in_ray:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        rank, world = context.get_world_rank(), context.get_world_size()
        device = ray.train.torch.get_device()
    else:
        rank, world = 0, 1
        device = torch.device("cuda" if config.gpu and torch.cuda.is_available() else "cpu")
        if not dist.is_initialized():
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(29_500 + os.getpid() % 1000))
            os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
            dist.init_process_group("gloo", rank=0, world_size=1)
    torch.set_num_threads(max(1, loop_config.get("threads_per_worker", config.threads)))
    torch.manual_seed(config.seed)
    model = MouseGPTTiny(MouseGPTTinyConfig(**loop_config["model_config"])).to(device)
    train_rows, val_rows = loop_config["train_rows"], loop_config["val_rows"]
    mine = np.asarray(train_rows)[rank::world]
    steps_per_epoch = max(1, len(mine) // max(1, config.batch_size // world))
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        model_parameters=model.parameters(),
        config=deepspeed_config(config, steps_per_epoch * config.epochs, world),
        dist_init_required=False,
    )
    rng = np.random.default_rng(config.seed + rank)
    micro = engine.train_micro_batch_size_per_gpu()
    history = []
    for epoch in range(config.epochs):
        engine.train()
        order = rng.permutation(mine)
        totals: dict[str, float] = {}
        started = time.perf_counter()
        for step in range(steps_per_epoch):
            rows = order[step * micro : (step + 1) * micro]
            batch = _tensors(arrays, rows, device, rng)
            if config.gpu:
                batch = in_dtype(batch, torch.bfloat16)
            output = engine(**batch)
            engine.backward(output.loss)
            engine.step()
            for name, value in output.losses.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / steps_per_epoch
        record = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - started, 1),
            **{k: round(v, 4) for k, v in totals.items()},
        }
        if rank == 0 and len(val_rows):
            record["val_macro_f1"] = round(
                evaluate(engine.module, arrays, np.asarray(val_rows), device)[0], 4
            )
        history.append(record)
        if rank == 0:
            print(json.dumps(record), file=sys.stderr, flush=True)
    if rank == 0:
        model = engine.module.float().cpu()
        model.save_pretrained(config.out, safe_serialization=True)
        Path(config.out, "training_log.json").write_text(json.dumps(history, indent=1))


def evaluate(model, arrays: dict, rows: np.ndarray, device, batch: int = 512) -> tuple[float, dict]:
    import torch

    model.eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch):
            b = _tensors(arrays, rows[start : start + batch], device)
            dtype = next(model.parameters()).dtype
            logits, _ = model.encode(b["facts"].to(dtype), b["sequence"].to(dtype), b["crops"].to(dtype))
            predicted.append(logits.argmax(-1).cpu().numpy())
    names = np.asarray(model.config.behaviors)
    truth = arrays["labels"][rows]
    known = truth >= 0
    pred = names[np.concatenate(predicted)] if predicted else np.asarray([], str)
    model.train()
    return macro_f1(names[truth[known]], pred[known])


CALIBRATION_SESSIONS = (12, 24)
"""Held-out synthetic sessions (rendered, seen as pose files) the temperature is fitted on, at
most: a smaller training run holds out fewer (``calibration_sessions``)."""


def calibration_sessions(config: TrainConfig) -> tuple[int, int]:
    """Held-out sessions (rendered, seen as pose files) for the temperature: a tenth of the
    rendered and a fifth of the pose-file training sessions, at least 4 and 8, at most
    ``CALIBRATION_SESSIONS`` (the shipped recipe's 120 + 120 sessions hold out 12 + 24)."""
    most_video, most_pose = CALIBRATION_SESSIONS
    return (
        min(most_video, max(4, math.ceil(config.sessions / 10))),
        min(most_pose, max(8, math.ceil(config.pose_sessions / 5))),
    )


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their counts."""
    edges = np.minimum((np.asarray(confidence) * bins).astype(int), bins - 1)
    error = 0.0
    for b in np.unique(edges):
        inside = edges == b
        error += inside.mean() * abs(np.mean(correct[inside]) - np.mean(confidence[inside]))
    return float(error)


def fit_temperature(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature (0.25-10, on a log grid) whose scaled probabilities give the true labels
    the highest likelihood (temperature scaling, Guo et al. 2017). ``log_probs`` (segment,
    behaviour) are log-probabilities; ``labels`` index the true behaviour."""
    best, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(10.0), 81)):
        scaled = log_probs / t
        scaled = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
        nll = -float(np.mean(scaled[np.arange(len(labels)), labels]))
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def calibrate(folder: str | Path, config: TrainConfig, progress: Progress | None = None) -> dict:
    """Fit the checkpoint's temperature on held-out synthetic sessions (``calibration_sessions``:
    other seeds than training's, rendered and seen as pose files, described as ``analyze``
    describes them) and write it into its ``config.json``; returns the calibration figures."""
    from mousegpt.describe.tiny import TinyDescriber

    n_video, n_pose = calibration_sessions(config)
    held = replace(config, sessions=n_video, pose_sessions=n_pose, seed=config.seed + 1000)
    data = synthetic_examples(
        held, MouseGPTTinyConfig().n_steps, progress, stage="simulating held-out sessions for calibration"
    )
    describer = TinyDescriber(folder, device="cpu")
    import torch

    facts = torch.from_numpy(fact_features(data["facts"]))
    sequence = torch.from_numpy(data["sequence"].astype(np.float32))
    crops = torch.from_numpy(data["crops"])
    parts = []
    with torch.inference_mode():
        for start in range(0, len(facts), 512):
            part = slice(start, start + 512)
            log_probs, _ = describer._encode(facts[part], sequence[part], crops[part])
            parts.append(log_probs.numpy())
    log_probs = np.concatenate(parts)
    index = {b: i for i, b in enumerate(describer.model.config.behaviors)}
    labels = np.asarray([index[str(b)] for b in data["label"]])
    temperature = fit_temperature(log_probs, labels)
    before, after = np.exp(log_probs), np.exp(log_probs / temperature)
    after /= after.sum(1, keepdims=True)
    correct = before.argmax(1) == labels
    figures = {
        "temperature": round(temperature, 4),
        "segments": int(len(labels)),
        "ece_before": round(expected_calibration_error(before.max(1), correct), 4),
        "ece_after": round(expected_calibration_error(after.max(1), correct), 4),
        "uncertain_share": round(float(np.mean(after.max(1) < UNCERTAIN_BELOW)), 4),
        "accuracy_certain": round(float(np.mean(correct[after.max(1) >= UNCERTAIN_BELOW])), 4),
        "accuracy_uncertain": round(float(np.mean(correct[after.max(1) < UNCERTAIN_BELOW])), 4)
        if np.any(after.max(1) < UNCERTAIN_BELOW)
        else None,
    }
    path = Path(folder, "config.json")
    saved = json.loads(path.read_text())
    path.write_text(
        json.dumps(saved | {"probability_temperature": temperature}, indent=2, sort_keys=True) + "\n"
    )
    return figures


def prepare(
    data: dict, config: TrainConfig, progress: Progress | None = None
) -> tuple[dict, dict, np.ndarray, np.ndarray]:
    """Arrays for training, the model config, and the training and validation rows
    (validation: whole sessions, ``validation_fraction`` of them)."""
    caption_sets, keys = build_captions(data, config.seed)
    vocab = build_vocab(caption_sets)
    index = {t: i for i, t in enumerate(vocab)}
    longest = max(len(caption_tokens(f)) for sets in caption_sets for f in sets) + 2
    model_config = MouseGPTTinyConfig(vocab=vocab, max_tokens=longest).to_dict()
    tokens = np.stack([[encode_tokens(f, index, longest) for f in sets] for sets in caption_sets])
    text, text_group = caption_embeddings(data, caption_sets, keys, config.seed, progress)
    group_ids = {k: i for i, k in enumerate(sorted(set(keys)))}
    label_index = {b: i for i, b in enumerate(BEHAVIORS)}
    arrays = {
        "facts": fact_features(data["facts"]),
        "sequence": data["sequence"].astype(np.float32),
        "crops": data["crops"],
        "labels": np.asarray([label_index.get(str(x), -1) for x in data["label"]], np.int64),
        "text": text,
        "text_group": text_group,
        "tokens": tokens,
        "groups": np.asarray([group_ids[k] for k in keys], np.int64),
    }
    # Macro-F1 counts every behaviour alike: rare ones (short runs and turns) weigh more,
    # by the inverse square root of their frequency.
    counts = np.bincount(arrays["labels"][arrays["labels"] >= 0], minlength=len(BEHAVIORS)).astype(np.float32)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    arrays["label_weights"] = (weights * (counts > 0).sum() / max(weights.sum(), 1e-9)).astype(np.float32)
    sessions = np.unique(data["session"])
    rng = np.random.default_rng(config.seed)
    n_val = int(round(config.validation_fraction * len(sessions))) if len(sessions) > 1 else 0
    held = set(rng.choice(sessions, size=n_val, replace=False)) if n_val else set()
    is_val = np.asarray([s in held for s in data["session"]])
    return arrays, model_config, np.flatnonzero(~is_val), np.flatnonzero(is_val)


def train(config: TrainConfig, progress: Progress | None = None, data: dict | None = None) -> dict:
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
        _train_on_ray(loop_config, arrays, config)
    else:
        train_loop({**loop_config, "arrays": arrays})
    train_seconds = time.perf_counter() - train_started
    model = MouseGPTTiny.from_pretrained(str(staging))
    f1, per_class = evaluate(model, arrays, val_rows, "cpu") if len(val_rows) else (float("nan"), {})
    labels = data["label"][train_rows]
    metrics = {
        "segments": {"train": int(len(train_rows)), "validation": int(len(val_rows))},
        "segments_by_source": {
            str(k): int(v)
            for k, v in zip(
                *np.unique(data.get("source", np.full(len(data["label"]), "")), return_counts=True)
            )
        },
        "train_label_counts": {b: int(np.sum(labels == b)) for b in BEHAVIORS},
        "validation_macro_f1": round(f1, 4),
        "validation_f1": {k: round(v, 4) for k, v in per_class.items()},
        "seconds": {
            "data": round(data_seconds, 1),
            "training": round(train_seconds, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "config": {k: v for k, v in asdict(config).items() if k not in ("out", "annotations")},
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    metrics["calibration"] = calibrate(staging, config, progress)
    Path(staging, "metrics.json").write_text(json.dumps(metrics, indent=1))
    write_vocabulary_facts(staging, config, data, progress)
    if out.exists():
        shutil.rmtree(out)
    staging.replace(out)
    return metrics


def write_vocabulary_facts(
    folder: str | Path, config: TrainConfig, data: dict | None = None, progress: Progress | None = None
) -> Path:
    """The vocabulary in kinematic terms, for novelty detection (``mousegpt discover``):
    ``vocabulary_facts.parquet`` in ``folder``, from the training data's tracked-video segments
    (``data``, built again from ``config`` when not given) and the same sessions read as pose
    files. The weights do not depend on it, so a checkpoint's file can be rebuilt on its own
    (``mousegpt train OUT --reference-only``) when the facts change."""
    from mousegpt.discover import REFERENCE_FILE, vocabulary_reference

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


def _train_on_ray(loop_config: dict, arrays: dict, config: TrainConfig) -> None:
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from mousegpt.cluster import connect

    connect(None)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    per_worker = max(1, cpus // config.workers) if not config.gpu else 1
    loop_config = {**loop_config, "arrays": ray.put(arrays), "in_ray": True, "threads_per_worker": per_worker}
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=loop_config,
        torch_config=TorchConfig(backend="nccl" if config.gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=config.workers,
            use_gpu=config.gpu,
            resources_per_worker={"CPU": per_worker} if not config.gpu else None,
        ),
        run_config=RunConfig(
            storage_path=str(Path(tempfile.gettempdir()) / "mousegpt-ray-train"),
            name=f"mousegpt-train-{os.getpid()}",
        ),
    )
    result = trainer.fit()
    if result.error:
        raise result.error


__all__ = ["TrainConfig", "train", "training_scenes", "read_annotations", "behavior_from_text", "macro_f1"]


def write_model_card(out: str | Path, metrics: dict) -> Path:
    """``README.md`` of a checkpoint: data, recipe, metrics (and the quality benchmark's, when
    ``benchmark.json`` is there), limits."""
    out = Path(out)
    c = metrics["config"]
    counts = ", ".join(f"{b} {n}" for b, n in metrics["train_label_counts"].items())
    per_class = ", ".join(f"{b} {v:.2f}" for b, v in metrics["validation_f1"].items())
    bench_path, real_path = out / "benchmark.json", out / "real_validity.json"
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else None
    real = json.loads(real_path.read_text()) if real_path.exists() else None
    lines = [
        "---",
        "library_name: transformers",
        "tags: [mouse, behaviour, mousegpt]",
        "---",
        "",
        "# MouseGPT-tiny",
        "",
        "A small vision-language model of mouse behaviour (after MouseGPT, arXiv 2503.10212). Per 1 s segment it reads",
        "8 mouse-centred, heading-aligned 64x64 crops (when there is video), the per-frame kinematic sequence and the",
        "segment's kinematic facts, and gives behaviour probabilities over walk, run, rear, groom, rest, turn, sniff,",
        "jump; a motion embedding in all-MiniLM-L6-v2's text space; and a five-field description (overall, head, limbs,",
        "torso, keywords) whose measured values are filled in from the facts. "
        f"{metrics['parameters'] / 1e6:.2f} M parameters.",
        "",
        "## Data",
        "",
        f"{c['sessions']} synthetic sessions of {c['seconds']:g} s (`mousegpt.synth`, seed {c['seed']}): top and bottom views,",
        "black, white and agouti fur, square and circular arenas of 360 or 400 mm, 25 or 30 fps, lighting 0.6-1.2 and",
        "sensor noise 1-2.5 grey levels, conditions control/stim/anx; no novel behaviours"
        + "".join(
            f"; {b} bouts {m:g}x as often as the conditions' rates" for b, m in c.get("emphasis", {}).items()
        )
        + ". Each video is tracked with the",
        "built-in tracker and cut into segments exactly as `mousegpt analyze` does; a segment's label is its majority",
        "ground-truth behaviour. Captions are paraphrased per behaviour (and per rearing and grooming variant),",
        f"{CAPTIONS_PER_SEGMENT} per segment. Training segments per label: {counts}.",
        "`vocabulary_facts.parquet` holds the facts of every training segment (up to 5,000 per behaviour) of each pose source",
        "(tracked video; the same sessions' true keypoints read as pose files): the vocabulary in kinematic terms,",
        "which `mousegpt discover` measures novelty against. The weights do not depend on it: `mousegpt train OUT",
        "--reference-only` rebuilds it from the same sessions when the facts change.",
        "",
        f"{c.get('pose_sessions', 0)} more synthetic sessions (other seeds, the same scenes) are seen as a lab's pose file",
        "would see them (`mousegpt.synth.estimator`): the true keypoints with a pose estimator's jitter and slow drift,",
        "lost and wild points, and the body-centre point some labs track, others place on the mid-back and others",
        f"lack; at {', '.join(f'{f:g}' for f in POSE_FPS)} fps; analysed as `analyze` analyses a pose file alone (the scale",
        "estimated from the mouse's length); no crops. The synthetic world's rears are calibrated to real top-view",
        "DeepLabCut files from their poses alone, never their labels: a rear's top looks 0.66-0.83 of the stretched",
        "length from above, and against a wall the hind paws step up to it (`synth.motion.REAR_PEAK`, `REAR_CLIMB`).",
        "Segments by source: "
        + ", ".join(f"{k or 'annotations'} {v}" for k, v in metrics.get("segments_by_source", {}).items())
        + ".",
        "",
        "## Recipe",
        "",
        f"Reproduce with (about {max(1, round(metrics['seconds']['total'] / 60))} minutes on 2 CPU cores):",
        "",
        "```",
        f"mousegpt train OUT --sessions {c['sessions']} --pose-sessions {c.get('pose_sessions', 0)} "
        f"--seconds {c['seconds']:g} --seed {c['seed']} "
        f"--epochs {c['epochs']} --batch-size {c['batch_size']} --lr {c['lr']:g} --zero-stage {c['zero_stage']}",
        "```",
        "",
        "Loss: behaviour cross-entropy + CLIP-style contrastive loss (same-behaviour captions are positives) + the",
        f"decoder's token cross-entropy. DeepSpeed AdamW (weight decay {c['weight_decay']:g}), warmup then cosine, ZeRO stage",
        f"{c['zero_stage']}, {c['epochs']} epochs of batch {c['batch_size']}; augmentation: a quarter of segments lose their",
        "crops (pose-only input), a tenth their kinematic sequence (facts only), a fifth their head yaw (pose files whose",
        "body centre is derived); crops are turned (sd 8 deg), shifted (sd 2 px) and scaled (sd 5%), their contrast varies",
        "0.7-1.3; kinematic features get a little noise, and 30% of sequences a slow sway of forward and sideways speed,",
        "turning and head speed (a real body centre sways and a tracker's axis swings with the head; on the real openfield",
        "video forward speed is half the body-centre speed). At inference the behaviour probabilities average three views",
        "(crops + kinematics + facts, kinematics + facts, facts).",
        f"Took {metrics['seconds']['data']:.0f} s for data and {metrics['seconds']['training']:.0f} s for training.",
        "",
        "## Metrics",
        "",
        *(
            [
                "Real mice (`benchmarks/real_validity.py`: `analyze` with default settings on real DeepLabCut files labelled by",
                "people, `../shared/data/real-labelled`; never trained on):",
                "",
                *[f"- {line}" for line in real.get("summary", [])],
                "",
            ]
            if real
            else []
        ),
        f"Validation (held-out training sessions, {metrics['segments']['validation']} segments): macro-F1 "
        f"{metrics['validation_macro_f1']:.3f}; per class: {per_class}.",
        "",
        *(
            [
                f"Calibration (`jobs.train.calibrate`, {metrics['calibration']['segments']} segments of held-out synthetic "
                f"sessions): temperature {metrics['calibration']['temperature']:g}; expected calibration error "
                f"{metrics['calibration']['ece_before']:.3f} before, {metrics['calibration']['ece_after']:.3f} after; "
                f"{metrics['calibration']['uncertain_share']:.1%} of segments below {UNCERTAIN_BELOW:.0%} confidence "
                "(uncertain).",
                "",
            ]
            if "calibration" in metrics
            else []
        ),
    ]
    if bench:
        lines += [
            "Quality benchmark (`benchmarks/describer_quality.py`: unseen seeds and scene settings):",
            "",
            *[f"- {line}" for line in bench.get("summary", [])],
            "",
        ]
    lines += [
        "## Limits",
        "",
        "- Trained on synthetic mice only (unless annotations were given): real fur, bedding, occlusion and lighting",
        "  differ; check its behaviour labels against a few hand-scored minutes of your own video before trusting rates.",
        "- On real mice labelled by people (Metrics) it finds about half the rears and half the freezing of the raters;",
        "  a still mouse whose pose jitters (high frame rates) is read as grooming now and then. `mousegpt adapt` takes",
        "  your own labels; segments it is unsure of say so and are left out of profiles and discovery by default.",
        "- One mouse per crop: in group housing the crop of one animal can contain another.",
        "- Jumps last 0.3-0.5 s, so few 1 s segments have a jump as their majority behaviour (about one in a",
        "  thousand at the conditions' own rates). Training plants them more often (see Data), yet jump stays the",
        "  weakest class; the quality benchmark plants them as often as training does, so that the class has",
        "  enough segments to be measured at all.",
        "- On real video its labels depend on the pose source more than the rules' do (agreement above): real",
        "  kinematics sway more than synthetic ones, and slow walking is read as turning or resting now and then.",
        "- The description's words come from a closed paraphrase vocabulary; numbers, side and zone come from the facts.",
        "- Behaviours outside the vocabulary (e.g. circling, head twitches) get the nearest known label; use",
        "  `mousegpt discover` to find them.",
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    return path
