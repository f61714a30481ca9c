"""What readers read: a committed snapshot of the catalogue, never the catalogue itself.

DuckDB lets one process hold its file, and a writer waits for every reader to let go. So the
writer, after each COMMIT, publishes beside the vector index what readers need (search, the
dashboard, profiles, Serve's health), and readers never open ``catalog.duckdb``:

- ``index/segments-{catalog}.faiss``: the vector index (``VectorIndex``);
- ``index/segments-{catalog}-{version:06d}.arrow``: one Arrow IPC file per commit, the
  segments it added, every column but the embedding (which the index holds) and the cluster
  (which discovery changes), in vec_id order; earlier commits' files are kept;
- ``index/{table}-{catalog}-{version:06d}.parquet``: the small tables (``TABLES``: sessions,
  jobs, discovery runs and assignments), rewritten when they change (sessions and jobs at
  every commit); the files of the snapshot before the last are removed;
- ``index/current-{catalog}.json``: the manifest naming them, written last and whole: readers
  see the previous snapshot or this one, never a mixture.

A reader holds the index in memory and maps the segment files, answers a query with work that grows
with k (hits taken by position, a filter's selector built once per condition), checks for a
newer snapshot by the manifest's change time (a local file) or at most every
``REMOTE_CHECK_S`` (an object store), and asks SQL of it through ``connection`` (an in-memory
DuckDB whose views have the catalogue's table names).
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
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from mousegpt.index import VectorIndex
from mousegpt.records import SESSION_LABELS
from mousegpt.storage import Storage

FORMAT = 2
"""The manifest's layout; a manifest of another one is not read (the next commit rewrites it)."""
TABLES = ("sessions", "jobs", "discovery_runs", "clusters", "segment_clusters")
"""The catalogue's tables other than segments, published whole."""
DISCOVERY = ("discovery_runs", "clusters", "segment_clusters")
"""The tables only ``mousegpt discover`` changes (other commits carry their files forward)."""
REMOTE_CHECK_S = 2.0
"""How often a reader of an object store asks for a newer snapshot."""

_SEGMENTS_SQL = "SELECT * EXCLUDE (embedding, cluster_id) FROM segments ORDER BY vec_id OFFSET ?"
_CLUSTER_SQL = (
    "\n"
    "CREATE VIEW segments AS\n"
    "SELECT r.*, a.cluster_id FROM segment_rows r LEFT JOIN (\n"
    "    SELECT segment_id, cluster_id FROM segment_clusters "
    "WHERE run_id = (SELECT max(run_id) FROM discovery_runs)\n"
    ") a USING (segment_id)\n"
)
"""Segments as the catalogue holds them: with the latest discovery run's cluster
(``discover.store_run`` sets ``segments.cluster_id`` so)."""


def manifest_name(catalog_id: str) -> str:
    """The storage name of the manifest of catalogue ``catalog_id``'s published snapshot."""
    return f"index/current-{catalog_id}.json"


def _write_arrow(store: Storage, name: str, reader: pa.RecordBatchReader) -> None:
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
    """The published manifest, or None when there is none (or it has another ``FORMAT``)."""
    name = manifest_name(catalog_id)
    if not store.exists(name):
        return None
    manifest = json.loads(store.read_bytes(name))
    return manifest if manifest.get("format") == FORMAT else None


def write(
    store: Storage,
    catalog_id: str,
    con: duckdb.DuckDBPyConnection,
    index_name: str,
    segments: int,
    kept: int,
    previous: dict | None,
    version: int,
    changed: tuple[str, ...] = ("sessions", "jobs"),
) -> None:
    """Publish snapshot ``version`` of a just-committed catalogue of ``segments`` segments whose
    index is already written as ``index_name`` (``kept`` of its vectors from before this
    commit; 0 when it was built anew): the segments the last snapshot (``previous``, its
    manifest) lacks, the ``changed`` tables (and any it lacks), then the manifest; then the
    files the snapshot before ``previous`` named and no later one does are removed.
    """
    rows, covered = [], 0
    if previous and previous.get("index") == index_name and 0 < previous["segments"] <= kept:
        rows, covered = (
            list(previous["rows"]),
            previous["segments"],
        )  # else sessions were replaced: start over
    if segments > covered or not rows:  # (an empty file when there is nothing yet: it holds the columns)
        name = f"index/segments-{catalog_id}-{version:06d}.arrow"
        _write_arrow(store, name, con.cursor().sql(_SEGMENTS_SQL, params=[covered]).to_arrow_reader(50_000))
        rows.append(name)
    tables = dict((previous or {}).get("tables", {}))
    for table in TABLES:
        if table in changed or table not in tables:
            tables[table] = f"index/{table}-{catalog_id}-{version:06d}.parquet"
            data = con.cursor().sql(f"SELECT * FROM {table}").to_arrow_table()
            store.write_with(
                tables[table], lambda path, data=data: pq.write_table(data, path, filesystem=store.arrow)
            )
    kept = set(rows) | set(tables.values())
    retired = sorted({*(previous or {}).get("rows", []), *(previous or {}).get("tables", {}).values()} - kept)
    manifest = {
        "format": FORMAT,
        "version": version,
        "segments": segments,
        "index": index_name,
        "rows": rows,
        "tables": tables,
        "retired": retired,
        "written_at": time.time(),
    }
    store.write_bytes(manifest_name(catalog_id), json.dumps(manifest).encode())
    # A reader may still be opening the previous snapshot's files: only those it had already
    # retired (two snapshots back) are removed.
    for name in (previous or {}).get("retired", []):
        if name not in kept:
            store.remove(name)


