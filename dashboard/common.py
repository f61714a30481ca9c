"""What the dashboard's pages share: the workspace and data root it was given, the cached
reads of the catalogue, and one moment (its description, clip and label correction)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from mousegpt.clips import clip_for
from mousegpt.errors import WorkspaceError
from mousegpt.records import Hit, Moment
from mousegpt.search import Searcher, list_segments
from mousegpt.store import Workspace, workspace_path

DATA_ROOT_ENV = "MOUSEGPT_DATA_ROOT"


def arguments() -> argparse.Namespace:
    """``-- --workspace DIR --data-root DIR`` after ``streamlit run dashboard/app.py``; the
    workspace and data root resolved (``$MOUSEGPT_WORKSPACE``, ``$MOUSEGPT_DATA_ROOT``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", default=None)
    parser.add_argument("--data-root", default=None)
    args, _ = parser.parse_known_args()
    args.workspace = workspace_path(args.workspace).resolve()
    data_root = args.data_root or os.environ.get(DATA_ROOT_ENV)
    args.data_root = Path(data_root).resolve() if data_root else None
    return args


def redact(text: str, *folders: Path | None) -> str:
    """``text`` with the absolute paths of ``folders`` shortened to their names: the browser is
    not told where the machine keeps its data."""
    for folder in folders:
        if folder is not None:
            text = text.replace(str(folder), folder.name)
    return text


@st.cache_resource(show_spinner="Loading the text model…")
def searcher(root: str) -> Searcher:
    return Searcher(Workspace(Path(root)))


@st.cache_data(ttl=30)
def conditions(root: str) -> list[str]:
    with Workspace(Path(root)).reader() as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT condition FROM sessions WHERE condition IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]


@st.cache_data(ttl=30)
def sessions_quality(root: str) -> pd.DataFrame:
    """One row per session: who, what, and what pose quality control found."""
    with Workspace(Path(root)).reader() as con:
        table = con.execute(
            "SELECT session_id, animal, condition, coalesce(video, pose) AS file, n_frames, duration_s, "
            "px_per_mm, px_per_mm_source, qc FROM sessions ORDER BY added_at, session_id"
        ).fetchdf()
    qc = pd.DataFrame([json.loads(q) if q else {} for q in table.pop("qc")], index=table.index)
    table["file"] = table["file"].map(lambda f: Path(f).name)
    for column, title in (
        ("missing_fraction", "missing"),
        ("swaps_fixed", "swaps fixed"),
        ("jumps_removed", "jumps removed"),
        ("gaps_filled", "gaps filled"),
    ):
        table[title] = qc[column] if column in qc else None
    return table


@st.cache_data(ttl=30)
def discovery(root: str) -> dict | None:
    """The latest discovery run's clusters and a sample of its map; None before the first run.
    A dict (``ClusterRun.to_dict()``, clusters as dicts) with ``points``: the pages read it as one."""
    from mousegpt.discover import latest_clusters

    workspace = Workspace(Path(root))
    try:
        run = latest_clusters(workspace).to_dict()
    except WorkspaceError:
        return None
    with workspace.reader() as con:
        run["points"] = con.execute(
            "SELECT cluster_id, map_x, map_y FROM segment_clusters WHERE run_id = ? USING SAMPLE 5000 ROWS",
            [run["run_id"]],
        ).fetchdf()
    return run


@st.cache_data(ttl=30)
def moments(root: str, segment_ids: list[str]) -> list[Moment]:
    """Segments (``records.ListedSegment``) for ``show_moment``, in the order given."""
    return list_segments(Workspace(Path(root)), segment_ids=segment_ids)


@st.cache_data(ttl=300, show_spinner="Comparing conditions…")
def condition_profile(root: str) -> dict:
    """The profile by condition and its bar charts (PNG bytes per level and metric)."""
    import tempfile

    from mousegpt import plots
    from mousegpt.profile import METRICS, profile, to_json

    workspace = Workspace(Path(root))
    result = profile(workspace)
    charts = {}
    with tempfile.TemporaryDirectory() as tmp:
        names = {
            str(c["cluster_id"]): f"{c['cluster_id']}: {c['name']}"
            for c in (discovery(root) or {}).get("clusters", [])
        }
        for level, metrics in result["_metrics"].items():
            for metric, unit in METRICS.items():
                path = plots.profile_bars(
                    metrics,
                    result["tests"],
                    metric,
                    level,
                    Path(tmp) / f"{level}_{metric}.png",
                    names if level == "cluster" else None,
                    unit,
                )
                charts[f"{level}/{metric}"] = path.read_bytes()
    return to_json(result) | {"charts": charts}


