"""The training data as arrays (``prepare``: features, caption tokens and embeddings, label
weights, the validation split) and one batch of them as tensors (``batch_tensors``), augmented
for training when given a generator."""

from __future__ import annotations

import numpy as np
import torch

from jobs.train.augment import augment
from jobs.train.captions import build_captions, caption_embeddings
from jobs.train.config import StageProgress, TrainConfig
from jobs.train.tokens import build_vocab, encode_tokens
from mousegpt.describe.tiny import MouseGPTTinyConfig, caption_tokens, fact_features
from mousegpt.vocabulary import BEHAVIORS


def label_weights(labels: np.ndarray) -> np.ndarray:
    """Per behaviour, the loss weight: the inverse square root of its count among ``labels``
    (indices; -1 is none), 0 for an absent behaviour, scaled so the present ones average 1.
    Macro-F1 counts every behaviour alike, so rare ones (short runs and turns) weigh more."""
    counts = np.bincount(labels[labels >= 0], minlength=len(BEHAVIORS)).astype(np.float32)
    weights = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return (weights * (counts > 0).sum() / max(weights.sum(), 1e-9)).astype(np.float32)


def validation_split(sessions: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows: whole sessions, ``fraction`` of them (none when there is
    only one) held out for validation."""
    names = np.unique(sessions)
    rng = np.random.default_rng(seed)
    n_val = int(round(fraction * len(names))) if len(names) > 1 else 0
    held = set(rng.choice(names, size=n_val, replace=False)) if n_val else set()
    is_val = np.asarray([s in held for s in sessions])
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def prepare(
    data: dict, config: TrainConfig, progress: StageProgress | None = None
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
    arrays["label_weights"] = label_weights(arrays["labels"])
    train_rows, val_rows = validation_split(data["session"], config.validation_fraction, config.seed)
    return arrays, model_config, train_rows, val_rows


def batch_tensors(
    arrays: dict, rows: np.ndarray, device, generator: np.random.Generator | None = None
) -> dict:
    """One batch (the model's inputs and targets) of ``rows``; with a ``generator``, augmented
    for training (``augment``) and a random one of each segment's captions and pooled caption
    embeddings, else the same draw every time."""
    crops = arrays["crops"][rows].astype(np.float32)
    sequence = arrays["sequence"][rows].copy()
    facts = arrays["facts"][rows].copy()
    if generator is not None:
        crops, sequence, facts = augment(crops, sequence, facts, generator)
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
