"""Stages 2 to 5 of an analysis: a session planned in chunks, each cut, described and
embedded, then the session's shard written.

``plan_sessions`` turns an input's tracked parts (or imported poses) into sessions: quality
control, calibration, kinematics and windows (``mousegpt.pipeline``'s steps), cut into chunks
of DESCRIBE_CHUNK segments that go through the later stages in parallel.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import attrs
import numpy as np
import pandas as pd

from mousegpt import arena as arena_mod
from mousegpt import calibration, changes, pipeline, segments, tracking
from mousegpt import crops as crops_mod
from mousegpt.describe import BehaviorModel
from mousegpt.embed import TextEmbedder
from mousegpt.errors import WorkspaceError
from mousegpt.preparation import Prepared
from mousegpt.records import Session
from mousegpt.results import SessionResult
from mousegpt.store import Workspace

DESCRIBE_CHUNK = 240
"""Segments in a chunk (2 minutes at the 0.5 s hop): the unit that crops are cut, described
and embedded in, so the chunks of a long session go through those stages in parallel, and
its crops never all wait in memory together."""


@dataclass
class Chunk:
    """Consecutive segments of one session, and what cutting, describing and embedding them
    needs. ``windows`` count frames of the whole video; ``kinematics`` (and ``poses``, for the
    crops) hold the frames from ``first_frame`` that the windows cover. Each step fills in its
    field (``facts``, ``crops``, ``descriptions``, ``table``) and drops what no later step reads.
    """

    session_id: str
    index: int
    of: int
    """How many chunks the session has."""
    windows: list[segments.Window]
    first_frame: int
    fps: float
    kinematics: pd.DataFrame | None
    reference_length: float
    """The session's stretched body length, mm (``segments.stretched_length``)."""
    video: str | None = None
    view: str = "top"
    poses: object = None
    """One individual's cleaned poses (an xarray Dataset, pixels) over the chunk's frames, for
    its crops; None when no crops are cut."""
    background: tracking.Background | None = None
    side: float = float("nan")
    """Crop side, image pixels (``crops.side_px`` over the whole session)."""
    facts: pd.DataFrame | None = None
    crops: np.ndarray | None = None
    descriptions: list | None = None
    warnings: list[str] = field(default_factory=list)
    """The describer's per-segment warnings, segments counted from the session's first."""
    model: str | None = None
    table: pd.DataFrame | None = None
    """The chunk's rows of the session's shard."""


@dataclass
class SessionPlan:
    """One individual of an input, tracked and measured: its catalogue record, its result so
    far, and its chunks still to cut, describe and embed.
    """

    record: Session
    result: SessionResult
    chunks: list[Chunk]


def plan_sessions(
    prepared: Prepared, parts: list[tracking.TrackedPart], crops: bool = True, chunk: int | None = None
) -> list[SessionPlan]:
    """An input's sessions once its ``parts`` are tracked (none for a pose file): the parts
    stitched into one track, then quality control, kinematics and windows, cut into chunks of
    ``chunk`` segments (DESCRIBE_CHUNK). With ``crops`` (and a video), each chunk carries what
    cutting its crops needs. The input's warnings are the first session's.
    """
    chunk = chunk or DESCRIBE_CHUNK
    spec, fps, warnings, background = prepared.spec, prepared.fps, prepared.warnings, prepared.background
    arena = arena_mod.from_background(background.image) if background is not None else None
    ds = prepared.poses
    if ds is None:
        joined, _ = tracking.stitch(spec.video, background, parts)
        ds = tracking.poses_dataset(joined, prepared.info.fps)
    marks = ds.attrs.get("landmarks") or {}
    ds, reports = pipeline.clean(ds, fps, tracked=prepared.poses is None)
    # Kinematics are measured on the floor as it is (rectified, when its corners are known);
    # crops are cut from the image as it is.
    calibrated = calibration.calibrate(spec, ds, arena, marks, warnings)
    px_per_mm, px_source = calibrated.px_per_mm, calibrated.px_per_mm_source
    with_crops = crops and background is not None
    sessions = []
    for k, (session_id, individual, report) in enumerate(zip(prepared.ids, prepared.individuals, reports)):
        walls = calibrated.walls(arena, k)
        kin = pipeline.measure(calibrated.poses, fps, px_per_mm, walls, spec.view, individual=k)
        windows = segments.windows(len(kin), fps)
        if report.missing_fraction > 0.5:
            warnings.append(
                f"{spec.name}: {report.missing_fraction:.0%} of frames have no position"
                + (f" for {individual}" if len(prepared.ids) > 1 else "")
            )
        named = (
            prepared.changes[session_id].labels
            if session_id in prepared.changes
            else changes.labels(spec, individual, len(prepared.ids))
        )
        record = Session(
            session_id=session_id,
            video=spec.video,
            pose=spec.pose,
            animal=named["animal"],
            individual=individual,
            condition=named["condition"],
            fps=fps,
            px_per_mm=px_per_mm,
            px_per_mm_source=px_source,
            view=spec.view,
            n_frames=report.frames,
            duration_s=report.frames / fps,
            source="video+pose" if spec.video and spec.pose else ("video" if spec.video else "pose"),
            model=None,  # the describer's name, once it has described the session (``write``)
            arena=walls.__dict__ if walls else None,
            qc=report.to_dict(),
            settings=prepared.settings,
        )
        result = SessionResult(
            input=spec.name,
            session_id=session_id,
            individual=individual,
            frames=report.frames,
            segments=len(windows),
            px_per_mm=px_per_mm,
            px_per_mm_source=px_source,
            qc=report.to_dict(),
            change=prepared.changes.get(session_id),
        )
        mine = ds.isel(individuals=[k])
        side = crops_mod.side_px(mine) if with_crops else float("nan")
        reference = segments.stretched_length(kin)
        # A chunk's rows read the body length over the whole session's stretched length, not the chunk's.
        kin = kin.assign(body_length_ratio=kin["body_length_mm"].to_numpy(float) / reference)
        starts = range(0, len(windows), chunk)
        chunks = []
        for i, start in enumerate(starts):
            some = windows[start : start + chunk]
            first, last = some[0].start_frame, some[-1].end_frame
            chunks.append(
                Chunk(
                    session_id,
                    i,
                    len(starts),
                    some,
                    first,
                    fps,
                    kin.iloc[first:last],
                    reference,
                    video=spec.video,
                    view=spec.view,
                    side=side,
                    background=background if with_crops else None,
                    poses=mine.isel(time=slice(first, last)) if with_crops else None,
                )
            )
        sessions.append(SessionPlan(record, result, chunks))
    sessions[0].result.warnings = warnings
    return sessions


