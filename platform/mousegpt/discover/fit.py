"""The clustering: PCA, UMAP and HDBSCAN fitted on a sample, every other segment assigned by its
nearest sample neighbours, and an isolation forest's outlier scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mousegpt.discover.config import DiscoverConfig, StageNotice
from mousegpt.discover.neighbours import majority_of_neighbours, nearest_neighbours


@dataclass
class Fit:
    """What ``fit`` found, per segment in the feature matrix's row order.

    Attributes
    ----------
    sample : numpy.ndarray
        Row numbers of the sample, ascending.
    labels : numpy.ndarray
        (segments,) int64 cluster of every segment, before splitting and merging (HDBSCAN's noise
        joins its nearest clustered neighbour's cluster, so none is -1).
    projected : numpy.ndarray
        (segments, PCA dimensions) float32 PCA features of every segment.
    map_xy : numpy.ndarray
        (segments, 2) float32 position of every segment on the behaviour map (2-D UMAP of the
        sample; other segments at the mean of their nearest sample neighbours').
    outlier_score : numpy.ndarray
        (segments,) float32 isolation-forest score of every segment: below 0 is an outlier.
    min_size : int
        HDBSCAN's smallest cluster, in sample segments.
    timings : dict of str to float
        Seconds each stage took, in order.
    """

    sample: np.ndarray
    labels: np.ndarray
    projected: np.ndarray
    map_xy: np.ndarray
    outlier_score: np.ndarray
    min_size: int
    timings: dict[str, float] = field(default_factory=dict)


def fit(x: np.ndarray, config: DiscoverConfig, progress: StageNotice | None = None) -> Fit:
    """Cluster the features: fit on a sample, assign the rest.

    PCA to ``pca_dim`` dimensions (fitted on the sample, applied to every segment), UMAP of the
    sample to ``umap_dim`` dimensions and to 2 for the map, HDBSCAN on the former (noise points
    join the cluster of their nearest clustered neighbour in PCA space; all noise makes one
    cluster). Every other segment takes the majority cluster of its ``assign_neighbors`` nearest
    sample neighbours in PCA space and the mean of their map positions. An isolation forest
    fitted on the sample scores every segment.

    Parameters
    ----------
    x : numpy.ndarray
        (segments, features) float32 (``features``); no NaN (PCA refuses it).
    config : DiscoverConfig
        The sample, dimensions, neighbours, cluster sizes and seed.
    progress : StageNotice or None
        Told each stage's name.

    Returns
    -------
    Fit
    """
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
        _, nearest = nearest_neighbours(projected[sample][clustered], projected[sample][noise], 1)
        sample_labels[noise] = sample_labels[clustered][nearest[:, 0]]
    lap("hdbscan")
    say("assigning every segment")
    labels = np.empty(n, np.int64)
    map_xy = np.empty((n, 2), np.float32)
    labels[sample], map_xy[sample] = sample_labels, map_sample
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    if len(rest):
        _, near = nearest_neighbours(projected[sample], projected[rest], config.assign_neighbors)
        labels[rest] = majority_of_neighbours(sample_labels[near])
        map_xy[rest] = map_sample[near].mean(axis=1)
    lap("assign")
    say("isolation forest")
    forest = IsolationForest(n_estimators=200, random_state=config.seed, n_jobs=1).fit(projected[sample])
    outlier_score = np.empty(n, np.float32)
    for start in range(0, n, 200_000):
        outlier_score[start : start + 200_000] = forest.decision_function(projected[start : start + 200_000])
    lap("isolation_forest")
    return Fit(sample, labels, projected, map_xy, outlier_score, min_size, timings)
