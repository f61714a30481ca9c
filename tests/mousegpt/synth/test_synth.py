"""The synthetic mouse world: outputs, kinematics that match the labels, conditions, scenes, determinism."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mousegpt import video
from mousegpt.errors import InputError
from mousegpt.synth import (
    CONDITION_RATES,
    KEYPOINTS,
    Renderer,
    Scene,
    behavior_program,
    read_truth_metadata,
    render,
    simulate,
    synth_dataset,
    truth_table,
)
from mousegpt.vocabulary import BEHAVIORS

SMALL = Scene(width=320, height=240)


@pytest.fixture(scope="module")
def long_truth() -> pd.DataFrame:
    """Three animals per condition, ten simulated minutes each (no video), as truth tables in
    pixels of a top camera; ``bout`` numbers the bouts across all of them."""
    tables = []
    for i, condition in enumerate(CONDITION_RATES):
        for k in range(3):
            traj = simulate(600, condition, seed=40 + 3 * i + k)
            tables.append(
                truth_table(traj, Scene()).assign(
                    condition=condition, body_length_mm=traj.body_length_mm, animal=f"{condition}{k}"
                )
            )
    table = pd.concat(tables, ignore_index=True)
    starts = (table.behavior != table.behavior.shift()) | (table.animal != table.animal.shift())
    return table.assign(bout=starts.cumsum())


def test_outputs_manifest_video_and_truth(synth_dir):
    manifest = pd.read_csv(synth_dir / "manifest.csv")
    assert list(manifest.columns) == ["video", "animal", "condition", "fps", "px_per_mm", "view", "seed"]
    assert len(manifest) == 4 and list(manifest.condition) == ["control", "stim", "anx", "control"]
    path = synth_dir / manifest.video[0]
    truth = pd.read_parquet(str(path).replace(".mp4", ".truth.parquet"))
    info = video.probe(path)
    assert len(truth) == info.n_frames == 24 * 25
    assert list(truth.columns[:4]) == ["frame", "time_s", "behavior", "variant"]
    assert [c for c in truth.columns[4:]] == [f"{k}_{axis}" for k in KEYPOINTS for axis in "xy"]
    assert len(KEYPOINTS) == 10 and set(truth.behavior) <= set(BEHAVIORS)
    xs, ys = truth.filter(like="_x").to_numpy(), truth.filter(regex="_y$").to_numpy()
    assert (xs >= 0).all() and (xs < info.width).all() and (ys >= 0).all() and (ys < info.height).all()
    meta = read_truth_metadata(str(path).replace(".mp4", ".truth.parquet"))
    assert 80 <= meta["body_length_mm"] <= 100 and meta["scene"]["view"] == "top"


def _speed(table: pd.DataFrame, px_per_mm: float, fps: float = 25.0) -> pd.Series:
    step = np.hypot(table.body_center_x.diff(), table.body_center_y.diff()) / px_per_mm * fps
    return step.where(table.bout == table.bout.shift())  # no speed across a bout boundary


def test_speed_matches_the_labels(long_truth):
    speed = _speed(long_truth, Scene().px_per_mm).groupby(long_truth.behavior).median()  # mm/s
    assert speed["rest"] < 1 and speed["groom"] < 1
    assert (
        2 < speed["rear"] < speed["walk"] / 2
    )  # up on its hind legs a mouse shifts its weight, it does not walk
    assert speed["run"] > 2 * speed["walk"] > 2 * 40


def test_body_length_and_rearing_foreshortening(long_truth):
    length = np.hypot(long_truth.nose_x - long_truth.tail_base_x, long_truth.nose_y - long_truth.tail_base_y)
    length_mm = length / Scene().px_per_mm
    walking = long_truth.behavior == "walk"
    stretched = (length_mm[walking] / long_truth.body_length_mm[walking]).median()
    assert 0.9 < stretched < 1.1  # a walking mouse is about its body length from nose to tail base
    by = length.groupby(long_truth.behavior).median()
    # From above, a rearing mouse looks shorter: at the top of its rears about as short as the
    # shortest 5% of frames of real open-field files (0.69-0.81 of the usual length), not half.
    rears = long_truth.behavior == "rear"
    shortest = length[rears].groupby(long_truth.bout[rears]).min() / by["walk"]
    assert 0.6 < shortest.median() < 0.85 and shortest.quantile(0.05) > 0.6
    assert by["rear"] < 0.9 * by["walk"]


def _head_frequency(bout: pd.DataFrame, fps: float = 25.0) -> float:
    """Dominant frequency (Hz) of the nose's motion relative to the body centre."""
    rel = (bout.nose_x - bout.body_center_x) + 1j * (bout.nose_y - bout.body_center_y)
    spectrum = np.abs(np.fft.fft(rel - rel.mean()))
    freqs = np.fft.fftfreq(len(rel), 1 / fps)
    keep = freqs > 0.5
    return float(freqs[keep][np.argmax(spectrum[keep])])


