"""Pose files from other labs: their keypoint names, arena landmarks and implausible skeletons."""

import numpy as np
import pytest
from movement.io import load_poses

from mousegpt import landmarks, pose
from mousegpt.errors import InputError

OFT = "sturman_oft/12_01_A_190507144429_dlc.csv"
OFT_PANDAS = "sturman_oft/12_01_A_190507144429DeepCut_resnet50_Blockcourse1May9shuffle1_1030000.csv"


@pytest.mark.parametrize(
    "source, platform",
    [
        ("bodycentre", "body_center"),
        ("Mid-Back", "body_center"),
        ("midback", "body_center"),
        ("body_centre", "body_center"),
        ("centroid", "body_center"),
        ("spine", "body_center"),
        ("head", "head"),
        ("headcentre", "head"),
        ("earl", "left_ear"),
        ("earr", "right_ear"),
        ("l_ear", "left_ear"),
        ("r_ear", "right_ear"),
        ("Left Ear", "left_ear"),
        ("hipl", "left_hip"),
        ("hipr", "right_hip"),
        ("tailcentre", "tail_mid"),
        ("midtail", "tail_mid"),
        ("Tail_base", "tail_base"),
        ("tailtip", "tail_tip"),
        ("ind1_snout", "nose"),
        ("whisker", "whisker"),
    ],
)
def test_lab_keypoint_names_map_to_the_platform(source, platform):
    assert pose.platform_name(source) == platform


def test_the_middle_spine_point_is_the_body_centre():
    assert pose.platform_names(["nose", "spine1", "spine2", "spine3", "tailbase"]) == [
        "nose",
        "spine1",
        "body_center",
        "spine3",
        "tail_base",
    ]
    assert (
        pose.platform_names(["snout", "spine_1", "spine_2", "spine_3", "spine_4", "tail_base"])[2]
        == "body_center"
    )
    # a named centre wins over the spine
    assert pose.platform_names(["nose", "spine1", "spine2", "center", "tailbase"])[1:4] == [
        "spine1",
        "spine2",
        "body_center",
    ]


def _walking_mouse(n=200, extra=()):
    """A 60 px mouse walking along x at 2 px per frame, with nose, body centre and tail base;
    ``extra`` adds (name, positions (n, 2)) points."""
    t = np.arange(n, dtype=float)
    centre = np.stack([100 + 2 * t, 200 + 20 * np.sin(t / 15)], axis=1)
    points = {"snout": centre + [30, 0], "center": centre, "tailbase": centre - [30, 0], **dict(extra)}
    position = np.stack([points[k] for k in points], axis=-1)[
        ..., None
    ]  # time, space, keypoints, individuals
    return load_poses.from_numpy(position, np.ones((n, len(points), 1)), keypoint_names=list(points), fps=25)


def test_a_point_that_stays_put_is_a_landmark_not_the_body_centre():
    still = np.tile([[300.0, 150.0]], (200, 1)) + np.random.default_rng(0).normal(0, 2, (200, 2))
    ds = _walking_mouse(extra=[("centre", still)])  # both "center" and "centre" name a body centre
    found = pose.standardize(ds, source="lab.csv")
    assert "body_center" in found.keypoints.values
    np.testing.assert_allclose(
        found.position.sel(keypoints="body_center").values[:, :, 0],
        ds.position.sel(keypoints="center").values[:, :, 0],
    )
    assert set(found.attrs["landmarks"]) == {"centre"}
    assert found.attrs["landmarks"]["centre"] == pytest.approx((300, 150), abs=1)
    assert any("'centre' stays put while the animal moves" in w for w in found.attrs["pose_warnings"])


def test_a_still_mouse_has_no_landmarks():
    ds = _walking_mouse()
    ds["position"] = ds.position.isel(time=[0] * 200).assign_coords(time=ds.time)  # never moves
    assert landmarks.find(ds, ["snout", "center", "tailbase"]) == {}


def test_a_part_far_from_the_body_axis_is_named_in_a_warning():
    far = _walking_mouse().position.values[:, :, 1, 0] + [0, 80]  # 80 px beside a 60 px mouse, moving with it
    found = pose.standardize(_walking_mouse(extra=[("neck", far)]), source="lab.csv")
    (warning,) = found.attrs["pose_warnings"]
    assert warning.startswith(
        "lab.csv: keypoint 'neck' lies more than 0.5 body length from the nose-tail line in 100%"
    )


def test_unmatched_points_list_what_was_found_and_what_is_needed():
    ds = _walking_mouse()
    ds = ds.assign_coords(keypoints=["Head_tip", "Middle", "Root"])
    with pytest.raises(InputError) as error:
        pose.standardize(ds, source="lab.csv")
    message = str(error.value)
    assert "\n" not in message
    assert "among keypoints [Head_tip, Middle, Root]" in message
    assert "needed: nose (or snout" in message and "tail_base (or tailbase" in message
    assert (
        pose.standardize(ds, source="lab.csv", keypoint_map={"Head_tip": "nose", "Root": "tail_base"}).sizes[
            "keypoints"
        ]
        == 3
    )


