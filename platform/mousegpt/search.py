"""Natural-language search over segment descriptions, and segment listings.

A query is embedded with the same text model as the descriptions and matched by cosine
similarity in the FAISS index; ``condition`` restricts the search to that condition's
sessions (an unknown condition gives no hits, not an error).
"""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd

from mousegpt.describe.model import is_uncertain
from mousegpt.embed import TextEmbedder
from mousegpt.index import VectorIndex
from mousegpt.records import HIT_COLUMNS, Hit, ListedSegment
from mousegpt.snapshot import Snapshot
from mousegpt.store import Workspace

log = logging.getLogger(__name__)

_ROW_SQL = """
SELECT s.segment_id, s.vec_id, s.session_id, ss.video, ss.pose, ss.animal, ss.condition, s.start_s, s.end_s,
       s.behavior, s.probs, s.confidence, s.overall, s.head, s.limbs, s.torso, s.keywords, s.cluster_id
FROM segments s JOIN sessions ss USING (session_id)
"""


class Searcher:
    """Holds the text model and the committed snapshot (``mousegpt.snapshot``), for many queries
    (CLI, Serve replica, dashboard). A query never opens the catalogue: it is answered from the
    snapshot, taken anew when a newer one is published.

    With ``background`` (a Serve replica), a newer snapshot is loaded on a thread of its own
    while queries are still answered from the one held: a commit never holds a query up for
    the time it takes to read the new index (tenths of a second at a million segments).
    """

    REFRESH_EVERY_S = 0.25
    """With ``background``: how often, at most, a newer snapshot is looked for."""

    def __init__(
        self,
        workspace: Workspace,
        embedder: TextEmbedder | None = None,
        gpu: bool = False,
        background: bool = False,
    ):
        self.workspace = workspace
        self.embedder = embedder or TextEmbedder()
        self.gpu = gpu
        self.background = background
        self._snapshot: Snapshot | None = None
        self._refresh: threading.Thread | None = None
        self._looked = 0.0

    def current(self) -> Snapshot:
        """The newest committed snapshot (the one held, while no newer one is published; with
        ``background``, until the newer one is loaded).
        """
        if self._snapshot is None or not self.background:
            self._update()
        elif time.monotonic() - self._looked >= self.REFRESH_EVERY_S and not (
            self._refresh and self._refresh.is_alive()
        ):
            self._looked = time.monotonic()
            self._refresh = threading.Thread(target=self._update, name="snapshot-refresh", daemon=True)
            self._refresh.start()
        return self._snapshot

    def _update(self) -> None:
        try:
            latest = self.workspace.snapshot(self._snapshot)
        except Exception:
            if self._snapshot is None or not self.background:
                raise
            log.warning("cannot take up the newer snapshot; still answering from the one held", exc_info=True)
            return
        if latest is not self._snapshot and self.gpu:
            latest.index = VectorIndex(latest.index.index, gpu=True)
        self._snapshot = latest  # one assignment: a query sees the old snapshot or the new, whole

    def search(
        self, query: str, k: int = 10, condition: str | None = None, distinct: bool = True
    ) -> list[Hit]:
        """The ``k`` segments most like ``query``, best first.

        Segments overlap (1.0 s windows every 0.5 s), so one bout matches several times; with
        ``distinct`` a segment overlapping a better hit of the same session is left out, and
        the k hits are k different moments. An unknown ``condition`` gives no hits.
        """
        return self.search_many([(query, k, condition)], distinct)[0]

    def search_many(
        self, queries: list[tuple[str, int, str | None]], distinct: bool = True
    ) -> list[list[Hit]]:
        """``search`` of each ``(query, k, condition)``, their texts embedded in one batch and
        answered from one snapshot (Serve gathers concurrent requests so).
        """
        snapshot = self.current()
        vectors = self.embedder([query for query, _, _ in queries])
        return [
            self._answer(snapshot, vector, k, condition, distinct)
            for (_, k, condition), vector in zip(queries, vectors)
        ]

    @staticmethod
    def _answer(snapshot: Snapshot, vector, k: int, condition: str | None, distinct: bool) -> list[Hit]:
        allowed = None
        if condition is not None:
            allowed = snapshot.selector(condition)
            if allowed is None:
                return []
        # Overlapping neighbours of a hit take at most 2 more places each; fetch enough
        # candidates that k distinct moments remain.
        scores, ids = snapshot.index.search(vector, 4 * k if distinct else k, allowed_ids=allowed)
        hits: list[Hit] = []
        for score, row in zip(scores, snapshot.take(ids, HIT_COLUMNS)):
            if distinct and any(
                h.session_id == row["session_id"] and h.start_s < row["end_s"] and row["start_s"] < h.end_s
                for h in hits
            ):
                continue
            hits.append(Hit.from_row(row, score, is_uncertain(row["confidence"])))
            if len(hits) == k:
                break
        return hits


def hits_document(query: str, hits: list[Hit]) -> dict:
    """``{"query", "hits": [...]}``: the design's JSON answer to a search (CLI and Serve)."""
    return {"query": query, "hits": [h.to_dict() for h in hits]}


def flat_segments(rows: list[ListedSegment]) -> pd.DataFrame:
    """Segments (``list_segments``) as one flat table, for CSV and Parquet: the description's
    fields as columns, keywords joined by ``;``, and a ``p_<behaviour>`` column per probability.
    """
    return pd.DataFrame(
        [
            {k: v for k, v in r.to_dict().items() if k not in ("description", "probs")}
            | r.description
            | {"keywords": ";".join(r.description["keywords"])}
            | {f"p_{b}": p for b, p in r.probs.items()}
            for r in rows
        ]
    )


def list_segments(
    workspace: Workspace, session: str | None = None, segment_ids: list[str] | None = None
) -> list[ListedSegment]:
    """Segments in session and time order: all of them, one ``session``'s, or those of
    ``segment_ids`` (in the order given; an unknown id is left out).
    """
    clauses, params = [], []
    if session:
        clauses.append("s.session_id = ?")
        params.append(session)
    if segment_ids is not None:
        clauses.append("s.segment_id IN (SELECT unnest(?))")
        params.append(list(segment_ids))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    with workspace.reader() as con:
        rows = con.execute(_ROW_SQL + where + " ORDER BY s.session_id, s.segment_index", params).fetchdf()
    listed = [ListedSegment.from_row(r, is_uncertain(r["confidence"])) for r in rows.to_dict("records")]
    if segment_ids is None:
        return listed
    found = {r.segment_id: r for r in listed}
    return [found[i] for i in segment_ids if i in found]
