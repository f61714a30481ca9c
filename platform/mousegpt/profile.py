"""Behaviour profiles per animal, compared between experimental groups.

A segment stands for the ``hop`` seconds around its centre (segments are 1.0 s windows every
0.5 s, so each moment is counted once). Consecutive segments of a session with the same label
(a behaviour, or a discovered cluster) form a bout; a segment without a label (the mouse not
seen) ends a bout. Per animal, over all its sessions, and per label:

- ``time_fraction``: share of the animal's labelled time spent in the label (0..1);
- ``bout_count``: number of bouts;
- ``mean_bout_s``: mean bout duration (s; NaN when there is no bout);
- ``latency_s``: time from the session's start to the first bout (s), the mean over the
  animal's sessions; a session without the label counts its whole duration (censored at the end,
  as ethograms usually score it).

Groups (``by``, default the condition) are compared per label and metric: two groups by a
Mann-Whitney U test with Cliff's delta (second group against the first) as the effect size,
three or more by a Kruskal-Wallis test with epsilon squared; 95% confidence intervals of the
effects by bootstrap over animals; q-values by Benjamini-Hochberg over all tests of a profile.
Phenotype prediction: the condition predicted from an animal's time fractions (standardised,
logistic regression), stratified cross-validated accuracy, and a permutation p-value.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd

from mousegpt.describe.model import UNCERTAIN_BELOW
from mousegpt.errors import InputError, WorkspaceError
from mousegpt.segments import HOP_S
from mousegpt.store import Workspace

METRICS: dict[str, str] = {
    "time_fraction": "fraction",
    "bout_count": "bouts",
    "mean_bout_s": "s",
    "latency_s": "s",
}
"""Per-animal metrics of a label, with their units."""
GROUPABLE = ("condition", "view", "model", "source")
"""Session columns a profile can compare groups by."""
ALPHA = 0.05
BOOTSTRAP = 1000


def load_segments(
    workspace: Workspace, by: str = "condition", include_uncertain: bool = False
) -> pd.DataFrame:
    """Every segment with its session's animal, group and duration: ``session_id, segment_index,
    start_s, end_s, behavior, cluster_id, animal, group, duration_s``. A segment whose behaviour
    the describer is uncertain of (``describe.model.UNCERTAIN_BELOW``) has none, as an unseen
    one, unless ``include_uncertain``.
    """
    if by not in GROUPABLE:
        raise InputError(f"--by {by!r}: profiles compare groups of sessions by one of {', '.join(GROUPABLE)}")
    with workspace.reader() as con:
        table = con.execute(
            f"SELECT s.session_id, s.segment_index, s.start_s, s.end_s, "
            f"CASE WHEN {not include_uncertain} AND s.confidence < {UNCERTAIN_BELOW} "
            "THEN NULL ELSE s.behavior END "
            "AS behavior, s.cluster_id, "
            "coalesce(ss.animal, ss.session_id) AS animal, "
            f"coalesce(ss.{by}, 'unknown') AS \"group\", ss.duration_s "
            "FROM segments s JOIN sessions ss USING (session_id) ORDER BY s.session_id, s.segment_index"
        ).fetchdf()
    if table.empty:
        raise WorkspaceError(f"{workspace.root}: no segments to profile; run `mousegpt analyze` first")
    return table


def _hop(segments: pd.DataFrame) -> pd.Series:
    """Each session's hop between segment starts (s)."""
    steps = segments.groupby("session_id")["start_s"].diff()
    hop = steps.groupby(segments["session_id"]).median()
    return hop.fillna(HOP_S).where(hop > 0, HOP_S)


def bouts(segments: pd.DataFrame, label: str = "behavior") -> pd.DataFrame:
    """Bouts of ``label`` per session: ``session_id, label, start_s, duration_s, segments``.

    ``start_s`` is where the first segment's share of time begins (its centre less half a hop;
    the session's start for its first segment).
    """
    seg = segments.sort_values(["session_id", "segment_index"]).reset_index(drop=True)
    hop = seg["session_id"].map(_hop(seg))
    value = seg[label].astype("object").where(seg[label].notna(), None)
    new_session = seg["session_id"] != seg["session_id"].shift()
    gap = seg["segment_index"] - seg["segment_index"].shift() != 1
    changed = value.astype(str) != value.shift().astype(str)
    bout_id = (new_session | gap | changed).cumsum()
    # A segment's share of time begins half a hop before its centre; the session's first
    # segment's at the session's start.
    start = ((seg["start_s"] + seg["end_s"]) / 2 - hop / 2).where(~new_session, seg["start_s"])
    frame = pd.DataFrame(
        {"session_id": seg["session_id"], "label": value, "bout": bout_id, "start": start, "hop": hop}
    )
    frame = frame[frame["label"].notna()]
    grouped = frame.groupby("bout", sort=True)
    out = pd.DataFrame(
        {
            "session_id": grouped["session_id"].first(),
            "label": grouped["label"].first(),
            "start_s": grouped["start"].first().clip(lower=0.0),
            "segments": grouped.size(),
        }
    )
    out["duration_s"] = out["segments"] * grouped["hop"].first()
    return out.reset_index(drop=True)


