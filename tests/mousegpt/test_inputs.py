import pytest

from mousegpt.errors import InputError
from mousegpt.inputs import input_specs, read_manifest


def test_manifest_paths_are_relative_to_the_manifest(tmp_path):
    (tmp_path / "m.csv").write_text(
        "video,animal,condition,fps,px_per_mm,view,pose\n"
        "a.mp4,m1,saline,,,top,\n"
        "sub/b.mp4,m2,drug,30,1.5,bottom,sub/b.csv\n"
    )
    first, second = read_manifest(tmp_path / "m.csv")
    assert first.video == str((tmp_path / "a.mp4").resolve()) and first.fps is None and first.pose is None
    assert second.pose == str((tmp_path / "sub" / "b.csv").resolve())
    assert (second.fps, second.px_per_mm, second.view, second.condition) == (30.0, 1.5, "bottom", "drug")


@pytest.mark.parametrize(
    "row, message",
    [
        (",m1,saline,,,top", r"m.csv:2: row has neither a video nor a pose file"),
        ("a.mp4,m1,saline,fast,,top", r"m.csv:2: column fps must be a number, got 'fast'"),
        ("a.mp4,m1,saline,-30,,top", r"fps must be a positive number, got -30.0"),
        ("a.mp4,m1,saline,30,,side", r"view must be one of top, bottom, got 'side'"),
    ],
)
def test_bad_manifest_rows_name_the_line(tmp_path, row, message):
    (tmp_path / "m.csv").write_text("video,animal,condition,fps,px_per_mm,view\n" + row + "\n")
    with pytest.raises(InputError, match=message):
        read_manifest(tmp_path / "m.csv")


def test_inputs_resolve_folders_and_pose_files(tmp_path):
    (tmp_path / "v").mkdir()
    for name in ("b.mp4", "a.avi", "notes.txt"):
        (tmp_path / "v" / name).write_bytes(b"")
    specs = input_specs([str(tmp_path / "v"), str(tmp_path / "track.slp")], condition="saline", fps=25)
    assert [s.name.rsplit("/", 1)[-1] for s in specs] == ["a.avi", "b.mp4", "track.slp"]
    assert specs[2].video is None and specs[2].pose.endswith("track.slp")
    assert {s.condition for s in specs} == {"saline"}
    with pytest.raises(InputError, match="--pose pairs one pose file with one video, got 2 inputs"):
        input_specs([str(tmp_path / "v" / "a.avi"), str(tmp_path / "v" / "b.mp4")], pose="x.csv")
    with pytest.raises(InputError, match="nothing to analyse"):
        input_specs([])


def test_keypoint_map_from_the_command_line():
    from mousegpt.inputs import parse_keypoint_map

    assert parse_keypoint_map("Head=nose, TailRoot=tail_base") == {"Head": "nose", "TailRoot": "tail_base"}
    assert parse_keypoint_map("") is None
    with pytest.raises(InputError, match="write it as source=platform pairs"):
        parse_keypoint_map("Head:nose")
    (spec,) = input_specs(["a.slp"], fps=30, keypoint_map={"Head": "nose"})
    assert spec.keypoint_map == {"Head": "nose"}
