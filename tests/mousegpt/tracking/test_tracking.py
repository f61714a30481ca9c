import math
from dataclasses import replace

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from movement.io import load_poses

from mousegpt import tracking
from mousegpt.arena import from_background
from mousegpt.synth import Scene, read_truth_metadata, synth_dataset

SCENES = [
    ("top", "agouti", "square"),
    ("top", "white", "circle"),
    ("bottom", "black", "square"),
    ("bottom", "white", "circle"),
    ("bottom", "agouti", "circle"),
]
"""Views, furs and arenas besides synth_dir's (top, black, square), one short session each."""

TAIL_TIP_LIMIT = 0.04
"""Median tail_tip error, in body lengths. Looser than the 3% of the body keypoints: the
tail's last millimetres are a pixel wide and fade into the floor at the lower threshold."""


def _xy(ds, keypoint):
    return ds.position.isel(individuals=0).sel(keypoints=keypoint).transpose("time", "space").values


def _errors(ds, truth, keypoint):
    """Distance (px) of the tracked keypoint from the truth in every frame; NaN where not tracked."""
    return np.hypot(*(_xy(ds, keypoint) - truth[[f"{keypoint}_x", f"{keypoint}_y"]].to_numpy()).T)


def _body_length_px(truth_path):
    """The animal's stretched-out nose-to-tail-base length in pixels, from the truth's metadata."""
    meta = read_truth_metadata(truth_path)
    return meta["body_length_mm"] * meta["px_per_mm"]


@pytest.fixture(scope="module")
def tracked_synth(synth_dir):
    path = synth_dir / "stim_m02.mp4"
    truth_path = synth_dir / "stim_m02.truth.parquet"
    return tracking.track(path), pd.read_parquet(truth_path), _body_length_px(truth_path)


@pytest.fixture(scope="module", params=SCENES, ids="-".join)
def tracked_scene(request, tmp_path_factory):
    """One 10-second 640x480 session of a scene, tracked: (dataset, truth, body length px).

    The background model needs the mouse to move: one that rests in one place through a
    whole short clip hides the floor under it. ``stim`` mice rest least."""
    view, fur, arena = request.param
    out = tmp_path_factory.mktemp("-".join(request.param))
    manifest = synth_dataset(
        out,
        sessions=1,
        seconds=10,
        seed=12,
        conditions=("stim",),
        scene=Scene(view=view, fur=fur, arena=arena),
    )
    truth_path = out / manifest.video[0].replace(".mp4", ".truth.parquet")
    return tracking.track(out / manifest.video[0]), pd.read_parquet(truth_path), _body_length_px(truth_path)


def _assert_keypoints_follow(tracked):
    ds, truth, body_length = tracked
    for keypoint in ("nose", "body_center", "tail_base"):
        assert np.nanmedian(_errors(ds, truth, keypoint)) <= 0.03 * body_length, keypoint
    tail_tip = _errors(ds, truth, "tail_tip")
    assert np.nanmedian(tail_tip) <= TAIL_TIP_LIMIT * body_length
    assert np.isnan(tail_tip).mean() < 0.1


def test_keypoints_follow_synthetic_truth(tracked_synth):
    _assert_keypoints_follow(tracked_synth)


def test_keypoints_follow_truth_in_every_scene(tracked_scene):
    _assert_keypoints_follow(tracked_scene)
    ds, truth, _ = tracked_scene
    nose_truth = truth[["nose_x", "nose_y"]].to_numpy()
    to_nose = np.linalg.norm(_xy(ds, "nose") - nose_truth, axis=1)
    assert np.mean(np.linalg.norm(_xy(ds, "tail_base") - nose_truth, axis=1) < to_nose) < 0.03
    assert np.isnan(_xy(ds, "body_center")).any(axis=1).mean() == 0


