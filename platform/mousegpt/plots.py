"""Figures people read: ethograms, profile bar charts, the behaviour map.

PNG files (matplotlib, no screen needed) and, for the map, an interactive HTML page (Altair,
hover a point to read its cluster and description). Colours are fixed per behaviour so every
figure of a project reads alike; clusters use a categorical palette in cluster order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mousegpt.vocabulary import BEHAVIORS

if TYPE_CHECKING:
    from mousegpt.records import Cluster

BEHAVIOR_COLOURS = dict(
    zip(BEHAVIORS, ("#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#bab0ac", "#59a14f", "#edc948", "#b07aa1"))
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(label: str, labels: list[str]) -> str:
    if label in BEHAVIOR_COLOURS:
        return BEHAVIOR_COLOURS[label]
    plt = _pyplot()
    palette = plt.get_cmap("tab20").colors
    return palette[labels.index(label) % len(palette)]


def ethogram(bouts: pd.DataFrame, title: str, path: Path, label_names: dict[str, str] | None = None) -> Path:
    """One row per label, a bar for each bout along the session's time (s)."""
    plt = _pyplot()
    names = label_names or {}
    labels = sorted(
        bouts["label"].astype(str).unique(),
        key=lambda x: (x not in BEHAVIORS, BEHAVIORS.index(x) if x in BEHAVIORS else 0, x),
    )
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(labels) + 1.2))
    for row, label in enumerate(labels):
        part = bouts[bouts["label"].astype(str) == label]
        ax.broken_barh(
            list(zip(part["start_s"], part["duration_s"])), (row - 0.4, 0.8), color=_colour(label, labels)
        )
    ax.set_yticks(range(len(labels)), [names.get(x, x) for x in labels])
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.set_title(title, loc="left")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _stars(q: float | None) -> str:
    if q is None or not np.isfinite(q):
        return ""
    return "***" if q < 0.001 else "**" if q < 0.01 else "*" if q < 0.05 else ""


def profile_bars(
    metrics: pd.DataFrame,
    tests: list[dict],
    metric: str,
    level: str,
    path: Path,
    label_names: dict[str, str] | None = None,
    unit: str = "",
) -> Path:
    """Bars of the group means of ``metric`` per label, each animal a point, and the tests'
    significance (BH q: * < 0.05, ** < 0.01, *** < 0.001) above each label.
    """
    plt = _pyplot()
    names = label_names or {}
    groups = sorted(metrics["group"].unique(), key=lambda g: (g != "control", g))
    labels = list(dict.fromkeys(metrics["label"].astype(str)))
    q = {t["label"]: t.get("q") for t in tests if t["metric"] == metric and t["level"] == level}
    width = 0.8 / max(1, len(groups))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * max(1, len(groups)) / 2 + 2), 4))
    rng = np.random.default_rng(0)
    palette = plt.get_cmap("Set2").colors
    top = np.nanmax(metrics[metric].to_numpy(float)) if len(metrics) else 1.0
    for g, group in enumerate(groups):
        part = metrics[metrics["group"] == group]
        means = part.groupby("label")[metric].mean().reindex(labels)
        x = np.arange(len(labels)) + (g - (len(groups) - 1) / 2) * width
        ax.bar(
            x,
            means.to_numpy(),
            width=width * 0.9,
            color=palette[g % len(palette)],
            alpha=0.7,
            label=str(group),
        )
        for i, label in enumerate(labels):
            values = part.loc[part["label"].astype(str) == label, metric].to_numpy(float)
            ax.scatter(
                x[i] + rng.uniform(-width / 4, width / 4, len(values)), values, s=12, color="black", zorder=3
            )
    for i, label in enumerate(labels):
        mark = _stars(q.get(label))
        if mark:
            ax.text(i, (top if np.isfinite(top) else 1.0) * 1.05, mark, ha="center", va="bottom", fontsize=12)
    ax.set_xticks(range(len(labels)), [names.get(x, x) for x in labels], rotation=30, ha="right")
    ax.set_ylabel(metric.replace("_", " ") + (f" ({unit})" if unit in ("s",) else ""))
    ax.set_ylim(0, (top if np.isfinite(top) and top > 0 else 1.0) * 1.18)
    ax.legend(frameon=False)
    ax.set_title(f"{metric.replace('_', ' ')} per {level} (points: animals; * BH q < 0.05)", loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def behaviour_map(
    points: pd.DataFrame,
    clusters: list[Cluster],
    png: Path,
    html: Path | None = None,
    max_points: int = 20_000,
) -> list[Path]:
    """The 2-D UMAP of segments coloured by cluster (novel clusters outlined in the legend);
    ``points`` has map_x, map_y, cluster_id (and, for the HTML page, overall and behavior);
    ``clusters`` are the run's (``discover.latest_clusters``), which name them.
    """
    plt = _pyplot()
    if len(points) > max_points:
        points = points.sample(max_points, random_state=0)
    names = {c.cluster_id: c.name + (" [novel]" if c.novel else "") for c in clusters}
    palette = plt.get_cmap("tab20").colors
    fig, ax = plt.subplots(figsize=(8, 7))
    for cluster_id, part in points.groupby("cluster_id"):
        ax.scatter(
            part["map_x"],
            part["map_y"],
            s=3,
            color=palette[int(cluster_id) % len(palette)],
            label=f"{cluster_id}: {names.get(cluster_id, cluster_id)}",
            alpha=0.7,
            rasterized=True,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("Behaviour map (UMAP of descriptions, motion and kinematics)", loc="left")
    ax.legend(markerscale=4, fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)
    written = [png]
    if html is not None:
        import altair as alt

        frame = points.assign(cluster=points["cluster_id"].map(lambda c: f"{c}: {names.get(c, c)}"))
        tooltip = [c for c in ("cluster", "behavior", "overall", "segment_id") if c in frame.columns]
        chart = (
            alt.Chart(frame[["map_x", "map_y", *tooltip]])
            .mark_circle(size=12, opacity=0.7)
            .encode(
                x=alt.X("map_x", axis=None),
                y=alt.Y("map_y", axis=None),
                color=alt.Color("cluster:N"),
                tooltip=tooltip,
            )
            .properties(width=700, height=600, title="Behaviour map")
            .interactive()
        )
        chart.save(str(html))
        written.append(html)
    return written
