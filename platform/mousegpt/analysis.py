"""One session from input to shard: pose, kinematics, segments, descriptions, embeddings.

This is the unit of work a pipeline worker runs; it never touches the catalogue (the
driver commits the shard it writes).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import attrs
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mousegpt import arena as arena_mod
from mousegpt import changes, kinematics, landmarks, pipeline, pose, segments, sources, tracking, video
from mousegpt import crops as crops_mod
from mousegpt.changes import Change
from mousegpt.describe import BehaviorModel
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.embed import TextEmbedder
from mousegpt.errors import InputError, MouseGPTError, WorkspaceError
from mousegpt.inputs import InputSpec
from mousegpt.records import Session
from mousegpt.store import Workspace, content_hash


@dataclass
class SessionResult:
    """One analysed individual of one input (or the input's error)."""

    input: str
    session_id: str | None = None
    individual: str | None = None
    shard: str | None = None
    skipped: bool = False
    """Already in the catalogue (same content and settings): nothing was recomputed."""
    change: Change | None = None
    """What this run does to a session the catalogue holds (``changes.decide``): its labels
    updated (with ``skipped``), or its segments replaced; None for a new session."""
    frames: int = 0
    segments: int = 0
    seconds: float = 0.0
    px_per_mm: float | None = None
    px_per_mm_source: str | None = None
    qc: dict | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    node: str | None = None
    """The Ray node that described it (None when analysed outside Ray)."""


def session_ids(base: str, individuals: int) -> list[str]:
    """One session per individual: the input's content hash, suffixed by the individual's
    index when a file holds several.
    """
    return [base] if individuals == 1 else [f"{base}-{k}" for k in range(individuals)]


def _frame_rate(spec: InputSpec, info: video.VideoInfo | None, warnings: list[str]) -> float | None:
    if info is None:
        return spec.fps
    if spec.fps is not None and abs(spec.fps - info.fps) > 0.01 * info.fps:
        warnings.append(
            f"{spec.video}: given fps {spec.fps:g} differs from the container's {info.fps:.3f}; "
            f"using {spec.fps:g}"
        )
    return spec.fps or info.fps


def _imported_poses(spec: InputSpec, info: video.VideoInfo | None, fps: float | None, warnings: list[str]):
    """The pose file's poses (platform keypoints) and the frame rate to use."""
    ds = pose.load(spec.pose, fps=fps, keypoint_map=spec.keypoint_map)
    if info is not None and pose.n_frames(ds) != info.n_frames:
        # Container headers can be off by a frame or two: count the real frames before refusing.
        decoded = video.count_frames(spec.video)
        if pose.n_frames(ds) != decoded:
            raise InputError(
                f"{spec.pose}: pose file has {pose.n_frames(ds)} frames but video {spec.video} has {decoded}"
            )
    if fps is None:
        fps = ds.attrs.get("fps") if ds.attrs.get("time_unit") == "seconds" else None
        if not fps:
            raise InputError(f"{spec.pose}: pose file has no frame rate; pass --fps")
        fps = float(fps)
        if fps < 5:
            warnings.append(
                f"{spec.pose}: the file's frame rate is {fps:g} fps, implausible for behaviour video; "
                "pass --fps if it is wrong"
            )
    return ds, fps


def _scale(
    spec: InputSpec,
    ds,
    arena: arena_mod.Arena | None,
    warnings: list[str],
    floor: landmarks.Floor | None = None,
) -> tuple[float, str]:
    """px_per_mm and where it came from: given, the arena's real size (its corner landmarks in
    a pose file, or its walls in the video), or the mouse's length.
    """
    if spec.px_per_mm is not None:
        problem = kinematics.implausible_scale(ds, spec.px_per_mm)
        if problem:
            warnings.append(f"{spec.name}: {problem}")
        return spec.px_per_mm, "given"
    if spec.arena_mm is not None:
        measured = None
        if floor is not None:
            measured = (
                floor.arena.width,
                f"arena corners {', '.join(floor.corners)} "
                f"({spec.arena_mm:g} mm, {floor.arena.width:.0f} px)",
            )
        elif arena is not None and spec.video is not None:
            measured = arena.width, f"arena ({spec.arena_mm:g} mm, {arena.width:.0f} px)"
        if measured is not None:
            px_per_mm = measured[0] / spec.arena_mm
            problem = kinematics.implausible_scale(ds, px_per_mm)
            if problem:
                warnings.append(
                    f"{spec.name}: arena {spec.arena_mm:g} mm wide and {measured[0]:.0f} px: {problem}"
                )
            return px_per_mm, measured[1]
        warnings.append(
            f"{spec.name}: no arena walls found in the video or arena corners in the pose file to measure "
            "against --arena-mm; px_per_mm estimated from the mouse's body length"
        )
    px_per_mm = kinematics.estimate_px_per_mm(ds)
    warnings.append(f"{spec.name}: px_per_mm estimated as {px_per_mm:.3f} from the mouse's body length")
    return px_per_mm, "estimated from body length"


def _floor(spec: InputSpec, ds, corners: dict, warnings: list[str]) -> landmarks.Floor | None:
    """The arena floor from the pose file's corner landmarks (``corners``: name -> (x, y) px), when
    four of them enclose the mouse's path; with ``--arena-mm`` the floor is square.
    """
    if len(corners) < 4:
        return None
    centre = ds.position.sel(keypoints="body_center").transpose("space", ...).values.reshape(2, -1)
    floor = landmarks.floor(corners, centre[0], centre[1], square=spec.arena_mm is not None)
    if floor is not None and spec.arena_mm is not None and abs(floor.stretch - 1) > 0.1:
        warnings.append(
            f"{spec.name}: arena corners {', '.join(floor.corners)} "
            f"look {floor.stretch:.2f} times wider than "
            f"tall; taken as a square floor {spec.arena_mm:g} mm on a side, and the poses rectified to it"
        )
    return floor


PART_SECONDS = 60.0
"""Length of the parts a video is tracked in (``prepare``): parts of one video are tracked in
parallel, so a long video uses every core; a part costs a seek and a little re-tracking at
its edge (``tracking.stitch``)."""


@dataclass
class Prepared:
    """One input, read and planned: the first stage of its analysis.

    ``done`` holds its results when nothing is left to do (already in the catalogue, or its
    shards were written by an earlier run that never committed). Otherwise a video's frames
    ``parts`` are to be tracked (``tracking.track_part``) against ``background``, or the poses
    were imported from a pose file (``poses``), and ``plan_sessions`` makes the sessions.
    """

    spec: InputSpec
    ids: list[str]
    individuals: list[str | None]
    fps: float | None
    info: video.VideoInfo | None
    warnings: list[str]
    poses: object = None
    """The pose file's poses (an xarray Dataset), platform keypoints; None for a tracked video."""
    background: tracking.Background | None = None
    parts: list[tuple[int, int | None]] = field(default_factory=list)
    """``[start, stop)`` frames of each tracking part; the last one's stop is None (the end)."""
    done: list[SessionResult] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    """What its sessions are computed with (``changes.settings``), recorded in each."""
    changes: dict[str, Change] = field(default_factory=dict)
    """What this run does to each of its sessions the catalogue holds, by session id."""


def failure(name: str, exc: Exception) -> SessionResult:
    """The failed result of input ``name``: a MouseGPTError's message names the file and the
    problem already; anything else is named by its class.
    """
    return SessionResult(
        input=name,
        error=str(exc) if isinstance(exc, MouseGPTError) else f"{name}: {exc.__class__.__name__}: {exc}",
    )


def guarded(name: str, work) -> list[SessionResult]:
    """``work()``'s results, or one failed result naming the input: a bad input must never stop a batch."""
    started = time.perf_counter()
    try:
        results = work()
    except Exception as exc:
        results = [failure(name, exc)]
    for result in results:
        result.seconds = round(time.perf_counter() - started, 3)
    return results


def analyze(
    spec: InputSpec,
    workspace: Workspace,
    model: BehaviorModel,
    embedder: TextEmbedder,
    known: dict[str, dict] | None = None,
    model_name: str = DEFAULT_MODEL,
) -> list[SessionResult]:
    """Analyse one input in this process with ``model`` (asked for as ``model_name``, which
    its shards record) and write one shard per individual; errors are
    returned, not raised. The pipeline (``jobs.analyze``) runs the same steps as stages spread
    over a cluster: ``prepare``, ``tracking.track_part`` per part, ``plan_sessions``, then per
    chunk ``cut``, ``describe`` and ``embed``, and ``write``.
    """

    def work():
        prepared = prepare(spec, workspace, known, model=model_name)
        if prepared.done:
            return prepared.done
        parts = [
            tracking.track_part(spec.video, prepared.background, start, stop)
            for start, stop in prepared.parts
        ]
        sessions = plan_sessions(prepared, parts, crops=getattr(model, "uses_crops", False))
        return [
            write(s, [embed(describe(cut(c), model), embedder) for c in s.chunks], workspace)
            for s in sessions
        ]

    return guarded(spec.name, work)


def prepare(
    spec: InputSpec,
    workspace: Workspace,
    known: dict[str, dict] | None = None,
    part_seconds: float = PART_SECONDS,
    model: str = DEFAULT_MODEL,
) -> Prepared:
    """Check and read an input, and plan its tracking: the background is estimated from frames
    sought across the video (not a decode of all of it), and the video is cut into parts of
    about ``part_seconds``. ``known`` is what the catalogue recorded of its sessions
    (``Workspace.recorded``): one with the same settings is not analysed again (its labels are
    updated when they differ), one with other settings is (``changes.decide``). Raises
    InputError for a bad input.
    """
    for path in (spec.video, spec.pose):
        if path is not None and not sources.exists(path):
            raise InputError(f"{path}: no such file")
    known = known or {}
    wanted = changes.settings(spec, model)
    base = content_hash(spec.video, spec.pose)
    if spec.pose is None and base in known:  # decided before tracking, the expensive part
        change = changes.decide(base, wanted, changes.labels(spec, None, 1), known[base])
        if change.action != "recompute":
            return Prepared(
                spec,
                [base],
                [None],
                None,
                None,
                [],
                settings=wanted,
                done=[SessionResult(input=spec.name, session_id=base, skipped=True, change=change)],
            )
    warnings: list[str] = []
    info = video.probe(spec.video) if spec.video else None
    fps = _frame_rate(spec, info, warnings)
    ds = None
    if spec.pose is not None:
        ds, fps = _imported_poses(spec, info, fps, warnings)
        warnings.extend(ds.attrs.get("pose_warnings", []))
    individuals = [str(i) for i in ds.individuals.values] if ds is not None else [None]
    ids = session_ids(base, len(individuals))
    prepared = Prepared(spec, ids, individuals, fps, info, warnings, poses=ds, settings=wanted)
    prepared.changes = {
        i: changes.decide(i, wanted, changes.labels(spec, name, len(ids)), known[i])
        for i, name in zip(ids, individuals)
        if i in known
    }
    if len(prepared.changes) == len(ids) and all(c.action != "recompute" for c in prepared.changes.values()):
        prepared.done = [
            SessionResult(
                input=spec.name, session_id=i, individual=name, skipped=True, change=prepared.changes[i]
            )
            for i, name in zip(ids, individuals)
        ]
    elif all(workspace.has_shard(i) for i in ids) and (done := _from_shards(prepared, workspace)):
        # Analysed before with these settings but never committed (the commit failed or was
        # interrupted): the shards are complete (written whole), so they are committed as they are.
        prepared.done = done
    elif spec.video:
        prepared.background = tracking.estimate_background(spec.video, empty_arena=spec.background)
        if ds is None:
            bounds = tracking.part_bounds(info.n_frames, max(1, round(part_seconds * info.fps)))
            # The header's frame count can be off by a few: the last part reads to the end.
            prepared.parts = bounds[:-1] + [(bounds[-1][0], None)]
    return prepared


def planned_changes(spec: InputSpec, known: dict[str, dict], model: str) -> list[Change]:
    """What a run would do to an input's sessions (``changes.decide``), from its bytes and what
    the catalogue ``known`` records, without analysing or reading it (``analyze --dry-run``):
    a pose file's individuals are the catalogue's, or, when it holds none of them, one new
    session stands for them all.
    """
    for path in (spec.video, spec.pose):
        if path is not None and not sources.exists(path):
            raise InputError(f"{path}: no such file")
    base = content_hash(spec.video, spec.pose)
    wanted = changes.settings(spec, model)
    ids = sorted(sid for sid in known if sid == base or sid.startswith(f"{base}-")) or [base]
    return [
        changes.decide(
            sid,
            wanted,
            changes.labels(spec, (known.get(sid) or {}).get("individual"), len(ids)),
            known.get(sid),
        )
        for sid in ids
    ]


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
    floor = _floor(spec, ds, marks, warnings)
    on_floor = floor.rectify(ds) if floor else ds
    px_per_mm, px_source = _scale(spec, on_floor, arena, warnings, floor)
    with_crops = crops and background is not None
    sessions = []
    for k, (session_id, individual, report) in enumerate(zip(prepared.ids, prepared.individuals, reports)):
        walls = floor.arena if floor else (arena or pipeline.arena_from_path(on_floor.isel(individuals=[k])))
        kin = pipeline.measure(on_floor, fps, px_per_mm, walls, spec.view, individual=k)
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


def _from_shards(prepared: Prepared, workspace: Workspace) -> list[SessionResult]:
    """The results of shards left by an earlier run with the same settings; none when one was
    made with other settings (or none recorded), or cannot be read (with a warning): the
    input is then analysed again and its shards written anew. Labels that differ are set at
    the commit (``SessionResult.change``).
    """
    spec, results = prepared.spec, []
    for sid, individual in zip(prepared.ids, prepared.individuals):
        path = workspace.shard_path(sid)
        try:
            session, _ = workspace.read_shard(path, schema_only=True)
            rows = pq.read_metadata(path, filesystem=workspace.store.arrow).num_rows
        except (WorkspaceError, OSError) as exc:
            prepared.warnings.append(
                f"{spec.name}: a shard left by an earlier run cannot be read, so it is analysed again ({exc})"
            )
            return []
        if json.loads(session.settings or "null") != prepared.settings:
            return []
        change = prepared.changes.get(sid)
        named = change.labels if change else changes.labels(spec, individual, len(prepared.ids))
        was = {k: getattr(session, k) for k in named}
        if was != named and change is None:
            change = changes.Change(
                sid, "new", {k: (was[k], v) for k, v in named.items() if was[k] != v}, named
            )
        results.append(
            SessionResult(
                input=spec.name,
                session_id=session.session_id,
                individual=session.individual,
                shard=path,
                frames=session.n_frames,
                segments=rows,
                px_per_mm=session.px_per_mm,
                px_per_mm_source=session.px_per_mm_source,
                qc=json.loads(session.qc) if session.qc else None,
                change=change,
            )
        )
    return results
