"""MouseGPT dashboard: ``streamlit run dashboard/app.py -- --workspace DIR`` (or ``mousegpt dashboard``).

Search by natural language, read each hit's description, watch its clip, and confirm or
correct its behaviour (appended to ``WORKSPACE/annotations.jsonl``, the format ``mousegpt adapt
OUT --annotations FILE`` reads); see each session's pose quality; browse the behaviour
clusters of the latest ``mousegpt discover`` run (the map, flagged novel behaviours, exemplar
moments); compare behaviour profiles between conditions. Nothing else in the workspace is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import streamlit as st

from mousegpt.clips import clip_for
from mousegpt.errors import MouseGPTError, WorkspaceError
from mousegpt.search import Searcher
from mousegpt.store import Workspace, resolve


def workspace_root() -> Path:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspace", default=None)
    args, _ = parser.parse_known_args()
    return resolve(args.workspace).resolve()


@st.cache_resource(show_spinner="Loading the text model…")
def searcher(root: str) -> Searcher:
    return Searcher(Workspace(Path(root)))


@st.cache_data(ttl=30)
def conditions(root: str) -> list[str]:
    with Workspace(Path(root)).connect(read_only=True) as con:
        return [r[0] for r in con.execute(
            "SELECT DISTINCT condition FROM sessions WHERE condition IS NOT NULL ORDER BY 1").fetchall()]


@st.cache_data(ttl=30)
def sessions_quality(root: str):
    """One row per session: who, what, and what pose quality control found."""
    import json

    import pandas as pd

    with Workspace(Path(root)).connect(read_only=True) as con:
        table = con.execute("SELECT animal, condition, coalesce(video, pose) AS file, n_frames, px_per_mm, "
                            "px_per_mm_source, qc FROM sessions ORDER BY added_at, session_id").fetchdf()
    qc = pd.DataFrame([json.loads(q) if q else {} for q in table.pop("qc")], index=table.index)
    table["file"] = table["file"].map(lambda f: Path(f).name)
    for column, title in (("missing_fraction", "missing"), ("swaps_fixed", "swaps fixed"),
                          ("jumps_removed", "jumps removed"), ("gaps_filled", "gaps filled")):
        table[title] = qc[column] if column in qc else None
    return table


@st.cache_data(ttl=30)
def discovery(root: str) -> dict | None:
    """The latest discovery run's clusters and a sample of its map; None before the first run."""
    from mousegpt.discover import latest_clusters

    workspace = Workspace(Path(root))
    try:
        run = latest_clusters(workspace)
    except WorkspaceError:
        return None
    with workspace.connect(read_only=True) as con:
        run["points"] = con.execute("SELECT cluster_id, map_x, map_y FROM segment_clusters WHERE run_id = ? "
                                    "USING SAMPLE 5000 ROWS", [run["run_id"]]).fetchdf()
    return run


@st.cache_data(ttl=30)
def moments(root: str, segment_ids: list[str]) -> list[dict]:
    """Segments as search hits (for ``show_moment``), in the order given."""
    import json

    with Workspace(Path(root)).connect(read_only=True) as con:
        rows = con.execute(
            "SELECT s.segment_id, s.session_id, ss.video, ss.animal, ss.condition, s.start_s, s.end_s, s.behavior, "
            "s.overall, s.head, s.limbs, s.torso, s.keywords FROM segments s JOIN sessions ss USING (session_id) "
            "WHERE s.segment_id IN (SELECT unnest(?))", [segment_ids]).fetchdf()
    found = {r["segment_id"]: r for r in json.loads(rows.to_json(orient="records"))}
    return [{**r, "score": None, "description": {k: r[k] for k in ("overall", "head", "limbs", "torso", "keywords")}}
            for r in (found[i] for i in segment_ids if i in found)]


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
        names = {str(c["cluster_id"]): f"{c['cluster_id']}: {c['name']}" for c in (discovery(root) or {}).get("clusters", [])}
        for level, metrics in result["_metrics"].items():
            for metric, unit in METRICS.items():
                path = plots.profile_bars(metrics, result["tests"], metric, level, Path(tmp) / f"{level}_{metric}.png",
                                          names if level == "cluster" else None, unit)
                charts[f"{level}/{metric}"] = path.read_bytes()
    return to_json(result) | {"charts": charts}


