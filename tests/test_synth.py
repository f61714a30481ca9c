import numpy as np
import pandas as pd
import pytest

from mousegpt import video
from mousegpt.synth import CONDITION_RATES, Scene, behavior_program, render, simulate, synth_dataset
from mousegpt.vocabulary import BEHAVIORS


def test_outputs_manifest_video_and_truth(synth_dir):
    manifest = pd.read_csv(synth_dir / "manifest.csv")
    assert list(manifest.columns) == ["video", "animal", "condition", "fps", "px_per_mm", "view", "seed"]
    assert len(manifest) == 4 and set(manifest.condition) == {"control", "stim"}
    truth = pd.read_parquet(synth_dir / manifest.video[0].replace(".mp4", ".truth.parquet"))
    assert len(truth) == video.probe(synth_dir / manifest.video[0]).n_frames
    assert set(truth.behavior) <= set(BEHAVIORS)
    for kp in ("nose", "body_center", "tail_base"):
        assert truth[f"{kp}_x"].between(0, 400).all() and truth[f"{kp}_y"].between(0, 300).all()


def _speeds(truth: pd.DataFrame, px_per_mm: float, fps: float) -> pd.Series:
    step = np.hypot(truth.body_center_x.diff(), truth.body_center_y.diff()) / px_per_mm * fps
    return step.groupby(truth.behavior).median()


def test_kinematics_match_the_labels(synth_dir):
    manifest = pd.read_csv(synth_dir / "manifest.csv")
    truth = pd.concat(pd.read_parquet(synth_dir / v.replace(".mp4", ".truth.parquet")) for v in manifest.video)
    speed = _speeds(truth, manifest.px_per_mm[0], 25.0)
    assert speed["rest"] < 2 and speed["groom"] < 2
    assert speed["run"] > 2 * speed["walk"] > 40
    length = np.hypot(truth.nose_x - truth.tail_base_x, truth.nose_y - truth.tail_base_y).groupby(truth.behavior).median()
    assert length["rear"] < 0.8 * length["walk"]  # foreshortened from above


def test_conditions_differ_in_behaviour_frequencies():
    def run_share(condition):
        bouts = behavior_program(3600, condition, np.random.default_rng(1))
        return sum(d for b, d in bouts if b == "run") / sum(d for _, d in bouts)

    assert run_share("stim") > 2 * run_share("control")


def test_same_seed_same_truth_and_frames(tmp_path):
    scene = Scene(width=160, height=120)
    a = synth_dataset(tmp_path / "a", sessions=1, seconds=2, seed=5, scene=scene)
    b = synth_dataset(tmp_path / "b", sessions=1, seconds=2, seed=5, scene=scene)
    c = synth_dataset(tmp_path / "c", sessions=1, seconds=2, seed=6, scene=scene)
    name = a.video[0].replace(".mp4", ".truth.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / name), pd.read_parquet(tmp_path / "b" / name))
    assert not pd.read_parquet(tmp_path / "c" / name).equals(pd.read_parquet(tmp_path / "a" / name))
    traj = simulate(2, "control", 5, scene)
    first, second = np.stack(list(render(traj, scene, 5))), np.stack(list(render(traj, scene, 5)))
    assert first.shape == (50, 120, 160) and np.array_equal(first, second)
    decoded = [np.concatenate([f for _, f in video.iter_chunks(tmp_path / k / a.video[0])]) for k in "ab"]
    assert np.array_equal(*decoded)
    assert (tmp_path / "a" / a.video[0]).read_bytes() == (tmp_path / "b" / b.video[0]).read_bytes()


def test_unknown_condition_is_refused_before_anything_is_written(tmp_path):
    from mousegpt.errors import InputError

    with pytest.raises(InputError, match=r"unknown synthetic condition\(s\) \['sleepy'\]"):
        synth_dataset(tmp_path / "out", sessions=3, seconds=1, conditions=("control", "sleepy"))
    assert not (tmp_path / "out").exists()


def test_unknown_condition_is_refused():
    with pytest.raises(Exception, match="unknown synthetic condition 'sleepy'"):
        behavior_program(10, "sleepy", np.random.default_rng(0))
    assert set(CONDITION_RATES) >= {"control", "stim"}


def test_novel_behaviours_appear_only_when_asked():
    plain = {b for b, _ in behavior_program(3600, "control", np.random.default_rng(2))}
    planted = {b for b, _ in behavior_program(3600, "control", np.random.default_rng(2), novel=("circling",))}
    assert plain == set(BEHAVIORS)
    assert planted == set(BEHAVIORS) | {"circling"}
    with pytest.raises(Exception, match=r"unknown novel behaviour\(s\) \['moonwalk'\]"):
        behavior_program(10, "control", np.random.default_rng(0), novel=("moonwalk",))


def test_novel_behaviour_kinematics():
    from mousegpt.synth import simulate

    scene = Scene()
    traj = simulate(600, "control", 3, scene, novel=("circling", "head_twitch"))
    frame = pd.DataFrame({"behavior": traj.behavior, "x": traj.x, "y": traj.y, "heading": np.unwrap(traj.heading),
                          "yaw": traj.head_yaw})
    step = np.hypot(frame.x.diff(), frame.y.diff()) * scene.fps
    turning = frame.heading.diff().abs() * scene.fps
    yaw_rate = frame.yaw.diff().abs() * scene.fps
    by = lambda s: s.groupby(frame.behavior).median()  # noqa: E731
    assert by(turning)["circling"] > 2.0 and by(step)["circling"] > 60  # rad/s, mm/s: moving in tight circles
    assert by(step)["head_twitch"] < 2 and by(yaw_rate)["head_twitch"] > 3 * by(yaw_rate)["sniff"]


def test_truth_is_also_written_as_deeplabcut_csv(synth_dir):
    from movement.io import load_poses

    back = load_poses.from_dlc_file(synth_dir / "control_m01.truth_dlc.csv", fps=25)
    truth = pd.read_parquet(synth_dir / "control_m01.truth.parquet")
    assert list(back.keypoints.values) == ["nose", "body_center", "tail_base"]
    nose = back.position.isel(individuals=0).sel(keypoints="nose").transpose("time", "space").values
    np.testing.assert_allclose(nose, truth[["nose_x", "nose_y"]].to_numpy(), atol=1e-6)
