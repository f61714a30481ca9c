"""Search from committed snapshots: an approximate index once the catalogue is large, readers
that never open the catalogue per query (so a writer holding it does not stop them), a newer
snapshot taken up after a commit, and a workspace without one still searchable."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from mousegpt import catalog_index, snapshot
from mousegpt import index as index_mod
from mousegpt.embed import DIM
from mousegpt.index import VectorIndex
from mousegpt.search import Searcher
from mousegpt.store import Workspace
from tests.mousegpt.test_store import make_shard


class QueryIsVector:
    """A text model whose "embedding" of a query is the vector it names (``"v:3"``: the 4th of
    ``vectors``).
    """

    def __init__(self, vectors):
        self.vectors = vectors

    def __call__(self, texts):
        return np.stack([self.vectors[int(t.split(":")[1])] for t in texts])


def clustered(n: int, centres: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around ``centres`` directions, as embeddings of behaviours are."""
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, DIM))
    vectors = middle[rng.integers(0, centres, n)] + rng.normal(scale=0.6, size=(n, DIM))
    vectors = vectors.astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_large_index_is_approximate_with_high_recall(monkeypatch):
    monkeypatch.setattr(index_mod, "APPROXIMATE_FROM", 5_000)
    vectors = clustered(20_000)
    ids = np.arange(20_000) * 3 + 7  # ids are the catalogue's, not positions
    approximate = VectorIndex.build(ids, vectors)
    assert approximate.lists == index_mod.lists_for(20_000) == 141
    exact = vectors @ vectors[:200].T
    recall = []
    for q in range(200):
        truth = set(ids[np.argsort(-exact[:, q])[:10]].tolist())
        recall.append(len(truth & set(approximate.search(vectors[q], 10)[1].tolist())) / 10)
    assert np.mean(recall) >= 0.95
    assert not approximate.outgrown(40_000) and approximate.outgrown(100_000)  # 141 lists < 316 / 2
    assert VectorIndex.empty(DIM).outgrown(5_000) and not VectorIndex.empty(DIM).outgrown(4_999)


def test_a_commit_publishes_a_snapshot_that_readers_map(tmp_path, monkeypatch):
    monkeypatch.setattr(index_mod, "APPROXIMATE_FROM", 300)
    ws = Workspace(tmp_path / "ws")
    first = [make_shard(ws, f"s{i}", "control" if i % 2 else "stim", n=100, seed=i) for i in range(4)]
    ws.commit([path for path, _ in first])
    files = sorted(p.name.split("-")[0] + p.suffix for p in (tmp_path / "ws" / "index").iterdir())
    assert files == [
        "clusters.parquet",
        "current.json",
        "discovery_runs.parquet",
        "jobs.parquet",
        "segment_clusters.parquet",
        "segments.arrow",
        "segments.faiss",
        "sessions.parquet",
    ]
    read = ws.snapshot()
    assert read.index.lists == index_mod.lists_for(400) and read.segments == 400

    vectors = np.concatenate([v for _, v in first])
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(vectors))
    hit = searcher.search("v:150", k=1)[0]
    assert (hit.segment_id, hit.condition, hit.video) == ("s1-000050", "control", "s1.mp4")
    assert hit.score == pytest.approx(1.0, abs=2e-3)  # (8-bit codes: scores within a few thousandths)
    stim = searcher.search("v:150", k=5, condition="stim")
    assert len(stim) == 5 and {h.condition for h in stim} == {"stim"}
    assert searcher.search("v:150", k=5, condition="unknown") == []

    # A second commit adds a rows file, and the open searcher takes the new snapshot up.
    more, more_vectors = make_shard(ws, "s9", "stim", n=50, seed=9)
    ws.commit([more])
    assert len(list((tmp_path / "ws" / "index").glob("segments-*.arrow"))) == 2
    searcher.embedder = QueryIsVector(np.concatenate([vectors, more_vectors]))
    assert searcher.search("v:420", k=1)[0].segment_id == "s9-000020"
    assert searcher.current().segments == 450


