import numpy as np
import pytest

from mousegpt import pose
from mousegpt.errors import InputError

REAL_POSE_FILES = [
    "openfield_m3v1_dlc.csv",
    "openfield_m3v1_dlc_missingdata.csv",
    "pose_sample.nwb",
    "deepof_single_dlc.csv",
    "deepof_single_dlc.h5",
    "deepof_single_sleap.slp",
    "deepof_single_sleap.analysis.h5",
    "deepof_two_mice_dlc.csv",
    "deepof_two_mice_dlc.h5",
]


@pytest.mark.real
@pytest.mark.parametrize("name", REAL_POSE_FILES)
def test_every_real_pose_file_loads_with_platform_keypoints(real_data, name):
    ds = pose.load(real_data / name)
    names = list(ds.keypoints.values)
    assert {"nose", "body_center", "tail_base"} <= set(names)
    assert ds.position.dims == ("time", "space", "keypoints", "individuals")
    nose = ds.position.sel(keypoints="nose").isel(individuals=0)
    assert float(nose.notnull().all("space").mean()) > 0.5


@pytest.mark.real
def test_individual_prefixes_and_aliases_are_mapped(real_data):
    raw = pose.read(real_data / "pose_sample.nwb")
    assert "ind1_snout" in raw.keypoints.values
    ds = pose.load(real_data / "pose_sample.nwb")
    np.testing.assert_allclose(
        ds.position.sel(keypoints="nose").values, raw.position.sel(keypoints="ind1_snout").values
    )


@pytest.mark.real
def test_missing_body_center_is_the_nose_tail_midpoint(real_data):
    ds = pose.load(real_data / "openfield_m3v1_dlc.csv")
    p = pose.positions(ds)
    np.testing.assert_allclose(p["body_center"], (p["nose"] + p["tail_base"]) / 2)


@pytest.mark.real
def test_non_standard_hdf5_key_is_read_through_pandas(real_data):
    import pandas as pd

    table = pd.read_hdf(real_data / "deepof_single_dlc.h5")
    ds = pose.read(real_data / "deepof_single_dlc.h5")
    assert ds.sizes["time"] == len(table) == 100


def test_keypoint_names_map_to_the_platform():
    assert pose.platform_name("snout") == "nose"
    assert pose.platform_name("Tail_base") == "tail_base"
    assert pose.platform_name("tailbase") == "tail_base"
    assert pose.platform_name("Center") == "body_center"
    assert pose.platform_name("ind2_leftear") == "left_ear"
    assert pose.platform_name("whisker") == "whisker"
    assert pose.platform_name("head", {"head": "nose"}) == "nose"


def test_pose_without_nose_names_what_it_found(tmp_path):
    from movement.io import load_poses

    ds = load_poses.from_numpy(
        np.zeros((5, 2, 2, 1)), np.ones((5, 2, 1)), keypoint_names=["ear", "tailbase"], fps=30
    )
    with pytest.raises(
        InputError,
        match=r"x.csv: cannot find the mouse's nose among keypoints \[ear, tailbase\]; "
        r"needed: nose \(or snout, nosetip, nose_tip, ...\); name yours with --keypoint-map",
    ):
        pose.standardize(ds, source="x.csv")


def test_unreadable_pose_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("not,a,pose\nfile,at,all\n")
    with pytest.raises(InputError, match="broken.csv: not a readable DeepLabCut pose file"):
        pose.load(bad)
    with pytest.raises(InputError, match="no such file"):
        pose.load(tmp_path / "absent.slp")


def test_an_explicit_keypoint_map_names_what_the_aliases_do_not_know():
    from movement.io import load_poses

    ds = load_poses.from_numpy(
        np.zeros((5, 2, 2, 1)), np.ones((5, 2, 1)), keypoint_names=["Head", "Root"], fps=30
    )
    named = pose.standardize(ds, source="x.csv", keypoint_map={"Head": "nose", "Root": "tail_base"})
    assert list(named.keypoints.values) == ["nose", "tail_base", "body_center"]
