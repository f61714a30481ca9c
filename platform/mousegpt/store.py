"""The workspace: one folder holding all state of a project.

- ``catalog.duckdb``: sessions, segments (with descriptions and embeddings), jobs; its
  schema version is recorded in the ``meta`` table.
- ``segments/<session_id>.parquet``: shards written by workers, one per session; the
  session's metadata rides in the Parquet file's key-value metadata.
- ``index/``: what readers read instead of the catalogue (``mousegpt.snapshot``): the vector
  index, the segments and the small tables as of the last commit, and their manifest.
- ``workspace.json``: the catalogue's id, storage, schema version and committed segment
  count, so that readers find the snapshot without opening the catalogue.
- ``clips/``: cached mp4 clips for the dashboard.

Shards, index and clips live in the workspace folder, or in the ``Storage`` named when the
catalogue was created (``--storage s3://bucket/prefix``, an NFS path...; recorded in ``meta``,
so every reader finds them).
- discovery runs (``mousegpt discover``) live in the catalogue: ``discovery_runs``,
  ``clusters`` and ``segment_clusters``; ``segments.cluster_id`` holds the latest run's.

DuckDB allows one writing process, so workers never open the catalogue: they write shards,
and one committing step (the job driver) loads them in a single transaction. Readers (search,
the dashboard, profiles, Serve) read the published snapshot, so a commit never waits for them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mousegpt import catalog_index, catalog_schema, sources
from mousegpt import snapshot as snapshot_mod
from mousegpt.catalog_schema import (
    JOB_COLUMNS,
    SCHEMA_VERSION,
    SEGMENT_COLUMNS,
    SESSION_COLUMNS,
)
from mousegpt.errors import WorkspaceError
from mousegpt.index import VectorIndex
from mousegpt.records import Session
from mousegpt.storage import Storage

DEFAULT_WORKSPACE = "mousegpt-workspace"
POINTER = "workspace.json"
"""Beside the catalogue: what a reader needs to find the snapshot (``Workspace.pointer``)."""


def workspace_path(workspace: str | Path | None) -> Path:
    """``--workspace``, else ``$MOUSEGPT_WORKSPACE``, else ``./mousegpt-workspace``."""
    return Path(workspace or os.environ.get("MOUSEGPT_WORKSPACE") or DEFAULT_WORKSPACE)


def content_hash(*paths: str | Path | None) -> str:
    """Session identity: SHA-256 over the bytes of the given files, 16 hex digits (the bytes, not
    the names: a video copied to an object store keeps its sessions).
    """
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            continue
        with open(sources.local(path), "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


log = logging.getLogger(__name__)
_HELD: dict[tuple, snapshot_mod.Snapshot] = {}
"""``Workspace.reader``'s snapshot of each workspace, for this process."""


