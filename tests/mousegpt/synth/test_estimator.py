"""The synthetic pose estimator: how a lab's DeepLabCut file would see the synthetic mouse."""

import numpy as np
import pytest

from mousegpt import pose
from mousegpt.synth import Scene, estimator, simulate, truth_table
from mousegpt.synth.dataset import truth_poses


@pytest.fixture(scope="module")
def truth():
    scene = Scene()
    table = truth_table(simulate(40, "control", seed=3), scene)
    return truth_poses(table, 25.0), float(
        np.median(np.hypot(table.nose_x - table.tail_base_x, table.nose_y - table.tail_base_y))
    )


def test_jitter_and_lost_points_are_as_drawn(truth):
    ds, length = truth
    noisy = estimator.Estimator(jitter_bl=0.01, drift_bl=0.0, dropout=0.05, outliers=0.0, keypoints="centre")
    seen = estimator.observe(ds, noisy, np.random.default_rng(0), length)
    error = (seen.position - ds.position).values / length
    assert np.nanstd(error) == pytest.approx(0.01, rel=0.1)
    lost = float((seen.confidence < 0.6).mean())
    assert 0.03 < lost < 0.12  # bursts of 1-7 frames started in 1.25% of frames, overlapping
    assert float(seen.confidence.where(seen.confidence >= 0.6).min()) >= 0.9
    assert list(seen.keypoints.values) == list(ds.keypoints.values)


def test_labs_track_different_centres(truth):
    ds, length = truth
    exact = dict(jitter_bl=0.0, drift_bl=0.0, dropout=0.0, outliers=0.0)
    mid_back = estimator.observe(
        ds, estimator.Estimator(**exact, keypoints="mid_back"), np.random.default_rng(0), length
    )
    expected = 0.75 * ds.position.sel(keypoints="body_center") + 0.25 * ds.position.sel(keypoints="tail_base")
    np.testing.assert_allclose(mid_back.position.sel(keypoints="body_center").values, expected.values)
    none = estimator.observe(
        ds, estimator.Estimator(**exact, keypoints="no_centre"), np.random.default_rng(0), length
    )
    assert "body_center" not in none.keypoints.values
    # the platform derives it again, as it does for a lab's file without one
    assert pose.standardize(none, source="synth").attrs["body_center"] == "midpoint of nose and tail_base"


def test_wild_points_land_up_to_a_body_length_away(truth):
    ds, length = truth
    wild = estimator.Estimator(jitter_bl=0.0, drift_bl=0.0, dropout=0.0, outliers=0.02, keypoints="centre")
    seen = estimator.observe(ds, wild, np.random.default_rng(1), length)
    moved = np.hypot(*(seen.position - ds.position).transpose("space", ...).values) / length
    assert 0.01 < float((moved > 0).mean()) < 0.03
    assert moved.max() <= np.sqrt(2) + 1e-9
