"""Pose export (DeepLabCut CSV, NWB) read back by ``movement``, and LightningPose import."""

from datetime import UTC, datetime

import numpy as np
import pynwb
import pytest
from movement.io import load_poses, save_poses

from mousegpt import pose, pose_export, tracking
from mousegpt.errors import InputError

FPS = 25.0


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """One 4-second 320x240 synthetic session: quicker to make than ``synth_dir``."""
    from mousegpt.synth import Scene, synth_dataset

    out = tmp_path_factory.mktemp("export")
    manifest = synth_dataset(
        out,
        sessions=1,
        seconds=4,
        seed=3,
        conditions=("control",),
        scene=Scene(width=320, height=240, fps=FPS),
    )
    return out / manifest.video[0]


@pytest.fixture(scope="module")
def tracked(video):
    """Its tracks with a gap, a lone missing nose and an extra per-frame variable, as the
    tracker may add; the exporters must leave that variable out."""
    ds = tracking.track(video)
    position = ds.position.copy()
    position[10:15] = np.nan
    position.loc[{"time": ds.time[30], "keypoints": "nose"}] = np.nan
    length = (ds.position.sel(keypoints="nose") - ds.position.sel(keypoints="tail_base")).pipe(
        lambda d: np.hypot(d.sel(space="x"), d.sel(space="y"))
    )
    return ds.assign(position=position, body_length_px=length)


def _same_poses(back, ds):
    """Positions equal within 1e-3 px (NaN where NaN), by keypoint name, frame for frame."""
    assert sorted(back.keypoints.values) == sorted(ds.keypoints.values)
    assert back.sizes["time"] == ds.sizes["time"]
    assert set(back.data_vars) == {"position", "confidence"}
    back = back.sel(keypoints=ds.keypoints.values)
    np.testing.assert_allclose(back.position.values, ds.position.values, atol=1e-3)
    np.testing.assert_allclose(back.confidence.values, ds.confidence.values, atol=1e-3)


def test_csv_round_trip_through_movement(tracked, tmp_path):
    assert pose_export.save(tracked, tmp_path / "tracks.csv") == [tmp_path / "tracks.csv"]
    back = load_poses.from_dlc_file(tmp_path / "tracks.csv", fps=FPS)
    _same_poses(back, tracked)
    assert list(back.keypoints.values) == list(tracked.keypoints.values)
    assert np.isnan(back.position.sel(keypoints="nose").values[30]).all()


def test_nwb_round_trip_through_movement_and_pose_load(tracked, video, tmp_path):
    out = tmp_path / "tracks.nwb"
    assert pose_export.save(tracked, out, source=video) == [out]
    back = load_poses.from_file(out, source_software="NWB")
    _same_poses(back, tracked)
    assert back.attrs["fps"] == FPS and back.attrs["time_unit"] == "seconds"
    assert back.attrs["source_software"] == "mousegpt-tracker"
    ours = pose.load(out)
    assert {"nose", "body_center", "tail_base"} <= set(ours.keypoints.values) and pose.n_frames(ours) == 100
    np.testing.assert_allclose(
        ours.position.sel(keypoints="nose").values[:10],
        tracked.position.sel(keypoints="nose").values[:10],
        atol=1e-3,
    )


def test_nwb_session_metadata(tracked, video, tmp_path):
    start = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    pose_export.save(tracked, tmp_path / "tracks.nwb", source=video, start_time=start)
    with pynwb.NWBHDF5IO(tmp_path / "tracks.nwb", mode="r") as io:
        nwb = io.read()
        assert video.name in nwb.session_description
        assert nwb.session_start_time == start
        assert nwb.identifier == f"{video.stem}_mouse"
        assert nwb.subject.subject_id == "mouse" and nwb.subject.species == "Mus musculus"


def test_nwb_writes_one_file_per_individual(tmp_path):
    ds = load_poses.from_numpy(
        np.random.default_rng(0).uniform(0, 100, (6, 2, 2, 2)),
        np.full((6, 2, 2), 0.9),
        individual_names=["a", "b"],
        keypoint_names=["nose", "tailbase"],
        fps=30,
    )
    written = pose_export.save(ds, tmp_path / "pair.nwb")
    assert written == [tmp_path / "pair_a.nwb", tmp_path / "pair_b.nwb"]
    for path, individual in zip(written, "ab"):
        back = load_poses.from_file(path, source_software="NWB")
        np.testing.assert_allclose(
            back.position.sel(keypoints=["nose", "tailbase"]).values[..., 0],
            ds.position.sel(individuals=individual).values,
            atol=1e-3,
        )


def test_nwb_needs_a_frame_rate(tmp_path):
    ds = load_poses.from_numpy(
        np.zeros((5, 2, 2, 1)), np.ones((5, 2, 1)), keypoint_names=["nose", "tailbase"]
    )
    with pytest.raises(InputError, match="no frame rate"):
        pose_export.save(ds, tmp_path / "frames.nwb")
    assert not list(tmp_path.iterdir())


