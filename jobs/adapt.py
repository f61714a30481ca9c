"""Adapting MouseGPT-tiny to a lab's own labels in minutes (``mousegpt adapt``).

1. Annotations. A JSONL file, one bout per line: ``video`` or ``pose`` (a path relative to
   the file's folder, or absolute), ``start_s``, ``end_s``, ``behavior``, optionally
   ``description``, and what a recording needs to be analysed (``fps``, ``px_per_mm``,
   ``arena_mm``, ``view``). Every line is checked, and every recording opened to check the
   times against its duration, before anything is analysed (``read_bouts``).
2. Segments. Each annotated recording is cut into segments exactly as ``analyze`` cuts it
   (``recording_segments``). A segment takes the behaviour of the bout covering at least half
   of it. Within a recording's annotated span (its first bout's start to its last bout's end)
   a segment in no bout is none of the annotated behaviours: its target is the base model's
   own probabilities with the annotated behaviours (and the core behaviours the lab's names
   specialise, e.g. rear for "supported rear") taken out, which keeps what the model knew and
   says these are not the lab's behaviours. Segments outside the span are not used.
3. Classes. A behaviour name that is not a class yet becomes one (the classifier gains a row,
   started from its parent core behaviour's row: the one ``jobs.train.behavior_from_text``
   finds in the name, or the mean of all). Core names stay their classes.
4. Fine-tuning. The encoders are frozen; their outputs for the views the describer averages
   (crops + kinematics + facts, kinematics + facts, facts) are computed once. The last fuse
   layer and the classifier are trained with AdamW on the describer's own output (the mean of
   the views' probabilities, scaled by the checkpoint's temperature), every segment weighing
   the same, full-batch steps on one thread, seeded: the same files and seed give the same
   checkpoint.
5. How long to fine-tune. A few bouts are easily over-learnt: the lab's class then swallows
   its neighbours on minutes it has not seen. Unless ``steps`` is given, each length in
   ``STEP_CHOICES`` is tried on two folds of the lab's own segments (the first and the second
   half of every recording's annotated span; trained on one, scored on the other), and the
   length with the best held-out macro-F1 over the lab's behaviours is used on all of them (the
   shorter one on a tie; 0 keeps the base model, its new classes started from their parents).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mousegpt.errors import InputError

Progress = Callable[[str, int, int], None]

KEYS = {
    "video",
    "pose",
    "start_s",
    "end_s",
    "behavior",
    "description",
    "fps",
    "px_per_mm",
    "arena_mm",
    "view",
}
"""Every key an annotation line may have."""
STEP_CHOICES = (0, 25, 50, 100, 200, 300)
"""Fine-tuning lengths (full-batch AdamW steps) tried on held-out halves of the lab's bouts;
300 steps take about a second on one CPU thread for a few thousand segments."""
TRAINABLE = ("fuse.3.", "classifier.")
"""Parameters fine-tuned: the last fuse layer and the classifier."""


@dataclass(frozen=True)
class Bout:
    line: int
    file: str
    """Absolute path of the video or pose file."""
    kind: str
    """``video`` or ``pose``."""
    start_s: float
    end_s: float
    behavior: str
    description: str | None
    fps: float | None
    px_per_mm: float | None
    arena_mm: float | None
    view: str | None
    """None when the line does not say (then ``top``, unless another line of the recording says)."""


def behavior_name(text: str) -> str:
    """A behaviour name as a class: lower case, single spaces."""
    return " ".join(str(text).split()).lower()


def _number(row: dict, key: str, where: str, positive: bool = False) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: {key} must be a number, got {json.dumps(value)}")
    if positive and value <= 0:
        raise InputError(f"{where}: {key} must be positive, got {value:g}")
    return float(value)


def _line(path: Path, number: int, text: str) -> Bout:
    where = f"{path}:{number}"
    try:
        row = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{where}: not JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(row, dict):
        raise InputError(f"{where}: not a JSON object")
    unknown = sorted(set(row) - KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}")
    has = [k for k in ("video", "pose") if row.get(k) not in (None, "")]
    if len(has) != 1:
        raise InputError(f"{where}: give one of video or pose" + (", not both" if len(has) == 2 else ""))
    missing = [k for k in ("start_s", "end_s", "behavior") if row.get(k) is None]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    start, end = _number(row, "start_s", where), _number(row, "end_s", where)
    if start < 0 or start >= end:
        raise InputError(f"{where}: need 0 <= start_s < end_s, got {start:g} and {end:g}")
    if not isinstance(row["behavior"], str) or not row["behavior"].strip():
        raise InputError(f"{where}: behavior must be a non-empty name")
    description = row.get("description")
    if description is not None and not isinstance(description, str):
        raise InputError(f"{where}: description must be text")
    view = row.get("view")
    if view not in (None, "top", "bottom"):
        raise InputError(f"{where}: view must be top or bottom, got {json.dumps(view)}")
    kind = has[0]
    if not isinstance(row[kind], str):
        raise InputError(f"{where}: {kind} must be a path")
    file = (path.parent / row[kind]).resolve()
    if not file.is_file():
        raise InputError(f"{where}: {kind} file {row[kind]} not found")
    return Bout(
        number,
        str(file),
        kind,
        start,
        end,
        behavior_name(row["behavior"]),
        description.strip() or None if description else None,
        _number(row, "fps", where, True),
        _number(row, "px_per_mm", where, True),
        _number(row, "arena_mm", where, True),
        view,
    )


def _duration(bout: Bout, where: str) -> tuple[float, object]:
    """The recording's duration (s) and, for a pose file, its poses (read once, reused)."""
    from mousegpt import pose, video

    try:
        if bout.kind == "video":
            info = video.probe(bout.file)
            return info.n_frames / (bout.fps or info.fps), None
        ds = pose.load(bout.file, fps=bout.fps)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    fps = bout.fps or (ds.attrs.get("fps") if ds.attrs.get("time_unit") == "seconds" else None)
    if not fps:
        raise InputError(
            f'{where}: pose file {Path(bout.file).name} has no frame rate; add "fps" to the line'
        )
    return pose.n_frames(ds) / float(fps), ds


