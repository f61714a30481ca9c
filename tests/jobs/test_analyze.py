"""End to end on the shared local Ray: synth -> analyze (Ray Data) -> search finds what was planted."""

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from jobs.analyze import run
from mousegpt.errors import WorkspaceError
from mousegpt.inputs import InputSpec, input_specs, read_manifest
from mousegpt.search import Searcher
from mousegpt.store import SCHEMA_VERSION, Workspace
from tests.conftest import truth_share

pytestmark = pytest.mark.ray

FRAMES, FPS = 24 * 25, 25
SEGMENTS_PER_SESSION = (FRAMES - 25) // 12 + 1  # 1.0 s windows, 0.5 s hop (12 frames at 25 fps)


def test_every_session_is_analysed_and_committed(analyzed):
    ws, report = analyzed
    assert report["failed"] == [] and report["skipped"] == []
    assert report["sessions"] == 4
    assert report["frames"] == 4 * FRAMES
    assert report["segments"] == 4 * SEGMENTS_PER_SESSION
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM segments").fetchone()[0] == 4 * SEGMENTS_PER_SESSION
        assert con.execute("SELECT count(*) FROM jobs WHERE kind = 'analyze'").fetchone()[0] == 1
    assert ws.load_index().size == 4 * SEGMENTS_PER_SESSION


def test_each_session_has_its_quality_control_report(analyzed):
    ws, report = analyzed
    assert len(report["qc"]) == 4
    for row in report["qc"]:
        assert row["frames"] == FRAMES and row["missing_fraction"] == 0.0
        assert row["px_per_mm_source"] == "given"
    with ws.connect(read_only=True) as con:
        stored = {
            sid: json.loads(qc) for sid, qc in con.execute("SELECT session_id, qc FROM sessions").fetchall()
        }
    assert stored == {
        row["session_id"]: {k: row[k] for k in stored[row["session_id"]]} for row in report["qc"]
    }


def test_scale_from_the_arena_and_an_fps_that_disagrees_with_the_container(synth_dir, tmp_path, embedder):
    from mousegpt.analysis import analyze
    from mousegpt.describe import load_model
    from mousegpt.synth import read_truth_metadata

    truth = read_truth_metadata(synth_dir / "control_m04.truth.parquet")
    spec = InputSpec(video=str(synth_dir / "control_m04.mp4"), fps=30.0, arena_mm=truth["scene"]["arena_mm"])
    (result,) = analyze(spec, Workspace(tmp_path), load_model(), embedder)
    assert result.error is None
    assert result.px_per_mm == pytest.approx(truth["px_per_mm"], rel=0.02)
    assert result.px_per_mm_source.startswith(f"arena ({truth['scene']['arena_mm']:g} mm")
    assert result.warnings == [f"{spec.video}: given fps 30 differs from the container's 25.000; using 30"]


# k follows how much of each behaviour the dataset holds: about 22 s of grooming, 27 s of
# rest, but under 3 s of running in short bouts, so fewer distinct running moments exist.
@pytest.mark.parametrize(
    "query, planted, k, correct",
    [
        ("a mouse grooming itself", "groom", 5, 4),
        ("lying still, not moving at all", "rest", 5, 4),
        ("the mouse is running fast", "run", 3, 3),
    ],
)
def test_search_finds_the_planted_behaviour(analyzed, embedder, query, planted, k, correct):
    ws, _ = analyzed
    hits = Searcher(ws, embedder=embedder).search(query, k=k)
    assert len(hits) == k
    # A hit finds the behaviour when it fills at least 40% of the 1-second window: a moment
    # that straddles the start of a bout still shows it.
    shares = [truth_share(h.video, h.start_s, h.end_s, planted) for h in hits]
    assert sum(share >= 0.4 for share in shares) >= correct, shares
    assert all(hits[i].score >= hits[i + 1].score for i in range(k - 1))


def test_hits_are_distinct_moments(analyzed, embedder):
    ws, _ = analyzed
    searcher = Searcher(ws, embedder=embedder)
    hits = searcher.search("a mouse grooming itself", k=10)
    assert len(hits) == 10
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            assert a.session_id != b.session_id or a.end_s <= b.start_s or b.end_s <= a.start_s
    every = searcher.search("a mouse grooming itself", k=10, distinct=False)
    assert every[0].segment_id == hits[0].segment_id
    assert any(
        a.session_id == b.session_id and a.start_s < b.end_s and b.start_s < a.end_s
        for i, a in enumerate(every)
        for b in every[i + 1 :]
    )


def test_condition_filter(analyzed, embedder):
    ws, _ = analyzed
    searcher = Searcher(ws, embedder=embedder)
    # One stim session of 24 s holds about a dozen distinct (non-overlapping) moments.
    hits = searcher.search("a mouse walking", k=10, condition="stim")
    assert len(hits) == 10 and {h.condition for h in hits} == {"stim"}
    assert searcher.search("a mouse walking", k=5, condition="no-such-condition") == []


def test_rerun_adds_nothing(analyzed, synth_dir):
    ws, first = analyzed
    again = run(read_manifest(synth_dir / "manifest.csv"), ws)
    assert (again["sessions"], again["segments"]) == (0, 0)
    assert len(again["skipped"]) == 4
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM sessions").fetchone()[0] == 4


