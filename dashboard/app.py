"""MouseGPT dashboard: ``mousegpt dashboard`` (or, from the repository root, ``streamlit run
dashboard/app.py -- --workspace DIR --data-root DIR``).

- **Search** by natural language, read each hit's description, watch its clip, and confirm
  or correct its behaviour (appended to ``WORKSPACE/annotations.jsonl``, which ``mousegpt
  adapt OUT --annotations FILE`` reads).
- **Sessions**: each session's ethogram and pose quality; click a bout to play it; export
  segments and bouts as CSV or Parquet.
- **Behaviour clusters** of the latest ``mousegpt discover`` run (the map, flagged novel
  behaviours, exemplar moments) and **condition profiles**.
- **Analyse**: choose videos under the data root, set their metadata, submit the analysis as
  a Ray Job and follow it.

It listens on loopback unless told otherwise, and then asks for an access token
(``dashboard.access``). Nothing in the workspace is written but annotations and clips.
"""

from __future__ import annotations

import streamlit as st

from dashboard import analyse_page, sessions_page
from dashboard.access import require_access
from dashboard.common import (
    arguments,
    condition_profile,
    conditions,
    correct_moment,
    discovery,
    moments,
    redact,
    searcher,
    show_moment,
)
from mousegpt.errors import MouseGPTError
from mousegpt.store import Workspace

st.set_page_config(page_title="MouseGPT", page_icon="🐭", layout="wide")
require_access()
args = arguments()
root, data_root = args.workspace, args.data_root
st.title("MouseGPT")
st.caption(f"Workspace: {root.name}" + (f" · data root: {data_root.name}/" if data_root else ""))
workspace = Workspace(root)
if not workspace.exists():
    st.warning(
        f"No analysed data in workspace {root.name} yet. Analyse videos below, or run "
        f"`mousegpt analyze VIDEO... --workspace {root.name}`."
    )
    analyse_page.render(root, data_root)
    st.stop()

try:
    known_conditions = conditions(str(root))
except MouseGPTError as exc:
    st.error(redact(str(exc), root))
    st.stop()
search_tab, sessions_tab, clusters_tab, profiles_tab, analyse_tab = st.tabs(
    ["Search", "Sessions", "Behaviour clusters", "Condition profiles", "Analyse"]
)

with search_tab:
    left, middle, right = st.columns([4, 1, 1])
    query = left.text_input("Describe a behaviour", placeholder="a mouse grooming itself", key="query")
    k = middle.number_input("Hits", min_value=1, max_value=100, value=10, key="hits")
    choice = right.selectbox("Condition", ["all", *known_conditions], key="condition-filter")
    if query.strip():
        try:
            hits = searcher(str(root)).search(query, k=int(k), condition=None if choice == "all" else choice)
        except MouseGPTError as exc:
            st.error(redact(str(exc), root))
            st.stop()
        if not hits:
            st.info("No matching moments.")
        for rank, hit in enumerate(hits, 1):
            show_moment(root, hit, f"{rank}. {hit.behavior or 'not visible'}")
            correct_moment(root, hit)

with clusters_tab:
    run = discovery(str(root))
    if run is None:
        st.info(f"No behaviour clusters yet. Run `mousegpt discover --workspace {root.name}` to find them.")
    else:
        import pandas as pd

        clusters = pd.DataFrame(run["clusters"])
        novel = clusters[clusters["novel"]]
        st.markdown(
            f"Discovery run {run['run_id']}: **{len(clusters)} clusters**, "
            f"**{len(novel)} flagged novel** "
            "(most members are outliers, and no vocabulary behaviour names them)."
        )
        for row in novel.itertuples():
            st.warning(f"Novel behaviour? cluster {row.cluster_id}: {row.name} ({row.size} segments)")
        by_condition = pd.DataFrame(list(clusters["size_by_condition"])).fillna(0).astype(int)
        table = pd.concat(
            [clusters[["cluster_id", "name", "size", "novel", "outlier_fraction"]], by_condition], axis=1
        )
        st.dataframe(
            table,
            hide_index=True,
            key="clusters-table",
            column_config={
                "outlier_fraction": st.column_config.ProgressColumn(
                    "outliers", min_value=0.0, max_value=1.0, format="percent"
                )
            },
        )
        names = dict(
            zip(clusters["cluster_id"], clusters["cluster_id"].astype(str) + ": " + clusters["name"])
        )
        points = run["points"].assign(cluster=lambda d: d["cluster_id"].map(names))
        st.caption("Behaviour map (UMAP of the segments' features; up to 5,000 segments)")
        st.scatter_chart(points, x="map_x", y="map_y", color="cluster", height=480)
        picked = st.selectbox("Exemplars of cluster", list(names.values()), key="exemplars-of")
        cluster = clusters.loc[clusters["cluster_id"] == int(picked.split(":")[0])].iloc[0]
        for i, hit in enumerate(moments(str(root), list(cluster["exemplars"])), 1):
            show_moment(root, hit, f"{i}. described as {hit.behavior or 'not visible'}")

with profiles_tab:
    if len(known_conditions) < 2:
        st.info("Profiles compare conditions: this workspace has fewer than two.")
    elif st.button(
        "Compare conditions",
        key="compare",
        help="Per animal: time fraction, bouts, bout length and latency of each "
        "behaviour (and cluster), tested between conditions",
    ):
        import pandas as pd

        result = condition_profile(str(root))
        prediction = result["prediction"]
        if prediction.get("accuracy") is not None:
            st.metric(
                "Condition predicted from the profile (cross-validated accuracy)",
                f"{prediction['accuracy']:.0%}",
                help=f"chance {prediction.get('chance', float('nan')):.0%}; "
                f"permutation p = {prediction.get('p_value')}",
            )
        levels = sorted({key.split("/")[0] for key in result["charts"]})
        level = st.radio("Level", levels, horizontal=True, key="level")
        metric = st.radio(
            "Metric",
            ["time_fraction", "bout_count", "mean_bout_s", "latency_s"],
            horizontal=True,
            key="metric",
        )
        st.image(result["charts"][f"{level}/{metric}"])
        tests = pd.DataFrame([t for t in result["tests"] if t["level"] == level and t["metric"] == metric])
        if len(tests):
            tests["median"] = tests["median"].map(lambda m: ", ".join(f"{g} {v:g}" for g, v in m.items()))
            tests["ci95"] = tests["ci95"].map(lambda ci: f"[{ci[0]:+.2f}, {ci[1]:+.2f}]")
            st.dataframe(
                tests[["label", "median", "test", "p", "q", "effect", "effect_size", "ci95"]].sort_values(
                    "q"
                ),
                hide_index=True,
                key="tests-table",
            )

with sessions_tab:
    sessions_page.render(root)

with analyse_tab:
    analyse_page.render(root, data_root)