def test_readers_first_opened_while_a_writer_holds_the_catalogue_answer(tmp_path):
    ws = Workspace(tmp_path / "ws")
    shard, vectors = make_shard(ws, "aaa", "control", n=20, seed=1)
    ws.commit([shard], job={"job_id": "j1", "kind": "analyze", "inputs": 1})
    holder = subprocess.Popen(  # another process opens the catalogue for writing and keeps it
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.readline()",
            str(ws.catalog_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Exception, match="lock"):  # the catalogue itself cannot be opened meanwhile
            import duckdb

            duckdb.connect(str(ws.catalog_path), read_only=True)
        # A fresh reader finds the snapshot through workspace.json, not the catalogue.
        searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(vectors))
        hits = [searcher.search(f"v:{i}", k=1)[0].segment_id for i in (3, 7, 11)]
        assert hits == ["aaa-000003", "aaa-000007", "aaa-000011"]
        with Workspace(tmp_path / "ws").reader() as con:  # the dashboard's SQL, same table names
            assert con.execute("SELECT count(*), count(DISTINCT session_id) FROM segments").fetchone() == (
                20,
                1,
            )
            assert con.execute("SELECT condition FROM sessions").fetchall() == [("control",)]
        assert Workspace(tmp_path / "ws").jobs()["job_id"].tolist() == ["j1"]
    finally:
        holder.communicate("\n", timeout=30)


READER = """
import sys, time
from pathlib import Path
from mousegpt.store import Workspace
ws = Workspace(Path(sys.argv[1]))
con = ws.reader()  # held open, as a dashboard page or Serve replica holds its reader
print(con.execute("SELECT count(*) FROM segments").fetchone()[0], flush=True)
sys.stdin.readline()
print(con.execute("SELECT count(*) FROM segments").fetchone()[0], \
ws.reader().execute("SELECT count(*) FROM segments").fetchone()[0], flush=True)
"""


def test_a_commit_does_not_wait_for_a_reader_that_holds_its_connection(tmp_path):
    ws = Workspace(tmp_path / "ws")
    first, _ = make_shard(ws, "aaa", "control", n=20, seed=1)
    ws.commit([first])
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(ws.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().strip() == "20"
        second, _ = make_shard(ws, "bbb", "stim", n=15, seed=2)
        with ws.connect(lock_timeout_s=0):  # no wait at all: the reader holds no lock on the catalogue
            pass
        assert ws.commit([second]) == (1, 15)
        out, _ = reader.communicate("\n", timeout=60)
        assert out.split() == ["20", "35"]  # the held connection is its snapshot; a new one sees the commit
    finally:
        reader.kill()


def test_a_workspace_without_a_snapshot_is_searched_from_its_catalogue(tmp_path):
    ws = Workspace(tmp_path / "ws")
    shard, vectors = make_shard(ws, "aaa", "control", n=12, seed=4)
    ws.commit([shard])
    for path in (tmp_path / "ws" / "index").iterdir():  # as a workspace from before snapshots
        path.unlink()
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(vectors))
    assert searcher.search("v:5", k=1)[0].segment_id == "aaa-000005"
    assert searcher.current().stamp is None


def test_a_torn_manifest_is_not_a_snapshot(tmp_path):
    ws = Workspace(tmp_path / "ws")
    shard, vectors = make_shard(ws, "aaa", "control", n=12, seed=4)
    ws.commit([shard])
    rows = next((tmp_path / "ws" / "index").glob("segments-*.arrow"))
    rows.write_bytes(rows.read_bytes()[:100])  # a rows file cut short
    catalog_id = Path(next((tmp_path / "ws" / "index").glob("current-*.json"))).stem.split("-", 1)[1]
    assert (
        snapshot.load(
            ws.store,
            catalog_id,
            lambda name: catalog_index.read(ws.store, name),
            snapshot.stamp(ws.store, catalog_id),
        )
        is None
    )
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(vectors))
    assert searcher.search("v:2", k=1)[0].segment_id == "aaa-000002"  # rebuilt from the catalogue


def test_an_index_write_that_fails_after_the_commit_leaves_the_commit_and_is_written_next_time(
    tmp_path, monkeypatch
):
    ws = Workspace(tmp_path / "ws")
    first, first_vectors = make_shard(ws, "aaa", "control", n=10, seed=1)
    ws.commit([first])
    second, second_vectors = make_shard(ws, "bbb", "stim", n=10, seed=2)

    def full_disk(self, path):
        Path(path).write_bytes(b"half an ind")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VectorIndex, "write", full_disk)
    warnings: list[str] = []
    assert ws.commit([second], warnings=warnings) == (1, 10)  # the catalogue stays committed
    assert warnings == [
        f"{ws.root}: the commit stands, but the snapshot that search and the dashboard read could not "
        "be published (OSError: [Errno 28] No space left on device); they read the catalogue itself "
        "until the next commit publishes it"
    ]
    assert [
        p.name for p in (tmp_path / "ws" / "index").iterdir() if p.name.startswith(".")
    ] == []  # no temporary left
    vectors = np.concatenate([first_vectors, second_vectors])
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(vectors))
    assert searcher.search("v:14", k=1)[0].segment_id == "bbb-000004"  # the published snapshot lags: rebuilt
    monkeypatch.undo()
    assert ws.commit([second]) == (0, 0)  # nothing new, but the index and snapshot are written now
    assert Workspace(tmp_path / "ws").snapshot().stamp is not None
    assert Workspace(tmp_path / "ws").snapshot().segments == 20