ANNOTATIONS = "annotations.jsonl"
"""Confirmed and corrected behaviours, one ``mousegpt adapt`` annotation line each, in the workspace."""


def annotation_line(root: str, hit: dict, behavior: str) -> dict:
    """The annotation of a hit's segment as ``behavior``: its recording (absolute path), times
    and what ``mousegpt adapt`` needs to read a pose file alone (its frame rate and view)."""
    with Workspace(Path(root)).connect(read_only=True) as con:
        video, pose, fps, view = con.execute("SELECT video, pose, fps, view FROM sessions WHERE session_id = ?",
                                             [hit["session_id"]]).fetchone()
    where = {"video": video} if video else {"pose": pose, "fps": float(fps)}
    return {**where, "start_s": float(hit["start_s"]), "end_s": float(hit["end_s"]),
            "behavior": " ".join(behavior.split()), "view": view or "top"}


def append_annotation(root: str, line: dict) -> Path:
    """Append one line to ``WORKSPACE/annotations.jsonl`` whole, under an exclusive lock (one write call)."""
    import fcntl
    import json
    import os

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


def correct_moment(hit: dict) -> None:
    """Under a hit: confirm its behaviour, pick another core behaviour, or type a new name;
    saved as an annotation line for ``mousegpt adapt``."""
    from mousegpt.vocabulary import BEHAVIORS

    shown = hit.get("behavior")
    if not shown:
        return
    key = hit["segment_id"]
    pick, typed, save = st.columns([2, 2, 1])
    options = [f"{shown} (as shown)", *[b for b in BEHAVIORS if b != shown]]
    choice = pick.selectbox("Behaviour", options, key=f"label-{key}", label_visibility="collapsed")
    name = typed.text_input("or a new name", key=f"name-{key}", placeholder="or type a new name, e.g. supported rear",
                            label_visibility="collapsed").strip()
    if save.button("Save label", key=f"save-{key}"):
        behavior = name or (shown if choice == options[0] else choice)
        path = append_annotation(str(root), annotation_line(str(root), hit, behavior))
        st.success(f"Saved {hit['start_s']:.1f}–{hit['end_s']:.1f} s as “{behavior}” to {path.name}; "
                   f"adapt the model with `mousegpt adapt OUT --annotations {path}`")


def show_moment(hit: dict, title: str) -> None:
    """One moment: what the describer said, and its clip."""
    d = hit["description"]
    with st.container(border=True):
        text, clip = st.columns([3, 2])
        score = f" · score {hit['score']:.2f}" if hit.get("score") is not None else ""
        text.markdown(f"**{title}** · {hit['animal'] or hit['session_id']} · {hit['condition'] or '-'}"
                      f" · {hit['start_s']:.1f}–{hit['end_s']:.1f} s{score}")
        text.markdown(d["overall"])
        text.caption(f"Head: {d['head']}  \nLimbs: {d['limbs']}  \nTorso: {d['torso']}  \n"
                     f"Keywords: {', '.join(d['keywords'])}")
        try:
            path = clip_for(workspace.clip_dir, hit["segment_id"], hit["video"], hit["start_s"], hit["end_s"])
        except Exception as exc:  # a moved, unreadable or truncated video: say so, keep the page
            clip.warning(f"no clip: {exc}")
        else:
            if path is None:
                clip.caption("Pose-only session: no video to show.")
            else:
                clip.video(str(path), loop=True, autoplay=False)


st.set_page_config(page_title="MouseGPT", page_icon="🐭", layout="wide")
root = workspace_root()
st.title("MouseGPT")
st.caption(f"Workspace: {root}")
workspace = Workspace(root)
if not workspace.exists():
    st.warning(f"No analysed data in {root}. Run `mousegpt analyze VIDEO... --workspace {root}` first.")
    st.stop()

try:
    known_conditions = conditions(str(root))
except MouseGPTError as exc:
    st.error(str(exc))
    st.stop()
with st.expander("Sessions and pose quality"):
    st.dataframe(sessions_quality(str(root)), hide_index=True, column_config={
        "missing": st.column_config.NumberColumn(format="percent"),
        "px_per_mm": st.column_config.NumberColumn("px/mm", format="%.3f")})