def test_body_ellipse_matches_truth(tracked_scene):
    ds, truth, _ = tracked_scene
    ellipse = {name: ds[name].isel(individuals=0).values for name in tracking.BODY_ELLIPSE}
    towards_nose = truth[["nose_x", "nose_y"]].to_numpy() - truth[["tail_base_x", "tail_base_y"]].to_numpy()
    truth_deg = np.degrees(np.arctan2(towards_nose[:, 1], towards_nose[:, 0]))
    off = np.abs((ellipse["body_orientation_deg"] - truth_deg + 180) % 360 - 180)
    assert np.mean(off < 15) > 0.9
    # The equivalent ellipse of a mouse's body (without the tail) is about as long as from nose to tail base.
    length_ratio = ellipse["body_length_px"] / np.linalg.norm(towards_nose, axis=1)
    assert 0.85 < np.median(length_ratio) < 1.15
    assert np.all(ellipse["body_width_px"] < ellipse["body_length_px"])
    # A body is nearly convex: its area is close to that of its equivalent ellipse.
    area_ratio = ellipse["body_area_px2"] / (
        math.pi / 4 * ellipse["body_length_px"] * ellipse["body_width_px"]
    )
    assert 0.85 < np.median(area_ratio) < 1.1


def test_track_returns_poses_and_body_ellipse(tracked_synth):
    ds, _, _ = tracked_synth
    assert list(ds.keypoints.values) == ["nose", "body_center", "tail_base", "tail_tip"]
    confidence = ds.confidence.isel(individuals=0)
    assert float(confidence.min()) >= 0 and float(confidence.max()) <= 1
    no_tail = np.isnan(_xy(ds, "tail_tip")).any(axis=1)
    assert np.all(confidence.sel(keypoints="tail_tip").values[no_tail] == 0)
    for name in tracking.BODY_ELLIPSE:
        assert ds[name].dims == ("time", "individuals")
    orientation = ds.body_orientation_deg.values
    assert np.all((orientation >= 0) & (orientation < 360))


def _write_grey_video(path, frames, fps=25):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "5"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(stream.encode())


def test_a_tailless_mouse_has_no_tail_tip_and_its_ellipse_is_measured(tmp_path):
    """A dark ellipse (36 x 18 px) gliding head first at 30 degrees over a light floor."""
    heading = math.radians(30)
    frames = np.full((40, 150, 200), 200, np.uint8)
    for i, frame in enumerate(frames):
        centre = (30 + 3 * i * math.cos(heading), 30 + 3 * i * math.sin(heading))
        cv2.ellipse(frame, (round(centre[0]), round(centre[1])), (18, 9), 30, 0, 360, 40, -1)
    _write_grey_video(tmp_path / "tailless.mp4", frames)
    ds = tracking.track(tmp_path / "tailless.mp4")
    assert np.isnan(_xy(ds, "tail_tip")).all()
    assert np.all(ds.confidence.sel(keypoints="tail_tip").values == 0)
    assert np.isfinite(_xy(ds, "nose")).all()
    ellipse = {name: ds[name].isel(individuals=0).values for name in tracking.BODY_ELLIPSE}
    np.testing.assert_allclose(ellipse["body_length_px"], 36, atol=2)
    np.testing.assert_allclose(ellipse["body_width_px"], 18, atol=2)
    np.testing.assert_allclose(ellipse["body_area_px2"], math.pi * 18 * 9, rtol=0.08)
    np.testing.assert_allclose(ellipse["body_orientation_deg"], 30, atol=3)


def test_head_and_tail_are_not_swapped(tracked_synth):
    ds, truth, _ = tracked_synth
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
    manifest = synth_dataset(
        tmp_path, sessions=1, seconds=6, seed=4, scene=replace(Scene(width=320, height=240), arena="circle")
    )
    arena = from_background(tracking.estimate_background(tmp_path / manifest.video[0]).image)
    assert arena.shape == "circle"
    assert arena.width == pytest.approx(0.92 * 240, abs=4) and (arena.cx, arena.cy) == pytest.approx(
        (160, 120), abs=3
    )


