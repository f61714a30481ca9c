"""``mousegpt discover``: a planted behaviour becomes a flagged cluster and nothing is flagged
when nothing was planted, core behaviours become clusters, runs are versioned, and ``mousegpt
profile`` reads the clusters too.

The workspaces are analysed from the synthetic truth's pose files (kinematics only, no video),
which is what makes four two-minute sessions cheap enough for a test."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mousegpt.discover import DiscoverConfig, discover, latest_clusters
from mousegpt.store import Workspace
from mousegpt.synth import discovery_scores, segment_truth

MOUSEGPT = str(Path(sys.executable).parent / "mousegpt")


def _workspace(root: Path, seed: int, novel: tuple[str, ...]) -> Workspace:
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest
    from mousegpt.synth import synth_dataset

    synth_dataset(root / "data", sessions=4, seconds=120, seed=seed, conditions=("control", "stim"), novel=novel,
                  video=False)
    ws = Workspace(root / "ws")
    report = run(read_manifest(root / "data" / "manifest.csv"), ws)
    assert not report["failed"]
    return ws


@pytest.fixture(scope="module")
def circling(tmp_path_factory, ray_local):
    ws = _workspace(tmp_path_factory.mktemp("circling"), seed=101, novel=("circling",))
    return ws, discover(ws, DiscoverConfig(seed=0))


def test_planted_circling_is_recovered_as_a_flagged_cluster(circling):
    ws, result = circling
    scores = discovery_scores(ws, result["clusters"], "circling")
    assert scores["planted_segments"] > 50
    assert scores["precision"] >= 0.8 and scores["recall"] >= 0.8, scores
    for cluster in (c for c in result["clusters"] if c["novel"]):
        assert cluster["name"].startswith("unlabelled") and cluster["outlier_fraction"] >= 0.5


def test_clusters_agree_with_the_core_behaviours(circling):
    ws, result = circling
    assert discovery_scores(ws, result["clusters"], "circling")["ari"] >= 0.6
    named = {c["behavior"] for c in result["clusters"] if c["behavior"]}
    assert {"walk", "rest", "rear", "sniff", "run"} <= named


def test_the_planted_behaviour_is_far_from_the_vocabulary(circling):
    ws, result = circling
    with ws.connect(read_only=True) as con:
        seg = con.execute("SELECT s.start_s, s.end_s, a.vocabulary_distance, a.outlier_score, ss.video, ss.pose "
                          "FROM segment_clusters a JOIN segments s USING (segment_id) JOIN sessions ss USING (session_id) "
                          "WHERE a.run_id = ?", [result["run_id"]]).fetchdf()
    distance = seg["vocabulary_distance"].groupby(segment_truth(seg)).median()
    # a tight circle at walking speed moves like nothing the describer learned: further than any core behaviour
    assert distance["circling"] > distance.drop("circling").max()


def test_each_cluster_has_exemplars_sizes_and_its_segments(circling):
    ws, result = circling
    with ws.connect(read_only=True) as con:
        per_cluster = dict(con.execute("SELECT cluster_id, count(*) FROM segments WHERE cluster_id IS NOT NULL "
                                       "GROUP BY cluster_id").fetchall())
        exemplar_clusters = {c["cluster_id"]: {r[0] for r in con.execute(
            "SELECT cluster_id FROM segments WHERE segment_id IN (SELECT unnest(?))", [c["exemplars"]]).fetchall()}
            for c in result["clusters"]}
    for c in result["clusters"]:
        assert per_cluster[c["cluster_id"]] == c["size"] == sum(c["size_by_condition"].values())
        assert exemplar_clusters[c["cluster_id"]] == {c["cluster_id"]} and len(c["exemplars"]) == 5


def test_runs_are_versioned_and_segments_follow_the_latest(circling, tmp_path):
    ws, first = circling
    second = discover(ws, DiscoverConfig(seed=1, sample_size=600))  # fitted on a sample, the rest assigned
    assert second["run_id"] == first["run_id"] + 1 and second["sample"] == 600
    with ws.connect(read_only=True) as con:
        runs = con.execute("SELECT run_id, segments, sample FROM discovery_runs ORDER BY run_id").fetchall()
        latest = con.execute("SELECT count(*) FROM segments s JOIN segment_clusters a USING (segment_id) "
                             "WHERE a.run_id = ? AND s.cluster_id = a.cluster_id", [second["run_id"]]).fetchone()[0]
    assert [r[0] for r in runs][-2:] == [first["run_id"], second["run_id"]] and runs[-1][2] == 600
    assert latest == second["segments"]
    assert latest_clusters(ws, first["run_id"])["clusters"] == [
        {k: v for k, v in c.items()} for c in first["clusters"]]


def test_cli_discover_json_and_plots_then_profile_by_cluster(circling, tmp_path):
    ws, _ = circling
    result = subprocess.run([MOUSEGPT, "discover", "--workspace", str(ws.root), "--json", "--plots", str(tmp_path / "p")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    for c in document["clusters"]:
        assert {"cluster_id", "name", "keywords", "size", "novel", "exemplars"} <= set(c)
    assert (tmp_path / "p" / "behaviour_map.png").stat().st_size > 10_000
    assert "<html" in (tmp_path / "p" / "behaviour_map.html").read_text()[:500].lower()
    result = subprocess.run([MOUSEGPT, "profile", "--workspace", str(ws.root), "--json", "--plots", str(tmp_path / "p")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert {"groups", "tests", "prediction"} <= set(document)
    assert {t["level"] for t in document["tests"]} == {"behavior", "cluster"}
    assert len(list((tmp_path / "p").glob("ethogram_behavior_*.png"))) == 4
    assert (tmp_path / "p" / "profile_cluster_time_fraction.png").exists()


def test_nothing_planted_nothing_flagged(tmp_path, ray_local):
    ws = _workspace(tmp_path, seed=102, novel=())
    result = discover(ws, DiscoverConfig(seed=0))
    assert not [c["name"] for c in result["clusters"] if c["novel"]]
    assert discovery_scores(ws, result["clusters"])["ari"] >= 0.6


def test_an_empty_workspace_is_one_clear_error(tmp_path):
    result = subprocess.run([MOUSEGPT, "discover", "--workspace", str(tmp_path / "none")], capture_output=True, text=True)
    assert result.returncode == 1
    assert "no workspace here" in result.stderr and result.stderr.count("error:") == 1
