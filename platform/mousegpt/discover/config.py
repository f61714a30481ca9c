"""The settings of a discovery run (``DiscoverConfig``) and its progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

StageNotice = Callable[[str], None]
"""Told the name of each stage as discovery reaches it ("UMAP", "HDBSCAN", ...)."""


@dataclass(frozen=True)
class DiscoverConfig:
    """The settings of one discovery run; each run stores them as JSON (``discovery_runs.config``).

    The defaults were tuned on the synthetic world (seeds 100-103 and 300-307 of
    ``benchmarks/discovery_quality.py``, which scores them on other seeds).

    Attributes
    ----------
    sample_size : int
        Segments the clustering is fitted on (PCA, UMAP, HDBSCAN, the isolation forest), at least
        50; every other segment is assigned to its clusters by its nearest sample neighbours.
        Default 20,000: a behaviour filling 1% of the data is still sampled 200 times, and UMAP
        and HDBSCAN take the same time for any workspace larger than the sample.
    facts_weight : float
        Weight, at least 0, of the kinematic facts (``fact_matrix``, divided by the square root
        of their number) beside the unit-length search vector. Default 1: the facts as a whole
        count about as much as the description and motion embedding; 0 leaves them out.
    novelty_weight : float
        Weight, at least 0, of the distance to the vocabulary over its threshold (clipped at 3;
        beyond 1 is unlike anything of the vocabulary) among the features. Default 1: a moment at
        the threshold is set apart about as much as the facts as a whole can set it, enough that
        a moment worded like a known behaviour but moving unlike it (a tight circle called a
        turn) falls apart from that behaviour.
    pca_dim : int
        Dimensions PCA keeps of the features (about 400: 384 of the search vector, the facts,
        the novelty) before UMAP, the neighbour search and the isolation forest; at most the
        number of features and of sampled segments. Default 32: most of the features' variance,
        at a twelfth of the dimensions to search and embed.
    umap_dim : int
        Dimensions of the UMAP embedding that HDBSCAN clusters (the map is a separate 2-D UMAP).
        Default 5: more than the map's two, so clusters that overlap in 2-D stay apart, and few
        enough for HDBSCAN's density estimates.
    umap_neighbors : int
        UMAP's ``n_neighbors`` for both embeddings (at most the sample size less one). Default 15,
        UMAP's own: local structure, so small behaviours keep their own neighbourhoods.
    min_cluster_fraction : float
        Smallest cluster, as a share of the sample, 0 to 1; HDBSCAN's ``min_cluster_size`` is
        this share of the sample or ``min_cluster_size``, whichever is larger. Default 0.01: 200
        segments (about 100 s of 1-s windows half a second apart) of a 20,000 sample.
    min_cluster_size : int
        Smallest cluster in sampled segments, and HDBSCAN's ``min_samples``. Default 12: a few
        seconds of behaviour (12 windows half a second apart), so a small workspace still has
        clusters.
    assign_neighbors : int
        Nearest sample neighbours (Euclidean, in PCA space) of a segment outside the sample: it
        takes their most common cluster (ties go to the nearest) and the mean of their map
        positions. Default 10: a vote that one stray neighbour cannot swing.
    merge_share : float
        Share, 0 to 1 (above 0), of a cluster's vocabulary keywords that must belong to one
        behaviour for the cluster to be worded as that behaviour (``worded_behavior``): clusters
        worded alike merge (``merge_clusters``) and a cluster is named for its behaviour
        (``describe_clusters``). Default 0.6: a clear majority, since neighbouring behaviours
        (a walk and a run) share some words.
    split_share : float
        Share of a cluster's members, 0 to 1, that must move unlike the vocabulary for them to
        be split off as a cluster of their own (``split_unknown``), and for an outlier cluster to
        be flagged novel. Default 0.25: a new behaviour hidden in a known one is usually a
        minority of it.
    outlier_majority : float
        Share of a cluster's members, 0 to 1, that must be outliers for it to be an outlier
        cluster (kept apart when merging, and a novelty candidate); a cluster this share of whose
        members move unlike the vocabulary is not named for a behaviour. Default 0.5: most of it.
    vocabulary_quantile : float
        Quantile, 0 to 1, of the vocabulary's own distances to its nearest moments beyond which a
        segment is unlike the vocabulary (``VocabularyDistance.threshold``). Default 0.99: only
        1% of the vocabulary's own moments lie that far.
    reference : str or None
        Folder holding the vocabulary's facts (``vocabulary_facts.parquet``, written by
        ``mousegpt train`` beside its checkpoint). Default None: the shipped MouseGPT-tiny.
    exemplars : int
        Exemplars per cluster: the members nearest its centre in PCA space. Default 5.
    seed : int
        Random seed of the sample, UMAP, PCA and the isolation forest: the same data and seed
        give the same run. Default 0.
    include_uncertain : bool
        Cluster the segments whose behaviour the describer is uncertain of too (calibrated
        confidence below ``describe.model.UNCERTAIN_BELOW``). Default False: they are left out.
    """

    sample_size: int = 20_000
    facts_weight: float = 1.0
    novelty_weight: float = 1.0
    pca_dim: int = 32
    umap_dim: int = 5
    umap_neighbors: int = 15
    min_cluster_fraction: float = 0.01
    min_cluster_size: int = 12
    assign_neighbors: int = 10
    merge_share: float = 0.6
    split_share: float = 0.25
    outlier_majority: float = 0.5
    vocabulary_quantile: float = 0.99
    reference: str | None = None
    exemplars: int = 5
    seed: int = 0
    include_uncertain: bool = False