def read_bouts(path: str | Path) -> tuple[list[Bout], dict[str, object]]:
    """Every annotation line, checked: the bouts, and the poses of each pose file read.

    Raises InputError ``FILE:LINE: problem`` for the first bad line (unknown keys, not JSON,
    a missing file, times outside the recording, metadata that differs between lines of one
    recording)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    bouts: list[Bout] = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip():
            bouts.append(_line(path, number, text))
    if not bouts:
        raise InputError(f"{path}: no annotations")
    # A recording's metadata may be given on any of its lines; two lines must not disagree.
    recording: dict[str, Bout] = {}
    for bout in bouts:
        seen = recording.setdefault(bout.file, bout)
        merged = {}
        for key in ("kind", "fps", "px_per_mm", "arena_mm", "view"):
            mine, theirs = getattr(bout, key), getattr(seen, key)
            if mine is not None and theirs is not None and mine != theirs:
                raise InputError(
                    f"{path}:{bout.line}: {key} {mine} differs from {theirs} given for the same file before"
                )
            merged[key] = theirs if theirs is not None else mine
        recording[bout.file] = replace(seen, **merged)
    durations: dict[str, float] = {}
    poses: dict[str, object] = {}
    for bout in bouts:
        where = f"{path}:{bout.line}"
        if bout.file not in durations:
            durations[bout.file], ds = _duration(recording[bout.file], where)
            if ds is not None:
                poses[bout.file] = ds
        if bout.end_s > durations[bout.file] + 1e-6:
            raise InputError(
                f"{where}: end_s {bout.end_s:g} is beyond the recording's end ({durations[bout.file]:.2f} s)"
            )
    return [
        replace(
            recording[b.file],
            line=b.line,
            start_s=b.start_s,
            end_s=b.end_s,
            behavior=b.behavior,
            description=b.description,
        )
        for b in bouts
    ], poses


# ---------------------------------------------------------------- segments


def recording_segments(bout: Bout, ds=None, uses_crops: bool = True) -> dict:
    """A recording's segments as ``analyze`` cuts them (first individual): facts, the
    kinematic sequence features, crops (videos) and windows. ``ds``: its poses, already read."""
    from mousegpt import analysis, kinematics, qc, segments, tracking
    from mousegpt import arena as arena_mod
    from mousegpt import crops as crops_mod
    from mousegpt.describe.tiny import MouseGPTTinyConfig, sequence_features
    from mousegpt.inputs import InputSpec

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
            ds, fps = analysis._imported_poses(spec, None, bout.fps, warnings)
        else:
            fps = bout.fps or float(ds.attrs["fps"])
        background = arena = None
        marks = ds.attrs.get("landmarks") or {}
        ds, _ = qc.clean(ds, fps, qc.QCConfig())
    else:
        from mousegpt import video

        spec = InputSpec(
            video=bout.file, fps=bout.fps, px_per_mm=bout.px_per_mm, view=bout.view, arena_mm=bout.arena_mm
        )
        fps = bout.fps or video.probe(bout.file).fps
        background = tracking.estimate_background(bout.file)
        arena = arena_mod.from_background(background.image)
        marks = {}
        ds, _ = qc.clean(tracking.track(bout.file, background=background), fps, analysis.TRACKER_QC)
    floor = analysis._floor(spec, ds, marks, warnings)
    on_floor = floor.rectify(ds) if floor else ds
    px_per_mm, _ = analysis._scale(spec, on_floor, arena, warnings, floor)
    where = floor.arena if floor else (arena or analysis._arena_from_path(on_floor.isel(individuals=[0])))
    kin = kinematics.compute(on_floor, fps, px_per_mm, where, individual=0, view=bout.view)
    windows = segments.windows(len(kin), fps)
    crops = (
        crops_mod.extract(bout.file, ds, windows, background, view=bout.view)
        if background is not None and uses_crops
        else None
    )
    return {
        "facts": segments.facts(kin, fps),
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


# ---------------------------------------------------------------- classes and model


def base_path(spec: str | Path | None) -> Path:
    """The checkpoint folder of ``--from``: a folder, ``tiny:/path``, or the shipped one (None or mousegpt-tiny)."""
    from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS

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
    from jobs.train import behavior_from_text
    from mousegpt.vocabulary import BEHAVIORS

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
    """A copy of ``base`` whose classifier also outputs ``added`` (rows from each parent's row, or the mean)."""
    import torch

    from mousegpt.describe.tiny import MouseGPTTiny, MouseGPTTinyConfig

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
    import torch

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
    import torch

    head = lambda x: model.classifier(model.fuse(x)).softmax(-1)  # noqa: E731
    views = inputs["views"]
    two = (head(views["kinematics"]) + head(views["facts"])) / 2
    probs = two
    if "all" in views:
        probs = torch.where(inputs["has_crops"][:, None], (2 * two + head(views["all"])) / 3, two)
    return torch.log_softmax(probs.clamp(min=1e-12).log() / temperature, -1)


# ---------------------------------------------------------------- adapt


def adapt(
    out: str | Path,
    annotations: str | Path,
    base: str | Path | None = None,
    steps: int | None = None,
    seed: int = 0,
    lr: float = 3e-3,
    progress: Progress | None = None,
) -> dict:
    """Fine-tune a MouseGPT-tiny checkpoint on the bouts in ``annotations`` and write the
    adapted checkpoint to ``out`` (whole or not at all). ``steps``: the fine-tuning length, or
    None to choose it on held-out halves of the bouts (``choose_steps``). Returns the figures
    (``adaptation.json``)."""
    import torch

    from mousegpt.describe.tiny import MouseGPTTiny, fact_features

    started = time.perf_counter()
    out = Path(out)
    source = base_path(base)
    if out.exists() and not (out / "config.json").is_file() and any(out.iterdir()):
        raise InputError(f"{out}: exists and holds something else than a checkpoint; not replacing it")
    bouts, poses = read_bouts(annotations)
    torch.manual_seed(seed)
    base_model = MouseGPTTiny.from_pretrained(str(source)).eval()
    added = new_classes(list(base_model.config.behaviors), bouts)
    model = expanded_model(base_model, added)
    names = list(model.config.behaviors)
    temperature = float(getattr(model.config, "probability_temperature", 1.0) or 1.0)

    # Segments of every annotated recording, labelled.
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
    labels = np.concatenate([p["label"] for p in parts])
    if not (labels != "").any():
        raise InputError(
            f"{annotations}: no segment is covered by a bout for at least half its length "
            "(bouts shorter than half a second?)"
        )
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
    crops = crops if size != (1, 1, 1) else None
    inputs = fuse_inputs(model, facts, sequence, crops)

    # Targets: the bout's class, or the base model's probabilities without the lab's behaviours.
    n_base = len(base_model.config.behaviors)
    with torch.no_grad():
        base_log_probs = output_log_probs(base_model, inputs, temperature)
    base_probs = base_log_probs.exp()
    index = {b: i for i, b in enumerate(names)}
    lab = sorted({b.behavior for b in bouts})
    excluded = [index[b] for b in lab if b in index and index[b] < n_base]
    excluded += [index[e["parent"]] for e in added.values() if e["parent"] in index]
    target = torch.zeros(len(labels), len(names))
    target[:, :n_base] = base_probs
    target[:, sorted(set(excluded))] = 0
    target /= target.sum(1, keepdim=True).clamp(min=1e-12)
    empty = target.sum(1) < 0.5  # everything the base saw was one of the lab's behaviours
    allowed = torch.ones(len(names))
    allowed[n_base:] = 0
    allowed[sorted(set(excluded))] = 0
    target[empty] = allowed / allowed.sum()
    labelled = labels != ""
    hard = torch.tensor([index.get(x, -1) for x in labels])
    target[torch.from_numpy(labelled)] = torch.nn.functional.one_hot(
        hard[torch.from_numpy(labelled)], len(names)
    ).float()
    # Every segment counts alike (weighing rare classes up made the lab's classes over-called on unseen minutes).
    parent = {name: e["parent"] for name, e in added.items()}
    base_said = np.asarray(base_model.config.behaviors)[base_log_probs.argmax(1).numpy()]
    right_before = [p == t or parent.get(t) == p for p, t in zip(base_said[labelled], labels[labelled])]
    before_loss = _loss(model, inputs, target, np.arange(len(labels)), temperature)
    start_state = {k: v.clone() for k, v in model.state_dict().items()}
    trained_started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # small matrices: one thread is fastest, and gives the same numbers on any machine
    try:
        held_out = None
        if steps is None:
            folds = np.concatenate([_halves(p["facts"]["start_s"].to_numpy()) for p in parts])
            held_out = choose_steps(
                model, start_state, inputs, target, labels, folds, lab, temperature, lr, seed, progress
            )
            steps = held_out["chosen"]
        _fine_tune(
            model, start_state, inputs, target, np.arange(len(labels)), steps, lr, seed, temperature, progress
        )
    finally:
        torch.set_num_threads(threads)
    train_seconds = time.perf_counter() - trained_started
    predicted = _predict(model, inputs, temperature)
    right_after = predicted[labelled] == labels[labelled]
    after_loss = _loss(model, inputs, target, np.arange(len(labels)), temperature)
    model.eval()

    counts_by = {str(k): int(v) for k, v in zip(*np.unique(labels[labelled], return_counts=True))}
    report = {
        "checkpoint": str(out),
        "base": str(source),
        "behaviors": names,
        "new_behaviors": added,
        "annotations": {"file": str(annotations), "bouts": len(bouts), "recordings": len(by_file)},
        "segments": {
            "labelled": int(labelled.sum()),
            "none_of_these": int((~labelled).sum()),
            "by_behavior": counts_by,
        },
        "before": {"loss": before_loss, "accuracy": round(float(np.mean(right_before)), 4)},
        "after": {"loss": after_loss, "accuracy": round(float(np.mean(right_after)), 4)},
        "steps": steps,
        "held_out": held_out,
        "seed": seed,
        "trainable": list(TRAINABLE),
        "seconds": {"training": round(train_seconds, 2), "total": round(time.perf_counter() - started, 2)},
    }
    _write(out, source, model, report)
    return report


def _halves(start_s: np.ndarray) -> np.ndarray:
    """Fold of each of a recording's segments (in time order): 0 for the first half of them, 1 for the rest."""
    rank = np.argsort(np.argsort(start_s, kind="stable"), kind="stable")
    return (rank >= len(start_s) / 2).astype(int)


def _loss(model, inputs: dict, target, rows: np.ndarray, temperature: float):
    """Mean cross-entropy of the describer's output against ``target`` over ``rows`` (every segment alike)."""
    import torch

    with torch.no_grad():
        return round(
            float(-(target[rows] * output_log_probs(model, inputs, temperature)[rows]).sum(1).mean()), 4
        )


def _predict(model, inputs: dict, temperature: float) -> np.ndarray:
    import torch

    model.eval()
    with torch.no_grad():
        return np.asarray(model.config.behaviors)[
            output_log_probs(model, inputs, temperature).argmax(1).numpy()
        ]


def _fine_tune(
    model,
    start_state: dict,
    inputs: dict,
    target,
    rows: np.ndarray,
    steps: int,
    lr: float,
    seed: int,
    temperature: float,
    progress: Progress | None = None,
) -> None:
    """``model`` from ``start_state``, trained ``steps`` full-batch steps on ``rows`` (the last fuse layer
    and the classifier; AdamW, cosine decay; every segment weighing the same)."""
    import torch

    model.load_state_dict(start_state)
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(TRAINABLE))
    if not steps or not len(rows):
        return
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(1, steps)))
    )
    rows_t = torch.from_numpy(np.asarray(rows))
    model.train()
    for step in range(steps):
        optimiser.zero_grad()
        loss = -(target[rows_t] * output_log_probs(model, inputs, temperature)[rows_t]).sum(1).mean()
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress and (step + 1) % 10 == 0:
            progress("fine-tuning", step + 1, steps)
    model.eval()