def animal_metrics(segments: pd.DataFrame, label: str = "behavior") -> pd.DataFrame:
    """Per (group, animal, label): the ``METRICS``; every label seen anywhere appears for every
    animal (zero time and bouts where it never did it).
    """
    seg = segments[segments[label].notna()]
    if seg.empty:
        return pd.DataFrame(columns=["group", "animal", "label", *METRICS])
    session_info = segments.groupby("session_id").agg(
        animal=("animal", "first"),
        group=("group", "first"),
        duration_s=("duration_s", "first"),
        end_s=("end_s", "max"),
    )
    session_info["duration_s"] = session_info["duration_s"].fillna(session_info["end_s"])
    labels = sorted(seg[label].astype(str).unique(), key=_label_order)
    b = bouts(segments, label)
    b["label"] = b["label"].astype(str)
    b = b.join(session_info[["animal", "group"]], on="session_id")
    rows = []
    for (group, animal), sessions in session_info.groupby(["group", "animal"]):
        mine = seg[seg["session_id"].isin(sessions.index)]
        total = len(mine)
        counts = mine[label].astype(str).value_counts()
        animal_bouts = b[(b["animal"] == animal) & (b["group"] == group)]
        for name in labels:
            of_label = animal_bouts[animal_bouts["label"] == name]
            first = of_label.groupby("session_id")["start_s"].min()
            latency = [float(first.get(s, sessions.loc[s, "duration_s"])) for s in sessions.index]
            rows.append(
                {
                    "group": group,
                    "animal": animal,
                    "label": name,
                    "time_fraction": counts.get(name, 0) / total if total else np.nan,
                    "bout_count": int(len(of_label)),
                    "mean_bout_s": float(of_label["duration_s"].mean()) if len(of_label) else np.nan,
                    "latency_s": float(np.mean(latency)),
                }
            )
    return pd.DataFrame(rows)


def _label_order(name: str):
    from mousegpt.vocabulary import BEHAVIORS

    if name in BEHAVIORS:
        return (0, BEHAVIORS.index(name), 0, name)
    return (1, 0, int(name) if name.lstrip("-").isdigit() else 0, name)


def transitions(segments: pd.DataFrame, label: str = "behavior") -> dict[str, dict[str, dict[str, float]]]:
    """Per group: P(next bout's label | this bout's label), from the bouts of each session in
    order, each animal's matrix weighted alike (rows sum to 1; a label never left is absent).
    """
    b = bouts(segments, label)
    b["label"] = b["label"].astype(str)
    info = segments.groupby("session_id")[["animal", "group"]].first()
    b = b.join(info, on="session_id")
    b["next"] = b.groupby("session_id")["label"].shift(-1)
    pairs = b[b["next"].notna()]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group, part in pairs.groupby("group"):
        per_animal = []
        for _, mine in part.groupby("animal"):
            counts = pd.crosstab(mine["label"], mine["next"])
            per_animal.append(counts.div(counts.sum(axis=1), axis=0))
        mean = pd.concat(per_animal).groupby(level=0).mean().fillna(0.0)
        labels = sorted(set(mean.index) | set(mean.columns), key=_label_order)
        mean = mean.reindex(index=[x for x in labels if x in mean.index], columns=labels, fill_value=0.0)
        out[str(group)] = {
            r: {c: round(float(v), 4) for c, v in row.items() if v > 0} for r, row in mean.iterrows()
        }
    return out


