"""Shards, index and clips on storage beyond the workspace folder: an S3-compatible server
(moto's server mode, started here on loopback) and another folder (as an NFS mount would be)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mousegpt.errors import WorkspaceError
from mousegpt.storage import Storage
from mousegpt.store import Workspace

from .conftest import S3_ENDPOINT
from .test_store import counts, make_shard

@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on loopback, where the test environment's AWS_ENDPOINT_URL points
    (``conftest``), with a bucket ``lab``."""
    from moto.server import ThreadedMotoServer

    port = int(S3_ENDPOINT.rsplit(":", 1)[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        Storage("s3://lab").fs.mkdir("lab")
        yield
    finally:
        server.stop()


@pytest.fixture(scope="module")
def pose_inputs(tmp_path_factory) -> Path:
    from mousegpt.synth import synth_dataset

    out = tmp_path_factory.mktemp("s3data")
    synth_dataset(out, sessions=2, seconds=12, seed=13, conditions=("control", "stim"), video=False)
    return out


def test_analyze_into_s3_then_search_from_it(s3, pose_inputs, tmp_path, ray_local):
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest

    ws = tmp_path / "ws"
    report = run(read_manifest(pose_inputs / "manifest.csv"), Workspace(ws, "s3://lab/mousegpt"))
    assert report["sessions"] == 2 and report["failed"] == []
    store = Storage("s3://lab/mousegpt")
    shards = store.fs.ls("lab/mousegpt/segments")
    assert len(shards) == 2 and all(s.endswith(".parquet") for s in shards)
    assert len(store.fs.ls("lab/mousegpt/index")) == 1
    assert sorted(p.name for p in ws.iterdir()) == ["catalog.duckdb"]  # nothing bulky on the local disk

    from mousegpt.search import Searcher

    reader = Workspace(ws)  # no storage given: the catalogue says where
    assert reader.store.url == "s3://lab/mousegpt"
    hits = Searcher(reader).search("a mouse rearing up", k=3)["hits"]  # the index read back from S3
    assert len(hits) == 3 and {h["session_id"] for h in hits} <= {r["session_id"] for r in report["qc"]}

    other = subprocess.run(
        [sys.executable, "-m", "mousegpt.cli", "analyze", "--manifest", str(pose_inputs / "manifest.csv"),
         "--workspace", str(ws), "--storage", str(tmp_path / "elsewhere")], capture_output=True, text=True,
        timeout=120)
    assert other.returncode == 1
    assert other.stderr.strip().splitlines()[-1] == (
        f"error: {ws / 'catalog.duckdb'}: this catalogue keeps its shards and index in s3://lab/mousegpt, not in "
        f"--storage {tmp_path / 'elsewhere'}; give the same storage or a new workspace")


def test_a_shard_that_cannot_be_read_is_named_and_nothing_is_committed(s3, tmp_path):
    ws = Workspace(tmp_path / "ws", "s3://lab/faulty")
    good, _ = make_shard(ws, "aaa", "control")
    ws.commit([good])
    before = counts(ws), ws.store.read_bytes(ws._index_name())
    second, _ = make_shard(ws, "bbb", "stim", seed=3)
    ws.store.fs.pipe_file(ws.shard_path("ccc"), b"PAR1 not a parquet file")  # a torn upload
    with pytest.raises(WorkspaceError) as caught:
        ws.commit([second, ws.shard_path("ccc")])
    message = str(caught.value)
    assert message.startswith("s3://lab/faulty/segments/ccc.parquet: cannot read this shard (")
    assert message.endswith("; nothing was committed") and "\n" not in message
    assert (counts(ws), ws.store.read_bytes(ws._index_name())) == before


def test_a_clip_is_cut_once_and_kept_in_s3(s3, synth_dir):
    import av

    from mousegpt.clips import clip_for

    store = Storage("s3://lab/clips-test")
    data = clip_for(store, "seg-1", str(synth_dir / "control_m01.mp4"), 2.0, 3.0)
    assert store.fs.ls("lab/clips-test/clips") == ["lab/clips-test/clips/seg-1-v2.mp4"]
    with av.open(__import__("io").BytesIO(data)) as clip:
        assert clip.streams.video[0].frames == 50  # 1 s and 0.5 s either side, at 25 fps
    assert clip_for(store, "seg-1", str(synth_dir / "control_m01.mp4"), 2.0, 3.0) == data  # cached


def test_another_folder_holds_shards_and_index(tmp_path):
    ws = Workspace(tmp_path / "ws", str(tmp_path / "nfs"))
    shard, vectors = make_shard(ws, "aaa", "control", n=6, seed=2)
    assert Path(shard).parent == tmp_path / "nfs" / "segments"
    ws.commit([shard])
    assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == ["catalog.duckdb"]
    assert len(list((tmp_path / "nfs" / "index").glob("*.faiss"))) == 1
    scores, _ = Workspace(tmp_path / "ws").load_index().search(vectors[3], k=1)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)


def test_a_failed_local_write_leaves_no_temporary_file(tmp_path):
    store = Storage(str(tmp_path / "bulk"))

    def torn(path):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        store.write_with("segments/x.parquet", torn)
    assert list((tmp_path / "bulk" / "segments").iterdir()) == []


def test_a_fresh_workspace_object_commits_into_the_recorded_storage(tmp_path):
    """The storage is read from the catalogue through the open writing connection: a second
    connection to the same file from this process would be refused by DuckDB."""
    writer = Workspace(tmp_path / "ws", str(tmp_path / "nfs"))
    writer.connect().close()  # records the storage in a new catalogue
    shard, _ = make_shard(writer, "aaa", "control", n=6)
    assert Workspace(tmp_path / "ws").commit([shard]) == (1, 6)
    assert len(list((tmp_path / "nfs" / "index").glob("*.faiss"))) == 1
