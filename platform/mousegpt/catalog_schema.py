"""The catalogue's tables, declared once, and the migrations from each older schema.

The sessions and clusters tables take their columns from their records (``records.Session``,
``records.Cluster``); a segment's facts from ``records.FACTS``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import duckdb

from mousegpt.embed import DIM
from mousegpt.errors import WorkspaceError
from mousegpt.records import CLUSTER_COLUMNS, FACTS, Session, columns

SCHEMA_VERSION = 7
"""The catalogue's schema version: ``MIGRATIONS`` take an older one up to it."""

SESSION_COLUMNS = columns(Session)
"""The ``sessions`` table: a ``records.Session``'s fields."""
_FACT_TYPES = {f.name: f.sql for f in FACTS}
SEGMENT_COLUMNS = {
    "segment_id": "VARCHAR PRIMARY KEY",
    "vec_id": "BIGINT UNIQUE",
    "session_id": "VARCHAR",
    "segment_index": "INTEGER",
    "start_s": "DOUBLE",
    "end_s": "DOUBLE",
    "behavior": "VARCHAR",
    "probs": "VARCHAR",
    "confidence": "DOUBLE",
    "overall": "VARCHAR",
    "head": "VARCHAR",
    "limbs": "VARCHAR",
    "torso": "VARCHAR",
    "keywords": "VARCHAR[]",
    **_FACT_TYPES,
    "embedding": f"FLOAT[{DIM}]",
    "cluster_id": "INTEGER",
}
"""Segment table columns; shards carry all of them but ``vec_id`` and ``cluster_id``."""

DISCOVERY_TABLES = {
    "discovery_runs": {
        "run_id": "INTEGER PRIMARY KEY",
        "created_at": "TIMESTAMP",
        "segments": "BIGINT",
        "sample": "BIGINT",
        "config": "VARCHAR",
    },
    "clusters": CLUSTER_COLUMNS,
    "segment_clusters": {
        "run_id": "INTEGER",
        "segment_id": "VARCHAR",
        "cluster_id": "INTEGER",
        "outlier_score": "DOUBLE",
        "vocabulary_distance": "DOUBLE",
        "map_x": "DOUBLE",
        "map_y": "DOUBLE",
    },
}
"""``mousegpt discover`` runs: each run's settings, its clusters (``size_by_condition`` as JSON,
``exemplars`` as segment ids) and every segment's cluster, isolation-forest score (below 0 is
an outlier), kinematic distance to the nearest vocabulary behaviour and position on the 2-D map."""

JOB_COLUMNS = {
    "job_id": "VARCHAR PRIMARY KEY",
    "kind": "VARCHAR",
    "started_at": "TIMESTAMP",
    "finished_at": "TIMESTAMP",
    "inputs": "INTEGER",
    "sessions_added": "INTEGER",
    "segments_added": "INTEGER",
    "failed": "VARCHAR",
}


def ddl(name: str, columns: dict[str, str]) -> str:
    """``CREATE TABLE IF NOT EXISTS`` of a table of ``columns`` (name -> SQL type)."""
    return f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(f'{c} {t}' for c, t in columns.items())})"


MIGRATIONS = {
    # v1 -> v2: the head_yaw_abs_deg fact (median |head yaw| per segment, degrees).
    1: ["ALTER TABLE segments ADD COLUMN head_yaw_abs_deg DOUBLE"],
    # v2 -> v3: one session per individual of a multi-animal pose file, and the QC report.
    2: ["ALTER TABLE sessions ADD COLUMN individual VARCHAR", "ALTER TABLE sessions ADD COLUMN qc VARCHAR"],
    # v3 -> v4: versioned discovery runs.
    3: [ddl(name, table) for name, table in DISCOVERY_TABLES.items()],
    # v4 -> v5: the head_yaw_fast_deg fact (fast head movements, degrees); empty for older segments.
    4: ["ALTER TABLE segments ADD COLUMN head_yaw_fast_deg DOUBLE"],
    # v5 -> v6: each segment's calibrated confidence in its behaviour; empty for older segments.
    5: ["ALTER TABLE segments ADD COLUMN confidence DOUBLE"],
    # v6 -> v7: what each session was computed with (``changes.settings``, JSON); empty for older sessions.
    6: ["ALTER TABLE sessions ADD COLUMN settings VARCHAR"],
}
"""Statements that take a catalogue from version k to k + 1, applied when it is opened for writing."""


def ensure(con: duckdb.DuckDBPyConnection, path: Path, create: bool) -> None:
    """Check the catalogue ``con`` (the file ``path``) is one this code reads: a newer schema is
    refused, an older one migrated (``migrate``), and with ``create`` an empty file becomes a
    catalogue of this schema; without, it is refused as not a catalogue.
    """
    has_meta = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchone()[0]
    if has_meta:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"{path}: written by catalogue schema v{version}, newer than this mousegpt "
                f"(reads up to v{SCHEMA_VERSION}); upgrade mousegpt to use it"
            )
        if version < SCHEMA_VERSION:
            migrate(con, path, version, writable=create)
        return
    if not create:
        raise WorkspaceError(f"{path}: not a mousegpt catalogue (no meta table)")
    con.execute("BEGIN")
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    con.execute(
        "INSERT INTO meta VALUES ('schema_version', ?), ('catalog_id', ?)",
        [str(SCHEMA_VERSION), uuid.uuid4().hex[:12]],
    )
    con.execute(ddl("sessions", SESSION_COLUMNS))
    con.execute(ddl("segments", SEGMENT_COLUMNS))
    con.execute(ddl("jobs", JOB_COLUMNS))
    for name, table in DISCOVERY_TABLES.items():
        con.execute(ddl(name, table))
    con.execute("CREATE SEQUENCE IF NOT EXISTS vec_ids START 0 MINVALUE 0")
    con.execute("COMMIT")


def migrate(con: duckdb.DuckDBPyConnection, path: Path, version: int, writable: bool) -> None:
    """Bring an older catalogue up to SCHEMA_VERSION in one transaction (all or nothing)."""
    if any(v not in MIGRATIONS for v in range(version, SCHEMA_VERSION)):
        raise WorkspaceError(
            f"{path}: schema v{version} is older than v{SCHEMA_VERSION} and has no migration"
        )
    if not writable:
        raise WorkspaceError(
            f"{path}: catalogue schema v{version} needs upgrading to v{SCHEMA_VERSION}; "
            "run any writing command on it first (e.g. mousegpt analyze)"
        )
    con.execute("BEGIN")
    try:
        for v in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[v]:
                con.execute(statement)
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise WorkspaceError(f"{path}: upgrading the catalogue failed ({str(exc).splitlines()[0]})") from None
