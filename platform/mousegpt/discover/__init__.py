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
with no visible mouse get no cluster. Clusters travel as ``records.Cluster``; a run as
``DiscoveryRun`` (``discover``) or ``ClusterRun`` (``latest_clusters``).

The modules, in the order a run uses them:

- ``config``: ``DiscoverConfig``, the settings;
- ``features``: the segments read, their facts robust-standardised, the feature matrix;
- ``neighbours``: FAISS nearest neighbours and the majority vote of their labels;
- ``reference``: the vocabulary's facts and the distance to them (``VocabularyDistance``);
- ``fit``: PCA, UMAP, HDBSCAN on a sample, the rest assigned, the isolation forest;
- ``naming``: keywords to behaviours, the split and the merge, naming the clusters;
- ``runs``: ``discover`` itself, storing a run and reading it back.
"""

from mousegpt.discover.config import DiscoverConfig, StageNotice
from mousegpt.discover.features import (
    CANONICAL_ORDER,
    FEATURE_FACTS,
    RobustStandardiser,
    Segments,
    behavior_facts,
    fact_matrix,
    features,
    kept,
    load,
)
from mousegpt.discover.fit import Fit, fit
from mousegpt.discover.naming import (
    FACT_WORDS,
    describe_clusters,
    distinctive_facts,
    keyword_behavior_shares,
    keyword_behaviors,
    keyword_counts,
    leading_fact,
    merge_clusters,
    split_unknown,
    worded_behavior,
)
from mousegpt.discover.neighbours import majority_of_neighbours, nearest_neighbours
from mousegpt.discover.reference import (
    REFERENCE_FILE,
    REFERENCE_PER_BEHAVIOR,
    VocabularyDistance,
    load_reference,
    pose_source,
    vocabulary_distance,
    vocabulary_reference,
)
from mousegpt.discover.runs import ClusterRun, DiscoveryRun, discover, latest_clusters, store_run, write_map

__all__ = [
    "CANONICAL_ORDER",
    "FACT_WORDS",
    "FEATURE_FACTS",
    "REFERENCE_FILE",
    "REFERENCE_PER_BEHAVIOR",
    "ClusterRun",
    "DiscoverConfig",
    "DiscoveryRun",
    "Fit",
    "StageNotice",
    "RobustStandardiser",
    "Segments",
    "VocabularyDistance",
    "behavior_facts",
    "describe_clusters",
    "discover",
    "distinctive_facts",
    "fact_matrix",
    "features",
    "fit",
    "keyword_behavior_shares",
    "keyword_behaviors",
    "keyword_counts",
    "kept",
    "latest_clusters",
    "leading_fact",
    "load",
    "load_reference",
    "majority_of_neighbours",
    "merge_clusters",
    "nearest_neighbours",
    "pose_source",
    "split_unknown",
    "store_run",
    "vocabulary_distance",
    "vocabulary_reference",
    "worded_behavior",
    "write_map",
]
