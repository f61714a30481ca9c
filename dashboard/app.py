"""MouseGPT dashboard: ``streamlit run dashboard/app.py -- --workspace DIR`` (or ``mousegpt dashboard``).

Reads the workspace read-only: search by natural language, read each hit's description,
watch its clip; see each session's pose quality.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import streamlit as st

from mousegpt.clips import clip_for
from mousegpt.errors import MouseGPTError
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
        d = hit["description"]
        with st.container(border=True):
            text, clip = st.columns([3, 2])
            text.markdown(
                f"**{rank}. {hit['behavior'] or 'not visible'}** · {hit['animal'] or hit['session_id']}"
                f" · {hit['condition'] or '-'} · {hit['start_s']:.1f}–{hit['end_s']:.1f} s · score {hit['score']:.2f}")
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