# ---------------------------------------------------------------- statistics


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """P(b > a) - P(b < a): -1..1, 0 when the groups overlap evenly (the rank-biserial correlation)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.mean(np.sign(b[:, None] - a[None, :])))


def epsilon_squared(samples: list[np.ndarray]) -> float:
    """Kruskal-Wallis effect size H / (n - 1): 0 (no difference) .. 1."""
    from scipy.stats import kruskal

    n = sum(len(s) for s in samples)
    if np.ptp(np.concatenate(samples)) == 0:
        return 0.0
    return float(kruskal(*samples).statistic / (n - 1))


def _bootstrap_ci(
    samples: list[np.ndarray], effect, rng: np.random.Generator, reps: int = BOOTSTRAP
) -> tuple[float, float]:
    values = []
    for _ in range(reps):
        resampled = [s[rng.integers(0, len(s), len(s))] for s in samples]
        values.append(effect(resampled))
    low, high = np.nanpercentile(values, [2.5, 97.5])
    return float(low), float(high)


def compare_groups(metrics: pd.DataFrame, level: str, seed: int = 0) -> list[dict]:
    """One test per (label, metric) with at least two animals in at least two groups; q-values
    are added later, over all tests of the profile (``add_q_values``).
    """
    from scipy.stats import kruskal, mannwhitneyu

    rng = np.random.default_rng(seed)
    groups = sorted(
        metrics["group"].unique(), key=lambda g: (g != "control", g)
    )  # control first, when there is one
    tests = []
    for (label, metric), part in ((k, v) for k, v in _by_label_metric(metrics)):
        samples = [part.loc[part["group"] == g, "value"].dropna().to_numpy(float) for g in groups]
        named = [(g, s) for g, s in zip(groups, samples) if len(s) >= 2]
        if len(named) < 2:
            continue
        names, samples = [g for g, _ in named], [s for _, s in named]
        test = {
            "level": level,
            "label": label,
            "metric": metric,
            "groups": names,
            "n": {g: int(len(s)) for g, s in named},
            "median": {g: round(float(np.median(s)), 4) for g, s in named},
        }
        if np.ptp(np.concatenate(samples)) == 0:
            statistic, p = np.nan, 1.0  # every animal alike: nothing to test
        elif len(samples) == 2:
            statistic, p = mannwhitneyu(samples[0], samples[1], alternative="two-sided")
        else:
            statistic, p = kruskal(*samples)
        if len(samples) == 2:
            effect, name = cliffs_delta(*samples), "cliffs_delta"
            ci = _bootstrap_ci(samples, lambda s: cliffs_delta(*s), rng)
            test["test"] = "mann-whitney"
        else:
            effect, name = epsilon_squared(samples), "epsilon_squared"
            ci = _bootstrap_ci(samples, epsilon_squared, rng, reps=BOOTSTRAP // 4)
            test["test"] = "kruskal-wallis"
        test |= {
            "statistic": None if np.isnan(statistic) else round(float(statistic), 4),
            "p": float(p),
            "effect_size": round(effect, 4),
            "effect": name,
            "ci95": [round(ci[0], 4), round(ci[1], 4)],
        }
        tests.append(test)
    return tests


def _by_label_metric(metrics: pd.DataFrame):
    long = metrics.melt(id_vars=["group", "animal", "label"], value_vars=list(METRICS), var_name="metric")
    yield from long.groupby(["label", "metric"], sort=False)


def add_q_values(tests: list[dict], alpha: float = ALPHA) -> list[dict]:
    """Benjamini-Hochberg q-values over all ``tests``; ``significant`` where q < alpha."""
    from scipy.stats import false_discovery_control

    if tests:
        q = false_discovery_control(np.asarray([t["p"] for t in tests]), method="bh")
        for t, value in zip(tests, q):
            t["q"] = float(value)
            t["significant"] = bool(value < alpha)
    return tests


def predict_condition(metrics: pd.DataFrame, seed: int = 0, permutations: int = 200) -> dict:
    """Cross-validated accuracy of predicting each animal's group from its time fractions, with
    a permutation p-value (labels shuffled ``permutations`` times) and the chance level.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, permutation_test_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    wide = metrics.pivot_table(index=["group", "animal"], columns="label", values="time_fraction").fillna(0.0)
    y = wide.index.get_level_values("group").astype(str).to_numpy()
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        return {
            "accuracy": None,
            "p_value": None,
            "chance": None,
            "n_animals": int(len(y)),
            "reason": "needs at least two groups with two animals each",
        }
    folds = int(min(5, counts.min()))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy, _, p = permutation_test_score(
            model, wide.to_numpy(), y, cv=cv, n_permutations=permutations, random_state=seed, n_jobs=1
        )
    return {
        "accuracy": round(float(accuracy), 4),
        "p_value": round(float(p), 4),
        "chance": round(float(counts.max() / counts.sum()), 4),
        "folds": folds,
        "n_animals": int(len(y)),
        "features": [str(c) for c in wide.columns],
        "classes": [str(c) for c in classes],
    }


