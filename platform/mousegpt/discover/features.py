"""What discovery clusters: the segments read from the catalogue, their kinematic facts
robust-standardised, and the feature matrix (search vector, facts, distance to the vocabulary).
"""

from __future__ import annotations

from dataclasses import dataclass

import attrs
import numpy as np
import pandas as pd

from mousegpt.describe.model import UNCERTAIN_BELOW
from mousegpt.discover.config import DiscoverConfig
from mousegpt.errors import WorkspaceError
from mousegpt.segments import FACT_COLUMNS
from mousegpt.store import Workspace

FEATURE_FACTS = tuple(
    c for c in FACT_COLUMNS if c not in ("zone", "visible_fraction", "wall_distance_mm", "body_length_mm")
)
"""Facts that describe what the body does (not where it is, nor how large the animal is)."""

CANONICAL_ORDER = "s.session_id, s.segment_index"
"""The order discovery reads segments in. Session ids are content hashes, so the same videos
give the same rows in the same order however the workers that analysed them finished (vec_ids
follow commit order): the sample, the map and the clusters then depend on the data alone."""


@dataclass
class Segments:
    """What discovery reads of the catalogue (visible segments only, in ``CANONICAL_ORDER``).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per segment: vec_id, segment_id, session_id, segment_index, start_s, end_s (s),
        behavior, condition, source, and every fact of ``FACT_COLUMNS`` in its unit (NaN where a
        fact could not be measured).
    keywords : pandas.DataFrame
        One row per keyword of a segment's description: ``row`` (of ``table``) and ``keyword``
        (categorical).
    where : str
        The SQL condition on the segments table that chose them (``kept``).
    """

    table: pd.DataFrame
    keywords: pd.DataFrame
    where: str = "behavior IS NOT NULL"


def kept(include_uncertain: bool = False) -> str:
    """The SQL condition on the segments table for the segments discovery reads.

    Parameters
    ----------
    include_uncertain : bool
        Keep the segments whose behaviour the describer is uncertain of too.

    Returns
    -------
    str
        Those with a mouse in view (the describer said something) and, unless
        ``include_uncertain``, a behaviour the describer is not uncertain of
        (``describe.model.UNCERTAIN_BELOW``; an unknown confidence, NULL, counts as certain).
    """
    visible = "behavior IS NOT NULL"
    return (
        visible
        if include_uncertain
        else f"{visible} AND (confidence IS NULL OR confidence >= {UNCERTAIN_BELOW})"
    )