def test_bad_videos_fail_alone(tmp_path, synth_dir, ray_local):
    good = tmp_path / "good.mp4"
    shutil.copy(synth_dir / "control_m01.mp4", good)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(20000))
    specs = input_specs([str(tmp_path / "missing.mp4"), str(corrupt), str(good)], px_per_mm=1.104)
    ws = Workspace(tmp_path / "ws")
    report = run(specs, ws)
    assert report["sessions"] == 1 and report["segments"] == SEGMENTS_PER_SESSION
    errors = {f["input"].rsplit("/", 1)[-1]: f["error"] for f in report["failed"]}
    assert set(errors) == {"missing.mp4", "corrupt.mp4"}
    assert "missing.mp4: no such file" in errors["missing.mp4"]
    assert "corrupt.mp4" in errors["corrupt.mp4"] and "not a readable video" in errors["corrupt.mp4"]


def test_a_session_through_the_pipeline_in_parts_and_chunks_is_the_session_of_one_pass(
    synth_dir, tmp_path, ray_local, embedder
):
    """Tracked in 5 s parts and cut, described and embedded 7 segments at a time, by different
    workers: the shard is what one process analysing it in one go writes."""
    from mousegpt import analysis
    from mousegpt.describe import load_model

    spec = InputSpec(video=str(synth_dir / "anx_m03.mp4"), px_per_mm=1.104)
    (alone,) = analysis.analyze(spec, Workspace(tmp_path / "alone"), load_model(), embedder)
    report = run([spec], Workspace(tmp_path / "pipeline"), part_seconds=5.0, chunk_segments=7)
    assert report["failed"] == [] and report["tracked_parts"] == 5
    whole = pd.read_parquet(alone.shard)
    chunked = pd.read_parquet(Workspace(tmp_path / "pipeline").shard_path(alone.session_id))
    assert len(whole) == SEGMENTS_PER_SESSION
    numbers = ["probs", "confidence", "embedding"]
    pd.testing.assert_frame_equal(whole.drop(columns=numbers), chunked.drop(columns=numbers))
    np.testing.assert_allclose(whole["confidence"], chunked["confidence"], atol=1e-5)
    np.testing.assert_allclose(np.stack(whole["embedding"]), np.stack(chunked["embedding"]), atol=1e-5)


def test_a_session_described_chunk_by_chunk_is_described_as_in_one_go(
    synth_dir, tmp_path, embedder, monkeypatch
):
    """Long sessions are cut and described DESCRIBE_CHUNK segments at a time (memory stays flat)."""
    from mousegpt import analysis
    from mousegpt.describe import load_model

    spec = InputSpec(video=str(synth_dir / "anx_m03.mp4"), px_per_mm=1.104)
    model = load_model()
    tables = []
    for chunk in (10_000, 7):
        monkeypatch.setattr(analysis, "DESCRIBE_CHUNK", chunk)
        ws = Workspace(tmp_path / str(chunk))
        (result,) = analysis.analyze(spec, ws, model, embedder)
        assert result.error is None
        tables.append(pd.read_parquet(result.shard))
    whole, chunked = tables
    # The network's arithmetic differs in the last bits with the batch it runs in: numbers
    # within float32 rounding, everything else to the letter.
    numbers = ["probs", "confidence", "embedding"]
    pd.testing.assert_frame_equal(whole.drop(columns=numbers), chunked.drop(columns=numbers))
    probs = [pd.DataFrame([json.loads(p) for p in t["probs"]]) for t in tables]
    np.testing.assert_allclose(probs[0].to_numpy(), probs[1].to_numpy(), atol=1e-5)
    np.testing.assert_allclose(whole["confidence"], chunked["confidence"], atol=1e-5)
    np.testing.assert_allclose(np.stack(whole["embedding"]), np.stack(chunked["embedding"]), atol=1e-5)


def test_newer_workspace_is_refused_before_any_work(tmp_path, synth_dir, ray_local):
    ws = Workspace(tmp_path)
    ws.connect().close()
    with duckdb.connect(str(ws.catalog_path)) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    before = ws.catalog_path.read_bytes()
    with pytest.raises(WorkspaceError, match="newer than this mousegpt"):
        run([InputSpec(video=str(synth_dir / "control_m01.mp4"))], ws)
    assert ws.catalog_path.read_bytes() == before
    assert not ws.shard_dir.exists()


def test_an_uncommitted_shard_is_committed_not_recomputed(tmp_path, synth_dir, ray_local, embedder):
    """A run whose commit failed leaves complete shards; the next run commits them as they are."""
    from mousegpt.analysis import analyze
    from mousegpt.describe import load_model

    ws = Workspace(tmp_path / "ws")
    spec = InputSpec(video=str(synth_dir / "control_m04.mp4"), px_per_mm=1.104)
    (first,) = analyze(spec, ws, load_model(), embedder)
    written = Path(ws.shard_path(first.session_id)).stat().st_mtime_ns
    report = run([spec], ws)
    assert (report["sessions"], report["segments"], report["frames"]) == (1, first.segments, FRAMES)
    assert Path(ws.shard_path(first.session_id)).stat().st_mtime_ns == written