def test_grooming_moves_the_head_fast_and_the_body_not(long_truth):
    frequencies = {}
    for behavior in ("groom", "sniff"):
        bouts = [b for _, b in long_truth[long_truth.behavior == behavior].groupby("bout") if len(b) >= 40]
        frequencies[behavior] = np.median([_head_frequency(b.iloc[10:]) for b in bouts])
    assert frequencies["groom"] > 4.0 > 2 * frequencies["sniff"]
    groom = long_truth.behavior == "groom"
    body = _speed(long_truth, Scene().px_per_mm)[groom]
    head = np.hypot(long_truth.nose_x.diff(), long_truth.nose_y.diff())[groom] / Scene().px_per_mm * 25
    assert body.quantile(0.9) < 1 and head.median() > 20 * max(body.median(), 0.5)


def test_conditions_differ_in_behaviour_and_place(long_truth):
    def share(condition, behavior):
        bouts = behavior_program(3600, condition, np.random.default_rng(1))
        return sum(d for b, d in bouts if b == behavior) / sum(d for _, d in bouts)

    assert share("stim", "run") > 2 * share("control", "run")
    assert share("stim", "rest") < 0.5 * share("control", "rest")
    assert share("anx", "rear") > 1.5 * share("control", "rear")
    # Anxious mice hug the walls and avoid the open centre (the central quarter of the area).
    scene = Scene()
    ox, oy = scene.origin_px
    x = (long_truth.body_center_x - ox) / scene.px_per_mm
    y = (long_truth.body_center_y - oy) / scene.px_per_mm
    wall_mm = pd.Series(np.minimum.reduce([x, y, scene.arena_mm - x, scene.arena_mm - y]))
    near_wall = (wall_mm < 60).groupby(long_truth.condition).mean()
    centre = (wall_mm > scene.arena_mm / 4).groupby(long_truth.condition).mean()
    assert near_wall["anx"] > max(near_wall["control"], near_wall["stim"]) + 0.1
    assert centre["anx"] < 0.5 * min(centre["control"], centre["stim"])


def test_a_supported_rear_leans_over_the_foot_of_the_wall(long_truth):
    scene = Scene()
    ox, oy = scene.origin_px
    x = (long_truth.body_center_x - ox) / scene.px_per_mm
    y = (long_truth.body_center_y - oy) / scene.px_per_mm
    wall_mm = pd.Series(np.minimum.reduce([x, y, scene.arena_mm - x, scene.arena_mm - y]))
    supported = (long_truth.behavior == "rear") & (long_truth.variant == "supported")
    closest = (
        (wall_mm[supported] / long_truth.body_length_mm[supported]).groupby(long_truth.bout[supported]).min()
    )
    # the hind paws step up to the wall as the front climbs it: the body centre ends 0.15 body
    # lengths from the wall, where walking with its nose at the wall it is 0.58 away
    assert len(closest) > 20 and 0.1 < closest.median() < 0.2
    nose_x = (long_truth.nose_x - ox) / scene.px_per_mm
    nose_y = (long_truth.nose_y - oy) / scene.px_per_mm
    nose_wall = pd.Series(
        np.minimum.reduce([nose_x, nose_y, scene.arena_mm - nose_x, scene.arena_mm - nose_y])
    )
    # seen from above the raised head shows over the wall's foot, as in real open-field files
    assert -40 < nose_wall[supported].quantile(0.05) < 0