search_tab, clusters_tab, profiles_tab = st.tabs(["Search", "Behaviour clusters", "Condition profiles"])

with search_tab:
    left, middle, right = st.columns([4, 1, 1])
    query = left.text_input("Describe a behaviour", placeholder="a mouse grooming itself")
    k = middle.number_input("Hits", min_value=1, max_value=100, value=10)
    choice = right.selectbox("Condition", ["all", *known_conditions])
    if query.strip():
        try:
            result = searcher(str(root)).search(query, k=int(k), condition=None if choice == "all" else choice)
        except MouseGPTError as exc:
            st.error(str(exc))
            st.stop()
        if not result["hits"]:
            st.info("No matching moments.")
        for rank, hit in enumerate(result["hits"], 1):
            show_moment(hit, f"{rank}. {hit['behavior'] or 'not visible'}")
            correct_moment(hit)

with clusters_tab:
    run = discovery(str(root))
    if run is None:
        st.info(f"No behaviour clusters yet. Run `mousegpt discover --workspace {root}` to find them.")
    else:
        import pandas as pd

        clusters = pd.DataFrame(run["clusters"])
        novel = clusters[clusters["novel"]]
        st.markdown(f"Discovery run {run['run_id']}: **{len(clusters)} clusters**, "
                    f"**{len(novel)} flagged novel** (most members are outliers, and no vocabulary behaviour names them).")
        for row in novel.itertuples():
            st.warning(f"Novel behaviour? cluster {row.cluster_id}: {row.name} ({row.size} segments)")
        by_condition = pd.DataFrame(list(clusters["size_by_condition"])).fillna(0).astype(int)
        table = pd.concat([clusters[["cluster_id", "name", "size", "novel", "outlier_fraction"]], by_condition], axis=1)
        st.dataframe(table, hide_index=True, column_config={
            "outlier_fraction": st.column_config.ProgressColumn("outliers", min_value=0.0, max_value=1.0, format="percent")})
        names = dict(zip(clusters["cluster_id"], clusters["cluster_id"].astype(str) + ": " + clusters["name"]))
        points = run["points"].assign(cluster=lambda d: d["cluster_id"].map(names))
        st.caption("Behaviour map (UMAP of the segments' features; up to 5,000 segments)")
        st.scatter_chart(points, x="map_x", y="map_y", color="cluster", height=480)
        picked = st.selectbox("Exemplars of cluster", list(names.values()))
        cluster = clusters.loc[clusters["cluster_id"] == int(picked.split(":")[0])].iloc[0]
        for i, hit in enumerate(moments(str(root), list(cluster["exemplars"])), 1):
            show_moment(hit, f"{i}. described as {hit['behavior'] or 'not visible'}")

with profiles_tab:
    if len(known_conditions) < 2:
        st.info("Profiles compare conditions: this workspace has fewer than two.")
    elif st.button("Compare conditions", help="Per animal: time fraction, bouts, bout length and latency of each "
                   "behaviour (and cluster), tested between conditions"):
        import pandas as pd

        result = condition_profile(str(root))
        prediction = result["prediction"]
        if prediction.get("accuracy") is not None:
            st.metric("Condition predicted from the profile (cross-validated accuracy)",
                      f"{prediction['accuracy']:.0%}",
                      help=f"chance {prediction.get('chance', float('nan')):.0%}; permutation p = {prediction.get('p_value')}")
        levels = sorted({key.split("/")[0] for key in result["charts"]})
        level = st.radio("Level", levels, horizontal=True)
        metric = st.radio("Metric", ["time_fraction", "bout_count", "mean_bout_s", "latency_s"], horizontal=True)
        st.image(result["charts"][f"{level}/{metric}"])
        tests = pd.DataFrame([t for t in result["tests"] if t["level"] == level and t["metric"] == metric])
        if len(tests):
            tests["median"] = tests["median"].map(lambda m: ", ".join(f"{g} {v:g}" for g, v in m.items()))
            tests["ci95"] = tests["ci95"].map(lambda ci: f"[{ci[0]:+.2f}, {ci[1]:+.2f}]")
            st.dataframe(tests[["label", "median", "test", "p", "q", "effect", "effect_size", "ci95"]].sort_values("q"),
                         hide_index=True)