def macro_f1(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> float:
    """Mean F1 over ``classes`` (a class absent from both ``truth`` and ``predicted`` is left out)."""
    scores = []
    for c in classes:
        t, p = truth == c, predicted == c
        if t.sum() + p.sum():
            scores.append(2 * float((t & p).sum()) / float(t.sum() + p.sum()))
    return float(np.mean(scores)) if scores else float("nan")


def choose_steps(
    model,
    start_state: dict,
    inputs: dict,
    target,
    labels: np.ndarray,
    folds: np.ndarray,
    classes: list[str],
    temperature: float,
    lr: float,
    seed: int,
    progress: Progress | None = None,
) -> dict:
    """The fine-tuning length (of ``STEP_CHOICES``) whose models, each trained on one fold and
    run on the other, give the best macro-F1 over the lab's ``classes`` on the held-out
    segments (ties: the shorter). Returns {"chosen", "f1": {steps: F1}}; leaves ``model`` at
    ``start_state``."""
    scores: dict[int, float] = {}
    for k, steps in enumerate(STEP_CHOICES):
        predicted = np.empty(len(labels), dtype=object)
        for fold in (0, 1):
            _fine_tune(
                model,
                start_state,
                inputs,
                target,
                np.flatnonzero(folds != fold),
                steps,
                lr,
                seed,
                temperature,
            )
            predicted[folds == fold] = _predict(model, inputs, temperature)[folds == fold]
        scores[steps] = round(macro_f1(labels, predicted.astype(str), classes), 4)
        if progress:
            progress("choosing how long to fine-tune (held-out halves)", k + 1, len(STEP_CHOICES))
    model.load_state_dict(start_state)
    valid = {s: f for s, f in scores.items() if f == f}
    chosen = max(valid, key=lambda s: (valid[s], -s)) if valid else STEP_CHOICES[-1]
    return {"chosen": chosen, "f1": {str(s): f for s, f in scores.items()}}


def _write(out: Path, source: Path, model, report: dict) -> None:
    """The checkpoint, its figures and a short model card into ``out``, through a staging folder."""
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    for name in ("vocabulary_facts.parquet",):  # novelty detection reads it beside the checkpoint
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    (staging / "adaptation.json").write_text(json.dumps(report, indent=1) + "\n")
    added = report["new_behaviors"]
    lines = [
        "# MouseGPT-tiny, adapted",
        "",
        f"`{report['base']}` fine-tuned by `mousegpt adapt` on {report['annotations']['bouts']} bouts in "
        f"{report['annotations']['recordings']} recording(s) ({report['segments']['labelled']} labelled segments, "
        f"{report['segments']['none_of_these']} in none of them).",
        "",
        "Classes added: "
        + (", ".join(f"{n} (from {e['parent'] or 'the mean of all'})" for n, e in added.items()) or "none")
        + ".",
        f"Training fit (labelled segments): accuracy {report['before']['accuracy']:.2f} before (a new class's "
        f"parent counted as right), {report['after']['accuracy']:.2f} after; {report['steps']} steps, seed "
        f"{report['seed']}, {report['seconds']['training']:.0f} s.",
        "",
        "These figures are on the training bouts themselves: check the adapted model on recordings it was not "
        "adapted on before trusting its rates.",
    ]
    (staging / "README.md").write_text("\n".join(lines) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.replace(out)
