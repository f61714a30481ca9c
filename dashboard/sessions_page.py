"""The Sessions page: one session's behaviour over time (an ethogram of its behaviour bouts,
and of its clusters once discovered), its pose quality report, a bout's clip on a click, and
its segments and bouts as CSV or Parquet."""

from __future__ import annotations

import io
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.common import discovery, sessions_quality, show_clip
from mousegpt.profile import bouts
from mousegpt.search import flat_segments, list_segments
from mousegpt.store import Workspace

MAX_CLIP_S = 30.0
"""A bout's clip shows at most its first this many seconds."""


@st.cache_data(ttl=30)
def session_segments(root: str, session_id: str | None) -> pd.DataFrame:
    """The flat segment table (``mousegpt segments --csv``'s columns) of one session, or all."""
    return flat_segments(list_segments(Workspace(Path(root)), session=session_id))


def session_bouts(segments: pd.DataFrame, cluster_names: dict[int, str]) -> pd.DataFrame:
    """Behaviour bouts, and cluster bouts where the segments have clusters: ``session_id,
    level, label, start_s, end_s, duration_s, segments`` in time order (s)."""
    if segments.empty:
        return pd.DataFrame(
            columns=["session_id", "level", "label", "start_s", "end_s", "duration_s", "segments"]
        )
    seg = segments.assign(segment_index=segments.groupby("session_id").cumcount())
    levels = [bouts(seg, "behavior").assign(level="behaviour")]
    if seg["cluster_id"].notna().any():
        named = seg.assign(
            cluster=seg["cluster_id"].map(
                lambda c: None if pd.isna(c) else cluster_names.get(int(c), f"cluster {int(c)}")
            )
        )
        levels.append(bouts(named, "cluster").assign(level="cluster"))
    table = pd.concat(levels, ignore_index=True)
    table["end_s"] = table["start_s"] + table["duration_s"]
    table = table.sort_values(["session_id", "start_s", "level"]).reset_index(drop=True)
    return table[["session_id", "level", "label", "start_s", "end_s", "duration_s", "segments"]]


def ethogram(table: pd.DataFrame) -> alt.Chart:
    """A row per behaviour (and cluster), a bar per bout; clicking a bar selects it."""
    pick = alt.selection_point(name="bout", fields=["bout"], on="click")
    data = table.reset_index(names="bout").assign(
        row=lambda d: d["level"].str[0].str.upper() + ": " + d["label"]
    )
    return (
        alt.Chart(data)
        .mark_bar(height={"band": 0.8})
        .encode(
            x=alt.X("start_s:Q", title="time (s)"),
            x2="end_s:Q",
            y=alt.Y("row:N", title=None),
            color=alt.Color("label:N", legend=None),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
            tooltip=[
                "label",
                "level",
                alt.Tooltip("start_s", format=".1f"),
                alt.Tooltip("end_s", format=".1f"),
            ],
        )
        .add_params(pick)
        .properties(height=28 * data["row"].nunique() + 40)
    )


def _downloads(segments: pd.DataFrame, table: pd.DataFrame, stem: str) -> None:
    columns = st.columns(4)
    for i, (what, frame) in enumerate((("segments", segments), ("bouts", table))):
        columns[2 * i].download_button(
            f"{what} (CSV)", frame.to_csv(index=False), f"{stem}_{what}.csv", "text/csv", key=f"csv-{what}"
        )
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        columns[2 * i + 1].download_button(
            f"{what} (Parquet)",
            buffer.getvalue(),
            f"{stem}_{what}.parquet",
            "application/vnd.apache.parquet",
            key=f"parquet-{what}",
        )


def _qc(row: pd.Series) -> None:
    left, a, b, c, d = st.columns(5)
    left.metric("frames", f"{row['n_frames']:,}", help=f"{row['duration_s']:.0f} s")
    a.metric("missing", f"{row['missing']:.1%}" if pd.notna(row["missing"]) else "–")
    b.metric("swaps fixed", "–" if pd.isna(row["swaps fixed"]) else int(row["swaps fixed"]))
    c.metric("jumps removed", "–" if pd.isna(row["jumps removed"]) else int(row["jumps removed"]))
    d.metric("px/mm", f"{row['px_per_mm']:.3f}", help=f"source: {row['px_per_mm_source']}")


def render(root: Path) -> None:
    sessions = sessions_quality(str(root))
    if sessions.empty:
        st.info("No sessions yet.")
        return
    with st.expander("All sessions and their pose quality"):
        st.dataframe(
            sessions.drop(columns=["session_id"]),
            hide_index=True,
            key="sessions-table",
            column_config={
                "missing": st.column_config.NumberColumn(format="percent"),
                "px_per_mm": st.column_config.NumberColumn("px/mm", format="%.3f"),
                "duration_s": st.column_config.NumberColumn("s", format="%.0f"),
            },
        )
    labels = [f"{r.animal or r.session_id} · {r.condition or '–'} · {r.file}" for r in sessions.itertuples()]
    picked = st.selectbox("Session", range(len(labels)), format_func=labels.__getitem__, key="session")
    row = sessions.iloc[picked]
    _qc(row)
    run = discovery(str(root)) or {}
    names = {c["cluster_id"]: f"{c['cluster_id']}: {c['name']}" for c in run.get("clusters", [])}
    segments = session_segments(str(root), row["session_id"])
    table = session_bouts(segments, names)
    if table.empty:
        st.info("This session has no segments with a behaviour.")
        return
    event = st.altair_chart(ethogram(table), on_select="rerun", key="ethogram", width="stretch")
    clicked = [p["bout"] for p in (event.selection.get("bout") or []) if "bout" in p] if event else []
    st.caption("Click a bout to play it, or pick one below.")
    options = list(range(len(table)))
    if clicked and st.session_state.get("clicked") != clicked[0]:
        st.session_state["clicked"] = st.session_state["bout"] = int(clicked[0])
    bout = st.selectbox(
        "Bout",
        options,
        key="bout",
        format_func=lambda i: (
            f"{table.loc[i, 'level']}: {table.loc[i, 'label']} · "
            f"{table.loc[i, 'start_s']:.1f}–{table.loc[i, 'end_s']:.1f} s"
        ),
    )
    chosen = table.loc[bout]
    video = segments["video"].iloc[0]
    end = min(chosen["end_s"], chosen["start_s"] + MAX_CLIP_S)
    show_clip(
        st,
        root,
        f"bout-{row['session_id']}-{chosen['start_s']:.2f}-{end:.2f}",
        video,
        chosen["start_s"],
        end,
        autoplay=True,
    )
    st.markdown("##### Export")
    scope = st.radio("Of", ["this session", "every session"], horizontal=True, key="export-scope")
    if scope == "every session":
        segments = session_segments(str(root), None)
        table = session_bouts(segments, names)
        stem = root.name
    else:
        stem = f"{row['animal'] or row['session_id']}_{row['session_id']}"
    # The files' names, not where this machine keeps them.
    files = {
        c: segments[c].map(lambda f: Path(f).name if isinstance(f, str) else None) for c in ("video", "pose")
    }
    _downloads(segments.assign(**files), table, stem)
