"""Stage 1 of an analysis: an input checked, read and planned (``prepare``).

A video is probed and its background estimated, and cut into parts to track; a pose file is
read. Sessions the catalogue holds already, or whose shards an earlier run left, are settled
here (``changes.decide`` says what a re-run does to each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pyarrow.parquet as pq

from mousegpt import calibration, changes, sources, tracking, video
from mousegpt.changes import Change
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.errors import InputError, WorkspaceError
from mousegpt.inputs import InputSpec
from mousegpt.results import SessionResult
from mousegpt.store import Workspace, content_hash


def session_ids(base: str, individuals: int) -> list[str]:
    """One session per individual: the input's content hash, suffixed by the individual's
    index when a file holds several.
    """
    return [base] if individuals == 1 else [f"{base}-{k}" for k in range(individuals)]


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
    fps = calibration.frame_rate(spec, info, warnings)
    ds = None
    if spec.pose is not None:
        ds, fps = calibration.imported_poses(spec, info, fps, warnings)
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
