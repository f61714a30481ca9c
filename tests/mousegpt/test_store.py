import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from mousegpt.embed import DIM
from mousegpt.errors import WorkspaceError
from mousegpt.records import Session
from mousegpt.segments import FACT_COLUMNS
from mousegpt.store import SCHEMA_VERSION, Workspace, content_hash


def make_shard(
    ws: Workspace, session_id: str, condition: str, n: int = 5, seed: int = 0, drop: str | None = None
):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    table = pd.DataFrame(
        {
            "segment_id": [f"{session_id}-{i:06d}" for i in range(n)],
            "session_id": session_id,
            "segment_index": np.arange(n),
            "start_s": np.arange(n) * 0.5,
            "end_s": np.arange(n) * 0.5 + 1,
            **{c: (["centre"] * n if c == "zone" else rng.uniform(0, 10, n)) for c in FACT_COLUMNS},
            "behavior": "walk",
            "probs": json.dumps({"walk": 1.0}),
            "confidence": 1.0,
            "overall": "o",
            "head": "h",
            "limbs": "l",
            "torso": "t",
            "keywords": [["walking"]] * n,
            "embedding": list(vectors),
        }
    )
    if drop:
        table = table.drop(columns=[drop])
    session = Session(
        session_id=session_id,
        video=f"{session_id}.mp4",
        animal="m1",
        condition=condition,
        fps=25.0,
        px_per_mm=1.0,
        px_per_mm_source="given",
        view="top",
        n_frames=100,
        duration_s=4.0,
        source="video",
        model="kinematic",
    )
    return ws.write_shard(session, table), vectors


def counts(ws):
    with ws.connect(read_only=True) as con:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("sessions", "segments"))


def test_new_workspace_records_its_schema_version(tmp_path):
    ws = Workspace(tmp_path / "ws")
    ws.connect().close()
    with duckdb.connect(str(ws.catalog_path), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION
        )


def test_commit_is_idempotent_and_indexes_every_segment(tmp_path):
    ws = Workspace(tmp_path)
    shards = [make_shard(ws, "aaa", "control", n=5, seed=1)[0], make_shard(ws, "bbb", "stim", n=7, seed=2)[0]]
    assert ws.commit(shards) == (2, 12)
    assert ws.commit(shards) == (0, 0)
    assert counts(ws) == (2, 12)
    assert ws.load_index().size == 12


def test_a_bad_shard_changes_nothing(tmp_path):
    ws = Workspace(tmp_path)
    ws.commit([make_shard(ws, "aaa", "control")[0]])
    before = counts(ws), Path(ws.index_path()).read_bytes()
    good = make_shard(ws, "bbb", "stim", seed=3)[0]
    bad = make_shard(ws, "ccc", "stim", seed=4, drop="torso")[0]
    with pytest.raises(WorkspaceError, match=r"ccc.parquet: cannot commit this shard, nothing was committed"):
        ws.commit([good, bad])
    assert (counts(ws), Path(ws.index_path()).read_bytes()) == before


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    ws = Workspace(tmp_path)
    ws.commit([make_shard(ws, "aaa", "control")[0]])
    with duckdb.connect(str(ws.catalog_path)) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    before = ws.catalog_path.read_bytes()
    for read_only in (True, False):
        with pytest.raises(WorkspaceError, match=f"schema v{SCHEMA_VERSION + 1}, newer than this mousegpt"):
            ws.connect(read_only=read_only)
    with pytest.raises(WorkspaceError):
        ws.commit([make_shard(ws, "bbb", "stim")[0]])
    assert ws.catalog_path.read_bytes() == before


def test_a_v1_catalogue_is_upgraded_when_opened_for_writing(tmp_path):
    ws = Workspace(tmp_path)
    ws.commit([make_shard(ws, "aaa", "control")[0]])
    # What v1 looked like: no head_yaw_abs_deg, individual, qc, discovery runs, head_yaw_fast_deg,
    # confidence, settings.
    with duckdb.connect(str(ws.catalog_path)) as con:
        for table in ("discovery_runs", "clusters", "segment_clusters"):
            con.execute(f"DROP TABLE {table}")
        con.execute("ALTER TABLE segments DROP COLUMN head_yaw_abs_deg")
        con.execute("ALTER TABLE segments DROP COLUMN head_yaw_fast_deg")
        con.execute("ALTER TABLE segments DROP COLUMN confidence")
        con.execute("ALTER TABLE sessions DROP COLUMN individual")
        con.execute("ALTER TABLE sessions DROP COLUMN qc")
        con.execute("ALTER TABLE sessions DROP COLUMN settings")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(
        WorkspaceError, match=f"schema v1 needs upgrading to v{SCHEMA_VERSION}; run any writing command"
    ):
        ws.connect(read_only=True)
    ws.commit([make_shard(ws, "bbb", "stim")[0]])  # opens for writing: upgrades, then commits
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
            SCHEMA_VERSION
        )
        values = con.execute(
            "SELECT session_id, head_yaw_abs_deg IS NULL AND head_yaw_fast_deg IS NULL "
            "AND confidence IS NULL FROM segments"
        ).fetchall()
        individuals = con.execute(
            "SELECT count(*) FROM sessions WHERE individual IS NULL AND qc IS NULL AND settings IS NULL"
        ).fetchone()[0]
        assert con.execute("SELECT count(*) FROM discovery_runs").fetchone()[0] == 0
    assert {sid for sid, _ in values} == {"aaa", "bbb"}
    assert all(missing for sid, missing in values if sid == "aaa")  # old rows: the new facts are unknown
    assert individuals == 2  # the new session columns exist (these shards carry neither)


def test_missing_index_is_rebuilt_from_the_catalogue(tmp_path):
    ws = Workspace(tmp_path)
    _, vectors = make_shard(ws, "aaa", "control", n=6, seed=9)
    ws.commit([str(ws.shard_dir / "aaa.parquet")])
    Path(ws.index_path()).unlink()
    scores, ids = ws.load_index().search(vectors[2], k=1)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    with ws.connect(read_only=True) as con:
        assert (
            con.execute("SELECT segment_index FROM segments WHERE vec_id = ?", [int(ids[0])]).fetchone()[0]
            == 2
        )


def test_content_hash_depends_on_bytes_not_names(tmp_path):
    a, b, c = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "c.bin"
    a.write_bytes(b"mouse")
    b.write_bytes(b"mouse")
    c.write_bytes(b"mice")
    assert content_hash(a) == content_hash(b) != content_hash(c)
    assert content_hash(a, c) != content_hash(a)


def test_an_index_left_from_an_earlier_catalogue_is_never_used(tmp_path):
    ws = Workspace(tmp_path)
    ws.commit([make_shard(ws, "aaa", "control", n=6, seed=1)[0]])
    old_index = Path(ws.index_path())
    ws.catalog_path.unlink()  # the catalogue is rebuilt in place; index/ stays behind
    shutil.rmtree(ws.shard_dir)
    _, vectors = make_shard(ws, "bbb", "stim", n=6, seed=2)  # as many vectors, the same vec_ids
    ws.commit([ws.shard_path("bbb")])
    assert old_index.exists() and Path(ws.index_path()) != old_index
    scores, _ = ws.load_index().search(vectors[1], k=1)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)


def test_workspace_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "ws"
    path.write_text("not a folder")
    with pytest.raises(WorkspaceError, match="workspace path is a file"):
        Workspace(path).connect()
