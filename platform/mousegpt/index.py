"""The vector index of segment embeddings: FAISS, exact inner product (cosine on unit vectors).

Vectors are keyed by the catalogue's ``vec_id``. The index file is written to a temporary
name and renamed, so a crash never leaves a half-written index; the catalogue is the source
of truth, and a missing or stale index is rebuilt from it.
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


def _gpu_copy(index: faiss.Index) -> faiss.Index | None:
    """A GPU copy of the index when faiss has GPU support (the ``gpu`` extra) and a GPU is present."""
    if hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        return faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    return None


class VectorIndex:
    def __init__(self, index: faiss.Index, gpu: bool = False):
        self.index = index
        self.gpu_index = _gpu_copy(index) if gpu else None

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def load(cls, path: Path, gpu: bool = False) -> VectorIndex:
        """Read an index file; with ``gpu``, also keep a GPU copy for unfiltered searches."""
        return cls(faiss.read_index(str(path)), gpu=gpu)

    @classmethod
    def from_bytes(cls, data: bytes, gpu: bool = False) -> VectorIndex:
        """An index from ``to_bytes``'s bytes (as kept in a workspace's storage)."""
        return cls(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), gpu=gpu)

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self.index).tobytes()

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def last_id(self) -> int:
        """The id of the most recently added vector."""
        return int(faiss.vector_to_array(self.index.id_map)[-1])

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(self.index, str(tmp))
        tmp.replace(path)

    def search(self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, ids) for one query vector, optionally only among ``allowed_ids``."""
        if self.size == 0 or k <= 0:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        params = None
        if allowed_ids is not None:
            if len(allowed_ids) == 0:
                return np.empty(0, np.float32), np.empty(0, np.int64)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64)))
        # ID selectors are CPU-only in faiss: filtered searches stay on the CPU copy.
        searcher = self.gpu_index if (self.gpu_index is not None and params is None) else self.index
        scores, ids = searcher.search(np.asarray(query, dtype=np.float32).reshape(1, -1), min(k, self.size), params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]
