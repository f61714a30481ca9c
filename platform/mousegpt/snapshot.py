"""What search reads: a committed snapshot of the catalogue, never the catalogue itself.

DuckDB lets one process hold its file, so a reader kept open (a Serve replica, the dashboard)
would lock the committing writer out, and opening it per query costs ~20 ms at a million
segments. So the writer, after each COMMIT, leaves beside the vector index what a hit shows:

- ``index/segments-{catalog}.faiss``: the index (``VectorIndex``);
- ``index/rows-{catalog}-{first:012d}.arrow``: one Arrow IPC file per commit, the rows of the
  segments it added (``ROW_COLUMNS``, in vec_id order); earlier commits' files are kept;
- ``index/current-{catalog}.json``: the snapshot (segment count, index, row files), written
  last and whole: readers see the previous snapshot or this one, never a mixture.

A reader memory-maps the index and the row files, answers a query with work that grows with
k (hits taken by position, a filter's selector built once per condition), and checks for a
newer snapshot by the manifest's change time (a local file) or at most every
``REMOTE_CHECK_S`` (an object store).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import duckdb
import faiss
import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from mousegpt.index import VectorIndex
from mousegpt.storage import Storage

ROW_COLUMNS = ("segment_id", "vec_id", "session_id", "video", "pose", "animal", "condition", "start_s", "end_s",
               "behavior", "confidence", "overall", "head", "limbs", "torso", "keywords")
"""What a hit shows (``search.Searcher``): fixed once committed (clusters, which change, are not here)."""
REMOTE_CHECK_S = 2.0
"""How often a reader of an object store asks for a newer snapshot."""

_ROWS_SQL = f"""
SELECT {', '.join(f's.{c}' if c not in ('video', 'pose', 'animal', 'condition') else f'ss.{c}' for c in ROW_COLUMNS)}
FROM segments s JOIN sessions ss USING (session_id)
ORDER BY s.vec_id OFFSET ?
"""


def manifest_name(catalog_id: str) -> str:
    return f"index/current-{catalog_id}.json"


def rows_since(con: duckdb.DuckDBPyConnection, offset: int) -> pa.Table:
    """The rows a hit shows, of every segment from the ``offset``-th (vec_id order) on."""
    return con.cursor().sql(_ROWS_SQL, params=[offset]).to_arrow_table()


def _write_rows(store: Storage, name: str, reader: pa.RecordBatchReader) -> None:
    """Stream ``reader``'s batches into an Arrow IPC file ``name``, written whole."""
    def write(path: str) -> None:
        with ipc.new_file(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)

    if store.is_local:
        store.write_with(name, write)
    else:
        with tempfile.TemporaryDirectory(prefix="mousegpt-rows-") as tmp:
            write(f"{tmp}/rows.arrow")
            store.put_file(f"{tmp}/rows.arrow", name)


def read_manifest(store: Storage, catalog_id: str) -> dict | None:
    name = manifest_name(catalog_id)
    return json.loads(store.read_bytes(name)) if store.exists(name) else None


def write(store: Storage, catalog_id: str, con: duckdb.DuckDBPyConnection, index_name: str, segments: int,
          previous: dict | None) -> None:
    """Publish the snapshot of a just-committed catalogue of ``segments`` segments whose index
    is already written as ``index_name``: the rows the last snapshot (``previous``, its
    manifest) lacks, then the manifest."""
    rows = list(previous["rows"]) if previous and previous.get("index") == index_name else []
    covered = previous["segments"] if rows else 0
    if covered > segments:  # a catalogue rebuilt in place under the same id: start over
        rows, covered = [], 0
    if segments > covered:
        name = f"index/rows-{catalog_id}-{covered:012d}.arrow"
        _write_rows(store, name, con.cursor().sql(_ROWS_SQL, params=[covered]).to_arrow_reader(50_000))
        rows.append(name)
    manifest = {"segments": segments, "index": index_name, "rows": rows, "written_at": time.time()}
    store.write_bytes(manifest_name(catalog_id), json.dumps(manifest).encode())


