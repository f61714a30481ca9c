"""The vector index of segment embeddings: FAISS, inner product (cosine on unit vectors).

Vectors are keyed by the catalogue's ``vec_id``. Below ``APPROXIMATE_FROM`` vectors the search
is exact (a flat scan); from there on it is an inverted-file index (IVF: the vectors are
grouped around ``lists_for(n)`` centroids, and a query scans the ``NPROBE`` nearest groups)
whose vectors are stored as 8-bit scalar codes (SQ8: 384 bytes a vector, a quarter of float32,
so a million fit in 0.4 GB and a query scans a quarter of the bytes), trained at commit and
retrained as the catalogue outgrows it. Readers hold it in memory: faiss's memory-mapped
inverted lists made a query 3 to 7 times slower (measured at 100k).

The index file is written whole (a temporary name renamed, or one PUT); the catalogue is the
source of truth, and a missing or stale index is rebuilt from it.
"""

from __future__ import annotations

import math
from pathlib import Path

import faiss
import numpy as np

APPROXIMATE_FROM = 50_000
"""Vectors from which the index is approximate: below it a flat scan takes a few milliseconds."""
NPROBE = 24
"""Inverted lists a query scans (of ``lists_for(n)``): recall@10 against exact search stays
at or above 0.95 at 100k and 1M segments (``benchmarks/search_scale.py``)."""
TRAIN_PER_LIST = 40
"""Training vectors per inverted list (k-means needs a few dozen per centroid)."""


def lists_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: about sqrt(n) (1,000 at a million), at least 64."""
    return max(64, int(round(math.sqrt(n))))


def _gpu_copy(index: faiss.Index) -> faiss.Index | None:
    """A GPU copy of the index when faiss has GPU support (the ``gpu`` extra) and a GPU is present."""
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return None


class VectorIndex:
    """Segment embeddings under their catalogue ``vec_id``: an exact or IVF-SQ8 faiss index.

    Parameters
    ----------
    index
        A faiss ``IndexIDMap2`` over an inner-product index.
    gpu
        Also keep a GPU copy for unfiltered searches, when faiss has GPU support and a GPU
        is present (ignored otherwise).
    """

    def __init__(self, index: faiss.Index, gpu: bool = False):
        self.index = index
        self.gpu_index = _gpu_copy(index) if gpu else None

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        """An empty exact (flat inner-product) index of ``dim``-dimensional vectors."""
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def untrained(cls, dim: int, n: int) -> VectorIndex:
        """An empty index for about ``n`` vectors: exact below ``APPROXIMATE_FROM``, else an IVF
        with ``lists_for(n)`` lists, to ``train`` before anything is added.
        """
        if n < APPROXIMATE_FROM:
            return cls.empty(dim)
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim),
            dim,
            lists_for(n),
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
        )
        ivf.nprobe = NPROBE
        return cls(faiss.IndexIDMap2(ivf))

    def training_size(self, n: int) -> int:
        """Vectors to train on: ``TRAIN_PER_LIST`` per list, at most all ``n``."""
        return min(n, TRAIN_PER_LIST * (self.lists or 0))

    def train(self, sample: np.ndarray) -> None:
        """Place the IVF's centroids (k-means over ``sample``, a random sample of the vectors)
        and the scalar quantiser's ranges.
        """
        self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, seed: int = 0) -> VectorIndex:
        """An index of ``vectors`` (n, dim) float32 under ``ids``, trained on a random sample of them."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = cls.untrained(vectors.shape[1], len(vectors))
        if index.lists:
            sample = np.random.default_rng(seed).choice(
                len(vectors), index.training_size(len(vectors)), replace=False
            )
            index.train(vectors[np.sort(sample)])
        index.add(ids, vectors)
        return index

    @classmethod
    def load(cls, path: str | Path, gpu: bool = False) -> VectorIndex:
        """Read an index file into memory; with ``gpu``, also keep a GPU copy for unfiltered searches."""
        return cls(faiss.read_index(str(path)), gpu=gpu)

    @property
    def lists(self) -> int | None:
        """The IVF's inverted lists; None for an exact index."""
        inner = faiss.downcast_index(self.index.index)
        return int(inner.nlist) if isinstance(inner, faiss.IndexIVF) else None

    def outgrown(self, n: int) -> bool:
        """Whether an index for ``n`` vectors should be built anew rather than appended to: an
        exact one that has reached ``APPROXIMATE_FROM``, or an IVF with under half the lists
        that ``n`` vectors call for.
        """
        if self.lists is None:
            return n >= APPROXIMATE_FROM
        return self.lists < lists_for(n) / 2

    def write(self, path: str) -> None:
        """Write the index to the file ``path`` (the CPU index; any GPU copy is not written)."""
        faiss.write_index(self.index, path)

    @classmethod
    def from_bytes(cls, data: bytes, gpu: bool = False) -> VectorIndex:
        """An index from ``to_bytes``'s bytes (as kept in a workspace's storage)."""
        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), gpu=gpu)

    def to_bytes(self) -> bytes:
        """The index serialised, as ``from_bytes`` reads it back."""
        return faiss.serialize_index(self.index).tobytes()

    @property
    def size(self) -> int:
        """The number of vectors in the index."""
        return int(self.index.ntotal)

    def last_id(self) -> int:
        """The id of the most recently added vector."""
        return int(faiss.vector_to_array(self.index.id_map)[-1])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Append ``vectors`` (n, dim), cast to float32, under ``ids`` (n,) int64; an IVF index
        must be trained first.
        """
        self.index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )

    @staticmethod
    def selector(allowed_ids: np.ndarray) -> faiss.IDSelector:
        """A filter for ``search``; build it once for many queries (half a million ids take tens of ms)."""
        return faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed_ids=None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) for one query vector, optionally only among ``allowed_ids``
        (ids, or a ``selector`` of them).
        """
        if self.size == 0 or k <= 0:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        params = None
        if allowed_ids is not None:
            if not isinstance(allowed_ids, faiss.IDSelector) and len(allowed_ids) == 0:
                return np.empty(0, np.float32), np.empty(0, np.int64)
            selector = (
                allowed_ids if isinstance(allowed_ids, faiss.IDSelector) else self.selector(allowed_ids)
            )
            params = (
                faiss.SearchParametersIVF(sel=selector, nprobe=NPROBE)
                if self.lists
                else faiss.SearchParameters(sel=selector)
            )
        # ID selectors are CPU-only in faiss: filtered searches stay on the CPU copy.
        searcher = self.gpu_index if (self.gpu_index is not None and params is None) else self.index
        scores, ids = searcher.search(
            np.asarray(query, dtype=np.float32).reshape(1, -1), min(k, self.size), params=params
        )
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]
