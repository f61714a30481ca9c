"""Quality control against synthetic truth with planted faults: what it repairs, what it counts."""

import numpy as np
import pytest
from movement.io import load_poses

from mousegpt import pose, qc
from mousegpt.synth import Scene, simulate, truth_table
from mousegpt.synth.dataset import truth_poses

FPS = 25.0
KEYPOINTS = ["nose", "body_center", "tail_base"]


@pytest.fixture(scope="module")
def truth():
    """60 s of a stimulated (busy) synthetic mouse: true positions in pixels."""
    table = truth_table(simulate(60, "stim", seed=3, fps=FPS), Scene())
    return truth_poses(table, FPS).sel(keypoints=KEYPOINTS)


def _xy(ds, keypoint):
    return ds.position.isel(individuals=0).sel(keypoints=keypoint).transpose("time", "space").values


def _walking_frames(truth, length=40):
    """Start of the ``length``-frame stretch where the body centre travels furthest."""
    centre = _xy(truth, "body_center")
    travel = np.linalg.norm(centre[length:] - centre[:-length], axis=1)
    return int(np.argmax(travel[: len(travel) // 2]))


def test_planted_faults_are_repaired_and_counted(truth):
    rng = np.random.default_rng(0)
    n = truth.sizes["time"]
    faulty = truth.copy(deep=True)
    position, confidence = faulty.position.values, faulty.confidence.values  # (time, space, keypoints, 1)
    nose, tail = KEYPOINTS.index("nose"), KEYPOINTS.index("tail_base")
    swapped = np.arange(_walking_frames(truth), _walking_frames(truth) + 40)
    position[swapped, :, nose], position[swapped, :, tail] = (
        position[swapped, :, tail].copy(),
        position[swapped, :, nose].copy(),
    )
    free = np.setdiff1d(np.arange(10, n - 200, 3), np.r_[swapped, swapped + 1, swapped - 1])
    jumps, unlikely, zeros = np.split(rng.choice(free, 45, replace=False), [10, 40])
    position[jumps, :, nose, 0] += [90.0, -70.0]  # one-frame glitches, most of a body length away
    confidence[unlikely, nose] = 0.1
    position[zeros, :, tail] = 0.0  # how multi-animal DeepLabCut marks a missing point
    lost = np.arange(n - 150, n - 100)  # out of view for 2 s: too long to fill
    position[lost] = np.nan

    cleaned, (report,) = qc.clean(faulty, FPS)

    assert report.frames == n
    assert report.low_confidence == len(unlikely) + len(zeros)
    assert report.swaps_fixed == len(swapped)
    assert report.jumps_removed >= len(jumps)
    assert report.missing_fraction == pytest.approx(len(lost) / n)
    error = {k: np.linalg.norm(_xy(cleaned, k) - _xy(truth, k), axis=1) for k in KEYPOINTS}
    for frames in (swapped, jumps, unlikely):
        assert np.nanmax(error["nose"][frames]) < 15.0  # put back or filled in, within smoothing
    assert np.nanmax(error["tail_base"][zeros]) < 15.0
    assert np.isnan(_xy(cleaned, "nose")[lost]).all()
    seen = np.setdiff1d(np.arange(n), lost)
    assert np.median(error["nose"][seen]) < 1.0  # smoothing does not move a clean track


def test_a_mouse_walking_backwards_all_session_is_turned_round(truth):
    """No frame-to-frame evidence: the labels are swapped throughout; motion decides."""
    faulty = truth.copy(deep=True)
    faulty = faulty.assign_coords(keypoints=["tail_base", "body_center", "nose"])
    cleaned, (report,) = qc.clean(faulty, FPS)
    assert report.swaps_fixed > 0.9 * truth.sizes["time"]
    right = np.linalg.norm(_xy(cleaned, "nose") - _xy(truth, "nose"), axis=1) < 10
    assert right.mean() > 0.95


def test_a_resting_mouse_keeps_the_source_s_majority():
    n = 100
    centre = np.full((n, 2), 200.0)
    nose, tail = centre + [50.0, 0.0], centre - [50.0, 0.0]
    flipped = [20, 21, 60]
    nose[flipped], tail[flipped] = tail[flipped].copy(), nose[flipped].copy()
    assert np.flatnonzero(qc.swap_plan(nose, tail, centre, max_link=12)).tolist() == flipped


def test_a_derived_body_centre_follows_the_cleaned_ends():
    n = 60
    x = np.linspace(100, 300, n)
    snout = np.stack([x + 40, np.full(n, 200.0)], axis=1)
    base = np.stack([x - 40, np.full(n, 200.0)], axis=1)
    snout[30] += [0.0, 120.0]  # a glitch
    ds = load_poses.from_numpy(
        np.stack([snout, base], axis=-1)[..., None],
        np.ones((n, 2, 1)),
        keypoint_names=["snout", "tailbase"],
        fps=FPS,
    )
    cleaned, (report,) = qc.clean(pose.standardize(ds, source="test"), FPS)
    centre = _xy(cleaned, "body_center")
    np.testing.assert_allclose(centre, (_xy(cleaned, "nose") + _xy(cleaned, "tail_base")) / 2)
    assert report.jumps_removed == 1  # the nose only: the derived centre is not counted again
    assert centre[30] == pytest.approx([x[30], 200.0], abs=1.0)


def test_a_swap_repair_turns_the_tracker_s_ellipse_and_drops_its_tail_tip():
    n = 40
    x = np.linspace(100, 300, n)  # walking along +x
    nose = np.stack([x + 40, np.full(n, 200.0)], axis=1)
    centre = np.stack([x, np.full(n, 200.0)], axis=1)
    tail = np.stack([x - 40, np.full(n, 200.0)], axis=1)
    tip = tail - [80.0, 0.0]
    nose[10], tail[10], tip[10] = (
        tail[10].copy(),
        nose[10].copy(),
        nose[10] + [30.0, 0.0],
    )  # one mislabelled frame
    ds = load_poses.from_numpy(
        np.stack([nose, centre, tail, tip], axis=-1)[..., None],
        np.ones((n, 4, 1)),
        keypoint_names=["nose", "body_center", "tail_base", "tail_tip"],
        fps=FPS,
    )
    orientation = np.zeros((n, 1))
    orientation[10] = 180.0
    ds["body_orientation_deg"] = (("time", "individuals"), orientation)
    cleaned, (report,) = qc.clean(ds, FPS, qc.QCConfig(smoothing_s=0))
    assert report.swaps_fixed == 1
    assert cleaned.body_orientation_deg.values[:, 0] == pytest.approx(np.zeros(n))
    assert _xy(cleaned, "nose")[10] == pytest.approx([x[10] + 40, 200.0])
    assert _xy(cleaned, "tail_tip")[10] == pytest.approx(
        [x[10] - 120, 200.0]
    )  # filled in from its neighbours


def test_shuffling_sideways_along_a_wall_is_not_walking_backwards():
    """Head on the wall, the body drifts sideways and a little backwards: no evidence to turn it round."""
    n = 90
    centre = np.stack([np.linspace(100, 300, n), np.linspace(60, 80, n)], axis=1)  # mostly +x, a little down
    facing = np.array([-0.5, -1.0]) / np.hypot(0.5, 1.0)  # up the screen, towards the wall, and a little left
    nose, tail = centre + 45 * facing, centre - 45 * facing
    assert not qc.swap_plan(nose, tail, centre, max_link=12).any()
