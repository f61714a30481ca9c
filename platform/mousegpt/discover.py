"""Behaviour discovery: clusters of moments nobody labelled, and behaviours outside the vocabulary.

After MouseGPT's holistic analysis. Per segment the features are its search vector (the
description's text embedding plus the model's motion embedding, unit length); its kinematic
facts, each robust-standardised (median and interquartile range over the workspace, clipped
at 6), so that two moments the describer words alike but the body does differently (a tight
circle and a turn on the spot) still fall apart; and its distance to the core vocabulary
(``VocabularyDistance``: how far its facts are from the nearest labelled moments of the
describer's training data, every window of it, bout boundaries included). Then:

1. **Fit on a sample** (``sample_size`` segments): PCA to ``pca_dim`` dimensions, UMAP to
   ``umap_dim`` dimensions, HDBSCAN; noise points join the cluster of their nearest clustered
   neighbour. A 2-D UMAP of the same sample draws the map.
2. **Assign the rest** with FAISS: each segment takes the majority cluster of its nearest
   sample neighbours (in PCA space) and the mean of their map positions. A million segments
   cost a few minutes this way, and memory stays a little over the feature matrix.
3. **Split**: members of a cluster that move unlike anything of the vocabulary (beyond the
   distance threshold), when they are a good part of it, become a cluster of their own
   (``split_unknown``).
4. **Merge** clusters whose keywords say they are one behaviour: the keywords of a cluster's
   descriptions are mapped to the vocabulary behaviour whose captions use them; clusters
   with the same behaviour (at least ``merge_share`` of their keywords) become one. Outlier
   clusters (where new behaviours hide) never join those; they become one only when the same
   fact sets them apart (``leading_fact``), as the left and right halves of circling do.
5. **Novelty**: a segment is an outlier when an isolation forest over the features (fit on
   the sample) says so, or when it is unlike anything of the vocabulary. A cluster whose
   keywords name a behaviour but most of whose members are unlike the vocabulary (a tight
   circle the describer calls a turn) is not named for it. A cluster is flagged novel when
   most of its members are outliers, its name matches no vocabulary behaviour, and at least
   ``split_share`` of it moves unlike the vocabulary: rare moments that each move like a known
   one (a session's first, still second) are uncommon, not new.
6. **Name** each cluster from its keywords (and, for clusters no behaviour's keywords hold,
   from the facts that set it apart), with exemplars (members nearest its centre) and its size
   per condition.

Each run is stored in the catalogue (``discovery_runs``, ``clusters``, ``segment_clusters``)
in one transaction, and ``segments.cluster_id`` is set to the latest run's clusters; segments
with no visible mouse get no cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mousegpt import snapshot
from mousegpt.describe.model import UNCERTAIN_BELOW
from mousegpt.errors import InputError, WorkspaceError
from mousegpt.segments import FACT_COLUMNS, FACTS
from mousegpt.store import Workspace
from mousegpt.vocabulary import BEHAVIORS, ZONES

Progress = Callable[[str], None]

FEATURE_FACTS = tuple(
    c for c in FACT_COLUMNS if c not in ("zone", "visible_fraction", "wall_distance_mm", "body_length_mm")
)
"""Facts that describe what the body does (not where it is, nor how large the animal is)."""


@dataclass(frozen=True)
class DiscoverConfig:
    sample_size: int = 20_000
    """Segments the clustering is fitted on; the rest are assigned to its clusters."""
    facts_weight: float = 1.0
    """Weight of the facts block against the unit search vector."""
    novelty_weight: float = 1.0
    """Weight of the distance to the vocabulary (over its threshold) among the features."""
    pca_dim: int = 32
    umap_dim: int = 5
    umap_neighbors: int = 15
    min_cluster_fraction: float = 0.01
    """Smallest cluster, as a share of the sample (at least ``min_cluster_size`` segments)."""
    min_cluster_size: int = 12
    assign_neighbors: int = 10
    merge_share: float = 0.6
    split_share: float = 0.25
    """Share of a cluster's members unlike the vocabulary that splits them off (``split_unknown``)."""
    outlier_majority: float = 0.5
    """Share of outlying members that makes a cluster a novelty candidate."""
    vocabulary_quantile: float = 0.99
    """A segment further from the vocabulary's moments than this quantile of the vocabulary's
    own distances is an outlier (``VocabularyDistance``)."""
    reference: str | None = None
    """Folder with the vocabulary's facts (``behavior_facts.json``); default the shipped MouseGPT-tiny."""
    exemplars: int = 5
    seed: int = 0
    include_uncertain: bool = False
    """Cluster the segments whose behaviour the describer is uncertain of too (left out by default)."""