@dataclass
class Snapshot:
    """One committed state of the catalogue, as readers see it."""

    index: VectorIndex
    rows: pa.Table
    """The segments, one row per indexed vector, in vec_id order (no embedding, no cluster)."""
    tables: dict[str, pa.Table]
    """The other tables (``TABLES``), by name."""
    stamp: object = None
    """What the manifest looked like when read (its change time, or its text)."""
    version: int = 0
    """The manifest's version (0: built from the catalogue)."""
    checked: float = 0.0
    """When a newer snapshot was last looked for (``time.monotonic``)."""
    vec_ids: np.ndarray = field(init=False)
    _batches: list = field(init=False)
    _starts: np.ndarray = field(init=False)
    _sessions: dict = field(init=False)
    _selectors: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.vec_ids = self.rows.column("vec_id").to_numpy()
        # Rows are taken batch by batch: a take over the whole (chunked) table would first
        # join its chunks, a copy of every row per query.
        self._batches = self.rows.to_batches()
        self._starts = np.cumsum([0] + [b.num_rows for b in self._batches])
        sessions = self.tables["sessions"].select(["session_id", *SESSION_LABELS]).to_pylist()
        self._sessions = {s.pop("session_id"): s for s in sessions}

    @property
    def segments(self) -> int:
        """The number of segments in the snapshot (one per indexed vector)."""
        return self.rows.num_rows

    @property
    def sessions(self) -> int:
        """The number of sessions in the snapshot."""
        return self.tables["sessions"].num_rows

    def take(self, ids: np.ndarray, columns: tuple[str, ...]) -> list[dict]:
        """The segments of the vectors ``ids``, in that order: their ``columns`` and their
        session's ``SESSION_LABELS``.
        """
        positions = np.searchsorted(self.vec_ids, np.asarray(ids, dtype=np.int64))
        batch_of = np.searchsorted(self._starts, positions, side="right") - 1
        out: list[dict | None] = [None] * len(positions)
        for b in np.unique(batch_of):
            at = np.flatnonzero(batch_of == b)
            batch = self._batches[b].select(list(columns))
            for i, row in zip(at, batch.take(pa.array(positions[at] - self._starts[b])).to_pylist()):
                out[i] = row | self._sessions[row["session_id"]]
        return out

    def selector(self, condition: str):
        """The ids of one condition's segments, as a search filter; built once per snapshot
        and condition. None when no segment has that condition.
        """
        if condition not in self._selectors:
            sessions = [s for s, row in self._sessions.items() if row["condition"] == condition]
            mask = pc.is_in(self.rows.column("session_id"), value_set=pa.array(sessions, pa.string()))
            ids = self.vec_ids[np.asarray(mask.to_numpy(zero_copy_only=False), bool)]
            if not len(ids):
                self._selectors[condition] = None
            else:
                # A bitmap over vec_ids (1 bit each: 125 kB per million), built in milliseconds
                # where a hash set of half a million ids takes tens.
                bits = np.zeros(int(self.vec_ids[-1]) + 1, bool)
                bits[ids] = True
                bitmap = np.packbits(bits, bitorder="little")
                self._selectors[condition] = (
                    faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bitmap)),
                    bitmap,
                )
        found = self._selectors[condition]
        return None if found is None else found[0]  # (the bitmap is kept with it: faiss only points at it)

    def connection(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection over this snapshot, with the catalogue's table names
        (``segments``, ``sessions``, ``jobs``, ``discovery_runs``, ``clusters``,
        ``segment_clusters``) as views: the catalogue's queries, never its lock.
        """
        con = duckdb.connect()
        for name, table in self.tables.items():
            con.register(name, table)
        con.register("segment_rows", self.rows)
        con.execute(_CLUSTER_SQL)
        return con


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


def load(store: Storage, catalog_id: str, read_index, token) -> Snapshot | None:
    """The published snapshot whose manifest ``stamp`` gave ``token``, or None when there is
    none (or it is incomplete); ``read_index(name)`` opens the index file.
    """
    if token is None:
        return None
    # An object store's token is the manifest itself: not fetched a second time.
    manifest = read_manifest(store, catalog_id) if store.is_local else json.loads(token)
    if manifest is None or manifest.get("format") != FORMAT:
        return None
    try:
        rows = [_read_rows(store, name) for name in manifest["rows"]]
        tables = {
            table: pq.read_table(store.path(name), filesystem=store.arrow)
            for table, name in manifest["tables"].items()
        }
        index = read_index(manifest["index"])
    except (FileNotFoundError, OSError, pa.ArrowInvalid):  # a file gone or cut short: not a snapshot
        return None
    if (
        index is None
        or not rows
        or sum(t.num_rows for t in rows) != manifest["segments"]
        or index.size != manifest["segments"]
    ):
        return None
    return Snapshot(index, pa.concat_tables(rows), tables, stamp=token, version=manifest["version"])


def from_catalogue(con: duckdb.DuckDBPyConnection, index: VectorIndex, token=None) -> Snapshot:
    """A snapshot built in memory from the catalogue (when none is published, or it lags)."""
    rows = con.cursor().sql(_SEGMENTS_SQL, params=[0]).to_arrow_table()
    tables = {table: con.cursor().sql(f"SELECT * FROM {table}").to_arrow_table() for table in TABLES}
    return Snapshot(index, rows, tables, stamp=token)