ANNOTATIONS = "annotations.jsonl"
"""Confirmed and corrected behaviours, one ``mousegpt adapt`` annotation line each, in the workspace."""


def annotation_line(root: str, hit: Moment, behavior: str) -> dict:
    """The annotation of a hit's segment as ``behavior``: its recording (absolute path), times
    and what ``mousegpt adapt`` needs to read a pose file alone (its frame rate and view)."""
    with Workspace(Path(root)).reader() as con:
        video, pose, fps, view = con.execute(
            "SELECT video, pose, fps, view FROM sessions WHERE session_id = ?", [hit.session_id]
        ).fetchone()
    where = {"video": video} if video else {"pose": pose, "fps": float(fps)}
    return {
        **where,
        "start_s": hit.start_s,
        "end_s": hit.end_s,
        "behavior": " ".join(behavior.split()),
        "view": view or "top",
    }


def append_annotation(root: str, line: dict) -> Path:
    """Append one line to ``WORKSPACE/annotations.jsonl`` whole, under an exclusive lock (one write call)."""
    import fcntl

    path = Path(root) / ANNOTATIONS
    data = (json.dumps(line) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = os.write(fd, data)
        if written != len(data):  # never leave half a line: take the part back
            os.ftruncate(fd, os.fstat(fd).st_size - written)
            raise OSError(f"{path}: could not write the annotation whole")
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return path


def correct_moment(root: Path, hit: Moment) -> None:
    """Under a hit: confirm its behaviour, pick another core behaviour, or type a new name;
    saved as an annotation line for ``mousegpt adapt``."""
    from mousegpt.vocabulary import BEHAVIORS

    shown = hit.behavior
    if not shown:
        return
    key = hit.segment_id
    pick, typed, save = st.columns([2, 2, 1])
    options = [f"{shown} (as shown)", *[b for b in BEHAVIORS if b != shown]]
    choice = pick.selectbox("Behaviour", options, key=f"label-{key}", label_visibility="collapsed")
    name = typed.text_input(
        "or a new name",
        key=f"name-{key}",
        placeholder="or type a new name, e.g. supported rear",
        label_visibility="collapsed",
    ).strip()
    if save.button("Save label", key=f"save-{key}"):
        behavior = name or (shown if choice == options[0] else choice)
        path = append_annotation(str(root), annotation_line(str(root), hit, behavior))
        st.success(
            f"Saved {hit.start_s:.1f}–{hit.end_s:.1f} s as “{behavior}” to {path.name} in the "
            f"workspace; adapt the model with `mousegpt adapt OUT --annotations {root.name}/{path.name}`"
        )


def show_moment(root: Path, hit: Moment, title: str) -> None:
    """One moment (a search ``Hit`` shows its score): what the describer said, and its clip."""
    d = hit.description
    with st.container(border=True):
        text, clip = st.columns([3, 2])
        score = f" · score {hit.score:.2f}" if isinstance(hit, Hit) else ""
        text.markdown(
            f"**{title}** · {hit.animal or hit.session_id} · {hit.condition or '-'}"
            f" · {hit.start_s:.1f}–{hit.end_s:.1f} s{score}"
        )
        text.markdown(d["overall"])
        text.caption(
            f"Head: {d['head']}  \nLimbs: {d['limbs']}  \nTorso: {d['torso']}  \n"
            f"Keywords: {', '.join(d['keywords'])}"
        )
        show_clip(clip, root, hit.segment_id, hit.video, hit.start_s, hit.end_s)


def show_clip(
    place, root: Path, name: str, video: str | None, start_s: float, end_s: float, autoplay: bool = False
) -> None:
    """The clip ``name`` of ``video`` between two times (s) in ``place`` (a Streamlit container);
    a note instead for a pose-only session, and a warning for a video that cannot be read."""
    try:
        data = clip_for(Workspace(root).store, name, video, start_s, end_s)
    except Exception as exc:  # a moved, unreadable or truncated video: say so, keep the page
        place.warning(f"no clip: {redact(str(exc), root, Path(video).parent if video else None)}")
        return
    if data is None:
        place.caption("Pose-only session: no video to show.")
    else:
        place.video(data, format="video/mp4", loop=True, autoplay=autoplay)
