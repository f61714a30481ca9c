import numpy as np
import pandas as pd
import pytest
from movement.io import load_poses

from mousegpt import tracking
from mousegpt.arena import from_background
from mousegpt.synth import read_truth_metadata


def _xy(ds, keypoint):
    return ds.position.isel(individuals=0).sel(keypoints=keypoint).transpose("time", "space").values


@pytest.fixture(scope="module")
def tracked_synth(synth_dir):
    path = synth_dir / "stim_m02.mp4"
    return tracking.track(path), pd.read_parquet(synth_dir / "stim_m02.truth.parquet")


def test_keypoints_follow_synthetic_truth(tracked_synth):
    ds, truth = tracked_synth
    body_length = np.median(np.hypot(truth.nose_x - truth.tail_base_x, truth.nose_y - truth.tail_base_y))
    # The silhouette's centroid is not quite the spine's midpoint when the body bends or rears.
    for keypoint, limit in (("nose", 0.03), ("body_center", 0.05), ("tail_base", 0.03)):
        error = np.hypot(*(_xy(ds, keypoint) - truth[[f"{keypoint}_x", f"{keypoint}_y"]].to_numpy()).T)
        assert np.nanmedian(error) < limit * body_length, keypoint


def test_head_and_tail_are_not_swapped(tracked_synth):
    ds, truth = tracked_synth
    nose_truth = truth[["nose_x", "nose_y"]].to_numpy()
    to_nose = np.linalg.norm(_xy(ds, "nose") - nose_truth, axis=1)
    to_tail = np.linalg.norm(_xy(ds, "tail_base") - nose_truth, axis=1)
    assert np.mean(to_tail < to_nose) < 0.03
    assert np.isnan(_xy(ds, "nose")).any(axis=1).mean() == 0


def test_arena_is_found_in_the_background(synth_dir):
    bg = tracking.estimate_background(synth_dir / "control_m01.mp4")
    assert bg.polarity == -1  # dark mouse on a light floor
    arena = from_background(bg.image)
    scene = read_truth_metadata(synth_dir / "control_m01.truth.parquet")["scene"]
    side = 0.92 * min(scene["width"], scene["height"])  # synth's arena fills 92% of the short side
    assert arena.shape == "rect"
    assert arena.width == pytest.approx(side, abs=4) and arena.height == pytest.approx(side, abs=4)
    assert (arena.cx, arena.cy) == pytest.approx((scene["width"] / 2, scene["height"] / 2), abs=3)


def test_a_circular_arena_is_found_as_a_circle(tmp_path):
    from dataclasses import replace

    from mousegpt.synth import Scene, synth_dataset

    manifest = synth_dataset(tmp_path, sessions=1, seconds=6, seed=4, scene=replace(Scene(width=320, height=240), arena="circle"))
    arena = from_background(tracking.estimate_background(tmp_path / manifest.video[0]).image)
    assert arena.shape == "circle"
    assert arena.width == pytest.approx(0.92 * 240, abs=4) and (arena.cx, arena.cy) == pytest.approx((160, 120), abs=3)


def test_tracks_command_writes_deeplabcut_csv(synth_dir, tmp_path):
    from typer.testing import CliRunner

    from mousegpt.cli import app

    out = tmp_path / "tracks.csv"
    result = CliRunner().invoke(app, ["tracks", str(synth_dir / "control_m04.mp4"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    back = load_poses.from_dlc_file(out, fps=25)
    assert list(back.keypoints.values) == ["nose", "body_center", "tail_base"]
    assert back.sizes["time"] == 600
    direct = tracking.track(synth_dir / "control_m04.mp4")
    np.testing.assert_allclose(back.position.values, direct.position.values, atol=1e-3)


@pytest.mark.real
def test_real_openfield_against_deeplabcut(real_data):
    """The built-in tracker against DeepLabCut's ResNet-50 on a real recording."""
    ds = tracking.track(real_data / "openfield_m3v1.mp4")
    dlc = load_poses.from_file(real_data / "openfield_m3v1_dlc.csv", source_software="DeepLabCut", fps=30)
    assert ds.sizes["time"] == dlc.sizes["time"] == 2330
    conf = dlc.confidence.isel(individuals=0)
    good = ((conf.sel(keypoints="snout") > 0.9) & (conf.sel(keypoints="tailbase") > 0.9)).values
    snout, tailbase = _xy(dlc, "snout")[good], _xy(dlc, "tailbase")[good]
    nose_err = np.linalg.norm(_xy(ds, "nose")[good] - snout, axis=1)
    tail_err = np.linalg.norm(_xy(ds, "tail_base")[good] - tailbase, axis=1)
    swapped = np.linalg.norm(_xy(ds, "nose")[good] - tailbase, axis=1) < nose_err
    assert np.median(nose_err) <= 8.0
    assert np.median(tail_err) <= 10.0
    assert swapped.mean() <= 0.02
    assert np.isnan(_xy(ds, "body_center")).any(axis=1).mean() <= 0.02