@dataclass
class Segments:
    """What discovery reads of the catalogue (visible segments only, in ``CANONICAL_ORDER``)."""

    table: pd.DataFrame
    """vec_id, segment_id, session_id, segment_index, start_s, end_s, behavior, condition, source, the facts."""
    keywords: pd.DataFrame
    """One row per keyword of a segment's description: ``row`` (of ``table``), ``keyword`` (categorical)."""
    where: str = "behavior IS NOT NULL"
    """The SQL condition on the segments table that chose them (``kept``)."""


def kept(include_uncertain: bool = False) -> str:
    """SQL condition on the segments table for the segments discovery reads: those with a mouse
    in view (the describer said something) and, unless ``include_uncertain``, a behaviour the
    describer is not uncertain of (``describe.model.UNCERTAIN_BELOW``; unknown confidence counts).
    """
    visible = "behavior IS NOT NULL"
    return (
        visible
        if include_uncertain
        else f"{visible} AND (confidence IS NULL OR confidence >= {UNCERTAIN_BELOW})"
    )


CANONICAL_ORDER = "s.session_id, s.segment_index"
"""The order discovery reads segments in. Session ids are content hashes, so the same videos
give the same rows in the same order however the workers that analysed them finished (vec_ids
follow commit order): the sample, the map and the clusters then depend on the data alone."""


def load(workspace: Workspace, include_uncertain: bool = False) -> Segments:
    """The segments' facts and keywords; their search vectors are read by ``features``."""
    where = kept(include_uncertain)
    with workspace.connect(read_only=True) as con:
        facts = ", ".join(f"s.{c}" for c in FACT_COLUMNS)
        table = (
            con.cursor()
            .sql(
                f"SELECT s.vec_id, s.segment_id, s.session_id, s.segment_index, s.start_s, s.end_s, s.behavior, ss.condition, "
                f"ss.source, {facts} FROM (SELECT * FROM segments WHERE {where}) s JOIN sessions ss USING (session_id) "
                f"ORDER BY {CANONICAL_ORDER}"
            )
            .to_arrow_table()
        )
        keywords = (
            con.cursor()
            .sql(
                f"SELECT row, unnest(keywords) AS keyword FROM (SELECT row_number() OVER (ORDER BY {CANONICAL_ORDER}) - 1 "
                f"AS row, keywords FROM segments s WHERE {where})"
            )
            .to_arrow_table()
        )
    if table.num_rows == 0:
        raise WorkspaceError(
            f"{workspace.root}: no segments to discover behaviours in; run `mousegpt analyze` first"
        )
    # Keywords as categories: millions of repeated words, each held once.
    keywords = keywords.set_column(1, "keyword", keywords.column("keyword").dictionary_encode())
    return Segments(table.to_pandas(), keywords.to_pandas(), where)


def fact_matrix(table: pd.DataFrame) -> np.ndarray:
    """The behaviour facts, robust-standardised (median 0, interquartile range 1.35 as a normal's),
    clipped to +-6; missing facts are 0 (the median).
    """
    values = table[list(FEATURE_FACTS)].to_numpy(np.float64, copy=True)
    # Head-yaw and turn directions: a left and a right turn are one behaviour here.
    values[:, FEATURE_FACTS.index("heading_change_deg")] = np.abs(
        values[:, FEATURE_FACTS.index("heading_change_deg")]
    )
    median = np.nanmedian(values, axis=0)
    q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
    scale = np.where((q75 - q25) > 1e-9, (q75 - q25) / 1.349, np.nanstd(values, axis=0))
    z = (values - median) / np.where(scale > 1e-9, scale, 1.0)
    return np.clip(np.nan_to_num(z, nan=0.0), -6, 6).astype(np.float32)