@dataclass(frozen=True)
class Workspace:
    """A workspace folder: its catalogue, and the storage of its shards, index and clips.

    Nothing is opened or created until it is used; ``connect`` creates the folder and the
    catalogue when it opens them for writing.
    """

    root: Path
    storage_url: str | None = None
    """Where shards, index and clips live: None for the one the catalogue records (the
    workspace folder by default); a catalogue made without one records it on creation."""

    @property
    def catalog_path(self) -> Path:
        """The catalogue's DuckDB file, ``catalog.duckdb`` in the workspace folder."""
        return self.root / "catalog.duckdb"

    @cached_property
    def store(self) -> Storage:
        """The storage of shards, index and clips: the one given, else the catalogue's, else the folder."""
        if self.storage_url or not self.exists():
            return self._store_of(None)
        return self._identity[1]

    @cached_property
    def _identity(self) -> tuple[str, Storage]:
        """The catalogue's id and storage, read once (neither changes): from ``workspace.json``,
        or from the catalogue when there is none (a workspace from before it).
        """
        pointer = self.pointer()
        if pointer is not None:
            return pointer["catalog_id"], Storage(self.storage_url or pointer["storage"])
        with self.connect(read_only=True) as con:
            return self._catalog_id(con), self.store_in(con)

    def pointer(self) -> dict | None:
        """``workspace.json``: ``catalog_id``, ``storage``, ``schema_version`` and ``version``, the
        snapshot the last commit published (or was publishing: a snapshot of a lower version
        lags the catalogue); None when there is none (or it is unreadable). A newer schema's
        is refused.
        """
        if not self.exists():
            return None
        try:
            pointer = json.loads((self.root / POINTER).read_text())
        except (OSError, ValueError):
            return None
        if pointer.get("schema_version", 0) > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{self.catalog_path}: written by catalogue schema v{pointer['schema_version']}, "
                "newer than this "
                f"mousegpt (reads up to v{SCHEMA_VERSION}); upgrade mousegpt to use it"
            )
        return pointer

    def _write_pointer(self, con: duckdb.DuckDBPyConnection, version: int | None = None) -> None:
        """Write ``workspace.json`` (``version`` kept as it is when not given)."""
        pointer = {
            "catalog_id": self._catalog_id(con),
            "storage": self.store_in(con).url,
            "schema_version": SCHEMA_VERSION,
        }
        try:
            old = self.pointer() or {}
            pointer["version"] = (
                version
                if version is not None
                else old.get("version", 0)
                if old.get("catalog_id") == pointer["catalog_id"]
                else 0
            )
            if old != pointer:
                Storage(str(self.root.resolve())).write_bytes(POINTER, json.dumps(pointer).encode())
        except OSError as exc:  # readers then trust the published snapshot as it is
            log.warning(f"{self.root / POINTER}: cannot write it ({exc})")

    def store_in(self, con: duckdb.DuckDBPyConnection) -> Storage:
        """``store``, read through an open connection (a second one to the same file, while
        this process writes it, is refused by DuckDB).
        """
        if "store" not in self.__dict__:
            self.__dict__["store"] = self._store_of(con)
        return self.__dict__["store"]

    def _store_of(self, con: duckdb.DuckDBPyConnection | None) -> Storage:
        if self.storage_url:
            return Storage(self.storage_url)
        row = (
            con.execute("SELECT value FROM meta WHERE key = 'storage'").fetchone()
            if con is not None
            else None
        )
        return Storage(row[0] if row else str(self.root.resolve()))

    @property
    def shard_dir(self) -> Path:
        """The shards' folder when they are kept in the workspace folder."""
        return self.root / "segments"

    def index_path(self, con: duckdb.DuckDBPyConnection | None = None) -> str:
        """The FAISS file of this catalogue (in ``store``); named after the catalogue's id, so an
        index left from another catalogue (a workspace rebuilt in place) is never mistaken for its own.
        """
        return (self.store if con is None else self.store_in(con)).path(self._index_name(con))

    def _index_name(self, con: duckdb.DuckDBPyConnection | None = None) -> str:
        if con is None:
            with self.connect(read_only=True) as own:
                return self._index_name(own)
        return f"index/segments-{self._catalog_id(con)}.faiss"

    @staticmethod
    def _catalog_id(con: duckdb.DuckDBPyConnection) -> str:
        return con.execute("SELECT value FROM meta WHERE key = 'catalog_id'").fetchone()[0]

    @property
    def clip_dir(self) -> Path:
        """The clips' folder when they are kept in the workspace folder."""
        return self.root / "clips"

    def exists(self) -> bool:
        """Whether the workspace has a catalogue (``catalog.duckdb``) yet."""
        return self.catalog_path.exists()

    # -- catalogue -------------------------------------------------------------------
    def connect(self, read_only: bool = False, lock_timeout_s: float = 30.0) -> duckdb.DuckDBPyConnection:
        """Open the catalogue, creating it when writing; refuse a newer schema."""
        if read_only and not self.exists():
            raise WorkspaceError(
                f"{self.root}: no workspace here (no catalog.duckdb); run `mousegpt analyze` first"
            )
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"{self.root}: workspace path is a file, not a folder")
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
        # DuckDB lets one process hold the file; readers (dashboard, Serve) hold it briefly,
        # so a busy catalogue is waited for rather than failed at once.
        deadline = time.monotonic() + lock_timeout_s
        while True:
            try:
                con = duckdb.connect(str(self.catalog_path), read_only=read_only)
                break
            except duckdb.Error as exc:
                busy = "lock" in str(exc).lower()
                if not busy or time.monotonic() > deadline:
                    raise WorkspaceError(
                        f"{self.catalog_path}: cannot open the catalogue ({str(exc).splitlines()[0]})"
                    ) from None
                time.sleep(0.2)
        try:
            catalog_schema.ensure(con, self.catalog_path, create=not read_only)
            if not read_only and self.storage_url:
                self._check_storage(con)
            if not read_only:
                self._write_pointer(con)
        except BaseException:
            con.close()
            raise
        return con

    def _check_storage(self, con: duckdb.DuckDBPyConnection) -> None:
        """Record the storage given for a new catalogue; refuse one that differs from the
        catalogue's (its shards and index are elsewhere).
        """
        row = con.execute("SELECT value FROM meta WHERE key = 'storage'").fetchone()
        recorded = row[0] if row else str(self.root.resolve())
        if recorded.rstrip("/") == self.storage_url.rstrip("/"):
            return
        if row is None and con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0:
            con.execute("INSERT INTO meta VALUES ('storage', ?)", [self.storage_url])
            return
        raise WorkspaceError(
            f"{self.catalog_path}: this catalogue keeps its shards and index in {recorded}, "
            f"not in --storage {self.storage_url}; give the same storage or a new workspace"
        )

    def shard_path(self, session_id: str) -> str:
        """The session's shard, in ``store``."""
        return self.store.path(f"segments/{session_id}.parquet")

    def has_shard(self, session_id: str) -> bool:
        """Whether the session's shard exists in ``store``."""
        return self.store.exists(f"segments/{session_id}.parquet")

    def recorded(self) -> dict[str, dict]:
        """What the catalogue holds of each session that a re-run compares (``changes.decide``):
        session id -> ``settings`` (JSON, None before schema v7), ``animal``, ``condition`` and
        ``individual`` (of a pose file holding several).
        """
        if not self.exists():
            return {}
        with self.connect(read_only=True) as con:
            table = con.execute(
                "SELECT session_id, settings, animal, condition, individual FROM sessions"
            ).fetchdf()
        return {
            row.pop("session_id"): row
            for row in table.astype(object).where(table.notna(), None).to_dict("records")
        }

    def jobs(self) -> pd.DataFrame:
        """Committed analyses, newest first: ``job_id, started_at, finished_at, inputs,
        sessions_added, segments_added, failed`` (the number of inputs that failed).
        """
        with self.reader() as con:
            table = con.execute(
                f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE kind = 'analyze' ORDER BY started_at DESC"
            ).fetchdf()
        table["failed"] = [len(json.loads(f)) if f else 0 for f in table["failed"]]
        return table.drop(columns="kind")

    # -- shards (workers) ----------------------------------------------------------------
    def write_shard(self, session: Session, segments: pd.DataFrame) -> str:
        """Write one session's segments (and its record) as a Parquet shard, whole or not at all."""
        table = pa.Table.from_pandas(segments, preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), b"mousegpt.session": json.dumps(session.to_dict()).encode()}
        )
        return self.store.write_with(
            f"segments/{session.session_id}.parquet",
            lambda path: pq.write_table(table, path, filesystem=self.store.arrow),
        )

    def read_shard(self, path: str, schema_only: bool = False) -> tuple[Session, pa.Table | pa.Schema]:
        """A shard's session record, and its table (or only its schema); a shard that cannot
        be read, or whose record is not a session's, is a ``WorkspaceError`` naming it.
        """
        where = path if self.store.is_local else self.store.fs.unstrip_protocol(path)
        try:
            read = pq.read_schema if schema_only else pq.read_table
            table = read(str(path), filesystem=self.store.arrow)
        except (OSError, pa.ArrowException) as exc:
            raise WorkspaceError(f"{where}: cannot read this shard ({str(exc).splitlines()[0]})") from None
        metadata = table.metadata if schema_only else table.schema.metadata
        if b"mousegpt.session" not in (metadata or {}):
            raise WorkspaceError(f"{where}: not a mousegpt segment shard (no session metadata)")
        try:
            return Session.from_dict(json.loads(metadata[b"mousegpt.session"])), table
        except (TypeError, ValueError) as exc:
            raise WorkspaceError(f"{where}: its session record is not one ({exc})") from None

    def read_shard_session(self, path: str) -> Session:
        """A shard's session record (``read_shard`` without the table)."""
        return self.read_shard(path, schema_only=True)[0]

    # -- commit (driver only) ----------------------------------------------------------------
    def commit(
        self,
        shards: list[str],
        job: dict | None = None,
        warnings: list[str] | None = None,
        replace: set[str] = frozenset(),
        labels: dict[str, dict] | None = None,
    ) -> tuple[int, int]:
        """Load shards into the catalogue in one transaction: sessions already there are
        skipped, unless in ``replace`` (recomputed: their segments, and their assignments to
        discovered clusters, are replaced); ``labels`` (session id -> ``changes.LABELS``) then
        updates the sessions named.

        Returns (sessions added or replaced, segments added). On any error, a shard that cannot
        be read among them, nothing is changed. The search index and snapshot are written after the
        transaction: when that fails the commit stands, and the problem is logged (and added
        to ``warnings``).
        """
        added_sessions = added_segments = 0
        with self.connect() as con:
            self.store_in(con)
            known = {r[0] for r in con.execute("SELECT session_id FROM sessions").fetchall()}
            con.execute("BEGIN")
            path = None
            try:
                for path in shards:
                    session, table = self.read_shard(path)
                    sid = session.session_id
                    if sid in known and sid not in replace:
                        continue
                    if sid in known:
                        for statement in (
                            "DELETE FROM segment_clusters WHERE segment_id IN "
                            "(SELECT segment_id FROM segments WHERE session_id = ?)",
                            "DELETE FROM segments WHERE session_id = ?",
                            "DELETE FROM sessions WHERE session_id = ?",
                        ):
                            con.execute(statement, [sid])
                    known.add(sid)
                    row = {c: getattr(session, c) for c in SESSION_COLUMNS if c != "added_at"}
                    con.execute(
                        f"INSERT INTO sessions ({', '.join(row)}, added_at) "
                        f"VALUES ({', '.join('?' * len(row))}, now())",
                        list(row.values()),
                    )
                    shard_columns = [c for c in SEGMENT_COLUMNS if c not in ("vec_id", "cluster_id")]
                    con.register("shard", table)
                    n = con.execute(
                        f"INSERT INTO segments ({', '.join(shard_columns)}, vec_id) "
                        f"SELECT {', '.join(shard_columns)}, nextval('vec_ids') FROM shard"
                    ).fetchone()[0]
                    con.unregister("shard")
                    added_sessions += 1
                    added_segments += n
                path = None
                for sid, named in (labels or {}).items():
                    con.execute(
                        f"UPDATE sessions SET {', '.join(f'{k} = ?' for k in named)} WHERE session_id = ?",
                        [*named.values(), sid],
                    )
                if job is not None:
                    job = job | {"sessions_added": added_sessions, "segments_added": added_segments}
                    con.execute(
                        f"INSERT INTO jobs ({', '.join(job)}) VALUES ({', '.join('?' * len(job))})",
                        list(job.values()),
                    )
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                where = f"{path}: cannot commit this shard" if path else f"{self.catalog_path}: cannot commit"
                raise WorkspaceError(f"{where}, nothing was committed ({str(exc).splitlines()[0]})") from None
            except WorkspaceError as exc:
                con.execute("ROLLBACK")
                raise WorkspaceError(f"{exc}; nothing was committed") from None
            except BaseException:
                con.execute("ROLLBACK")
                raise
            # A replaced session's assignments to discovered clusters went with its segments.
            self.publish(con, ("sessions", "jobs") + (snapshot_mod.DISCOVERY if replace else ()), warnings)
        return added_sessions, added_segments

    def publish(
        self,
        con: duckdb.DuckDBPyConnection,
        changed: tuple[str, ...] = ("sessions", "jobs"),
        warnings: list[str] | None = None,
    ) -> None:
        """After a COMMIT through ``con``: announce the next snapshot's version in
        ``workspace.json``, bring the index up to date and publish the snapshot (``changed``
        naming the small tables the commit changed). A failure here leaves the commit standing:
        it is logged and added to ``warnings``, and readers, seeing a snapshot older than
        announced, build one from the catalogue until a later commit publishes it.
        """
        try:
            catalog_id, store = self._catalog_id(con), self.store_in(con)
            published = snapshot_mod.read_manifest(store, catalog_id)
            version = (published or {}).get("version", 0) + 1
            self._write_pointer(con, version)
            index, kept = self._sync_index(con)
            snapshot_mod.write(
                store, catalog_id, con, self._index_name(con), index.size, kept, published, version, changed
            )
        except Exception as exc:  # a full disk, a store gone away, a faiss error: the data is committed
            message = (
                f"{self.root}: the commit stands, but the snapshot that search and the dashboard read could "
                f"not be published ({exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}); "
                "they read the catalogue itself until the next commit publishes it"
            )
            log.warning(message)
            if warnings is not None:
                warnings.append(message)

    def snapshot(self, previous: snapshot_mod.Snapshot | None = None) -> snapshot_mod.Snapshot:
        """What readers read (``mousegpt.snapshot``): ``previous`` while no newer one has been
        published, else the newly published one. When none was ever published (a workspace
        from before snapshots), or the published one is older than ``workspace.json``
        announces (publishing failed after a commit), one is built in memory from the
        catalogue: the only time a reader opens it.
        """
        if not self.exists():
            raise WorkspaceError(
                f"{self.root}: no workspace here (no catalog.duckdb); run `mousegpt analyze` first"
            )
        catalog_id, store = self._identity
        if (
            previous is not None
            and not store.is_local
            and time.monotonic() - previous.checked < snapshot_mod.REMOTE_CHECK_S
        ):
            return previous
        token = snapshot_mod.stamp(store, catalog_id)
        if previous is not None and token == previous.stamp:
            previous.checked = time.monotonic()
            return previous
        found = snapshot_mod.load(store, catalog_id, lambda name: catalog_index.read(store, name), token)
        if found is not None and found.version < (self.pointer() or {}).get("version", 0):
            found = None
        if found is None:
            with self.connect(read_only=True) as con:
                found = snapshot_mod.from_catalogue(con, self._sync_index(con, save=False)[0], token)
        found.checked = time.monotonic()
        return found

    def current(self) -> snapshot_mod.Snapshot:
        """The newest snapshot, held per process and workspace (taken anew when a newer one is published)."""
        key = (self.root.resolve(), self.storage_url)
        _HELD[key] = self.snapshot(_HELD.get(key))
        return _HELD[key]

    def reader(self) -> duckdb.DuckDBPyConnection:
        """SQL over the newest snapshot (``Snapshot.connection``), for the dashboard, profiles
        and listings: the catalogue's table names, without its lock.
        """
        return self.current().connection()

    # -- index ---------------------------------------------------------------------------------
    def _sync_index(
        self, con: duckdb.DuckDBPyConnection, save: bool = True, gpu: bool = False
    ) -> tuple[VectorIndex, int]:
        """``catalog_index.sync`` of this catalogue's index: up to date, and how many vectors
        it held before (0 when built anew); written back only with ``save``.
        """
        return catalog_index.sync(con, self.store_in(con), self._index_name(con), save, gpu)

    def load_index(self, gpu: bool = False) -> VectorIndex:
        """The vector index for reading; rebuilt in memory if the file is missing or stale."""
        with self.connect(read_only=True) as con:
            return self._sync_index(con, save=False, gpu=gpu)[0]
