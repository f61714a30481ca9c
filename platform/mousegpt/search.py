"""Natural-language search over segment descriptions, and segment listings.

A query is embedded with the same text model as the descriptions and matched by cosine
similarity in the FAISS index; ``condition`` restricts the search to that condition's
sessions (an unknown condition gives no hits, not an error).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING

from mousegpt.describe.model import is_uncertain
from mousegpt.embed import TextEmbedder
from mousegpt.index import VectorIndex
from mousegpt.snapshot import Snapshot
from mousegpt.store import Workspace

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

_ROW_SQL = """
SELECT s.segment_id, s.vec_id, s.session_id, ss.video, ss.pose, ss.animal, ss.condition, s.start_s, s.end_s,
       s.behavior, s.probs, s.confidence, s.overall, s.head, s.limbs, s.torso, s.keywords, s.cluster_id
FROM segments s JOIN sessions ss USING (session_id)
"""


HIT_COLUMNS = (
    "segment_id",
    "vec_id",
    "session_id",
    "start_s",
    "end_s",
    "behavior",
    "confidence",
    "overall",
    "head",
    "limbs",
    "torso",
    "keywords",
)
"""What a hit shows of its segment (with its session's ``snapshot.SESSION_COLUMNS``)."""


def _row_to_segment(row: dict) -> dict:
    return {
        "segment_id": row["segment_id"],
        "session_id": row["session_id"],
        "video": row["video"],
        "pose": row["pose"],
        "animal": row["animal"],
        "condition": row["condition"],
        "start_s": float(row["start_s"]),
        "end_s": float(row["end_s"]),
        "behavior": row["behavior"],
        "description": {
            "overall": row["overall"],
            "head": row["head"],
            "limbs": row["limbs"],
            "torso": row["torso"],
            "keywords": [] if row["keywords"] is None else list(row["keywords"]),
        },
        "probs": json.loads(row["probs"]) if row["probs"] else {},
        "confidence": None
        if row["confidence"] is None or row["confidence"] != row["confidence"]
        else float(row["confidence"]),
        "uncertain": is_uncertain(row["confidence"]),
        "cluster_id": None
        if row["cluster_id"] is None or row["cluster_id"] != row["cluster_id"]
        else int(row["cluster_id"]),
    }


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

    def search(self, query: str, k: int = 10, condition: str | None = None, distinct: bool = True) -> dict:
        """``{"query", "hits": [...]}``; each hit is a segment row with its ``score``.

        Segments overlap (1.0 s windows every 0.5 s), so one bout matches several times; with
        ``distinct`` a segment overlapping a better hit of the same session is left out, and
        the k hits are k different moments.
        """
        return self.search_many([(query, k, condition)], distinct)[0]

    def search_many(self, queries: list[tuple[str, int, str | None]], distinct: bool = True) -> list[dict]:
        """``search`` of each ``(query, k, condition)``, their texts embedded in one batch and
        answered from one snapshot (Serve gathers concurrent requests so).
        """
        snapshot = self.current()
        vectors = self.embedder([query for query, _, _ in queries])
        return [
            self._answer(snapshot, query, vector, k, condition, distinct)
            for (query, k, condition), vector in zip(queries, vectors)
        ]

    @staticmethod
    def _answer(
        snapshot: Snapshot, query: str, vector, k: int, condition: str | None, distinct: bool
    ) -> dict:
        allowed = None
        if condition is not None:
            allowed = snapshot.selector(condition)
            if allowed is None:
                return {"query": query, "hits": []}
        # Overlapping neighbours of a hit take at most 2 more places each; fetch enough
        # candidates that k distinct moments remain.
        scores, ids = snapshot.index.search(vector, 4 * k if distinct else k, allowed_ids=allowed)
        hits = []
        for score, row in zip(scores, snapshot.take(ids, HIT_COLUMNS)):
            if distinct and any(
                h["session_id"] == row["session_id"]
                and h["start_s"] < row["end_s"]
                and row["start_s"] < h["end_s"]
                for h in hits
            ):
                continue
            hit = _row_to_segment(row | {"probs": None, "cluster_id": None})
            hit["score"] = round(float(score), 4)
            hit.pop("probs")
            hit.pop("cluster_id")
            hits.append(hit)
            if len(hits) == k:
                break
        return {"query": query, "hits": hits}


def flat_segments(rows: list[dict]) -> pd.DataFrame:
    """Segments (``list_segments``) as one flat table, for CSV and Parquet: the description's
    fields as columns, keywords joined by ``;``, and a ``p_<behaviour>`` column per probability.
    """
    import pandas as pd

    return pd.DataFrame(
        [
            {k: v for k, v in r.items() if k not in ("description", "probs")}
            | r["description"]
            | {"keywords": ";".join(r["description"]["keywords"])}
            | {f"p_{b}": p for b, p in r["probs"].items()}
            for r in rows
        ]
    )


def list_segments(workspace: Workspace, session: str | None = None) -> list[dict]:
    """All segments (optionally of one session), in session and time order."""
    with workspace.reader() as con:
        where = " WHERE s.session_id = ?" if session else ""
        rows = con.execute(
            _ROW_SQL + where + " ORDER BY s.session_id, s.segment_index", [session] if session else []
        ).fetchdf()
    return [_row_to_segment(r) for r in rows.to_dict("records")]