def test_save_replaces_an_existing_file(tracked, tmp_path):
    out = tmp_path / "tracks.csv"
    out.write_text("old")
    pose_export.save(tracked, out)
    _same_poses(load_poses.from_dlc_file(out, fps=FPS), tracked)


def test_failed_export_leaves_no_half_file(tracked, tmp_path, monkeypatch):
    def half_then_disk_full(path, df):
        path.write_text(df.to_csv()[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(save_poses, "_save_dlc_df", half_then_disk_full)
    out = tmp_path / "tracks.csv"
    out.write_text("old")
    with pytest.raises(InputError, match="tracks.csv: cannot write .No space left on device"):
        pose_export.save(tracked, out)
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["tracks.csv"]


def test_unsupported_export_suffix_names_the_path_and_the_formats(tracked, tmp_path):
    with pytest.raises(InputError, match=r"tracks\.h5: .*\.csv \(DeepLabCut\), \.nwb \(NWB\)"):
        pose_export.save(tracked, tmp_path / "tracks.h5")
    assert not list(tmp_path.iterdir())


def test_tracks_command_writes_nwb(video, tmp_path):
    from typer.testing import CliRunner

    from mousegpt.cli import app

    out = tmp_path / "out" / "tracks.nwb"
    result = CliRunner().invoke(app, ["tracks", str(video), "--out", str(out)])
    assert result.exit_code == 0, result.output
    back = load_poses.from_file(out, source_software="NWB")
    assert back.attrs["fps"] == FPS
    _same_poses(back, tracking.track(video))


def test_tracks_command_rejects_a_bad_suffix_before_tracking(video, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mousegpt.cli import app

    monkeypatch.setattr(tracking, "track", lambda *a, **k: pytest.fail("tracked despite a bad --out"))
    result = CliRunner().invoke(app, ["tracks", str(video), "--out", str(tmp_path / "tracks.txt")])
    assert result.exit_code == 1
    assert isinstance(result.exception, InputError)
    assert "tracks.txt" in str(result.exception) and ".csv (DeepLabCut), .nwb (NWB)" in str(result.exception)
    assert not list(tmp_path.iterdir())


@pytest.fixture
def lightning_pose_csv(tmp_path):
    """A LightningPose file: movement writes its layout with scorer "movement", which
    LightningPose replaces by its model's name, here "heatmap_tracker"; (path, source poses)."""
    rng = np.random.default_rng(1)
    position = rng.uniform(20, 300, (40, 2, 2, 1))
    position[5:8, :, 0] = np.nan
    confidence = np.full((40, 2, 1), 0.95)
    ds = load_poses.from_numpy(
        position,
        confidence,
        individual_names=["mouse"],
        keypoint_names=["nose", "tailbase"],
        fps=30,
        source_software="LightningPose",
    )
    save_poses.to_lp_file(ds, tmp_path / "lp.csv")
    path = tmp_path / "lp_mouse.csv"  # to_lp_file names the file after the individual
    lines = path.read_text().splitlines(keepends=True)
    assert lines[0].startswith("scorer,movement,")
    path.write_text(lines[0].replace("movement", "heatmap_tracker") + "".join(lines[1:]))
    return path, ds


def test_lightning_pose_csv_is_recognised(lightning_pose_csv):
    path, source = lightning_pose_csv
    assert pose.read(path).attrs["source_software"] == "LightningPose"
    ds = pose.load(path, fps=30)
    assert ds.attrs["source_software"] == "LightningPose"
    assert list(ds.keypoints.values) == ["nose", "tail_base", "body_center"]
    p = pose.positions(ds)
    np.testing.assert_allclose(p["nose"][:5], source.position.values[:5, :, 0, 0], atol=1e-6)
    np.testing.assert_allclose(p["tail_base"][10:], source.position.values[10:, :, 1, 0], atol=1e-6)
    np.testing.assert_allclose(p["body_center"][10:], (p["nose"][10:] + p["tail_base"][10:]) / 2)


def test_source_software_overrides_detection(lightning_pose_csv, tmp_path):
    _, source = lightning_pose_csv
    save_poses.to_lp_file(source, tmp_path / "plain.csv")  # scorer "movement": reads as DeepLabCut
    assert pose.read(tmp_path / "plain_mouse.csv").attrs["source_software"] == "DeepLabCut"
    ds = pose.read(tmp_path / "plain_mouse.csv", source_software="LightningPose")
    assert ds.attrs["source_software"] == "LightningPose"
    with pytest.raises(InputError, match=r"unknown pose format 'Tracker9000'; readable formats: DeepLabCut"):
        pose.read(tmp_path / "plain_mouse.csv", source_software="Tracker9000")


def test_unreadable_suffix_lists_the_readable_formats(tmp_path):
    odd = tmp_path / "poses.json"
    odd.write_text("{}")
    with pytest.raises(
        InputError,
        match=r"poses\.json: not a pose file this platform reads; readable formats: "
        r"DeepLabCut \(\.csv, \.h5\), LightningPose \(\.csv\), SLEAP .*NWB \(\.nwb\)",
    ):
        pose.read(odd)