def test_tracks_command_writes_deeplabcut_csv(synth_dir, tmp_path):
    from typer.testing import CliRunner

    from mousegpt.cli import app

    out = tmp_path / "tracks.csv"
    result = CliRunner().invoke(app, ["tracks", str(synth_dir / "control_m04.mp4"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    back = load_poses.from_dlc_file(out, fps=25)
    assert list(back.keypoints.values) == ["nose", "body_center", "tail_base", "tail_tip"]
    assert back.sizes["time"] == 600
    direct = tracking.track(synth_dir / "control_m04.mp4")
    np.testing.assert_allclose(back.position.values, direct.position.values, atol=1e-3)


@pytest.mark.real
def test_real_openfield_against_deeplabcut(real_data):
    """The built-in tracker against DeepLabCut's ResNet-50 on a real recording."""
    ds = tracking.track(real_data / "openfield_m3v1.mp4")
    dlc = load_poses.from_dlc_file(real_data / "openfield_m3v1_dlc.csv", fps=30)
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
    # DeepLabCut has no tail tip here; the tail is in view in nearly every frame.
    assert np.isfinite(_xy(ds, "tail_tip")).all(axis=1).mean() >= 0.9


def _part_arrays(ds):
    """A tracked dataset's arrays, as a TrackedPart holds them."""
    positions = ds.position.isel(individuals=0).transpose("time", "keypoints", "space").values
    return (
        positions,
        ds.confidence.isel(individuals=0).values,
        np.stack([ds[name].isel(individuals=0).values for name in tracking.BODY_ELLIPSE], axis=1),
    )


def test_a_video_tracked_in_parts_and_stitched_is_the_video_tracked_in_one_pass(synth_dir, tracked_synth):
    path = synth_dir / "stim_m02.mp4"
    bg = tracking.estimate_background(path)
    bounds = tracking.part_bounds(600, 170)
    assert bounds == [(0, 150), (150, 300), (300, 450), (450, 600)]
    parts = [
        tracking.track_part(path, bg, start, stop) for start, stop in reversed(bounds)
    ]  # order does not matter
    joined, retracked = tracking.stitch(path, bg, parts)
    assert (joined.start, len(joined), len(retracked)) == (0, 600, 3)
    for mine, one_pass in zip(
        (joined.positions, joined.confidences, joined.ellipses), _part_arrays(tracked_synth[0])
    ):
        np.testing.assert_array_equal(mine, one_pass)
    assert (
        max(retracked) < 75
    )  # the parts agree with one pass soon after their edge, not by tracking it all again


def test_stitching_corrects_a_part_that_began_with_head_and_tail_swapped(synth_dir, tracked_synth):
    path = synth_dir / "stim_m02.mp4"
    bg = tracking.estimate_background(path)
    first, second = tracking.track_part(path, bg, 0, 300), tracking.track_part(path, bg, 300, 600)
    nose, tail_base = (
        list(tracking.TRACKED_KEYPOINTS).index("nose"),
        list(tracking.TRACKED_KEYPOINTS).index("tail_base"),
    )
    second.positions[:12, [nose, tail_base]] = second.positions[
        :12, [tail_base, nose]
    ]  # a wrong head/tail choice
    joined, retracked = tracking.stitch(path, bg, [first, second])
    assert retracked[0] >= 12
    np.testing.assert_array_equal(joined.positions, _part_arrays(tracked_synth[0])[0])


def test_parts_that_do_not_meet_are_refused(synth_dir):
    path = synth_dir / "stim_m02.mp4"
    bg = tracking.estimate_background(path)
    with pytest.raises(ValueError, match="do not meet"):
        tracking.stitch(
            path, bg, [tracking.track_part(path, bg, 0, 50), tracking.track_part(path, bg, 60, 100)]
        )


def test_part_bounds_cover_the_video_once():
    assert tracking.part_bounds(10, 100) == [(0, 10)]
    bounds = tracking.part_bounds(90_000, 1500)
    assert len(bounds) == 60 and bounds[0][0] == 0 and bounds[-1][1] == 90_000
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
