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

    synth_dataset(
        root / "data",
        sessions=4,
        seconds=120,
        seed=seed,
        conditions=("control", "stim"),
        novel=novel,
        video=False,
    )
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
    scores = discovery_scores(ws, result.clusters, "circling")
    assert scores["planted_segments"] > 50
    assert scores["precision"] >= 0.8 and scores["recall"] >= 0.8, scores
    for cluster in (c for c in result.clusters if c.novel):
        assert cluster.name.startswith("unlabelled") and cluster.outlier_fraction >= 0.5


@pytest.fixture(scope="module")
def twitching(tmp_path_factory, ray_local):
    ws = _workspace(tmp_path_factory.mktemp("twitching"), seed=303, novel=("head_twitch",))
    return ws, discover(ws, DiscoverConfig(seed=0))


def test_planted_head_twitches_are_recovered_as_a_flagged_cluster(twitching):
    # twitches of 0.3-0.6 s: a segment shows one when it holds at least 0.15 s of it (synth.shows_planted)
    ws, result = twitching
    scores = discovery_scores(ws, result.clusters, "head_twitch")
    assert scores["planted_segments"] > 20
    assert scores["precision"] >= 0.8 and scores["recall"] >= 0.8, scores
    assert scores["ari"] >= 0.6
    flagged = [c for c in result.clusters if c.novel]
    assert flagged and all("fast head jerks" in c.name for c in flagged)


def test_clusters_agree_with_the_core_behaviours(circling):
    ws, result = circling
    assert discovery_scores(ws, result.clusters, "circling")["ari"] >= 0.6
    named = {c.behavior for c in result.clusters if c.behavior}
    assert {"walk", "rest", "rear", "sniff", "run"} <= named


def test_the_planted_behaviour_is_far_from_the_vocabulary(circling):
    ws, result = circling
    with ws.connect(read_only=True) as con:
        seg = con.execute(
            "SELECT s.start_s, s.end_s, a.vocabulary_distance, a.outlier_score, ss.video, ss.pose "
            "FROM segment_clusters a JOIN segments s USING (segment_id) JOIN sessions ss USING (session_id) "
            "WHERE a.run_id = ?",
            [result.run_id],
        ).fetchdf()
    distance = seg["vocabulary_distance"].groupby(segment_truth(seg)).median()
    # a tight circle at walking speed moves like nothing the describer learned: further than any
    # core behaviour
    assert distance["circling"] > distance.drop("circling").max()


def test_features_hold_each_segment_s_search_vector_beside_its_facts(circling):
    import numpy as np

    from mousegpt.discover import FEATURE_FACTS, fact_matrix, features, kept, load

    ws, _ = circling
    seg = load(ws)
    novelty = np.linspace(0, 5, len(seg.table))
    # many batches, each placed by vec_id into the rows' order: session, then time
    z = fact_matrix(seg.table)
    x = features(ws, seg, z, DiscoverConfig(facts_weight=2.0, novelty_weight=0.5), novelty, batch=100)
    with ws.connect(read_only=True) as con:
        vectors = np.stack(
            con.execute(
                "SELECT embedding FROM segments WHERE behavior IS NOT NULL AND "
                "(confidence IS NULL OR confidence >= 0.5) ORDER BY session_id, segment_index"
            ).fetchnumpy()["embedding"]
        )
        visible, unsure = con.execute(
            "SELECT count(*), count(*) FILTER (confidence < 0.5) FROM segments WHERE behavior IS NOT NULL"
        ).fetchone()
    assert len(seg.table) == visible - unsure and kept() in seg.where  # the uncertain are left out
    assert np.array_equal(x[:, : vectors.shape[1]], vectors)
    assert np.allclose(x[:, vectors.shape[1] : -1], z * 2.0 / np.sqrt(len(FEATURE_FACTS)))
    assert np.allclose(x[:, -1], 0.5 * np.minimum(novelty, 3))
    assert seg.keywords["row"].nunique() == len(seg.table)  # every described segment has keywords


def test_each_cluster_has_exemplars_sizes_and_its_segments(circling):
    ws, result = circling
    with ws.connect(read_only=True) as con:
        per_cluster = dict(
            con.execute(
                "SELECT cluster_id, count(*) FROM segments WHERE cluster_id IS NOT NULL GROUP BY cluster_id"
            ).fetchall()
        )
        exemplar_clusters = {
            c.cluster_id: {
                r[0]
                for r in con.execute(
                    "SELECT cluster_id FROM segments WHERE segment_id IN (SELECT unnest(?))", [c.exemplars]
                ).fetchall()
            }
            for c in result.clusters
        }
    for c in result.clusters:
        assert per_cluster[c.cluster_id] == c.size == sum(c.size_by_condition.values())
        assert exemplar_clusters[c.cluster_id] == {c.cluster_id} and len(c.exemplars) == 5


def test_runs_are_versioned_and_segments_follow_the_latest(circling, tmp_path):
    ws, first = circling
    second = discover(ws, DiscoverConfig(seed=1, sample_size=600))  # fitted on a sample, the rest assigned
    assert second.run_id == first.run_id + 1 and second.sample == 600
    with ws.connect(read_only=True) as con:
        runs = con.execute("SELECT run_id, segments, sample FROM discovery_runs ORDER BY run_id").fetchall()
        latest = con.execute(
            "SELECT count(*) FROM segments s JOIN segment_clusters a USING (segment_id) "
            "WHERE a.run_id = ? AND s.cluster_id = a.cluster_id",
            [second.run_id],
        ).fetchone()[0]
    assert [r[0] for r in runs][-2:] == [first.run_id, second.run_id] and runs[-1][2] == 600
    assert latest == second.segments
    stored = latest_clusters(ws, first.run_id)
    assert stored.run_id == first.run_id and stored.clusters == first.clusters
    assert stored.to_dict()["clusters"] == first.to_dict()["clusters"]