def load(workspace: Workspace, include_uncertain: bool = False) -> Segments:
    """The segments' facts and keywords; their search vectors are read by ``features``.

    Parameters
    ----------
    workspace : Workspace
        The workspace whose catalogue is read.
    include_uncertain : bool
        Keep the segments whose behaviour the describer is uncertain of too (``kept``).

    Returns
    -------
    Segments
        In ``CANONICAL_ORDER``; keywords as categories (millions of repeated words, each held once).

    Raises
    ------
    WorkspaceError
        When no segment is kept.
    """
    where = kept(include_uncertain)
    with workspace.connect(read_only=True) as con:
        facts = ", ".join(f"s.{c}" for c in FACT_COLUMNS)
        table = (
            con.cursor()
            .sql(
                "SELECT s.vec_id, s.segment_id, s.session_id, s.segment_index, s.start_s, s.end_s, "
                f"s.behavior, ss.condition, ss.source, {facts} FROM (SELECT * FROM segments WHERE {where}) s "
                f"JOIN sessions ss USING (session_id) ORDER BY {CANONICAL_ORDER}"
            )
            .to_arrow_table()
        )
        keywords = (
            con.cursor()
            .sql(
                "SELECT row, unnest(keywords) AS keyword FROM (SELECT row_number() OVER "
                f"(ORDER BY {CANONICAL_ORDER}) - 1 AS row, keywords FROM segments s WHERE {where})"
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


def behavior_facts(table: pd.DataFrame, names: tuple[str, ...] = FEATURE_FACTS) -> np.ndarray:
    """The facts ``names`` of every row of ``table``, with a left and a right turn made one.

    Parameters
    ----------
    table : pandas.DataFrame
        Holds a column per name of ``names``, in the fact's unit (``records.FACTS``).
    names : tuple of str
        The facts to take, in order.

    Returns
    -------
    numpy.ndarray
        (rows, facts) float64, a copy; ``heading_change_deg`` as its absolute value (deg).
        NaN (a fact that could not be measured) stays NaN.
    """
    values = table[list(names)].to_numpy(np.float64, copy=True)
    # A left and a right turn are one behaviour here.
    if "heading_change_deg" in names:
        values[:, names.index("heading_change_deg")] = np.abs(values[:, names.index("heading_change_deg")])
    return values


@attrs.frozen(eq=False)
class RobustStandardiser:
    """Robust standardisation: the median to 0 and a robust spread to 1, column by column.

    The spread is the interquartile range over 1.349 (a normal's standard deviation) or, for a
    column whose interquartile range is at most ``min_iqr`` (a fact with few distinct values),
    its standard deviation; a spread at most ``min_spread`` is replaced by ``small_spread``.
    Fitted once (``fit``), it standardises any rows alike (``__call__``).

    Attributes
    ----------
    centre : numpy.ndarray
        Per column median, in the column's unit (NaN for a column with no values).
    scale : numpy.ndarray
        Per column spread, in the column's unit.
    """

    centre: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(
        cls, values: np.ndarray, min_iqr: float, min_spread: float, small_spread: float
    ) -> RobustStandardiser:
        """The standardiser of ``values``.

        Parameters
        ----------
        values : numpy.ndarray
            (rows, columns) float; NaN is left out of every statistic.
        min_iqr : float
            An interquartile range at most this falls back to the standard deviation.
        min_spread : float
            A spread at most this is replaced by ``small_spread``.
        small_spread : float
            The spread of such a column: 1 leaves its differences from the median as they are,
            a tiny one makes any difference from a constant column extreme.

        Returns
        -------
        RobustStandardiser
        """
        centre = np.nanmedian(values, axis=0)
        q75, q25 = np.nanpercentile(values, [75, 25], axis=0)
        spread = np.where(q75 - q25 > min_iqr, (q75 - q25) / 1.349, np.nanstd(values, axis=0))
        return cls(centre, np.where(spread > min_spread, spread, small_spread))

    def __call__(self, values: np.ndarray, clip: float) -> np.ndarray:
        """Robust z-scores of ``values``.

        Parameters
        ----------
        values : numpy.ndarray
            (rows, columns) float, in the units of the values fitted on.
        clip : float
            Bound of the z-scores.

        Returns
        -------
        numpy.ndarray
            (rows, columns) float32, clipped to +-``clip``; NaN is 0 (the centre).
        """
        z = (values - self.centre) / self.scale
        return np.clip(np.nan_to_num(z, nan=0.0), -clip, clip).astype(np.float32)


def fact_matrix(table: pd.DataFrame) -> np.ndarray:
    """The behaviour facts of the segments, robust-standardised over them.

    Parameters
    ----------
    table : pandas.DataFrame
        The segments (``Segments.table``), with every fact of ``FEATURE_FACTS``.

    Returns
    -------
    numpy.ndarray
        (segments, ``FEATURE_FACTS``) float32, unitless: each fact's median 0 and its
        interquartile range 1.349 as a normal's (``RobustStandardiser``), clipped to +-6; a
        missing fact (NaN) is 0, the median. ``heading_change_deg`` is taken as its absolute value.
    """
    values = behavior_facts(table)
    standardise = RobustStandardiser.fit(values, min_iqr=1e-9, min_spread=1e-9, small_spread=1.0)
    return standardise(values, clip=6)


def features(
    workspace: Workspace,
    segments: Segments,
    z: np.ndarray,
    config: DiscoverConfig,
    novelty: np.ndarray | None = None,
    batch: int = 65_536,
) -> np.ndarray:
    """The feature matrix discovery clusters: search vector, weighted facts, weighted novelty.

    The vectors are streamed from the catalogue in batches into the matrix: a million of them
    are 1.5 GB, and no second copy is ever made.

    Parameters
    ----------
    workspace : Workspace
        The workspace the segments were read from.
    segments : Segments
        The segments (``load``).
    z : numpy.ndarray
        Their ``fact_matrix``.
    config : DiscoverConfig
        ``facts_weight`` and ``novelty_weight`` are read.
    novelty : numpy.ndarray or None
        Each segment's distance to the vocabulary over its threshold (``vocabulary_distance``;
        beyond 1 unlike the vocabulary); None counts as 0 everywhere.
    batch : int
        Vectors read from the catalogue at a time.

    Returns
    -------
    numpy.ndarray
        (segments, 384 + facts + 1) float32: each segment's search vector (unit length), its
        ``z`` row times ``facts_weight`` over the square root of the number of facts, and its
        novelty clipped to 0-3 times ``novelty_weight``, so that moments the describer words
        alike but the vocabulary does not know (a tight circle called a turn) fall apart from
        those it knows.
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
