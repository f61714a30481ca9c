"""Nearest neighbours with FAISS, and the majority vote of neighbours' labels."""

from __future__ import annotations

import numpy as np


def nearest_neighbours(
    reference: np.ndarray, queries: np.ndarray, k: int, batch: int = 65_536
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest reference rows of each query row (exact Euclidean search, FAISS).

    The queries are searched ``batch`` at a time, so memory stays at the reference and the
    answers: a million queries need no more than a batch's worth of FAISS working space.

    Parameters
    ----------
    reference : numpy.ndarray
        (rows, dims) float; searched as float32. No NaN (FAISS would rank it arbitrarily).
    queries : numpy.ndarray
        (queries, dims) float, in the reference's units; no NaN.
    k : int
        Neighbours per query; at most the reference's rows are returned.
    batch : int
        Queries searched at a time. The answers do not depend on it but for floating-point
        rounding, so a caller keeps its own to repeat its runs exactly.

    Returns
    -------
    squared : numpy.ndarray
        (queries, min(k, reference rows)) float32 squared distances, nearest first.
    ids : numpy.ndarray
        (queries, min(k, reference rows)) int64 reference rows, nearest first.
    """
    import faiss

    index = faiss.IndexFlatL2(reference.shape[1])
    index.add(np.ascontiguousarray(reference, np.float32))
    k = min(k, len(reference))
    squared = np.empty((len(queries), k), np.float32)
    ids = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), batch):
        squared[start : start + batch], ids[start : start + batch] = index.search(
            np.ascontiguousarray(queries[start : start + batch], np.float32), k
        )
    return squared, ids


def majority_of_neighbours(labels: np.ndarray) -> np.ndarray:
    """Each row's most common label, ties going to the nearest neighbour's.

    Parameters
    ----------
    labels : numpy.ndarray
        (rows, k) non-negative ints: the labels of each row's ``k`` nearest neighbours, nearest
        first (``nearest_neighbours``'s ``ids`` looked up in the labels).

    Returns
    -------
    numpy.ndarray
        (rows,) int64: the label most of a row's neighbours have; among labels equally common,
        the nearest neighbour's when it is one of them, else the smallest.
    """
    n_labels = int(labels.max()) + 1
    counts = np.zeros((len(labels), n_labels), np.int32)
    rows = np.repeat(np.arange(len(labels)), labels.shape[1])
    np.add.at(counts, (rows, labels.ravel()), 1)
    # Break ties toward the nearest neighbour: it adds a half vote.
    counts = counts * 2
    counts[np.arange(len(labels)), labels[:, 0]] += 1
    return counts.argmax(axis=1)