def test_cli_discover_json_and_plots_then_profile_by_cluster(circling, tmp_path):
    ws, _ = circling
    result = subprocess.run(
        [MOUSEGPT, "discover", "--workspace", str(ws.root), "--json", "--plots", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    for c in document["clusters"]:
        assert {"cluster_id", "name", "keywords", "size", "novel", "exemplars"} <= set(c)
    assert (tmp_path / "p" / "behaviour_map.png").stat().st_size > 10_000
    assert "<html" in (tmp_path / "p" / "behaviour_map.html").read_text()[:500].lower()
    result = subprocess.run(
        [MOUSEGPT, "profile", "--workspace", str(ws.root), "--json", "--plots", str(tmp_path / "p")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert {"groups", "tests", "prediction"} <= set(document)
    assert {t["level"] for t in document["tests"]} == {"behavior", "cluster"}
    assert len(list((tmp_path / "p").glob("ethogram_behavior_*.png"))) == 4
    assert (tmp_path / "p" / "profile_cluster_time_fraction.png").exists()


def test_nothing_planted_nothing_flagged(tmp_path, ray_local):
    ws = _workspace(tmp_path, seed=102, novel=())
    result = discover(ws, DiscoverConfig(seed=0))
    assert not [c.name for c in result.clusters if c.novel]
    assert discovery_scores(ws, result.clusters)["ari"] >= 0.6


def test_an_empty_workspace_is_one_clear_error(tmp_path):
    result = subprocess.run(
        [MOUSEGPT, "discover", "--workspace", str(tmp_path / "none")], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "no workspace here" in result.stderr and result.stderr.count("error:") == 1


def test_outlier_clusters_set_apart_by_the_same_fact_become_one():
    import numpy as np
    import pandas as pd

    from mousegpt.discover import FEATURE_FACTS, merge_clusters

    # clusters 0 and 1: walking by their keywords; 2 and 3: outliers with a high head turn (circling
    # left and right); 4: outliers set apart by fast head jerks
    labels = np.repeat(np.arange(5), 20)
    z = np.zeros((100, len(FEATURE_FACTS)), np.float32)
    z[40:80, FEATURE_FACTS.index("head_yaw_abs_deg")] = 4.0
    z[80:, FEATURE_FACTS.index("head_yaw_fast_deg")] = 5.0
    shares = pd.DataFrame({"walk": [1.0, 0.9, 0.0, 0.0, 0.0], "turn": [0.0, 0.1, 1.0, 1.0, 0.0]})
    outlying = pd.Series([0.0, 0.1, 0.9, 0.8, 0.7])
    merged = merge_clusters(labels, shares, outlying, z, DiscoverConfig())
    groups = [set(merged[labels == c]) for c in range(5)]
    assert all(len(g) == 1 for g in groups)
    assert groups[0] == groups[1] and groups[2] == groups[3]
    assert len(set.union(groups[0], groups[2], groups[4])) == 3  # walking, circling, twitching


def test_a_brief_planted_behaviour_counts_where_it_fills_half_its_shortest_bout(tmp_path):
    import pandas as pd

    from mousegpt.synth import segment_coverage, shows_planted

    fps = 25
    behavior = ["rest"] * 50 + ["head_twitch"] * 10 + ["rest"] * 40  # a 0.4 s twitch from 2.0 s
    pd.DataFrame({"time_s": [i / fps for i in range(100)], "behavior": behavior}).to_parquet(
        tmp_path / "s.truth.parquet"
    )
    segments = pd.DataFrame(
        {"start_s": [0.0, 1.0, 1.5, 2.0], "end_s": [1.0, 2.0, 2.5, 3.0], "video": str(tmp_path / "s.mp4")}
    )
    coverage = segment_coverage(segments, "head_twitch")
    assert coverage.tolist() == [0.0, 0.0, 0.4, 0.4]
    assert shows_planted(coverage, "head_twitch").tolist() == [False, False, True, True]
    assert shows_planted(pd.Series([0.4, 0.5]), "circling").tolist() == [
        False,
        True,
    ]  # bouts longer than a window


def test_the_part_of_a_cluster_the_vocabulary_does_not_know_is_split_off():
    import numpy as np

    from mousegpt.discover import split_unknown

    labels = np.repeat([0, 1, 2], [100, 100, 30])
    unlike = np.zeros(230, bool)
    unlike[60:100] = True  # 40% of cluster 0: tight circles clustered with the turns
    unlike[190:195] = True  # a few odd moments of cluster 1: too few to be a group
    unlike[200:225] = True  # most of cluster 2: its known part is too small to stand alone
    split = split_unknown(labels, unlike, min_size=12, config=DiscoverConfig())
    assert len(set(split[60:100])) == 1 and split[60] not in set(split[:60]) | set(split[100:])
    assert (split[:60] == 0).all() and (split[100:] == labels[100:]).all()