def test_rears_at_walls_are_supported_and_in_the_open_unsupported():
    traj = simulate(1800, "anx", seed=5)
    table = pd.DataFrame({"behavior": traj.behavior, "variant": traj.variant})
    rears = table[table.behavior == "rear"].variant.value_counts()
    assert set(rears.index) == {"supported", "unsupported"}
    grooms = table[table.behavior == "groom"].variant.value_counts()
    assert set(grooms.index) == {"face", "body"}


def test_circular_arena_keeps_the_whole_mouse_inside():
    scene = replace(Scene(), arena="circle")
    traj = simulate(600, "stim", seed=9, arena=scene.geometry)
    table = truth_table(traj, scene)
    table = table[table.behavior != "jump"]  # in the air, a mouse may be seen over the wall
    cx, cy = scene.width / 2, scene.height / 2
    radius = scene.arena_mm / 2 * scene.px_per_mm
    for k in KEYPOINTS:
        r = np.hypot(table[f"{k}_x"] - cx, table[f"{k}_y"] - cy)
        # the nose may touch the wall, not pass it; reared up the wall, it shows a little over its foot
        assert r[table.behavior != "rear"].max() < radius + 3 * scene.px_per_mm, k
        assert r.max() < radius + 40 * scene.px_per_mm, k
    assert (
        np.hypot(table.body_center_x - cx, table.body_center_y - cy).max() > 0.7 * radius
    )  # it does reach the wall


def test_bottom_view_is_the_top_view_mirrored_and_reads_the_same_heading():
    from mousegpt import kinematics
    from mousegpt.synth.dataset import truth_poses

    traj = simulate(20, "control", seed=3)
    top, bottom = truth_table(traj, Scene()), truth_table(traj, replace(Scene(), view="bottom"))
    np.testing.assert_allclose(bottom.nose_x, Scene().width - top.nose_x, atol=1e-6)
    np.testing.assert_allclose(bottom.nose_y, top.nose_y)
    # The animal's left ear is on the image's other side relative to its heading, and the
    # platform's kinematics (told the view) read the same heading from both.
    heading = {
        v: kinematics.compute(truth_poses(t, 25.0), 25.0, Scene().px_per_mm, None, view=v).heading_deg
        for v, t in (("top", top), ("bottom", bottom))
    }
    np.testing.assert_allclose(heading["top"], heading["bottom"], atol=1e-6)


def test_fur_and_view_set_the_contrast_the_tracker_sees(tmp_path):
    from mousegpt import tracking
    from mousegpt.synth.dataset import encode

    polarity = {}
    for fur, view in (("black", "top"), ("white", "top"), ("agouti", "bottom"), ("black", "bottom")):
        scene = replace(SMALL, fur=fur, view=view)
        traj = simulate(4, "control", 2, scene.fps, scene.geometry, program=[("walk", 4.0)])
        encode(Renderer(traj, scene, 2), tmp_path / f"{fur}-{view}.mp4")
        polarity[fur, view] = tracking.estimate_background(tmp_path / f"{fur}-{view}.mp4").polarity
    assert polarity == {
        ("black", "top"): -1,
        ("white", "top"): 1,
        ("agouti", "bottom"): 1,
        ("black", "bottom"): -1,
    }


