"""Writing synthetic sessions: video, truth tables and the manifest, in parallel on Ray.

Each session is simulated, then rendered frame by frame straight into the encoder, so no
video is ever held in memory; the mp4 appears under its final name only when complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mousegpt.errors import InputError, MouseGPTError
from mousegpt.ray_connection import connect
from mousegpt.synth.body import KEYPOINTS
from mousegpt.synth.motion import Trajectory, simulate
from mousegpt.synth.program import CONDITIONS, NOVEL_BEHAVIORS, check_emphasis, check_novel
from mousegpt.synth.render import Renderer, Scene, project
from mousegpt.vocabulary import BEHAVIORS

FramesDone = Callable[[int], None]
"""Called with a number of frames just finished."""


def truth_table(traj: Trajectory, scene: Scene, points: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per frame: frame, time_s, behavior, variant, and ``<keypoint>_x/_y`` in pixels.

    ``points`` are ``project(traj, scene)`` when the caller already has them.
    """
    points = points if points is not None else project(traj, scene)
    n = len(traj)
    table = {
        "frame": np.arange(n),
        "time_s": np.arange(n) / scene.fps,
        "behavior": traj.behavior,
        "variant": traj.variant,
    }
    for name in KEYPOINTS:
        table[f"{name}_x"], table[f"{name}_y"] = points[name][:, 0], points[name][:, 1]
    return pd.DataFrame(table)


def truth_poses(truth: pd.DataFrame, fps: float):
    """The truth keypoints as a ``movement`` poses dataset (one individual, confidence 1)."""
    from movement.io import load_poses  # movement takes a second to import: only when used

    position = np.stack([truth[[f"{k}_x", f"{k}_y"]].to_numpy() for k in KEYPOINTS], axis=-1)[..., None]
    return load_poses.from_numpy(
        position,
        np.ones((len(truth), len(KEYPOINTS), 1)),
        individual_names=["mouse"],
        keypoint_names=list(KEYPOINTS),
        fps=fps,
        source_software="mousegpt-synth",
    )


def encoder_options(scene: Scene) -> dict[str, str]:
    """libx264 options for PyAV: ``scene.crf``, with the settings that make the same seed give
    the same bytes.
    """
    # x264's lookahead and macroblock tree make its output differ from run to run; without
    # them (and on one thread: one session per core) the same seed gives the same bytes.
    # Adaptive quantisation and B-frames would spend most of the time and bits on sensor
    # noise in the flat floor; without them encoding is about twice as fast.
    return {
        "preset": "superfast",
        "crf": str(scene.crf),
        "x264-params": "mbtree=0:rc-lookahead=0:threads=1:bframes=0:aq-mode=0:weightp=0",
    }