def test_a_truncated_index_file_is_rebuilt(tmp_path):
    ws = Workspace(tmp_path / "ws")
    shard, vectors = make_shard(ws, "aaa", "control", n=30, seed=5)
    ws.commit([shard])
    index_file = next((tmp_path / "ws" / "index").glob("segments-*.faiss"))
    index_file.write_bytes(index_file.read_bytes()[:1000])
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(vectors))
    assert searcher.search("v:21", k=1)[0].segment_id == "aaa-000021"  # a reader rebuilds it in memory
    more, _ = make_shard(ws, "bbb", "stim", n=5, seed=6)
    assert ws.commit([more]) == (1, 5)  # the writer rebuilds and writes it
    assert VectorIndex.load(index_file).size == 35


def test_a_recomputed_session_replaces_its_segments_and_a_relabelled_one_its_condition_for_readers(tmp_path):
    ws = Workspace(tmp_path / "ws")
    a, va = make_shard(ws, "aaa", "control", n=10, seed=1)
    b, vb = make_shard(ws, "bbb", "control", n=10, seed=2)
    ws.commit([a, b])
    with ws.connect() as con:  # a discovery run put aaa's segments in cluster 3
        con.execute("INSERT INTO discovery_runs VALUES (1, now(), 20, 20, '{}')")
        con.execute(
            "INSERT INTO segment_clusters SELECT 1, segment_id, 3, 0, 0, 0, 0 FROM segments "
            "WHERE session_id = 'aaa'"
        )
        con.execute("UPDATE segments SET cluster_id = 3 WHERE session_id = 'aaa'")
        ws.publish(con, changed=snapshot.DISCOVERY)
    a2, va2 = make_shard(ws, "aaa", "control", n=6, seed=3)  # aaa analysed again, with other settings
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(np.concatenate([va, vb, va2])))
    assert searcher.search("v:3", k=1)[0].segment_id == "aaa-000003"
    assert searcher.search("v:12", k=3, condition="stim") == []

    assert ws.commit([a2], replace={"aaa"}, labels={"bbb": {"animal": "m1", "condition": "stim"}}) == (1, 6)
    with Workspace(tmp_path / "ws").reader() as con:
        assert con.execute(
            "SELECT session_id, count(*), count(cluster_id) FROM segments GROUP BY 1 ORDER BY 1"
        ).fetchall() == [("aaa", 6, 0), ("bbb", 10, 0)]
        assert con.execute("SELECT count(*) FROM segment_clusters").fetchone()[0] == 0
        assert con.execute("SELECT session_id, condition FROM sessions ORDER BY 1").fetchall() == [
            ("aaa", "control"),
            ("bbb", "stim"),
        ]
    hit = searcher.search("v:22", k=1)[0]  # the new aaa's third segment
    assert (hit.segment_id, hit.score) == ("aaa-000002", 1.0)
    assert searcher.search("v:8", k=1)[0].score < 0.5  # the old aaa's vectors are gone from the index
    stim = searcher.search("v:12", k=3, condition="stim")
    assert [h.session_id for h in stim] == ["bbb"] * 3 and stim[0].segment_id == "bbb-000002"


def test_a_background_searcher_answers_from_the_held_snapshot_until_the_newer_one_is_loaded(
    tmp_path, monkeypatch
):
    ws = Workspace(tmp_path / "ws")
    first, va = make_shard(ws, "aaa", "control", n=10, seed=1)
    ws.commit([first])
    searcher = Searcher(Workspace(tmp_path / "ws"), QueryIsVector(va), background=True)
    searcher.REFRESH_EVERY_S = 0.0
    held = searcher.current()
    second, vb = make_shard(ws, "bbb", "stim", n=10, seed=2)
    ws.commit([second])
    searcher.embedder = QueryIsVector(np.concatenate([va, vb]))
    release = threading.Event()
    slow = Workspace.snapshot

    def loading_slowly(self, previous=None):
        release.wait(30)  # the newer snapshot takes a while to read
        return slow(self, previous)

    monkeypatch.setattr(Workspace, "snapshot", loading_slowly)
    assert searcher.current() is held  # a refresh started; the held snapshot answers meanwhile
    assert searcher.search("v:12", k=1)[0].session_id == "aaa"  # bbb not in it yet
    release.set()
    searcher._refresh.join(30)
    assert searcher.current().segments == 20
    assert searcher.search("v:12", k=1)[0].segment_id == "bbb-000002"