def test_same_seed_same_truth_and_frames(tmp_path):
    a = synth_dataset(tmp_path / "a", sessions=1, seconds=2, seed=5, scene=SMALL)
    b = synth_dataset(tmp_path / "b", sessions=1, seconds=2, seed=5, scene=SMALL)
    c = synth_dataset(tmp_path / "c", sessions=1, seconds=2, seed=6, scene=SMALL)
    name = a.video[0].replace(".mp4", ".truth.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / name), pd.read_parquet(tmp_path / "b" / name)
    )
    assert not pd.read_parquet(tmp_path / "c" / name).equals(pd.read_parquet(tmp_path / "a" / name))
    traj = simulate(2, "control", 5, SMALL.fps, SMALL.geometry)
    first, second = np.stack(list(render(traj, SMALL, 5))), np.stack(list(render(traj, SMALL, 5)))
    assert first.shape == (50, 240, 320, 3) and np.array_equal(first, second)
    assert (tmp_path / "a" / a.video[0]).read_bytes() == (tmp_path / "b" / b.video[0]).read_bytes()
    assert (tmp_path / "a" / a.video[0]).read_bytes() != (tmp_path / "c" / c.video[0]).read_bytes()
    # Rendering again into the same folder replaces the files with identical ones.
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    synth_dataset(tmp_path / "a", sessions=1, seconds=2, seed=5, scene=SMALL)
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == before


def test_sessions_render_in_parallel_on_ray_with_the_same_bytes(tmp_path, ray_local):
    kwargs = dict(
        sessions=3, seconds=2, seed=8, scene=SMALL, furs=("black", "white"), arenas=("square", "circle")
    )
    serial = synth_dataset(tmp_path / "serial", **kwargs)
    done = []
    parallel = synth_dataset(tmp_path / "parallel", workers=2, progress=done.append, **kwargs)
    pd.testing.assert_frame_equal(serial, parallel)
    assert sum(done) == 3 * 50
    for name in serial.video:
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()
    scenes = [
        read_truth_metadata(tmp_path / "parallel" / n.replace(".mp4", ".truth.parquet"))["scene"]
        for n in serial.video
    ]
    assert [(s["fur"], s["arena"]) for s in scenes] == [
        ("black", "square"),
        ("white", "circle"),
        ("black", "square"),
    ]
    assert not list((tmp_path / "parallel").glob(".*tmp*"))


def test_sensor_noise_and_motion_blur_are_drawn():
    traj = simulate(3, "control", 4, program=[("run", 3.0)], start=(100.0, 200.0, 0.0))
    quiet = Renderer(traj, replace(Scene(), noise_sigma=0, motion_blur=False), 4)
    noisy = Renderer(traj, replace(Scene(), noise_sigma=3, motion_blur=False), 4)
    blurred = Renderer(traj, replace(Scene(), noise_sigma=0, motion_blur=True), 4)
    for i in range(20):
        frames = quiet.i420(i), noisy.i420(i), blurred.i420(i)
    floor = (slice(20, 80), slice(280, 360))
    difference = frames[1][floor].astype(float) - frames[0][floor]
    assert 2 < difference.std() < 4
    # Motion blur smears the outline along the direction of motion: softer edges that way.
    x, y = (int(v) for v in quiet.points["body_center"][19])
    direction = quiet.points["body_center"][19] - quiet.points["body_center"][18]
    direction /= np.hypot(*direction)

    def edge_along_motion(f):
        patch = f[y - 40 : y + 40, x - 40 : x + 40].astype(np.float32)
        gx, gy = np.gradient(patch, axis=1), np.gradient(patch, axis=0)
        return np.abs(direction[0] * gx + direction[1] * gy).max()

    assert edge_along_motion(frames[2]) < 0.8 * edge_along_motion(frames[0])


def test_bad_scene_and_arguments_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(InputError, match=r"unknown synthetic condition\(s\) \['sleepy'\]"):
        synth_dataset(tmp_path / "out", sessions=3, seconds=1, conditions=("control", "sleepy"))
    with pytest.raises(InputError, match="frame size must be even"):
        synth_dataset(tmp_path / "out", sessions=1, seconds=1, scene=Scene(width=321))
    with pytest.raises(InputError, match="fur must be one of black, agouti, white, got 'green'"):
        synth_dataset(tmp_path / "out", sessions=2, seconds=1, furs=("black", "green"))
    with pytest.raises(InputError, match="view must be top or bottom"):
        Scene(view="side")
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="unknown synthetic condition 'sleepy'"):
        behavior_program(10, "sleepy", np.random.default_rng(0))


