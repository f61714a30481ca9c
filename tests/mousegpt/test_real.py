"""End to end on the real recordings in ../shared/data/real."""

import numpy as np
import pytest

from jobs.analyze import run
from mousegpt.inputs import input_specs
from mousegpt.search import Searcher, list_segments
from mousegpt.store import Workspace

pytestmark = [pytest.mark.ray, pytest.mark.real]

OPENFIELD_SEGMENTS = (2330 - 30) // 15 + 1  # 77.7 s at 30 fps, 1.0 s windows every 0.5 s


@pytest.fixture(scope="module")
def openfield(tmp_path_factory, real_data, ray_local):
    ws = Workspace(tmp_path_factory.mktemp("real"))
    report = run(input_specs([str(real_data / "openfield_m3v1.mp4")], condition="baseline"), ws)
    return ws, report


def test_real_video_is_analysed_and_searchable(openfield, embedder):
    ws, report = openfield
    assert report["failed"] == []
    assert (report["sessions"], report["frames"], report["segments"]) == (1, 2330, OPENFIELD_SEGMENTS)
    with ws.connect(read_only=True) as con:
        fps, px_per_mm, source, arena = con.execute(
            "SELECT fps, px_per_mm, px_per_mm_source, arena FROM sessions"
        ).fetchone()
    assert fps == pytest.approx(30.0, rel=1e-3)  # the container says 1000000/33333
    assert source == "estimated from body length"
    assert 0.8 < px_per_mm < 2.0  # a ~115 px mouse of 80-100 mm
    assert '"rect"' in arena
    segments = list_segments(ws)
    visible = [s for s in segments if s.behavior is not None]
    assert len(visible) >= 0.95 * len(segments)
    assert len({s.behavior for s in visible}) >= 3  # a real mouse does more than one thing
    hits = Searcher(ws, embedder=embedder).search("a mouse walking around the arena", k=5)
    assert len(hits) == 5 and all(h.video.endswith("openfield_m3v1.mp4") for h in hits)
    assert all(h.condition == "baseline" for h in hits)


def test_pose_file_alone_gives_the_same_segments(openfield, real_data, tmp_path):
    ws = Workspace(tmp_path)
    report = run(input_specs([str(real_data / "openfield_m3v1_dlc.csv")], fps=30), ws)
    assert report["failed"] == [] and report["segments"] == OPENFIELD_SEGMENTS
    rows = list_segments(ws)
    assert rows[0].video is None and rows[0].pose.endswith("openfield_m3v1_dlc.csv")


def test_pose_file_without_frame_rate_needs_fps(real_data, tmp_path, ray_local):
    report = run(input_specs([str(real_data / "deepof_single_sleap.slp")]), Workspace(tmp_path))
    assert report["sessions"] == 0
    assert "deepof_single_sleap.slp: pose file has no frame rate; pass --fps" in report["failed"][0]["error"]


def test_video_with_its_deeplabcut_pose(real_data, tmp_path, ray_local):
    ws = Workspace(tmp_path)
    report = run(
        input_specs([str(real_data / "openfield_m3v1.mp4")], pose=str(real_data / "openfield_m3v1_dlc.csv")),
        ws,
    )
    assert report["failed"] == [] and report["segments"] == OPENFIELD_SEGMENTS
    with ws.connect(read_only=True) as con:
        source, arena = con.execute("SELECT source, arena FROM sessions").fetchone()
    assert source == "video+pose"
    assert '"rect"' in arena  # walls found in the video, not guessed from the path


def test_pose_and_video_frame_counts_must_agree(real_data, tmp_path, ray_local):
    specs = input_specs(
        [str(real_data / "deepof_single_topview.mp4")], pose=str(real_data / "deepof_single_dlc.csv")
    )
    report = run(specs, Workspace(tmp_path))
    assert report["sessions"] == 0
    error = report["failed"][0]["error"]
    assert "deepof_single_dlc.csv: pose file has 97 frames but video" in error and "has 251" in error


def test_each_mouse_of_a_multi_animal_file_is_its_own_session(real_data, tmp_path, ray_local):
    """Pose file alone, through the command line: two sessions, each with its QC report."""
    import json

    from typer.testing import CliRunner

    from mousegpt.cli import _load_plugins, app

    _load_plugins()
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            str(real_data / "deepof_two_mice_dlc.csv"),
            "--fps",
            "30",
            "--condition",
            "social",
            "--json",
            "-w",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["sessions"] == 2 and report["failed"] == []
    assert sorted(r["individual"] for r in report["qc"]) == ["mouse_black_tail", "mouse_white_tail"]
    for r in report["qc"]:
        assert r["frames"] == 97 and r["low_confidence"] > 0 and r["gaps_filled"] > 0
    assert any("px_per_mm estimated" in w for w in report["warnings"])
    rows = list_segments(Workspace(tmp_path))
    assert {r.animal for r in rows} == {"mouse_black_tail", "mouse_white_tail"}
    assert len({r.session_id for r in rows}) == 2


def test_an_implausible_scale_is_a_warning_with_an_estimate(real_data, tmp_path, embedder):
    from mousegpt.analysis import analyze
    from mousegpt.describe import load_model

    spec = input_specs([str(real_data / "openfield_m3v1_dlc.csv")], fps=30, px_per_mm=5.0)[0]
    (result,) = analyze(spec, Workspace(tmp_path), load_model(), embedder)
    assert result.error is None and result.px_per_mm == 5.0
    (warning,) = [w for w in result.warnings if "px_per_mm" in w]  # the describer may warn too
    assert "openfield_m3v1_dlc.csv: px_per_mm 5 makes the mouse" in warning
    suggested = float(warning.rsplit("about ", 1)[1].split()[0])
    assert 1.1 < suggested < 1.6  # a ~115-130 px mouse of 90 mm


def test_deeplabcut_swaps_are_repaired_by_quality_control(real_data, tmp_path):
    """DeepLabCut mislabels the openfield mouse head for tail now and then, e.g. while it
    walks along the top wall in frames 106-141 (likelihood 0.65-0.9). QC turns those frames
    round, and only those: the built-in tracker, a different method, agrees on every one."""
    from mousegpt import pose, qc, tracking

    dlc = pose.load(real_data / "openfield_m3v1_dlc.csv", fps=30)
    cleaned, (report,) = qc.clean(dlc, 30.0)
    tracked = tracking.track(real_data / "openfield_m3v1.mp4")
    nose = lambda ds: ds.position.isel(individuals=0).sel(keypoints="nose").transpose("time", "space").values  # noqa: E731
    moved = (
        np.linalg.norm(nose(cleaned) - nose(dlc), axis=1) > 50
    )  # turned round, or an unlikely point refilled
    assert report.swaps_fixed >= 100 and moved[106:142].all()
    before = np.linalg.norm(nose(dlc)[moved] - nose(tracked)[moved], axis=1)
    after = np.linalg.norm(nose(cleaned)[moved] - nose(tracked)[moved], axis=1)
    assert np.mean(after < before) >= 0.98
    assert np.median(after) < 30 < 60 < np.median(before)
