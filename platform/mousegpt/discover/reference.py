"""The vocabulary in kinematic terms: the facts of the describer's labelled training moments,
and how far a segment's facts are from the nearest of them (``VocabularyDistance``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mousegpt.discover.features import FEATURE_FACTS, RobustStandardiser, behavior_facts
from mousegpt.discover.neighbours import nearest_neighbours
from mousegpt.errors import InputError
from mousegpt.vocabulary import BEHAVIORS

REFERENCE_FILE = "vocabulary_facts.parquet"
"""In a MouseGPT-tiny checkpoint: facts of labelled training segments, the vocabulary in
kinematic terms (``vocabulary_reference``)."""
REFERENCE_PER_BEHAVIOR = 5_000
"""Enough for every window of the default training data: the rarer mixtures (a run with a
brief jump inside) are unlike everything when only a sample of each behaviour is kept."""


def vocabulary_reference(facts: pd.DataFrame, labels: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """The vocabulary's reference facts: labelled segments, at most ``REFERENCE_PER_BEHAVIOR`` per behaviour.

    Every window counts, bout boundaries included, so a moment that is half a walk and half a
    rear has its like here. Training writes one per pose source (column ``source``: ``video``
    tracked by the built-in tracker, ``pose`` from pose files).

    Parameters
    ----------
    facts : pandas.DataFrame
        One row per labelled segment, with every fact of ``FEATURE_FACTS`` in its unit.
    labels : numpy.ndarray
        (rows,) each segment's behaviour; those outside ``vocabulary.BEHAVIORS`` are left out.
    seed : int
        Random seed of the choice among a behaviour's segments when it has more than the limit.

    Returns
    -------
    pandas.DataFrame
        The chosen rows in their order: the ``FEATURE_FACTS`` as float32 (NaN kept) and ``behavior``.
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
    """The vocabulary's facts from a MouseGPT-tiny checkpoint folder.

    Parameters
    ----------
    folder : str or None
        The checkpoint folder; None for the shipped one.

    Returns
    -------
    pandas.DataFrame
        ``vocabulary_reference``'s table (with ``source`` where training wrote one per pose source).

    Raises
    ------
    InputError
        When the folder holds no ``REFERENCE_FILE``.
    """
    from pathlib import Path

    from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS

    path = Path(folder or WEIGHTS / DEFAULT_MODEL) / REFERENCE_FILE
    if not path.exists():
        raise InputError(
            f"{path}: no vocabulary facts here (`mousegpt train` writes them beside the checkpoint)"
        )
    return pd.read_parquet(path)


class VocabularyDistance:
    """How far a segment's facts are from the nearest moments of the vocabulary.

    Facts are robust-standardised by the reference (``RobustStandardiser``: median; the
    interquartile range as a normal's standard deviation, or the standard deviation for facts
    with few values), clipped at 10; the distance is the mean Euclidean distance to the ``k``
    nearest reference segments over the square root of the number of facts (a root-mean-square
    z). ``threshold`` is the ``quantile`` of the reference's own distances (each without
    itself): beyond it a moment is unlike (almost) anything of the vocabulary. Only the
    ``FEATURE_FACTS`` the reference has are compared (a checkpoint trained before a fact
    existed lacks it).

    Parameters
    ----------
    reference : pandas.DataFrame
        The vocabulary's facts (``vocabulary_reference``), with ``behavior``.
    k : int
        Nearest reference segments averaged over.
    quantile : float
        Quantile, 0 to 1, of the reference's own distances that is the ``threshold``.

    Attributes
    ----------
    names : tuple of str
        The facts compared.
    standardise : RobustStandardiser
        Fitted on the reference.
    points : numpy.ndarray
        (reference rows, facts) float32: the reference standardised.
    behaviors : numpy.ndarray
        Each reference row's behaviour.
    threshold : float
        Distance (root-mean-square z, unitless) beyond which a moment is unlike the vocabulary.
    """

    def __init__(self, reference: pd.DataFrame, k: int = 5, quantile: float = 0.99):
        self.names = tuple(f for f in FEATURE_FACTS if f in reference)
        values = behavior_facts(reference, self.names)
        self.standardise = RobustStandardiser.fit(values, min_iqr=0.0, min_spread=1e-6, small_spread=1e-6)
        self.k = k
        self.points = self.standardise(values, clip=10)
        self.behaviors = reference["behavior"].to_numpy()
        own = self._distances(self.points, self.k + 1, skip_self=True)
        self.threshold = float(np.quantile(own, quantile))

    def _distances(self, z: np.ndarray, k: int, skip_self: bool = False) -> np.ndarray:
        squared, _ = nearest_neighbours(self.points, z, k, batch=100_000)
        squared = squared[:, 1:] if skip_self else squared
        return (np.sqrt(np.maximum(squared, 0)).mean(axis=1) / np.sqrt(z.shape[1])).astype(np.float32)

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        """(rows,) float32 distance of each row of ``table`` (its facts; NaN as the reference's median)."""
        return self._distances(self.standardise(behavior_facts(table, self.names), clip=10), self.k)


def pose_source(session_source: str | None) -> str:
    """Which part of the reference a session is measured against.

    Parameters
    ----------
    session_source : str or None
        The session's ``source`` (``records.Session``).

    Returns
    -------
    str
        ``video`` for the built-in tracker's poses, ``pose`` for an imported pose file (with or
        without its video, and for an unknown source).
    """
    return "video" if session_source == "video" else "pose"


def vocabulary_distance(
    table: pd.DataFrame, reference: pd.DataFrame, quantile: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each segment's ``VocabularyDistance`` to the reference of its own pose source.

    Parameters
    ----------
    table : pandas.DataFrame
        The segments, with their facts (NaN counts as the reference's median) and ``source``
        (without it, all count as ``video``).
    reference : pandas.DataFrame
        The vocabulary's facts (``load_reference``), with ``source``; a reference without a
        segment's source (or without the column) stands in with what it has.
    quantile : float
        ``VocabularyDistance``'s quantile, 0 to 1.

    Returns
    -------
    distance : numpy.ndarray
        (segments,) float32 root-mean-square z to the nearest vocabulary moments.
    ratio : numpy.ndarray
        (segments,) float32 that distance over the reference's threshold: beyond 1, unlike
        anything of the vocabulary.
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