def summarise(metrics: pd.DataFrame) -> dict[str, dict]:
    """Per group and label: mean and standard deviation over animals of each metric."""
    out: dict[str, dict] = {}
    for (group, label), part in metrics.groupby(["group", "label"], sort=False):
        out.setdefault(str(group), {})[str(label)] = {
            m: {"mean": _round(part[m].mean()), "sd": _round(part[m].std(ddof=1)) if len(part) > 1 else None}
            for m in METRICS
        }
    return out


def _round(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def profile(
    workspace: Workspace,
    by: str = "condition",
    seed: int = 0,
    segments: pd.DataFrame | None = None,
    include_uncertain: bool = False,
) -> dict:
    """``{"by", "groups", "tests", "prediction"}`` for a workspace (see the module docstring).

    ``groups``: per group its animals and, per level (``behavior``, and ``cluster`` once
    ``mousegpt discover`` has run), each label's metric means and the transition matrix.
    """
    segments = load_segments(workspace, by, include_uncertain) if segments is None else segments
    levels = {"behavior": "behavior"}
    if segments["cluster_id"].notna().any():
        levels["cluster"] = "cluster_id"
        segments = segments.assign(cluster_id=segments["cluster_id"].astype("Int64").astype("string"))
    groups: dict[str, dict] = {}
    animals = segments.groupby("group")["animal"].unique()
    for group, names in animals.items():
        groups[str(group)] = {"animals": sorted(map(str, names)), "n_animals": int(len(names))}
    tests, per_level = [], {}
    for level, column in levels.items():
        metrics = animal_metrics(segments, column)
        per_level[level] = metrics
        summary, moves = summarise(metrics), transitions(segments, column)
        for group in groups:
            groups[group][level] = {"metrics": summary.get(group, {}), "transitions": moves.get(group, {})}
        tests += compare_groups(metrics, level, seed)
    add_q_values(tests)
    prediction = predict_condition(
        pd.concat([m.assign(label=f"{lvl}:" + m["label"]) for lvl, m in per_level.items()]), seed=seed
    )
    return {
        "by": by,
        "include_uncertain": include_uncertain,
        "groups": groups,
        "tests": tests,
        "prediction": prediction,
        "_metrics": per_level,
    }


def to_json(result: dict) -> dict:
    """The profile without its in-memory tables (what ``--json`` prints)."""
    return json.loads(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, default=str))


def write_plots(workspace: Workspace, result: dict, folder) -> list:
    """An ethogram PNG per session (behaviours, and clusters once discovered) and a bar chart
    PNG per level and metric, into ``folder``.
    """
    from pathlib import Path

    from mousegpt import plots

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    segments = load_segments(workspace, result["by"], result.get("include_uncertain", False))
    names = {}
    if segments["cluster_id"].notna().any():
        from mousegpt.discover import latest_clusters

        names = {str(c.cluster_id): f"{c.cluster_id}: {c.name}" for c in latest_clusters(workspace).clusters}
    written = []
    for level, column in (("behavior", "behavior"), ("cluster", "cluster_id")):
        if not segments[column].notna().any():
            continue
        seg = (
            segments.assign(**{column: segments[column].astype("Int64").astype("string")})
            if level == "cluster"
            else segments
        )
        all_bouts = bouts(seg, column)
        for session_id, part in all_bouts.groupby("session_id"):
            info = segments[segments["session_id"] == session_id].iloc[0]
            title = f"{info['animal']} ({info['group']}), {level}s"
            written.append(
                plots.ethogram(
                    part,
                    title,
                    folder / f"ethogram_{level}_{session_id}.png",
                    names if level == "cluster" else None,
                )
            )
        for metric, unit in METRICS.items():
            written.append(
                plots.profile_bars(
                    result["_metrics"][level],
                    result["tests"],
                    metric,
                    level,
                    folder / f"profile_{level}_{metric}.png",
                    names if level == "cluster" else None,
                    unit,
                )
            )
    return written