def test_a_keypoint_map_can_leave_a_point_out():
    ds = _walking_mouse(extra=[("led", np.full((200, 2), 5.0))])
    found = pose.standardize(ds, source="lab.csv", keypoint_map={"center": "ignore"})
    assert (
        "body_center" in found.keypoints.values
        and found.attrs["body_center"] == "midpoint of nose and tail_base"
    )
    assert "led" in found.attrs["landmarks"]


def test_floor_corners_rectify_a_stretched_image():
    # A 400 x 300 px image of a square floor (pixels 4/3 wider than tall), and a mouse inside it.
    where = {"tl": (100.0, 100.0), "tr": (500.0, 100.0), "br": (500.0, 400.0), "bl": (100.0, 400.0)}
    rng = np.random.default_rng(1)
    x, y = rng.uniform(120, 480, 300), rng.uniform(120, 380, 300)
    floor = landmarks.floor(where, x, y, square=True)
    assert floor.corners == ("tl", "tr", "br", "bl") and floor.stretch == pytest.approx(4 / 3)
    assert floor.arena.width == floor.arena.height == pytest.approx(350)
    ds = _walking_mouse()
    rectified = floor.rectify(ds)
    # x is squeezed by 350/400 about the floor's centre, y stretched by 350/300
    np.testing.assert_allclose(
        rectified.position.sel(space="x").values, 300 + (ds.position.sel(space="x").values - 300) * 350 / 400
    )
    np.testing.assert_allclose(
        rectified.position.sel(space="y").values, 250 + (ds.position.sel(space="y").values - 250) * 350 / 300
    )
    # four landmarks that do not enclose the path are not a floor
    assert landmarks.floor(where, x + 1000, y, square=True) is None


@pytest.mark.real
def test_the_open_field_file_s_arena_points_are_not_the_mouse(real_labelled):
    ds = pose.load(real_labelled / OFT, fps=25)
    assert set(ds.attrs["landmarks"]) == {"tl", "tr", "bl", "br", "centre"}
    assert {
        "nose",
        "head",
        "left_ear",
        "right_ear",
        "body_center",
        "left_hip",
        "right_hip",
        "tail_base",
        "tail_mid",
        "tail_tip",
    } <= set(ds.keypoints.values)
    raw = pose.read(real_labelled / OFT, fps=25)
    np.testing.assert_array_equal(
        ds.position.sel(keypoints="body_center").values, raw.position.sel(keypoints="bodycentre").values
    )
    assert ds.attrs["pose_warnings"] == [
        f"{real_labelled / OFT}: keypoint 'centre' stays put while the animal moves: "
        "taken as an arena landmark, not the mouse's body_center"
    ]


@pytest.mark.real
def test_the_pandas_saved_copy_reads_as_the_deeplabcut_file(real_labelled):
    a, b = pose.read(real_labelled / OFT, fps=25), pose.read(real_labelled / OFT_PANDAS, fps=25)
    assert list(a.keypoints.values) == list(b.keypoints.values)
    np.testing.assert_array_equal(a.position.values, b.position.values)
    np.testing.assert_array_equal(a.confidence.values, b.confidence.values)


@pytest.mark.real
def test_the_freezing_file_s_mid_back_is_the_body_centre(real_labelled):
    ds = pose.load(real_labelled / "behaviordepot_freezing/demo1_tracking.csv", fps=50)
    assert {"nose", "left_ear", "right_ear", "body_center", "tail_base"} <= set(ds.keypoints.values)
    assert ds.attrs["landmarks"] == {} and ds.attrs["pose_warnings"] == []


@pytest.mark.real
@pytest.mark.ray
def test_arena_corners_give_walls_and_scale(real_labelled, tmp_path, ray_local):
    from jobs.analyze import run
    from mousegpt.inputs import input_specs
    from mousegpt.store import Workspace

    ws = Workspace(tmp_path)
    report = run(input_specs([str(real_labelled / OFT)], fps=25, arena_mm=420), ws)
    assert report["failed"] == []
    (qc,) = report["qc"]
    assert qc["px_per_mm_source"].startswith("arena corners tl, tr, br, bl (420 mm")
    # the corners are ~380 px apart along x and ~296 px along y: a square floor ~338 px on a side
    assert qc["px_per_mm"] == pytest.approx(338 / 420, rel=0.03)
    assert any("look 1.25 times wider than tall" in w for w in report["warnings"])
    with ws.connect(read_only=True) as con:
        (arena,) = con.execute("SELECT arena FROM sessions").fetchone()
    assert '"rect"' in arena