def cut(chunk: Chunk, extract=crops_mod.extract) -> Chunk:
    """A chunk's facts, and its crops when it carries poses (``extract``'s arguments; tests
    pass their own).
    """
    chunk.facts = segments.facts(
        chunk.kinematics,
        chunk.fps,
        some=chunk.windows,
        reference_length=chunk.reference_length,
        first_frame=chunk.first_frame,
    )
    if chunk.poses is not None:
        chunk.crops = extract(
            chunk.video,
            chunk.poses,
            chunk.windows,
            chunk.background,
            view=chunk.view,
            side=chunk.side,
            first_frame=chunk.first_frame,
        )
    chunk.poses = chunk.background = None
    return chunk


def describe(chunk: Chunk, model: BehaviorModel) -> Chunk:
    """A chunk's descriptions by ``model``, and its warnings."""
    # The describer reads each window's rows of the kinematics: frames counted from the chunk's first.
    local = [
        segments.Window(w.index, w.start_frame - chunk.first_frame, w.end_frame - chunk.first_frame)
        for w in chunk.windows
    ]
    chunk.descriptions = model.describe(
        chunk.facts, kinematics=chunk.kinematics, windows=local, crops=chunk.crops
    )
    # "segment i" counts from the chunk's first: from the session's, as users read it.
    first = chunk.windows[0].index
    chunk.warnings = [
        re.sub(r"^segment (\d+)", lambda m: f"segment {int(m.group(1)) + first}", w)
        for w in getattr(model, "warnings", []) or []
    ]
    chunk.model, chunk.crops, chunk.kinematics = model.name, None, None
    return chunk


def embed(chunk: Chunk, embedder: TextEmbedder) -> Chunk:
    """A chunk's rows of the session's shard: facts, descriptions and search vectors."""
    descriptions = chunk.descriptions
    vectors = pipeline.search_vectors(descriptions, embedder([d.text() for d in descriptions]))
    table = chunk.facts.copy()
    table.insert(0, "segment_id", [f"{chunk.session_id}-{i:06d}" for i in table["segment_index"]])
    table.insert(1, "session_id", chunk.session_id)
    table["behavior"] = [d.behavior for d in descriptions]
    table["probs"] = [json.dumps(d.probs) for d in descriptions]
    table["confidence"] = [d.confidence for d in descriptions]
    for name in ("overall", "head", "limbs", "torso", "keywords"):
        table[name] = [getattr(d, name) for d in descriptions]
    table["embedding"] = list(vectors)
    chunk.table, chunk.facts, chunk.descriptions = table, None, None
    return chunk


def write(session: SessionPlan, chunks: list[Chunk], workspace: Workspace) -> SessionResult:
    """The session's shard, written from every one of its ``chunks`` embedded; its result,
    with the describer's warnings added.
    """
    chunks = sorted(chunks, key=lambda c: c.index)
    if not chunks or [c.index for c in chunks] != list(range(chunks[0].of)):
        raise ValueError(f"{session.result.input}: chunks {[c.index for c in chunks]} of a session to write")
    result = session.result
    record = attrs.evolve(session.record, model=chunks[0].model)
    try:
        result.shard = str(
            workspace.write_shard(record, pd.concat([c.table for c in chunks], ignore_index=True))
        )
    except OSError as exc:  # a full disk, a store gone away: the input fails, written whole or not at all
        raise WorkspaceError(
            f"{result.input}: cannot write its shard "
            f"{workspace.store.uri(f'segments/{session.result.session_id}.parquet')} "
            f"({exc.strerror or exc})"
        ) from None
    result.warnings = result.warnings + _model_warnings(
        result.input, chunks[0].model, [w for c in chunks for w in c.warnings]
    )
    return result


def _model_warnings(name: str, model: str, found: list[str]) -> list[str]:
    """The describer's per-segment warnings, as one line (the first few shown)."""
    if not found:
        return []
    shown = "; ".join(found[:3]) + (f"; and {len(found) - 3} more" if len(found) > 3 else "")
    return [f"{name}: {model}: {len(found)} segment(s) described from the facts only ({shown})"]
