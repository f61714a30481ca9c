import numpy as np
import pytest
from movement.io import load_poses

from mousegpt import kinematics, segments
from mousegpt.arena import Arena
from mousegpt.errors import InputError

FPS, PX_PER_MM = 25.0, 2.0


def _poses(nose, centre, tail):
    position = np.stack([nose, centre, tail], axis=-1)[..., None]  # (time, space, keypoints, individuals)
    return load_poses.from_numpy(
        position,
        np.ones(position.shape[:1] + position.shape[2:]),
        keypoint_names=["nose", "body_center", "tail_base"],
        fps=FPS,
    )


def _straight_run(speed_mm_s, n=100, heading_deg=0.0):
    """A mouse 90 mm long moving along a straight line at constant speed (pixels)."""
    direction = np.array([np.cos(np.radians(heading_deg)), np.sin(np.radians(heading_deg))])
    t = np.arange(n) / FPS
    centre = np.array([300.0, 300.0]) + np.outer(t * speed_mm_s * PX_PER_MM, direction)
    return _poses(centre + 45 * PX_PER_MM * direction, centre, centre - 45 * PX_PER_MM * direction)


def test_speed_length_and_heading_in_physical_units():
    kin = kinematics.compute(_straight_run(100.0, heading_deg=90), FPS, PX_PER_MM, arena=None)
    inner = kin.iloc[5:-5]
    assert inner.speed_mm_s.to_numpy() == pytest.approx(100.0, rel=0.02)
    assert inner.body_length_mm.to_numpy() == pytest.approx(90.0)
    assert inner.heading_deg.to_numpy() == pytest.approx(90.0)
    assert np.abs(inner.angular_speed_deg_s).max() < 1e-6


def test_rotation_in_place_gives_angular_speed():
    n, rate = 100, 90.0  # deg/s, clockwise on screen
    angle = np.radians(rate * np.arange(n) / FPS)
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    centre = np.full((n, 2), 300.0)
    kin = kinematics.compute(
        _poses(centre + 90 * direction, centre, centre - 90 * direction), FPS, PX_PER_MM, arena=None
    )
    assert kin.angular_speed_deg_s.iloc[5:-5].to_numpy() == pytest.approx(rate, rel=0.02)
    assert kin.speed_mm_s.iloc[5:-5].max() < 1e-6


def test_bottom_view_is_mirrored_to_the_animal_s_frame():
    n, rate = 100, 90.0
    angle = np.radians(rate * np.arange(n) / FPS)
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    centre = np.full((n, 2), 300.0)
    ds = _poses(centre + 90 * direction, centre, centre - 90 * direction)
    top = kinematics.compute(ds, FPS, PX_PER_MM, arena=None)
    bottom = kinematics.compute(ds, FPS, PX_PER_MM, arena=None, view="bottom")
    assert bottom.angular_speed_deg_s.iloc[5:-5].to_numpy() == pytest.approx(
        -top.angular_speed_deg_s.iloc[5:-5].to_numpy()
    )
    assert bottom.speed_mm_s.to_numpy() == pytest.approx(top.speed_mm_s.to_numpy())


def test_arena_from_an_unknown_path_is_none():
    from mousegpt.arena import from_track

    assert from_track(np.full(5, np.nan), np.full(5, np.nan), pad_px=10.0) is None
    assert from_track(np.arange(5.0), np.arange(5.0), pad_px=float("nan")) is None


def test_head_yaw_is_relative_to_the_torso():
    n = 50
    centre = np.full((n, 2), 300.0)
    tail = centre - [90.0, 0.0]
    yaw = np.radians(30.0)
    nose = centre + 60 * np.array([np.cos(yaw), np.sin(yaw)])
    kin = kinematics.compute(
        _poses(np.tile(nose, (1, 1)).reshape(n, 2), centre, tail), FPS, PX_PER_MM, arena=None
    )
    assert kin.head_yaw_deg.to_numpy() == pytest.approx(30.0)


def test_zones_from_the_arena():
    arena = Arena("rect", cx=500, cy=500, width=800, height=800)  # spans 100..900; centre zone 300..700
    x = np.array([500.0, 690.0, 250.0, 250.0, 800.0, np.nan])
    y = np.array([500.0, 310.0, 500.0, 250.0, 880.0, 500.0])
    assert list(arena.zones(x, y)) == ["centre", "centre", "wall", "corner", "corner", None]
    circle = Arena("circle", cx=0, cy=0, width=200, height=200)
    assert list(circle.zones(np.array([0.0, 45.0, 60.0]), np.array([0.0, 0.0, 0.0]))) == [
        "centre",
        "centre",
        "wall",
    ]
    assert circle.wall_distance(np.array([0.0, 90.0]), np.array([0.0, 0.0])) == pytest.approx([100.0, 10.0])


@pytest.mark.parametrize("fps, px", [(0, 1.0), (-25, 1.0), (25, 0), (25, -2.0), (float("nan"), 1.0)])
def test_non_positive_rates_are_refused(fps, px):
    with pytest.raises(InputError, match="must be a positive number"):
        kinematics.compute(_straight_run(50.0), fps, px, arena=None)


def test_px_per_mm_estimated_from_body_length():
    assert kinematics.estimate_px_per_mm(_straight_run(50.0)) == pytest.approx(PX_PER_MM)


def test_windows_cover_the_session_at_the_hop():
    w = segments.windows(250, FPS)  # 10 s
    assert len(w) == int((10.0 - 1.0) / 0.5) + 1
    assert (w[0].start_frame, w[0].end_frame) == (0, 25) and w[1].start_frame in (12, 13)
    assert all(x.end_frame - x.start_frame == 25 for x in w) and w[-1].end_frame <= 250
    assert len(segments.windows(10, FPS)) == 1  # shorter than one window