@dataclass
class Snapshot:
    """One committed state of the catalogue, as search reads it."""

    index: VectorIndex
    rows: pa.Table
    """``ROW_COLUMNS``, one row per indexed vector, in vec_id order."""
    stamp: object = None
    """What the manifest looked like when read (its change time, or its text)."""
    checked: float = 0.0
    """When a newer snapshot was last looked for (``time.monotonic``)."""
    vec_ids: np.ndarray = field(init=False)
    _batches: list = field(init=False)
    _starts: np.ndarray = field(init=False)
    _selectors: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.vec_ids = self.rows.column("vec_id").to_numpy()
        # Rows are taken batch by batch: a take over the whole (chunked) table would first
        # join its chunks, a copy of every row per query.
        self._batches = self.rows.to_batches()
        self._starts = np.cumsum([0] + [b.num_rows for b in self._batches])

    @property
    def segments(self) -> int:
        return self.rows.num_rows

    def take(self, ids: np.ndarray) -> list[dict]:
        """The rows of the vectors ``ids``, in that order."""
        positions = np.searchsorted(self.vec_ids, np.asarray(ids, dtype=np.int64))
        batch_of = np.searchsorted(self._starts, positions, side="right") - 1
        out: list[dict | None] = [None] * len(positions)
        for b in np.unique(batch_of):
            at = np.flatnonzero(batch_of == b)
            rows = self._batches[b].take(pa.array(positions[at] - self._starts[b])).to_pylist()
            for i, row in zip(at, rows):
                out[i] = row
        return out

    def selector(self, condition: str):
        """The ids of one condition's segments, as a search filter; built once per snapshot
        and condition. None when no segment has that condition."""
        if condition not in self._selectors:
            mask = np.asarray(self.rows.column("condition").to_numpy(zero_copy_only=False) == condition)
            ids = self.vec_ids[mask]
            if not len(ids):
                self._selectors[condition] = None
            else:
                # A bitmap over vec_ids (1 bit each: 125 kB per million), built in milliseconds
                # where a hash set of half a million ids takes tens.
                bits = np.zeros(int(self.vec_ids[-1]) + 1, bool)
                bits[ids] = True
                bitmap = np.packbits(bits, bitorder="little")
                self._selectors[condition] = (faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bitmap)), bitmap)
        found = self._selectors[condition]
        return None if found is None else found[0]  # (the bitmap is kept with it: faiss only points at it)


def _read_rows(store: Storage, name: str) -> pa.Table:
    if store.is_local:
        return ipc.open_file(pa.memory_map(store.path(name))).read_all()  # mapped: pages read as touched
    return ipc.open_file(pa.BufferReader(store.read_bytes(name))).read_all()


def stamp(store: Storage, catalog_id: str):
    """A cheap token that changes when a new snapshot is published (None when there is none)."""
    name = manifest_name(catalog_id)
    if store.is_local:
        try:
            return os.stat(store.path(name)).st_mtime_ns
        except FileNotFoundError:
            return None
    return store.read_bytes(name) if store.exists(name) else None


def load(store: Storage, catalog_id: str, read_index) -> Snapshot | None:
    """The published snapshot, or None when there is none (or it is incomplete);
    ``read_index(name)`` opens the index file."""
    token = stamp(store, catalog_id)
    manifest = read_manifest(store, catalog_id)
    if manifest is None:
        return None
    try:
        tables = [_read_rows(store, name) for name in manifest["rows"]]
        index = read_index(manifest["index"])
    except (FileNotFoundError, OSError, pa.ArrowInvalid):  # a file gone or cut short: not a snapshot
        return None
    rows = pa.concat_tables(tables) if tables else None
    if index is None or rows is None or rows.num_rows != manifest["segments"] or index.size != manifest["segments"]:
        return None
    return Snapshot(index, rows, stamp=token)