def encode(renderer: Renderer, path: Path, progress: FramesDone | None = None) -> None:
    """Render every frame into an H.264 mp4 at ``path``, written under a temporary name first."""
    scene = renderer.scene
    tmp_path = path.with_name(f".{path.stem}.tmp.mp4")
    try:
        with av.open(str(tmp_path), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(scene.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
            stream.options = encoder_options(scene)
            for i in range(len(renderer.traj)):
                frame = av.VideoFrame.from_ndarray(renderer.i420(i), format="yuv420p")
                container.mux(stream.encode(frame))
                if progress and (i + 1) % 250 == 0:
                    progress(250)
            container.mux(stream.encode())
        tmp_path.replace(path)
    finally:
        tmp_path.unlink(missing_ok=True)
    if progress:
        progress(len(renderer.traj) % 250)


def write_session(
    out_dir: str | Path,
    name: str,
    seconds: float,
    condition: str,
    seed: int,
    scene: Scene,
    novel: tuple[str, ...] = (),
    progress: FramesDone | None = None,
    emphasis: dict[str, float] | None = None,
    video: bool = True,
) -> dict:
    """Simulate, render and encode one session; write ``<name>.mp4``, ``<name>.truth.parquet``
    (with the scene in its metadata) and ``<name>.truth_dlc.csv``. Returns its manifest row.
    ``emphasis`` multiplies the condition's rates of the behaviours it names. Without ``video``
    nothing is rendered: the manifest row names the DeepLabCut file as the session's pose
    (kinematics-only analysis, a hundred times faster).
    """
    from movement.io import save_poses

    cv2.setNumThreads(1)  # one session per core; parallelism comes from sessions
    out_dir = Path(out_dir)
    traj = simulate(seconds, condition, seed, scene.fps, scene.geometry, novel, emphasis=emphasis)
    if video:
        renderer = Renderer(traj, scene, seed)
        truth = truth_table(traj, scene, renderer.points)  # the truth is where the parts are drawn
        encode(renderer, out_dir / f"{name}.mp4", progress)
    else:
        truth = truth_table(traj, scene)
        if progress:
            progress(len(traj))
    table = pa.Table.from_pandas(truth, preserve_index=False)
    meta = {
        "scene": asdict(scene),
        "seed": seed,
        "condition": condition,
        "novel": list(novel),
        "emphasis": emphasis or {},
        "body_length_mm": traj.body_length_mm,
        "px_per_mm": scene.px_per_mm,
    }
    table = table.replace_schema_metadata(
        {**table.schema.metadata, b"mousegpt.synth": json.dumps(meta).encode()}
    )
    # Written under temporary names, then renamed: a re-run replaces them whole.
    tmp_truth, tmp_dlc = out_dir / f".{name}.truth.tmp.parquet", out_dir / f".{name}.truth_dlc.tmp.csv"
    try:
        pq.write_table(table, tmp_truth)
        tmp_dlc.unlink(missing_ok=True)  # movement refuses to overwrite
        save_poses.to_dlc_file(truth_poses(truth, scene.fps), tmp_dlc, split_individuals=False)
        tmp_truth.replace(out_dir / f"{name}.truth.parquet")
        tmp_dlc.replace(out_dir / f"{name}.truth_dlc.csv")
    finally:
        tmp_truth.unlink(missing_ok=True)
        tmp_dlc.unlink(missing_ok=True)
    row = {
        "video": f"{name}.mp4" if video else "",
        "condition": condition,
        "fps": scene.fps,
        "px_per_mm": round(scene.px_per_mm, 6),
        "view": scene.view,
        "seed": seed,
    }
    return row if video else row | {"pose": f"{name}.truth_dlc.csv"}


def _segment_frames(segments: pd.DataFrame):
    """Per segment (``start_s``, ``end_s`` and its session's ``video`` or ``pose``): the truth
    table's behaviour labels of its frames, read from the truth table beside that file.
    """
    tables = {}
    for row in segments.itertuples():
        source = str(getattr(row, "video", None) or getattr(row, "pose", None))
        path = source.removesuffix(".mp4").removesuffix(".truth_dlc.csv") + ".truth.parquet"
        truth = tables.setdefault(path, pd.read_parquet(path, columns=["time_s", "behavior"]))
        yield truth.loc[
            (truth["time_s"] >= row.start_s - 1e-6) & (truth["time_s"] < row.end_s - 1e-6), "behavior"
        ]


def segment_truth(segments: pd.DataFrame) -> pd.Series:
    """The majority ground-truth behaviour of each segment (``start_s``, ``end_s`` and its
    session's ``video`` or ``pose``), read from the truth table beside that file; None where
    the truth has no frame in the segment.
    """
    labels = [part.mode().iloc[0] if len(part) else None for part in _segment_frames(segments)]
    return pd.Series(labels, index=segments.index, dtype=object)


def segment_coverage(segments: pd.DataFrame, behavior: str) -> pd.Series:
    """The fraction of each segment's frames that the truth labels ``behavior`` (0 where the
    truth has no frame in the segment).
    """
    shares = [float((part == behavior).mean()) if len(part) else 0.0 for part in _segment_frames(segments)]
    return pd.Series(shares, index=segments.index, dtype=float)


def shows_planted(coverage: pd.Series, planted: str, window_s: float = 1.0) -> pd.Series:
    """Whether a segment shows a planted behaviour: it fills at least half the segment, or,
    for a behaviour whose bouts can be shorter than a segment (a head twitch of 0.3 s in a
    1 s window is never the majority), at least half of its shortest bout.
    """
    shortest_s = NOVEL_BEHAVIORS[planted][0]
    return coverage >= min(0.5, shortest_s / 2 / window_s) - 1e-9


def discovery_scores(workspace, clusters: list, planted: str | None = None) -> dict:
    """How well a ``mousegpt discover`` run over synthetic sessions found their truth:
    ``ari`` (adjusted Rand index of clusters against the majority truth, over segments of core
    behaviours that do not show the planted one) and, with ``planted``, the precision and
    recall of the segments that show it (``shows_planted``) in the clusters flagged novel.
    ``clusters`` are the run's ``records.Cluster``.
    """
    # Only for scoring a discovery run: importing synth loads neither sklearn nor segments (attrs).
    from sklearn.metrics import adjusted_rand_score

    from mousegpt.segments import WINDOW_S

    with workspace.connect(read_only=True) as con:
        seg = con.execute(
            "SELECT s.start_s, s.end_s, s.cluster_id, ss.video, ss.pose FROM segments s "
            "JOIN sessions ss USING (session_id) WHERE s.cluster_id IS NOT NULL"
        ).fetchdf()
    truth = segment_truth(seg)
    flagged = seg["cluster_id"].isin({c.cluster_id for c in clusters if c.novel})
    is_planted = (
        shows_planted(segment_coverage(seg, planted), planted, WINDOW_S)
        if planted
        else pd.Series(False, index=seg.index)
    )
    core = truth.isin(BEHAVIORS) & ~is_planted
    scores = {
        "clusters": len(clusters),
        "novel_clusters": int(sum(c.novel for c in clusters)),
        "ari": float(adjusted_rand_score(truth[core], seg.loc[core, "cluster_id"])),
    }
    if planted:
        scores |= {
            "planted_segments": int(is_planted.sum()),
            "precision": float((is_planted & flagged).sum() / max(1, flagged.sum())),
            "recall": float((is_planted & flagged).sum() / max(1, is_planted.sum())),
        }
    return scores


def read_truth_metadata(path: str | Path) -> dict:
    """The scene, seed and animal size a truth table was rendered with."""
    return json.loads(pq.read_schema(path).metadata[b"mousegpt.synth"])


def _cycle(values: tuple[str, ...] | None, i: int, default: str) -> str:
    return values[i % len(values)] if values else default


def synth_dataset(
    out: str | Path,
    sessions: int = 4,
    seconds: float = 30.0,
    seed: int = 0,
    conditions: tuple[str, ...] = ("control", "stim"),
    scene: Scene | None = None,
    novel: tuple[str, ...] = (),
    furs: tuple[str, ...] | None = None,
    arenas: tuple[str, ...] | None = None,
    workers: int = 1,
    address: str | None = None,
    progress: FramesDone | None = None,
    video: bool = True,
    emphasis: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Write ``sessions`` videos, their truth and ``manifest.csv`` into ``out``.

    Conditions, and when given furs and arena shapes, are assigned to sessions in turn;
    ``novel`` plants behaviours from NOVEL_BEHAVIORS in every session. With ``workers`` > 1
    or an ``address``, sessions render in parallel as Ray tasks of one CPU each (on a
    cluster, ``out`` must be a folder every node can write). Every argument is checked
    before anything is written. Returns the manifest; paths in it are relative to ``out``.
    Without ``video`` only the truth is written, and the manifest's ``pose`` column names each
    session's DeepLabCut file (its ``video`` column is empty). ``emphasis`` multiplies the
    conditions' rates of the behaviours it names (``behavior_program``).
    """
    if sessions < 1:
        raise InputError(f"--sessions must be at least 1, got {sessions}")
    if not seconds > 0:
        raise InputError(f"--seconds must be positive, got {seconds}")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if not conditions or unknown:
        raise InputError(
            f"unknown synthetic condition(s) {unknown or '(none given)'}; known: {', '.join(CONDITIONS)}"
        )
    check_novel(novel)
    check_emphasis(emphasis)
    scene = scene or Scene()
    plans = []
    for i in range(sessions):
        condition = conditions[i % len(conditions)]
        session_scene = replace(scene, fur=_cycle(furs, i, scene.fur), arena=_cycle(arenas, i, scene.arena))
        plans.append(
            (f"{condition}_m{i + 1:02d}", condition, seed * 10_007 + i, session_scene)
        )  # validates the scene
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (workers > 1 or address) and sessions > 1:
        rows = _write_on_ray(out, plans, seconds, novel, address, progress, video, emphasis)
    else:
        rows = [
            write_session(out, name, seconds, cond, s, sc, novel, progress, video=video, emphasis=emphasis)
            for name, cond, s, sc in plans
        ]
    manifest = pd.DataFrame(rows)
    manifest.insert(1, "animal", [f"m{i + 1:02d}" for i in range(sessions)])
    manifest.to_csv(out / "manifest.csv", index=False)
    return manifest


def _write_on_ray(
    out: Path,
    plans: list,
    seconds: float,
    novel: tuple[str, ...],
    address: str | None,
    progress: FramesDone | None,
    video: bool = True,
    emphasis: dict[str, float] | None = None,
) -> list[dict]:
    import ray

    connect(address)
    task = ray.remote(num_cpus=1, max_retries=1)(write_session)
    # Absolute paths: Ray's workers do not run in this process's working directory.
    pending = {
        task.remote(str(out.resolve()), name, seconds, cond, s, sc, novel, video=video, emphasis=emphasis): i
        for i, (name, cond, s, sc) in enumerate(plans)
    }
    rows: list[dict | None] = [None] * len(plans)
    frames = int(round(seconds * plans[0][3].fps))
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            i = pending.pop(ref)
            try:
                rows[i] = ray.get(ref)
            except Exception as exc:
                for other in pending:
                    ray.cancel(other)
                cause = getattr(exc, "cause", None) or exc
                raise MouseGPTError(
                    f"rendering {out / plans[i][0]}.mp4 failed: {str(cause).splitlines()[-1]}"
                ) from None
            if progress:
                progress(frames)
    return rows
