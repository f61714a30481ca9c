"""Inputs, shards, index and clips on storage beyond the workspace folder: an S3-compatible
server (moto's server mode, started by ``conftest.s3`` on loopback) and another folder (as an
NFS mount would be)."""

import io
import subprocess
import sys
from pathlib import Path

import pytest

from mousegpt import sources
from mousegpt.errors import InputError, WorkspaceError
from mousegpt.storage import Storage
from mousegpt.store import Workspace, content_hash
from tests.conftest import free_port
from tests.mousegpt.test_store import counts, make_shard


@pytest.fixture(scope="module")
def pose_inputs(tmp_path_factory) -> Path:
    from mousegpt.synth import synth_dataset

    out = tmp_path_factory.mktemp("s3data")
    synth_dataset(out, sessions=2, seconds=12, seed=13, conditions=("control", "stim"), video=False)
    return out


def test_analyze_from_s3_into_s3_then_search_from_it(s3, pose_inputs, synth_dir, tmp_path, ray_local):
    """Inputs, shards and index all in the object store: a manifest of pose files and a folder
    of videos read by URL, each stage's worker reading its machine's copy."""
    from jobs.analyze import run
    from mousegpt.inputs import input_specs, read_manifest

    fs = Storage("s3://lab").fs
    fs.put(str(pose_inputs) + "/", "lab/in/pose/", recursive=True)
    fs.put_file(str(synth_dir / "control_m01.mp4"), "lab/in/videos/control_m01.mp4")
    specs = read_manifest("s3://lab/in/pose/manifest.csv") + input_specs(
        ["s3://lab/in/videos/"], condition="control"
    )
    assert [s.pose or s.video for s in specs] == [
        "s3://lab/in/pose/control_m01.truth_dlc.csv",
        "s3://lab/in/pose/stim_m02.truth_dlc.csv",
        "s3://lab/in/videos/control_m01.mp4",
    ]

    ws = tmp_path / "ws"
    report = run(specs, Workspace(ws, "s3://lab/mousegpt"))
    assert report["sessions"] == 3 and report["failed"] == []
    store = Storage("s3://lab/mousegpt")
    shards = store.fs.ls("lab/mousegpt/segments")
    assert len(shards) == 3 and all(s.endswith(".parquet") for s in shards)
    # The snapshot readers read: the index, this commit's segments, the small tables, and the
    # manifest naming them.
    assert sorted(
        name.rsplit("/", 1)[1].split("-")[0] + name[name.rindex(".") :]
        for name in store.fs.ls("lab/mousegpt/index")
    ) == [
        "clusters.parquet",
        "current.json",
        "discovery_runs.parquet",
        "jobs.parquet",
        "segment_clusters.parquet",
        "segments.arrow",
        "segments.faiss",
        "sessions.parquet",
    ]
    assert sorted(p.name for p in ws.iterdir()) == [
        "catalog.duckdb",
        "workspace.json",
    ]  # nothing bulky on the local disk

    from mousegpt.search import Searcher

    reader = Workspace(ws)  # no storage given: workspace.json (as the catalogue) says where
    assert reader.store.url == "s3://lab/mousegpt"
    hits = Searcher(reader).search("a mouse rearing up", k=3)  # the index read back from S3
    assert len(hits) == 3 and {h.session_id for h in hits} <= {r["session_id"] for r in report["qc"]}
    with reader.connect(read_only=True) as con:
        named = con.execute("SELECT session_id, coalesce(video, pose) FROM sessions ORDER BY 2").fetchall()
    assert [url for _, url in named] == [s.pose or s.video for s in specs]
    # A session is its bytes, not its name: the video's copy in S3 is the same session as the file.
    assert named[2][0] == content_hash(synth_dir / "control_m01.mp4")

    other = subprocess.run(
        [
            sys.executable,
            "-m",
            "mousegpt.cli",
            "analyze",
            "--manifest",
            str(pose_inputs / "manifest.csv"),
            "--workspace",
            str(ws),
            "--storage",
            str(tmp_path / "elsewhere"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 1
    assert other.stderr.strip().splitlines()[-1] == (
        f"error: {ws / 'catalog.duckdb'}: "
        "this catalogue keeps its shards and index in s3://lab/mousegpt, not in "
        f"--storage {tmp_path / 'elsewhere'}; give the same storage or a new workspace"
    )


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


def test_a_clip_of_a_video_in_s3_is_cut_once_and_kept_in_s3(s3, synth_dir):
    import av

    from mousegpt.clips import clip_for

    store = Storage("s3://lab/clips-test")
    store.fs.put_file(str(synth_dir / "control_m01.mp4"), "lab/clips-test/videos/m01.mp4")
    video = "s3://lab/clips-test/videos/m01.mp4"
    data = clip_for(store, "seg-1", video, 2.0, 3.0)
    assert store.fs.ls("lab/clips-test/clips") == ["lab/clips-test/clips/seg-1-v2.mp4"]
    with av.open(io.BytesIO(data)) as clip:
        assert clip.streams.video[0].frames == 50  # 1 s and 0.5 s either side, at 25 fps
    assert clip_for(store, "seg-1", video, 2.0, 3.0) == data  # cached
    assert not any(sources.cache_dir().rglob("m01.mp4"))  # read in ranges, never copied whole
    with pytest.raises(InputError, match=r"^s3://lab/clips-test/videos/gone.mp4: no such file$"):
        clip_for(store, "seg-2", "s3://lab/clips-test/videos/gone.mp4", 2.0, 3.0)


def test_an_input_in_s3_is_copied_once_per_version(s3, synth_dir):
    from mousegpt import video

    fs = Storage("s3://lab").fs
    fs.put_file(str(synth_dir / "stim_m02.mp4"), "lab/once/m02.mp4")
    url = "s3://lab/once/m02.mp4"
    info = video.probe(url)
    assert (info.path, info.width, info.height, info.fps, info.n_frames) == (url, 640, 480, 25.0, 600)
    copy = Path(sources.local(url))
    assert copy.name == "m02.mp4" and copy.read_bytes() == (synth_dir / "stim_m02.mp4").read_bytes()
    first = copy.stat().st_mtime_ns
    assert Path(sources.local(url)) == copy and copy.stat().st_mtime_ns == first  # not fetched again

    fs.pipe_file("lab/once/m02.mp4", b"not a video any more")  # the object changes: a new copy
    changed = Path(sources.local(url))
    assert changed != copy and changed.read_bytes() == b"not a video any more"
    with pytest.raises(InputError, match=r"^s3://lab/once/m02.mp4: not a readable video \("):
        video.probe(url)  # named by its URL, not by the cache's copy
    with pytest.raises(InputError, match=r"^s3://lab/once/missing.mp4: no such file$"):
        sources.local("s3://lab/once/missing.mp4")


def test_a_failed_copy_leaves_nothing_in_the_cache(s3, tmp_path, monkeypatch):
    monkeypatch.setenv(sources.CACHE_ENV, str(tmp_path / "cache"))
    fs = Storage("s3://lab").fs
    fs.pipe_file("lab/torn/m.mp4", b"x" * 1000)
    real = sources._fs

    class Torn:
        def __init__(self, url):
            self.fs, self.path = real(url)

        def __getattr__(self, name):
            return getattr(self.fs, name)

        def get_file(self, remote, local):
            Path(local).write_bytes(b"x" * 10)
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(sources, "_fs", lambda url: (Torn(url), real(url)[1]))
    with pytest.raises(
        InputError, match=r"^s3://lab/torn/m.mp4: cannot copy it to .+ \(No space left on device\)$"
    ):
        sources.local("s3://lab/torn/m.mp4")
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != ".lock"] == []


def test_an_unreachable_store_is_one_line_naming_the_url(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(InputError) as caught:
        sources.exists("s3://lab/videos/m01.mp4")
    assert str(caught.value).startswith("s3://lab/videos/m01.mp4: cannot reach it (") and "\n" not in str(
        caught.value
    )


def test_another_folder_holds_shards_and_index(tmp_path):
    ws = Workspace(tmp_path / "ws", str(tmp_path / "nfs"))
    shard, vectors = make_shard(ws, "aaa", "control", n=6, seed=2)
    assert Path(shard).parent == tmp_path / "nfs" / "segments"
    ws.commit([shard])
    assert sorted(p.name for p in (tmp_path / "ws").iterdir()) == ["catalog.duckdb", "workspace.json"]
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


def test_a_full_disk_while_writing_a_shard_fails_that_input_alone_and_leaves_nothing_behind(
    pose_inputs, tmp_path, ray_local, monkeypatch
):
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest

    specs = read_manifest(pose_inputs / "manifest.csv")
    ws = Workspace(tmp_path / "ws")
    real = Storage.write_with

    def full_for_the_control_mouse(self, name, write):
        if name.startswith("segments/") and not hasattr(full_for_the_control_mouse, "done"):
            full_for_the_control_mouse.done = True  # the first shard written: the disk fills while writing it

            def torn(path):
                Path(path).write_bytes(b"PAR1 half a shard")
                raise OSError(28, "No space left on device")

            return real(self, name, torn)
        return real(self, name, write)

    monkeypatch.setattr(Storage, "write_with", full_for_the_control_mouse)
    report = run(specs, ws, model="kinematic")
    (failed,) = report["failed"]
    assert report["sessions"] == 1
    assert failed["error"].startswith(
        f"{failed['input']}: cannot write its shard {ws.root.resolve()}/segments/"
    )
    assert failed["error"].endswith(".parquet (No space left on device)")
    assert [
        p.name for p in (ws.root / "segments").iterdir() if not p.name.endswith(".parquet")
    ] == []  # no temporary
    assert (
        len(list((ws.root / "segments").glob("*.parquet"))) == 1
    )  # the other input's shard, nothing half-written
    assert counts(ws) == (1, report["segments"])
