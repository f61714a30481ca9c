"""From HDBSCAN's clusters to named ones: the behaviour a cluster's keywords word it as, the split
of what the vocabulary does not know, the merge of clusters that are one behaviour, and each
cluster's name, exemplars and sizes (``describe_clusters``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mousegpt.discover.config import DiscoverConfig
from mousegpt.discover.features import FEATURE_FACTS, Segments
from mousegpt.discover.fit import Fit
from mousegpt.records import FACT_BY_NAME, Cluster
from mousegpt.vocabulary import BEHAVIORS, ZONES

FACT_WORDS = {
    "speed_mean_mm_s": "speed",
    "speed_max_mm_s": "peak speed",
    "displacement_mm": "displacement",
    "body_length_ratio": "body length",
    "body_length_ratio_min": "shortest body length",
    "heading_change_deg": "heading change",
    "angular_speed_deg_s": "turning rate",
    "head_yaw_std_deg": "head sway",
    "head_yaw_abs_deg": "head turn",
    "head_motion_hz": "head rhythm",
    "head_speed_mm_s": "head speed",
    "immobile_fraction": "time still",
    "head_yaw_fast_deg": "fast head jerks",
}
"""Short names of ``FEATURE_FACTS`` for cluster names."""

# ---------------------------------------------------------------- keywords


def keyword_behaviors() -> dict[str, str]:
    """Each caption keyword, mapped to the vocabulary behaviour whose captions use it (zones excluded).

    Returns
    -------
    dict of str to str
        Keyword -> behaviour; a keyword two behaviours use belongs to the first that does
        (the caption templates, then the kinematic describer's words).
    """
    from mousegpt.describe.captions import CAPTIONS

    out = {}
    for key, entry in CAPTIONS.items():
        for word in entry["keywords"]:
            out.setdefault(word, key.split("/")[0])
    from mousegpt.describe.kinematic import TEXT

    for behavior, (*_, words) in TEXT.items():
        for word in words:
            out.setdefault(word, behavior)
    return out


def keyword_counts(keywords: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """How often each keyword is used in each cluster's descriptions.

    Parameters
    ----------
    keywords : pandas.DataFrame
        ``Segments.keywords``: ``row`` (of the segments) and ``keyword``.
    labels : numpy.ndarray
        (segments,) cluster of each segment.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster``, ``keyword`` (str) and ``count``, one row per pair that occurs.
    """
    pairs = pd.DataFrame({"cluster": labels[keywords["row"].to_numpy()], "keyword": keywords["keyword"]})
    counts = pairs.groupby(["cluster", "keyword"], observed=True).size().rename("count").reset_index()
    return counts.astype({"keyword": str})


def keyword_behavior_shares(counts: pd.DataFrame) -> pd.DataFrame:
    """Per cluster, the share of its (non-zone) keywords that each vocabulary behaviour's captions use.

    Parameters
    ----------
    counts : pandas.DataFrame
        ``keyword_counts``.

    Returns
    -------
    pandas.DataFrame
        Index cluster (only clusters with a keyword of some behaviour), a column per behaviour of
        ``vocabulary.BEHAVIORS``; shares 0 to 1, summing to at most 1 per cluster.
    """
    to_behavior = keyword_behaviors()
    c = counts[~counts["keyword"].isin(ZONES)].copy()
    c["behavior"] = c["keyword"].map(to_behavior)
    c = c.dropna(subset=["behavior"])
    shares = c.pivot_table(index="cluster", columns="behavior", values="count", aggfunc="sum", fill_value=0)
    return shares.div(shares.sum(axis=1).clip(lower=1), axis=0).reindex(
        columns=list(BEHAVIORS), fill_value=0.0
    )


def worded_behavior(shares: pd.DataFrame, cluster: int, merge_share: float) -> str | None:
    """The behaviour a cluster's keywords word it as, if any.

    Parameters
    ----------
    shares : pandas.DataFrame
        ``keyword_behavior_shares``.
    cluster : int
        The cluster.
    merge_share : float
        Share, above 0, of its keywords that one behaviour must hold (``DiscoverConfig.merge_share``).

    Returns
    -------
    str or None
        The behaviour with the largest share when that share is at least ``merge_share``
        (the first of equal ones); None otherwise, and for a cluster with no keyword of any
        behaviour.
    """
    if cluster not in shares.index:
        return None
    row = shares.loc[cluster]
    return str(row.idxmax()) if row.max() >= merge_share else None


# ---------------------------------------------------------------- split and merge


def split_unknown(
    labels: np.ndarray, unlike: np.ndarray, min_size: int, config: DiscoverConfig
) -> np.ndarray:
    """Split off the members of each cluster that move unlike anything of the vocabulary.

    A cluster part of whose members are unlike the vocabulary (at least ``split_share`` of it)
    is two groups: the moments the vocabulary knows and those it does not (a tight circle
    clustered with the turns it is described like). When both parts hold at least ``min_size``
    segments, the unknown part becomes a cluster of its own.

    Parameters
    ----------
    labels : numpy.ndarray
        (segments,) non-negative int cluster of each segment.
    unlike : numpy.ndarray
        (segments,) bool: unlike the vocabulary (``vocabulary_distance``'s ratio above 1).
    min_size : int
        Segments each part must hold.
    config : DiscoverConfig
        ``split_share`` is read.

    Returns
    -------
    numpy.ndarray
        The new labels; split-off parts numbered after the largest label, in cluster order.
    """
    out = labels.copy()
    next_label = int(labels.max()) + 1
    for cluster in np.unique(labels):
        members = labels == cluster
        unknown = members & unlike
        n_unknown, n_known = int(unknown.sum()), int(members.sum() - unknown.sum())
        if min(n_unknown, n_known) >= min_size and n_unknown >= config.split_share * members.sum():
            out[unknown] = next_label
            next_label += 1
    return out


def leading_fact(z: np.ndarray, members: np.ndarray) -> tuple[str, str] | None:
    """The fact that sets a group of segments most apart, and which way.

    Parameters
    ----------
    z : numpy.ndarray
        (segments, ``FEATURE_FACTS``) ``fact_matrix``.
    members : numpy.ndarray
        Row numbers (or a mask) of the group.

    Returns
    -------
    tuple of (str, str) or None
        The fact whose median over the group is furthest from the workspace's, and "high" or
        "low": ("head_yaw_fast_deg", "high"); None when no fact's median is at least 1 away
        (``fact_matrix`` units).
    """
    centre = np.median(z[members], axis=0)
    i = int(np.argmax(np.abs(centre)))
    return (FEATURE_FACTS[i], "high" if centre[i] > 0 else "low") if abs(centre[i]) >= 1.0 else None


def merge_clusters(
    labels: np.ndarray, shares: pd.DataFrame, outlying: pd.Series, z: np.ndarray, config: DiscoverConfig
) -> np.ndarray:
    """Merge the clusters that are one behaviour.

    Clusters whose keywords word them as the same behaviour (``worded_behavior``) and that are
    not outlier clusters become one; so do outlier clusters set apart by the same leading fact
    (``leading_fact``: one new behaviour that HDBSCAN split, such as circling left and right).

    Parameters
    ----------
    labels : numpy.ndarray
        (segments,) non-negative int cluster of each segment.
    shares : pandas.DataFrame
        ``keyword_behavior_shares`` of those clusters.
    outlying : pandas.Series
        Share of outliers, 0 to 1, per cluster; a cluster missing counts as 0.
    z : numpy.ndarray
        (segments, ``FEATURE_FACTS``) ``fact_matrix``.
    config : DiscoverConfig
        ``merge_share`` and ``outlier_majority`` are read.

    Returns
    -------
    numpy.ndarray
        (segments,) int64 new labels, numbered 0.. from the largest cluster down.
    """
    mapping = {}
    for cluster in np.unique(labels):
        behavior = worded_behavior(shares, cluster, config.merge_share)
        if outlying.get(cluster, 0.0) >= config.outlier_majority:
            lead = leading_fact(z, np.flatnonzero(labels == cluster))
            mapping[cluster] = ("outlier", "-".join(lead)) if lead else ("own", int(cluster))
        elif behavior is None:
            mapping[cluster] = ("own", int(cluster))
        else:
            mapping[cluster] = ("behavior", behavior)
    clusters = np.unique(labels)
    keys = [f"{kind}:{name}" for kind, name in (mapping[c] for c in clusters)]
    _, group_of_cluster = np.unique(keys, return_inverse=True)
    lookup = np.zeros(int(clusters.max()) + 1, np.int64)
    lookup[clusters] = group_of_cluster
    merged = lookup[labels]
    sizes = np.bincount(merged)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[merged]


# ---------------------------------------------------------------- names


def distinctive_facts(table: pd.DataFrame, z: np.ndarray, members: np.ndarray, top: int = 2) -> list[str]:
    """The facts that set a cluster apart, in words.

    Parameters
    ----------
    table : pandas.DataFrame
        The segments (``Segments.table``), with their facts in their units.
    z : numpy.ndarray
        (segments, ``FEATURE_FACTS``) ``fact_matrix``.
    members : numpy.ndarray
        Row numbers of the cluster's segments.
    top : int
        Facts at most.

    Returns
    -------
    list of str
        The facts whose cluster median is furthest from the workspace's (at least 1 away, in
        ``fact_matrix`` units), furthest first, as words with the cluster's median value (NaN
        left out) and unit: "high turning rate (171 deg/s)".
    """
    centre = np.median(z[members], axis=0)
    words = []
    for i in np.argsort(-np.abs(centre))[:top]:
        if abs(centre[i]) < 1.0:
            break
        name = FEATURE_FACTS[i]
        values = table[name].to_numpy(float)[members]
        value = float(np.nanmedian(np.abs(values) if name == "heading_change_deg" else values))
        unit = FACT_BY_NAME[name].unit
        shown = f"{value:.0%}" if unit in ("ratio", "fraction") else f"{value:.0f} {unit}"
        words.append(f"{'high' if centre[i] > 0 else 'low'} {FACT_WORDS[name]} ({shown})")
    return words


def describe_clusters(
    seg: Segments,
    fitted: Fit,
    labels: np.ndarray,
    z: np.ndarray,
    unlike: np.ndarray,
    outlier: np.ndarray,
    config: DiscoverConfig,
) -> list[Cluster]:
    """Each cluster as a record: name, keywords, size, sizes per condition, outlier share, novelty, exemplars.

    A cluster is named for a vocabulary behaviour when its keywords word it so
    (``worded_behavior``) and most of its members move like some moment of the vocabulary;
    otherwise it is "unlabelled", named from the facts that set it apart. It is novel when most
    of its members are outliers, no behaviour names it, and at least ``split_share`` of it moves
    unlike the vocabulary.

    Parameters
    ----------
    seg : Segments
        The segments.
    fitted : Fit
        Its PCA features place the exemplars (the members nearest the cluster's centre).
    labels : numpy.ndarray
        (segments,) cluster of each segment, numbered 0.. (``merge_clusters``).
    z : numpy.ndarray
        (segments, ``FEATURE_FACTS``) ``fact_matrix``.
    unlike : numpy.ndarray
        (segments,) bool: unlike the vocabulary (beyond ``VocabularyDistance.threshold``).
    outlier : numpy.ndarray
        (segments,) bool: an outlier (isolation forest, or unlike the vocabulary).
    config : DiscoverConfig
        ``merge_share``, ``outlier_majority``, ``split_share`` and ``exemplars`` are read.

    Returns
    -------
    list of Cluster
        In cluster order, those with members only; a segment without a condition counts as
        "unknown" in ``size_by_condition``.
    """
    table = seg.table
    to_behavior = keyword_behaviors()
    counts = keyword_counts(seg.keywords, labels)
    shares = keyword_behavior_shares(counts)
    overall = counts.groupby("keyword")["count"].sum()
    total = overall.sum()
    clusters = []
    for cluster in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == cluster)
        if len(members) == 0:
            continue
        mine = counts[counts["cluster"] == cluster].set_index("keyword")["count"]
        # Keywords that say most about this cluster: frequent in it, and more so than overall.
        lift = (mine / mine.sum()) / (overall.reindex(mine.index) / total)
        score = (mine / mine.sum()) * np.log1p(lift)
        top = [k for k in score.sort_values(ascending=False).index if k not in ZONES][:4]
        zone_counts = mine.reindex(list(ZONES)).dropna()
        zone = zone_counts.idxmax() if len(zone_counts) and zone_counts.max() >= 0.6 * len(members) else None
        worded = worded_behavior(shares, cluster, config.merge_share)
        behavior = worded if worded is not None and unlike[members].mean() < config.outlier_majority else None
        outlier_share = float(outlier[members].mean())
        if behavior is not None:
            leading = next((k for k in top if to_behavior.get(k) == behavior), behavior)
            name = leading + (f" ({zone})" if zone else "")
        else:
            apart = ", ".join(distinctive_facts(table, z, members)) or ", ".join(top[:2])
            name = f"unlabelled ({worded}-like): {apart}" if worded else f"unlabelled: {apart}"
        # Novel: mostly outliers, and a good part of it (``split_share``) moves unlike every moment
        # of the vocabulary. A cluster of rare but vocabulary-like moments (the first, still second
        # of many sessions, say) is uncommon here, not a new behaviour.
        novel = bool(
            outlier_share >= config.outlier_majority
            and behavior is None
            and unlike[members].mean() >= config.split_share
        )
        centre = fitted.projected[members].mean(axis=0)
        nearest = members[
            np.argsort(((fitted.projected[members] - centre) ** 2).sum(axis=1))[: config.exemplars]
        ]
        by_condition = table.iloc[members]["condition"].fillna("unknown").value_counts()
        clusters.append(
            Cluster(
                cluster_id=int(cluster),
                name=name,
                keywords=top,
                size=int(len(members)),
                behavior=behavior,
                novel=novel,
                outlier_fraction=round(outlier_share, 4),
                size_by_condition={str(k): int(v) for k, v in by_condition.items()},
                exemplars=[str(s) for s in table["segment_id"].to_numpy()[nearest]],
            )
        )
    return clusters