def test_dominant_frequency_of_a_rhythm():
    t = np.arange(25) / FPS
    assert segments.dominant_frequency(20 * np.sin(2 * np.pi * 6 * t), FPS) == pytest.approx(6, abs=1)
    assert segments.dominant_frequency(np.zeros(25), FPS) == 0.0


def test_facts_of_a_straight_run_and_of_an_invisible_window():
    ds = _straight_run(80.0)
    ds["position"][60:, ...] = np.nan  # the mouse disappears after 2.4 s
    kin = kinematics.compute(ds, FPS, PX_PER_MM, arena=None)
    facts = segments.facts(kin, FPS)
    first, last = facts.iloc[0], facts.iloc[-1]
    assert first.speed_mean_mm_s == pytest.approx(80.0, rel=0.1)
    assert first.displacement_mm == pytest.approx(80.0 * 24 / 25, rel=0.05)
    assert first.immobile_fraction < 0.1  # at most the edge frames of the smoothing window
    assert last.visible_fraction == 0.0 and np.isnan(last.speed_mean_mm_s)


def test_egocentric_velocity_and_keypoints():
    """Along the nose-tail axis: forward is positive walking head first, left is the animal's left."""
    forward = kinematics.compute(_straight_run(100.0, heading_deg=90), FPS, PX_PER_MM, arena=None).iloc[5:-5]
    assert forward.forward_speed_mm_s.to_numpy() == pytest.approx(100.0, rel=0.02)
    assert np.abs(forward.left_speed_mm_s).max() < 1e-6
    backwards = _straight_run(60.0, heading_deg=0)
    backwards = backwards.assign_coords(
        keypoints=["tail_base", "body_center", "nose"]
    )  # facing the other way
    kin = kinematics.compute(backwards, FPS, PX_PER_MM, arena=None).iloc[5:-5]
    assert kin.forward_speed_mm_s.to_numpy() == pytest.approx(-60.0, rel=0.02)
    # Facing +x on screen (seen from above, y down), the animal's left is -y: a sidestep up the screen.
    n = 50
    centre = np.stack([np.full(n, 300.0), 300.0 - np.arange(n) * 2.0], axis=1)
    side = _poses(centre + [90.0, 0.0], centre, centre - [90.0, 0.0])
    top = kinematics.compute(side, FPS, PX_PER_MM, arena=None).iloc[5:-5]
    assert top.left_speed_mm_s.to_numpy() == pytest.approx(2.0 * FPS / PX_PER_MM)
    bottom = kinematics.compute(side, FPS, PX_PER_MM, arena=None, view="bottom").iloc[5:-5]
    assert bottom.left_speed_mm_s.to_numpy() == pytest.approx(-2.0 * FPS / PX_PER_MM)
    ego = kinematics.egocentric(side, PX_PER_MM)
    assert ego.sel(keypoints="nose", space="forward").values == pytest.approx(45.0)
    assert ego.sel(keypoints="tail_base", space="forward").values == pytest.approx(-45.0)
    assert np.abs(ego.sel(space="left").values).max() < 1e-9


def _head_wiggle(hz, amplitude_deg, n=100, fps=FPS):
    """A still mouse whose head (body_center -> nose, 40 px) swings side to side at ``hz``."""
    yaw = np.radians(amplitude_deg) * np.sin(2 * np.pi * hz * np.arange(n) / fps)
    centre = np.full((n, 2), 300.0)
    nose = centre + 40 * np.stack([np.cos(yaw), np.sin(yaw)], axis=1)
    return _poses(nose, centre, centre - [60.0, 0.0])


def test_fast_part_keeps_oscillations_at_8_hz_and_above_and_drops_slower_ones():
    t = np.arange(250) / FPS
    fast, slow = np.sin(2 * np.pi * 10 * t), 5 * np.sin(2 * np.pi * 3 * t)
    out = kinematics.fast_part(fast + slow, FPS)
    inner = slice(25, -25)
    assert np.sqrt(np.mean(out[inner] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.15)  # a unit sine's RMS
    assert np.sqrt(np.mean(kinematics.fast_part(slow, FPS)[inner] ** 2)) < 0.05 * np.sqrt(12.5)


def test_fast_part_leaves_gaps_empty_and_needs_twice_the_cutoff_in_fps():
    signal = np.sin(2 * np.pi * 10 * np.arange(100) / FPS)
    signal[40:45] = np.nan
    out = kinematics.fast_part(signal, FPS)
    assert np.isnan(out[40:45]).all() and not np.isnan(out[:40]).any()
    assert np.isnan(kinematics.fast_part(signal, 15.0)).all()  # 15 fps cannot show 8 Hz


def test_head_twitches_are_measured_before_smoothing_removes_them():
    from mousegpt import qc

    twitching, still = _head_wiggle(hz=10, amplitude_deg=20), _head_wiggle(hz=10, amplitude_deg=0)
    cleaned, _ = qc.clean(twitching, FPS)  # a 0.2 s running median: nothing of a 10 Hz wiggle is left
    smoothed_yaw = kinematics.compute(cleaned.drop_vars(qc.UNSMOOTHED), FPS, PX_PER_MM, arena=None)
    kin = kinematics.compute(cleaned, FPS, PX_PER_MM, arena=None)
    assert np.nanstd(smoothed_yaw.head_yaw_deg) < 3.0
    fact = segments.facts(kin, FPS)["head_yaw_fast_deg"]
    assert fact.median() == pytest.approx(20 / np.sqrt(2), rel=0.2)  # the wiggle's RMS
    calm = segments.facts(kinematics.compute(qc.clean(still, FPS)[0], FPS, PX_PER_MM, arena=None), FPS)
    assert calm["head_yaw_fast_deg"].max() < 0.5
