"""The search index kept in step with the catalogue, which is its source of truth.

The index (``index.VectorIndex``) holds every segment's search vector under its ``vec_id``.
After a commit the writer appends the new vectors, or builds the index anew when it no longer
matches the catalogue (sessions were replaced) or has outgrown its kind; a reader that finds
no index, or one cut short, builds it in memory from the catalogue.
"""

from __future__ import annotations

import logging
import tempfile

import duckdb
import numpy as np

from mousegpt.embed import DIM
from mousegpt.index import VectorIndex
from mousegpt.storage import Storage

log = logging.getLogger(__name__)


def matrix(column) -> np.ndarray:
    """An Arrow column of fixed-size float lists as an (n, DIM) float32 array."""
    values = column.combine_chunks().values.to_numpy(zero_copy_only=False)
    return values.reshape(-1, DIM).astype(np.float32, copy=False)


def sync(
    con: duckdb.DuckDBPyConnection, store: Storage, name: str, save: bool = True, gpu: bool = False
) -> tuple[VectorIndex, int]:
    """The FAISS index brought up to date with the catalogue: new vectors appended, or
    built anew when it does not match (sessions were replaced) or has outgrown its kind
    (``VectorIndex.outgrown``); and how many of its vectors it held before (0 when built
    anew). Only the writer (``save``) writes it back.
    """
    n_segments = con.execute("SELECT count(*) FROM segments").fetchone()[0]
    index = read(store, name) if store.exists(name) else None
    if index is not None and index.size > n_segments:
        index = None  # more vectors than segments: not this catalogue's index
    if index is not None and index.size > 0:
        # The index must hold exactly the catalogue's first vectors: compare its last id.
        expected = con.execute(
            "SELECT vec_id FROM segments ORDER BY vec_id LIMIT 1 OFFSET ?", [index.size - 1]
        ).fetchone()
        if expected is None or expected[0] != index.last_id():
            index = None
    current = index is not None and index.size == n_segments
    kept = index.size if index is not None else 0
    if not current:
        if index is None or index.outgrown(n_segments):
            index, kept = VectorIndex.untrained(DIM, n_segments), 0
            if index.lists:
                size = int(index.training_size(n_segments))  # an int: DuckDB takes only a literal here
                sample = (
                    con.cursor()
                    .sql(f"SELECT embedding FROM segments USING SAMPLE reservoir({size} ROWS) REPEATABLE (0)")
                    .to_arrow_table()
                )
                index.train(matrix(sample.column("embedding")))
        for ids, batch in vectors(con, index.size):
            index.add(ids, batch)
    if save and not current:
        write(store, name, index)
    return (VectorIndex(index.index, gpu=gpu) if gpu else index), kept


def vectors(con: duckdb.DuckDBPyConnection, offset: int, batch: int = 100_000):
    """(vec_ids, embeddings (n, DIM) float32) from the ``offset``-th vector on, in vec_id
    order, ``batch`` vectors at a time: a million vectors are never all in memory twice.
    """
    start = con.execute("SELECT vec_id FROM segments ORDER BY vec_id LIMIT 1 OFFSET ?", [offset]).fetchone()
    if start is None:
        return
    low, high = start[0], con.execute("SELECT max(vec_id) FROM segments").fetchone()[0]
    while low <= high:  # vec_ids grow with the rows' order, so a range reads few row groups
        table = (
            con.cursor()
            .sql(
                "SELECT vec_id, embedding FROM segments WHERE vec_id >= ? AND vec_id < ? ORDER BY vec_id",
                params=[low, low + batch],
            )
            .to_arrow_table()
        )
        if table.num_rows:
            yield table.column("vec_id").to_numpy(), matrix(table.column("embedding"))
        low += batch


def read(store: Storage, name: str) -> VectorIndex | None:
    """The index file ``name``; None when it cannot be read (cut short, corrupt): it is then
    rebuilt from the catalogue, which is the source of truth.
    """
    try:
        if store.is_local:
            return VectorIndex.load(store.path(name))
        return VectorIndex.from_bytes(store.read_bytes(name))
    except RuntimeError as exc:  # faiss's reader: "read error in ...", "Index type ... not recognized"
        log.warning(
            f"{store.uri(name)}: unreadable search index, rebuilt from the catalogue "
            f"({str(exc).splitlines()[0]})"
        )
        return None


def write(store: Storage, name: str, index: VectorIndex) -> None:
    """Write the index file ``name`` whole: a reader sees the old file or the new one."""
    if store.is_local:
        store.write_with(name, index.write)  # written to a temporary file, renamed into place
    else:
        with tempfile.TemporaryDirectory(prefix="mousegpt-index-") as tmp:
            index.write(f"{tmp}/index.faiss")
            store.put_file(f"{tmp}/index.faiss", name)