REFERENCE_FILE = "vocabulary_facts.parquet"
"""In a MouseGPT-tiny checkpoint: facts of labelled training segments, the vocabulary in
kinematic terms (``vocabulary_reference``)."""
REFERENCE_PER_BEHAVIOR = 5_000
"""Enough for every window of the default training data: the rarer mixtures (a run with a
brief jump inside) are unlike everything when only a sample of each behaviour is kept."""


def vocabulary_reference(facts: pd.DataFrame, labels: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """At most ``REFERENCE_PER_BEHAVIOR`` labelled segments per vocabulary behaviour: their
    ``FEATURE_FACTS`` and ``behavior``. Every window counts, bout boundaries included, so a
    moment that is half a walk and half a rear has its like here. Training writes one per pose
    source (column ``source``: ``video`` tracked by the built-in tracker, ``pose`` from pose files).
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels).astype(str)
    rows = []
    for behavior in BEHAVIORS:
        where = np.flatnonzero(labels == behavior)
        rows.extend(rng.choice(where, size=min(len(where), REFERENCE_PER_BEHAVIOR), replace=False).tolist())
    table = facts.iloc[np.sort(rows)][list(FEATURE_FACTS)].astype(np.float32).reset_index(drop=True)
    return table.assign(behavior=labels[np.sort(rows)])


def load_reference(folder: str | None = None) -> pd.DataFrame:
    """The vocabulary's facts from a MouseGPT-tiny checkpoint folder (default: the shipped one)."""
    from pathlib import Path

    from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS

    path = Path(folder or WEIGHTS / DEFAULT_MODEL) / REFERENCE_FILE
    if not path.exists():
        raise InputError(
            f"{path}: no vocabulary facts here (`mousegpt train` writes them beside the checkpoint)"
        )
    return pd.read_parquet(path)


def _behavior_facts(table: pd.DataFrame, names: tuple[str, ...] = FEATURE_FACTS) -> np.ndarray:
    values = table[list(names)].to_numpy(np.float64, copy=True)
    # A left and a right turn are one behaviour here.
    if "heading_change_deg" in names:
        values[:, names.index("heading_change_deg")] = np.abs(values[:, names.index("heading_change_deg")])
    return values


class VocabularyDistance:
    """How far a segment's facts are from the nearest moments of the vocabulary.

    Facts are robust-standardised by the reference (median; interquartile range as a normal's
    standard deviation, or the standard deviation for facts with few values), clipped at 10;
    the distance is the mean Euclidean distance to the ``k`` nearest reference segments over
    the square root of the number of facts (a root-mean-square z). ``threshold`` is the
    ``quantile`` of the reference's own distances (each without itself): beyond it a moment is
    unlike (almost) anything of the vocabulary. Only the ``FEATURE_FACTS`` the reference has
    are compared (a checkpoint trained before a fact existed lacks it).
    """

    def __init__(self, reference: pd.DataFrame, k: int = 5, quantile: float = 0.99):
        self.names = tuple(f for f in FEATURE_FACTS if f in reference)
        values = _behavior_facts(reference, self.names)
        self.centre = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
        spread = np.where(q75 - q25 > 0, (q75 - q25) / 1.349, np.nanstd(values, axis=0))
        self.scale = np.maximum(spread, 1e-6)
        self.k = k
        self.points = self._z(values)
        self.behaviors = reference["behavior"].to_numpy()
        own = self._distances(self.points, self.k + 1, skip_self=True)
        self.threshold = float(np.quantile(own, quantile))

    def _z(self, values: np.ndarray) -> np.ndarray:
        return np.nan_to_num(np.clip((values - self.centre) / self.scale, -10, 10), nan=0.0).astype(
            np.float32
        )

    def _distances(self, z: np.ndarray, k: int, skip_self: bool = False) -> np.ndarray:
        import faiss

        index = faiss.IndexFlatL2(z.shape[1])
        index.add(self.points)
        out = np.empty(len(z), np.float32)
        for start in range(0, len(z), 100_000):
            squared, _ = index.search(
                np.ascontiguousarray(z[start : start + 100_000]), min(k, len(self.points))
            )
            squared = squared[:, 1:] if skip_self else squared
            out[start : start + 100_000] = np.sqrt(np.maximum(squared, 0)).mean(axis=1) / np.sqrt(z.shape[1])
        return out

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        return self._distances(self._z(_behavior_facts(table, self.names)), self.k)


def pose_source(session_source: str | None) -> str:
    """Which part of the reference a session is measured against: ``video`` for the built-in
    tracker's poses, ``pose`` for an imported pose file (with or without its video).
    """
    return "video" if session_source == "video" else "pose"


def vocabulary_distance(
    table: pd.DataFrame, reference: pd.DataFrame, quantile: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's ``VocabularyDistance`` to the reference of its own pose source (``source``
    column of both; a reference without that source stands in with what it has), and that
    distance over the reference's threshold (beyond 1: unlike anything of the vocabulary).
    """
    distance = np.zeros(len(table), np.float32)
    ratio = np.zeros(len(table), np.float32)
    kinds = table["source"].map(pose_source).to_numpy() if "source" in table else np.full(len(table), "video")
    have = set(reference["source"]) if "source" in reference else set()
    for kind in np.unique(kinds):
        rows = np.flatnonzero(kinds == kind)
        part = reference[reference["source"] == kind] if kind in have else reference
        measure = VocabularyDistance(part, quantile=quantile)
        distance[rows] = measure(table.iloc[rows])
        ratio[rows] = distance[rows] / measure.threshold
    return distance, ratio


def features(
    workspace: Workspace,
    segments: Segments,
    z: np.ndarray,
    config: DiscoverConfig,
    novelty: np.ndarray | None = None,
    batch: int = 65_536,
) -> np.ndarray:
    """(segments, 384 + facts + 1) float32: each segment's search vector (unit length) beside its
    ``fact_matrix`` row (``z``) weighted by ``facts_weight`` over the square root of the number of facts,
    and its distance to the vocabulary over the threshold (``vocabulary_distance``, clipped at 3)
    weighted by ``novelty_weight``, so that moments the describer words alike but the vocabulary
    does not know (a tight circle called a turn) fall apart from those it knows.
    The vectors are streamed from the catalogue in batches into the matrix: a million of them
    are 1.5 GB, and no second copy is ever made.
    """
    facts = z * (config.facts_weight / np.sqrt(len(FEATURE_FACTS)))
    novelty = np.zeros(len(facts), np.float32) if novelty is None else novelty
    facts = np.hstack([facts, config.novelty_weight * np.clip(novelty, 0, 3)[:, None]])
    vec_ids = segments.table["vec_id"].to_numpy()
    by_vec_id = np.argsort(vec_ids)
    x = None
    with workspace.connect(read_only=True) as con:
        # No ORDER BY: sorting would hold every vector in DuckDB at once; rows find their place by vec_id.
        reader = (
            con.cursor()
            .sql(f"SELECT vec_id, embedding FROM segments WHERE {segments.where}")
            .fetch_arrow_reader(batch)
        )
        for chunk in reader:
            column = chunk.column(1)
            width = column.type.list_size
            if x is None:
                x = np.empty((len(vec_ids), width + facts.shape[1]), np.float32)
                x[:, width:] = facts
            rows = by_vec_id[np.searchsorted(vec_ids, chunk.column(0).to_numpy(), sorter=by_vec_id)]
            x[rows, :width] = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
    return x


# ---------------------------------------------------------------- vocabulary


def keyword_behaviors() -> dict[str, str]:
    """Each caption keyword -> the vocabulary behaviour whose captions use it (zones excluded)."""
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


# ---------------------------------------------------------------- clustering


def _nearest(reference: np.ndarray, queries: np.ndarray, k: int, batch: int = 65_536) -> np.ndarray:
    """Indices (queries, k) of the nearest reference rows (squared L2), with FAISS."""
    import faiss

    index = faiss.IndexFlatL2(reference.shape[1])
    index.add(np.ascontiguousarray(reference, np.float32))
    k = min(k, len(reference))
    out = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), batch):
        _, ids = index.search(np.ascontiguousarray(queries[start : start + batch], np.float32), k)
        out[start : start + batch] = ids
    return out


def _majority(labels: np.ndarray) -> np.ndarray:
    """Row-wise most common value of a (rows, k) array of non-negative ints (ties: the nearest first)."""
    n_labels = int(labels.max()) + 1
    counts = np.zeros((len(labels), n_labels), np.int32)
    rows = np.repeat(np.arange(len(labels)), labels.shape[1])
    np.add.at(counts, (rows, labels.ravel()), 1)
    # Break ties toward the nearest neighbour: it adds a half vote.
    counts = counts * 2
    counts[np.arange(len(labels)), labels[:, 0]] += 1
    return counts.argmax(axis=1)


@dataclass
class Fit:
    sample: np.ndarray
    """Row numbers of the sample."""
    labels: np.ndarray
    """Cluster of every segment (before merging)."""
    projected: np.ndarray
    """PCA features of every segment."""
    map_xy: np.ndarray
    """2-D map position of every segment."""
    outlier_score: np.ndarray
    """Isolation-forest score of every segment: below 0 is an outlier."""
    min_size: int
    """HDBSCAN's smallest cluster (in sample segments)."""
    timings: dict[str, float] = field(default_factory=dict)


def fit(x: np.ndarray, config: DiscoverConfig, progress: Progress | None = None) -> Fit:
    import umap
    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    say = progress or (lambda _: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 2)
        clock = now

    rng = np.random.default_rng(config.seed)
    n = len(x)
    sample = np.sort(rng.choice(n, size=min(n, config.sample_size), replace=False))
    say(f"fitting on {len(sample):,} of {n:,} segments")
    pca = PCA(n_components=min(config.pca_dim, x.shape[1], len(sample)), random_state=config.seed).fit(
        x[sample]
    )
    projected = np.empty((n, pca.n_components_), np.float32)
    for start in range(0, n, 200_000):
        projected[start : start + 200_000] = pca.transform(x[start : start + 200_000])
    lap("pca")
    neighbors = min(config.umap_neighbors, len(sample) - 1)
    say("UMAP")
    embedded = umap.UMAP(
        n_components=config.umap_dim, n_neighbors=neighbors, min_dist=0.0, random_state=config.seed, n_jobs=1
    ).fit_transform(projected[sample])
    map_sample = umap.UMAP(
        n_components=2, n_neighbors=neighbors, min_dist=0.1, random_state=config.seed, n_jobs=1
    ).fit_transform(projected[sample])
    lap("umap")
    say("HDBSCAN")
    min_size = max(config.min_cluster_size, int(round(config.min_cluster_fraction * len(sample))))
    sample_labels = HDBSCAN(
        min_cluster_size=min_size, min_samples=config.min_cluster_size, copy=True
    ).fit_predict(embedded)
    if (sample_labels < 0).all():
        sample_labels[:] = 0
    noise = sample_labels < 0
    if noise.any():
        clustered = np.flatnonzero(~noise)
        nearest = _nearest(projected[sample][clustered], projected[sample][noise], 1)[:, 0]
        sample_labels[noise] = sample_labels[clustered][nearest]
    lap("hdbscan")
    say("assigning every segment")
    labels = np.empty(n, np.int64)
    map_xy = np.empty((n, 2), np.float32)
    labels[sample], map_xy[sample] = sample_labels, map_sample
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    if len(rest):
        near = _nearest(projected[sample], projected[rest], config.assign_neighbors)
        labels[rest] = _majority(sample_labels[near])
        map_xy[rest] = map_sample[near].mean(axis=1)
    lap("assign")
    say("isolation forest")
    forest = IsolationForest(n_estimators=200, random_state=config.seed, n_jobs=1).fit(projected[sample])
    outlier_score = np.empty(n, np.float32)
    for start in range(0, n, 200_000):
        outlier_score[start : start + 200_000] = forest.decision_function(projected[start : start + 200_000])
    lap("isolation_forest")
    return Fit(sample, labels, projected, map_xy, outlier_score, min_size, timings)


# ---------------------------------------------------------------- clusters


def keyword_counts(keywords: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """(cluster, keyword) -> count over the cluster's descriptions (``Segments.keywords``)."""
    pairs = pd.DataFrame({"cluster": labels[keywords["row"].to_numpy()], "keyword": keywords["keyword"]})
    counts = pairs.groupby(["cluster", "keyword"], observed=True).size().rename("count").reset_index()
    return counts.astype({"keyword": str})


def keyword_behavior_shares(counts: pd.DataFrame) -> pd.DataFrame:
    """Per cluster: the share of its (non-zone) keywords that each vocabulary behaviour's captions use."""
    to_behavior = keyword_behaviors()
    c = counts[~counts["keyword"].isin(ZONES)].copy()
    c["behavior"] = c["keyword"].map(to_behavior)
    c = c.dropna(subset=["behavior"])
    shares = c.pivot_table(index="cluster", columns="behavior", values="count", aggfunc="sum", fill_value=0)
    return shares.div(shares.sum(axis=1).clip(lower=1), axis=0).reindex(
        columns=list(BEHAVIORS), fill_value=0.0
    )


def split_unknown(
    labels: np.ndarray, unlike: np.ndarray, min_size: int, config: DiscoverConfig
) -> np.ndarray:
    """A cluster part of whose members move unlike anything of the vocabulary (at least
    ``split_share`` of it) is two groups: the moments the vocabulary knows and those it does not
    (a tight circle clustered with the turns it is described like). When both parts hold at
    least ``min_size`` segments, the unknown part becomes a cluster of its own; returns the new labels.
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
    """The fact that sets a group of segments most apart (its median furthest from the
    workspace's, at least 1 in ``fact_matrix`` units) and which way: ("head_yaw_fast_deg", "high").
    """
    centre = np.median(z[members], axis=0)
    i = int(np.argmax(np.abs(centre)))
    return (FEATURE_FACTS[i], "high" if centre[i] > 0 else "low") if abs(centre[i]) >= 1.0 else None


def merge_clusters(
    labels: np.ndarray, shares: pd.DataFrame, outlying: pd.Series, z: np.ndarray, config: DiscoverConfig
) -> np.ndarray:
    """Clusters whose keywords name the same behaviour (share >= merge_share) and that are
    not outlier clusters become one; so do outlier clusters set apart by the same leading fact
    (``leading_fact``: one new behaviour that HDBSCAN split, such as circling left and right).
    Returns the new labels (0.. by size).
    """
    mapping = {}
    for cluster in np.unique(labels):
        row = shares.loc[cluster] if cluster in shares.index else None
        behavior = row.idxmax() if row is not None and row.max() >= config.merge_share else None
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


def distinctive_facts(table: pd.DataFrame, z: np.ndarray, members: np.ndarray, top: int = 2) -> list[str]:
    """The facts whose cluster median is furthest from the workspace's (``fact_matrix`` units),
    as words with the cluster's median value and unit: "high turning rate (171 deg/s)".
    """
    centre = np.median(z[members], axis=0)
    words = []
    for i in np.argsort(-np.abs(centre))[:top]:
        if abs(centre[i]) < 1.0:
            break
        name = FEATURE_FACTS[i]
        values = table[name].to_numpy(float)[members]
        value = float(np.nanmedian(np.abs(values) if name == "heading_change_deg" else values))
        unit = FACTS[name][0]
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
) -> list[dict]:
    """Per cluster: name, keywords, size, sizes per condition, outlier share, novelty, exemplars.

    A cluster is named for a vocabulary behaviour when most of its keywords are that
    behaviour's and most of its members move like some moment of the vocabulary (``unlike``:
    beyond ``VocabularyDistance.threshold``); otherwise it is "unlabelled", named from the facts
    that set it apart.
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
        row = shares.loc[cluster] if cluster in shares.index else pd.Series(0.0, index=list(BEHAVIORS))
        worded = str(row.idxmax()) if row.max() >= config.merge_share else None
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
            {
                "cluster_id": int(cluster),
                "name": name,
                "keywords": top,
                "size": int(len(members)),
                "behavior": behavior,
                "novel": novel,
                "outlier_fraction": round(outlier_share, 4),
                "size_by_condition": {str(k): int(v) for k, v in by_condition.items()},
                "exemplars": [str(s) for s in table["segment_id"].to_numpy()[nearest]],
            }
        )
    return clusters


def discover(
    workspace: Workspace, config: DiscoverConfig = DiscoverConfig(), progress: Progress | None = None
) -> dict:
    """Cluster every visible segment of the workspace, flag novel clusters, and store the run.

    Returns ``{"run_id", "segments", "seconds", "timings", "clusters": [...]}``.
    """
    if config.sample_size < 50:
        raise InputError(f"--sample-size must be at least 50, got {config.sample_size}")
    started = time.perf_counter()
    say = progress or (lambda _: None)
    say("reading segments")
    reference = load_reference(config.reference)  # before the long part: a missing file fails at once
    seg = load(workspace, config.include_uncertain)
    if len(seg.table) < 2 * config.min_cluster_size:
        raise WorkspaceError(
            f"{workspace.root}: only {len(seg.table)} visible segments; discovery needs at least "
            f"{2 * config.min_cluster_size}"
        )
    say("measuring the distance to the vocabulary")
    vocab_distance, novelty = vocabulary_distance(seg.table, reference, config.vocabulary_quantile)
    unlike = novelty > 1
    z = fact_matrix(seg.table)
    x = features(workspace, seg, z, config, novelty)
    before_fit = {
        "read_and_vocabulary": round(time.perf_counter() - started, 2)
    }  # reading, distances, features
    fitted = fit(x, config, progress)
    fitted.timings = before_fit | fitted.timings
    del x
    clock = time.perf_counter()
    outlier = (fitted.outlier_score < 0) | unlike
    say("merging and naming clusters")
    min_size = (
        fitted.min_size * len(seg.table) / len(fitted.sample)
    )  # as many as HDBSCAN's smallest cluster holds
    labels = split_unknown(fitted.labels, unlike, int(np.ceil(min_size)), config)
    shares = keyword_behavior_shares(keyword_counts(seg.keywords, labels))
    outlying = pd.Series(outlier).groupby(labels).mean()
    labels = merge_clusters(labels, shares, outlying, z, config)
    clusters = describe_clusters(seg, fitted, labels, z, unlike, outlier, config)
    fitted.timings["name"] = round(time.perf_counter() - clock, 2)
    say("writing the run to the catalogue")
    clock = time.perf_counter()
    warnings: list[str] = []
    run_id = store_run(workspace, seg, labels, fitted, vocab_distance, clusters, config, warnings)
    fitted.timings["store"] = round(time.perf_counter() - clock, 2)
    return {
        "run_id": run_id,
        "warnings": warnings,
        "segments": int(len(seg.table)),
        "sample": int(len(fitted.sample)),
        "seconds": round(time.perf_counter() - started, 1),
        "timings": fitted.timings,
        "clusters": clusters,
    }


def store_run(
    workspace: Workspace,
    seg: Segments,
    labels: np.ndarray,
    fitted: Fit,
    vocab_distance: np.ndarray,
    clusters: list[dict],
    config: DiscoverConfig,
    warnings: list[str] | None = None,
) -> int:
    """One transaction: the run, its clusters, every segment's assignment, and ``segments.cluster_id``;
    then the snapshot readers read is published (``Workspace.publish``, which adds to ``warnings``
    when that fails).
    """
    import duckdb
    import pyarrow as pa

    assignments = pa.table(
        {
            "segment_id": pa.array(seg.table["segment_id"].to_numpy()),
            "cluster_id": pa.array(labels.astype(np.int32)),
            "outlier_score": pa.array(fitted.outlier_score.astype(np.float64)),
            "vocabulary_distance": pa.array(vocab_distance.astype(np.float64)),
            "map_x": pa.array(fitted.map_xy[:, 0].astype(np.float64)),
            "map_y": pa.array(fitted.map_xy[:, 1].astype(np.float64)),
        }
    )
    with workspace.connect() as con:
        con.execute("BEGIN")
        try:
            run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM discovery_runs").fetchone()[0])
            con.execute(
                "INSERT INTO discovery_runs VALUES (?, now(), ?, ?, ?)",
                [run_id, len(seg.table), len(fitted.sample), json.dumps(asdict(config))],
            )
            for c in clusters:
                con.execute(
                    "INSERT INTO clusters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        run_id,
                        c["cluster_id"],
                        c["name"],
                        c["keywords"],
                        c["size"],
                        c["behavior"],
                        c["novel"],
                        c["outlier_fraction"],
                        json.dumps(c["size_by_condition"]),
                        c["exemplars"],
                    ],
                )
            con.register("assignments", assignments)
            con.execute("INSERT INTO segment_clusters SELECT ?, * FROM assignments", [run_id])
            con.execute("UPDATE segments SET cluster_id = NULL WHERE cluster_id IS NOT NULL")
            con.execute(
                "UPDATE segments SET cluster_id = a.cluster_id FROM assignments a WHERE segments.segment_id = a.segment_id"
            )
            con.unregister("assignments")
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WorkspaceError(
                f"{workspace.catalog_path}: cannot store the discovery run, nothing was changed "
                f"({str(exc).splitlines()[0]})"
            ) from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        workspace.publish(con, changed=snapshot.DISCOVERY, warnings=warnings)
    return run_id


