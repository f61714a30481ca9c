"""The checkpoint being adapted: where it is (``base_path``), the lab's new classes
(``new_classes``) and the model that also outputs them (``expanded_model``), and the
describer's output computed from the frozen encoders' outputs (``fuse_inputs``,
``output_log_probs``)."""

from __future__ import annotations

from pathlib import Path

import torch

from jobs.adapt.bouts import Bout
from jobs.train import behavior_from_text
from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS
from mousegpt.describe.tiny import MouseGPTTiny, MouseGPTTinyConfig
from mousegpt.errors import InputError
from mousegpt.vocabulary import BEHAVIORS


def base_path(spec: str | Path | None) -> Path:
    """The checkpoint folder of ``--from``: a folder, ``tiny:/path``, or the shipped one (None or
    mousegpt-tiny)."""
    text = str(spec) if spec is not None else DEFAULT_MODEL
    path = (
        WEIGHTS / DEFAULT_MODEL
        if text == DEFAULT_MODEL
        else Path(text[5:] if text.startswith("tiny:") else text)
    )
    if not (path / "config.json").is_file():
        raise InputError(f"{path}: no MouseGPT-tiny checkpoint here (no config.json)")
    return path


def new_classes(known: list[str], bouts: list[Bout]) -> dict[str, dict]:
    """The lab's behaviour names that are not classes yet: name -> {"parent", "description"}.
    The parent is the core behaviour the name (or its first description) names."""
    out: dict[str, dict] = {}
    for b in bouts:
        if b.behavior in known:
            continue
        entry = out.setdefault(b.behavior, {"parent": None, "description": None})
        if entry["description"] is None and b.description:
            entry["description"] = b.description
    for name, entry in out.items():
        parent = behavior_from_text(name) or (
            behavior_from_text(entry["description"]) if entry["description"] else None
        )
        entry["parent"] = parent if parent in BEHAVIORS else None
    return out


def expanded_model(base, added: dict[str, dict]):
    """A copy of ``base`` whose classifier also outputs ``added`` (rows from each parent's row, or
    the mean)."""
    config = base.config.to_dict()
    for key in ("architectures", "transformers_version", "dtype", "torch_dtype", "model_type"):
        config.pop(key, None)
    behaviors = list(base.config.behaviors)
    config.update(
        behaviors=behaviors + list(added),
        adapted={**(base.config.adapted or {}), **added},
        decoder_behaviors=base.config.decoder_behaviors,
    )
    model = MouseGPTTiny(MouseGPTTinyConfig(**config))
    state = base.state_dict()
    weight, bias = state.pop("classifier.weight"), state.pop("classifier.bias")
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        model.classifier.weight[: len(behaviors)] = weight
        model.classifier.bias[: len(behaviors)] = bias
        for i, entry in enumerate(added.values(), start=len(behaviors)):
            parent = entry["parent"]
            row = behaviors.index(parent) if parent in behaviors else None
            model.classifier.weight[i] = weight[row] if row is not None else weight.mean(0)
            model.classifier.bias[i] = bias[row] if row is not None else bias.mean()
    return model.eval()


def fuse_inputs(model, facts, sequence, crops) -> dict:
    """The frozen encoders' outputs, the fuse layer's input, per view the describer averages
    (``TinyDescriber._encode``): "all" (rows with crops only), "kinematics", "facts"."""
    with torch.no_grad():
        batch = facts.shape[0]
        enc = model.fact_encoder(facts)
        seq = model._pool(model.sequence_encoder(sequence.transpose(1, 2)))
        seq = torch.where(sequence.abs().sum((1, 2))[:, None] > 0, seq, model.no_sequence.expand(batch, -1))
        no_seq, no_crops = model.no_sequence.expand(batch, -1), model.no_crops.expand(batch, -1)
        views = {
            "kinematics": torch.cat([seq, no_crops, enc], -1),
            "facts": torch.cat([no_seq, no_crops, enc], -1),
        }
        has_crops = (
            crops.flatten(1).float().sum(1) > 0 if crops is not None else torch.zeros(batch, dtype=torch.bool)
        )
        if has_crops.any():
            frames = crops.to(model.frame_encoder[0].weight.dtype).flatten(0, 1)[:, None] / 255.0
            per_frame = model.frame_encoder(frames).view(batch, crops.shape[1], -1)
            vis = model._pool(model.crop_encoder(per_frame.transpose(1, 2)))
            views["all"] = torch.cat([seq, torch.where(has_crops[:, None], vis, no_crops), enc], -1)
    return {"views": views, "has_crops": has_crops}


def output_log_probs(model, inputs: dict, temperature: float):
    """The describer's log-probabilities from the fuse inputs: the views' probabilities
    averaged (three views where there are crops, two where not), scaled by ``temperature``."""
    head = lambda x: model.classifier(model.fuse(x)).softmax(-1)  # noqa: E731
    views = inputs["views"]
    two = (head(views["kinematics"]) + head(views["facts"])) / 2
    probs = two
    if "all" in views:
        probs = torch.where(inputs["has_crops"][:, None], (2 * two + head(views["all"])) / 3, two)
    return torch.log_softmax(probs.clamp(min=1e-12).log() / temperature, -1)
