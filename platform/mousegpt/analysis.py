"""One session from input to shard: pose, kinematics, segments, descriptions, embeddings.

This is the unit of work a pipeline worker runs; it never touches the catalogue (the
driver commits the shard it writes).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mousegpt import arena as arena_mod
from mousegpt import kinematics, pose, segments, tracking, video
from mousegpt.describe import BehaviorModel
from mousegpt.embed import TextEmbedder
from mousegpt.errors import InputError
from mousegpt.inputs import InputSpec
from mousegpt.store import Workspace, content_hash


@dataclass
class SessionResult:
    input: str
    session_id: str | None = None
    shard: str | None = None
    skipped: bool = False
    """Already in the catalogue (same content): nothing was recomputed."""
    frames: int = 0
    segments: int = 0
    seconds: float = 0.0
    error: str | None = None


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _pose_and_arena(spec: InputSpec, info: video.VideoInfo | None, fps: float):
    """Poses (platform keypoints) and arena, from the tracker or a pose file."""
    if spec.pose is not None:
        ds = pose.load(spec.pose, fps=fps)
        if info is not None and pose.n_frames(ds) != info.n_frames:
            # Container headers can be off by a frame or two: count the real frames before refusing.
            decoded = video.count_frames(spec.video)
            if pose.n_frames(ds) != decoded:
                raise InputError(f"{spec.pose}: pose file has {pose.n_frames(ds)} frames but video {spec.video} has {decoded}")
        if ds.sizes["individuals"] > 1:
            _warn(f"{spec.pose}: {ds.sizes['individuals']} individuals; only the first ({ds.individuals.values[0]}) is analysed for now")
        if spec.video is not None:  # the walls are in the video even when the pose is not ours
            return ds, arena_mod.from_background(tracking.estimate_background(spec.video).image)
        # A pose file alone has no image to find the walls in: the arena is the extent of the
        # path, padded by a quarter body length.
        points = pose.positions(ds)
        pad = 0.25 * float(np.nanmedian(np.linalg.norm(points["nose"] - points["tail_base"], axis=1)))
        centre = points["body_center"]
        return ds, arena_mod.from_track(centre[:, 0], centre[:, 1], pad_px=pad)
    background = tracking.estimate_background(spec.video)
    ds = tracking.track(spec.video, background=background)
    return ds, arena_mod.from_background(background.image)


def analyze(spec: InputSpec, workspace: Workspace, model: BehaviorModel, embedder: TextEmbedder,
            known: set[str] = frozenset()) -> SessionResult:
    """Analyse one input and write its shard; errors are returned, not raised."""
    started = time.perf_counter()
    result = SessionResult(input=spec.name)
    try:
        for path in (spec.video, spec.pose):
            if path is not None and not os.path.exists(path):
                raise InputError(f"{path}: no such file")
        result.session_id = content_hash(spec.video, spec.pose)
        if result.session_id in known:
            result.skipped = True
            return result
        shard = workspace.shard_path(result.session_id)
        if shard.exists():
            # Analysed before but never committed (the commit failed or was interrupted):
            # the shard is complete (written atomically), so it is committed as it is.
            session = workspace.read_shard_session(shard)
            result.shard, result.frames = str(shard), int(session["n_frames"])
            result.segments = pq.read_metadata(shard).num_rows
            result.seconds = time.perf_counter() - started
            return result
        info = video.probe(spec.video) if spec.video else None
        fps = spec.fps
        if info is not None:
            if fps is not None and abs(fps - info.fps) > 0.01 * info.fps:
                _warn(f"{spec.video}: given fps {fps} differs from the container's {info.fps:.3f}; using {fps}")
            fps = fps or info.fps
        ds, arena = _pose_and_arena(spec, info, fps)
        if fps is None:
            file_fps = ds.attrs.get("fps") if ds.attrs.get("time_unit") == "seconds" else None
            if not file_fps:
                raise InputError(f"{spec.pose}: pose file has no frame rate; pass --fps")
            fps = float(file_fps)
            if fps < 5:
                _warn(f"{spec.pose}: the file's frame rate is {fps} fps, implausible for behaviour video; pass --fps if it is wrong")
        px_per_mm, px_source = spec.px_per_mm, "given"
        if px_per_mm is None:
            px_per_mm, px_source = kinematics.estimate_px_per_mm(ds), "estimated from body length"
            _warn(f"{spec.name}: px_per_mm estimated as {px_per_mm:.3f} from the mouse's body length")
        kin = kinematics.compute(ds, fps, px_per_mm, arena, view=spec.view)
        facts = segments.facts(kin, fps)
        descriptions = model.describe(facts)
        vectors = embedder([d.text() for d in descriptions])
        table = facts.copy()
        table.insert(0, "segment_id", [f"{result.session_id}-{i:06d}" for i in facts["segment_index"]])
        table.insert(1, "session_id", result.session_id)
        table["behavior"] = [d.behavior for d in descriptions]
        table["probs"] = [json.dumps(d.probs) for d in descriptions]
        for field in ("overall", "head", "limbs", "torso", "keywords"):
            table[field] = [getattr(d, field) for d in descriptions]
        table["embedding"] = list(vectors)
        n_frames = int(ds.sizes["time"])
        session = {
            "session_id": result.session_id, "video": spec.video, "pose": spec.pose, "animal": spec.animal,
            "condition": spec.condition, "fps": fps, "px_per_mm": px_per_mm, "px_per_mm_source": px_source,
            "view": spec.view, "n_frames": n_frames, "duration_s": n_frames / fps,
            "source": "video+pose" if spec.video and spec.pose else ("video" if spec.video else "pose"),
            "model": model.name, "arena": json.dumps(arena.__dict__) if arena else None,
        }
        result.shard = str(workspace.write_shard(session, pd.DataFrame(table)))
        result.frames, result.segments = n_frames, len(table)
    except InputError as exc:
        result.error = str(exc)
    except Exception as exc:  # one bad video must never stop a batch
        result.error = f"{spec.name}: {exc.__class__.__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result