def latest_clusters(workspace: Workspace, run_id: int | None = None) -> dict:
    """``{"run_id", "clusters": [...]}`` of a stored run (the latest by default)."""
    with workspace.reader() as con:
        if run_id is None:
            run_id = con.execute("SELECT max(run_id) FROM discovery_runs").fetchone()[0]
        if run_id is None:
            raise WorkspaceError(f"{workspace.root}: no discovery run yet; run `mousegpt discover`")
        cursor = con.execute("SELECT * FROM clusters WHERE run_id = ? ORDER BY cluster_id", [run_id])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    return {
        "run_id": int(run_id),
        "clusters": [
            {
                "cluster_id": r["cluster_id"],
                "name": r["name"],
                "keywords": list(r["keywords"]),
                "size": r["size"],
                "behavior": r["behavior"],
                "novel": r["novel"],
                "outlier_fraction": r["outlier_fraction"],
                "size_by_condition": json.loads(r["size_by_condition"]),
                "exemplars": list(r["exemplars"]),
            }
            for r in rows
        ],
    }


def write_map(workspace: Workspace, run_id: int, folder) -> list:
    """``behaviour_map.png`` and ``behaviour_map.html`` of a run in ``folder``."""
    from pathlib import Path

    from mousegpt import plots

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clusters = latest_clusters(workspace, run_id)["clusters"]
    with workspace.reader() as con:
        points = con.execute(
            "SELECT a.segment_id, a.cluster_id, a.map_x, a.map_y, s.behavior, s.overall FROM segment_clusters a "
            "JOIN segments s USING (segment_id) WHERE a.run_id = ? USING SAMPLE 20000 ROWS",
            [run_id],
        ).fetchdf()
    return plots.behaviour_map(points, clusters, folder / "behaviour_map.png", folder / "behaviour_map.html")