def test_novel_behaviours_appear_only_when_asked():
    plain = {b for b, _ in behavior_program(3600, "control", np.random.default_rng(2))}
    planted = {b for b, _ in behavior_program(3600, "control", np.random.default_rng(2), novel=("circling",))}
    assert plain == set(BEHAVIORS)
    assert planted == set(BEHAVIORS) | {"circling"}
    with pytest.raises(InputError, match=r"unknown novel behaviour\(s\) \['moonwalk'\]"):
        behavior_program(10, "control", np.random.default_rng(0), novel=("moonwalk",))


def test_emphasis_plants_a_behaviour_more_often():
    def jumps(emphasis=None):
        bouts = behavior_program(3600, "control", np.random.default_rng(3), emphasis=emphasis)
        return sum(b == "jump" for b, _ in bouts) / len(bouts)

    assert jumps({"jump": 8.0}) > 4 * jumps()
    with pytest.raises(InputError, match=r"cannot emphasise unknown behaviour\(s\) \['moonwalk'\]"):
        behavior_program(10, "control", np.random.default_rng(0), emphasis={"moonwalk": 2.0})


def test_novel_behaviour_kinematics():
    traj = simulate(600, "control", 3, novel=("circling", "head_twitch"))
    p = traj.posture
    frame = pd.DataFrame(
        {"behavior": traj.behavior, "x": p.x, "y": p.y, "heading": np.unwrap(p.heading), "yaw": p.head_yaw}
    )
    step = np.hypot(frame.x.diff(), frame.y.diff()) * traj.fps
    turning = frame.heading.diff().abs() * traj.fps
    yaw_rate = frame.yaw.diff().abs() * traj.fps
    by = lambda s: s.groupby(frame.behavior).median()  # noqa: E731
    assert by(turning)["circling"] > 2.0 and by(step)["circling"] > 60  # rad/s, mm/s: moving in tight circles
    assert by(step)["head_twitch"] < 2 and by(yaw_rate)["head_twitch"] > 3 * by(yaw_rate)["sniff"]


def test_truth_is_also_written_as_deeplabcut_csv(synth_dir):
    from movement.io import load_poses

    back = load_poses.from_dlc_file(synth_dir / "control_m01.truth_dlc.csv", fps=25)
    truth = pd.read_parquet(synth_dir / "control_m01.truth.parquet")
    assert list(back.keypoints.values) == list(KEYPOINTS)
    for k in ("nose", "tail_tip"):
        position = back.position.isel(individuals=0).sel(keypoints=k).transpose("time", "space").values
        np.testing.assert_allclose(position, truth[[f"{k}_x", f"{k}_y"]].to_numpy(), atol=1e-6)


def test_contact_sheet_shows_every_behaviour_in_both_views(tmp_path):
    import cv2

    from mousegpt.synth.contact_sheet import CELL, _rows, contact_sheet

    path = contact_sheet(tmp_path / "sheet.png", SMALL, seed=1)
    sheet = cv2.imread(str(path))
    rows = _rows()
    assert {b for b, _ in rows} >= set(BEHAVIORS) | {"circling", "head_twitch"}
    assert sheet.shape == ((len(rows) + 1) * CELL, 4 * CELL, 3)
    # Every behaviour cell has a mouse in it: pixels far from the cell's median (the floor).
    for r in range(len(rows)):
        for col in (0, 2):
            cell = sheet[r * CELL + 30 : (r + 1) * CELL, col * CELL : (col + 1) * CELL].astype(float)
            assert (np.abs(cell - np.median(cell, axis=(0, 1))).max(axis=2) > 60).mean() > 0.02, rows[r]
