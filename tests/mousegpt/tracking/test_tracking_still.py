"""The built-in tracker on a mouse that hardly moves, and beside its reflections.

A mouse that rests through a whole short clip is part of every frame the background is
estimated from; a transparent wall shows a faint mirrored copy of the mouse beyond it. Clips
are bottom views through a clear floor, 320x240, 8 seconds.
"""

import subprocess
import sys
from dataclasses import replace

import cv2
import numpy as np
import pandas as pd
import pytest
from movement.io import load_poses
from typer.testing import CliRunner

from mousegpt import tracking
from mousegpt.cli import app
from mousegpt.errors import InputError
from mousegpt.inputs import input_specs, read_manifest
from mousegpt.synth import Renderer, Scene, simulate, truth_table
from mousegpt.synth.dataset import encode

from .test_tracking import _write_grey_video

SCENE = Scene(width=320, height=240, view="bottom", reflection=0.6)
SECONDS = 8
MISSING_LIMIT = 0.05
"""Largest fraction of a still mouse's frames that may lack a position."""
ERROR_LIMIT = 0.05
"""Largest median keypoint error, in body lengths: a resting mouse is about 45 px long in
these clips, and 5% of it is two pixels."""


def _xy(ds, keypoint):
    return ds.position.isel(individuals=0).sel(keypoints=keypoint).transpose("time", "space").values


def _body_length(truth: pd.DataFrame) -> float:
    return float(np.median(np.hypot(truth.nose_x - truth.tail_base_x, truth.nose_y - truth.tail_base_y)))


def _still_clip(folder, scene: Scene, start: tuple[float, float, float], seed: int = 3):
    """A mouse resting in one place for the whole clip: (video, truth, renderer)."""
    traj = simulate(
        SECONDS,
        "control",
        seed=seed,
        fps=scene.fps,
        arena=scene.geometry,
        program=[("rest", SECONDS + 1.0)],
        start=start,
    )
    renderer = Renderer(traj, scene, seed)
    path = folder / "still.mp4"
    encode(renderer, path)
    return path, truth_table(traj, scene, renderer.points), renderer


def _floor_px(scene: Scene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether image points lie on the synthetic arena's floor."""
    side = scene.arena_mm * scene.px_per_mm
    ox, oy = scene.origin_px
    if scene.arena == "circle":
        return np.hypot(x - ox - side / 2, y - oy - side / 2) <= side / 2
    return (x >= ox) & (x <= ox + side) & (y >= oy) & (y <= oy + side)


def _mirrored(scene: Scene, point: np.ndarray) -> np.ndarray:
    """The mirror image of an image point in the arena's wall nearest to it."""
    side = scene.arena_mm * scene.px_per_mm
    ox, oy = scene.origin_px
    if scene.arena == "circle":
        centre = np.array([ox + side / 2, oy + side / 2])
        out = (point - centre) / np.linalg.norm(point - centre)
        return point + 2 * (side / 2 - np.linalg.norm(point - centre)) * out
    x, y = point
    gaps = {
        x - ox: (2 * ox - x, y),
        ox + side - x: (2 * (ox + side) - x, y),
        y - oy: (x, 2 * oy - y),
        oy + side - y: (x, 2 * (oy + side) - y),
    }
    return np.array(gaps[min(gaps)])


# A black mouse by the left wall of a square arena (seen from below: by the right edge of
# the image), an agouti one by the wall of a round arena, each facing along the wall, its
# mirror image beyond the wall; and an agouti one with its nose in a corner, mirrored in both walls.
STILL = {
    "black-square": (replace(SCENE, fur="black", arena="square"), (40.0, 150.0, 2.0)),
    "agouti-circle": (replace(SCENE, fur="agouti", arena="circle"), (60.0, 120.0, 2.0)),
    "agouti-corner": (replace(SCENE, fur="agouti", arena="square"), (365.0, 365.0, 0.8)),
}


@pytest.fixture(scope="module", params=list(STILL))
def still(request, tmp_path_factory):
    scene, start = STILL[request.param]
    path, truth, renderer = _still_clip(tmp_path_factory.mktemp(request.param), scene, start)
    return scene, path, truth, renderer


def test_the_clip_is_a_still_mouse_beside_its_reflection(still):
    """What the tests below rely on: the mouse hardly moves, and its mirror image is there."""
    scene, _, truth, renderer = still
    length = _body_length(truth)
    assert (truth.behavior == "rest").all()
    centre = truth[["body_center_x", "body_center_y"]].to_numpy()
    assert np.ptp(centre, axis=0).max() < 0.05 * length
    # Beyond the wall, where the mirror image of the body centre lands, the frame differs
    # from the empty arena; without reflections it does not.
    x, y = (int(round(v)) for v in _mirrored(scene, centre[0]))
    assert not _floor_px(scene, np.array([x]), np.array([y]))[0]
    plate = cv2.cvtColor(renderer.plate, cv2.COLOR_BGR2GRAY).astype(int)
    frame = cv2.cvtColor(renderer.bgr(0), cv2.COLOR_BGR2GRAY).astype(int)
    assert abs(frame[y, x] - plate[y, x]) > 10
    opaque = Renderer(renderer.traj, replace(scene, reflection=0.0), 3)
    assert cv2.cvtColor(opaque.bgr(0), cv2.COLOR_BGR2GRAY)[y, x] == plate[y, x]


def test_a_mouse_resting_through_a_whole_clip_is_found(still):
    scene, path, truth, _ = still
    ds = tracking.track(path)
    length = _body_length(truth)
    centre = _xy(ds, "body_center")
    assert np.isnan(centre).any(axis=1).mean() <= MISSING_LIMIT
    for keypoint in ("nose", "body_center", "tail_base"):
        error = np.hypot(*(_xy(ds, keypoint) - truth[[f"{keypoint}_x", f"{keypoint}_y"]].to_numpy()).T)
        assert np.nanmedian(error) < ERROR_LIMIT * length, keypoint
        assert np.nanmax(error) < 0.25 * length, keypoint  # never the reflection beyond the wall
    found = np.isfinite(centre).all(axis=1)
    assert _floor_px(scene, *centre[found].T).all()
    nose, tail = _xy(ds, "nose"), truth[["tail_base_x", "tail_base_y"]].to_numpy()
    nose_truth = truth[["nose_x", "nose_y"]].to_numpy()
    assert (
        np.mean(np.hypot(*(nose - tail).T) < np.hypot(*(nose - nose_truth).T)) < 0.03
    )  # head and tail not swapped


@pytest.mark.parametrize(
    "program",
    [
        [("walk", 1.0), ("rest", 8.0)],  # a long rest: the mouse moves in an eighth of the frames
        [("sniff", 9.0)],  # shifts slowly: it uncovers as much floor as it covers, no polarity from motion
        [("rest", 3.0), ("groom", 6.0, "face")],  # the head and forepaws move, the body does not
    ],
    ids=["walk-then-rest", "sniff", "rest-then-groom"],
)
def test_a_mouse_that_hardly_moves_is_found(tmp_path, program):
    scene = replace(SCENE, fur="black")
    traj = simulate(
        SECONDS,
        "control",
        seed=3,
        fps=scene.fps,
        arena=scene.geometry,
        program=program,
        start=(150.0, 200.0, 1.0),
    )
    renderer = Renderer(traj, scene, 3)
    encode(renderer, tmp_path / "clip.mp4")
    truth = truth_table(traj, scene, renderer.points)
    ds = tracking.track(tmp_path / "clip.mp4")
    length = _body_length(truth)
    assert np.isnan(_xy(ds, "body_center")).any(axis=1).mean() <= MISSING_LIMIT
    for keypoint in ("nose", "body_center", "tail_base"):
        error = np.hypot(*(_xy(ds, keypoint) - truth[[f"{keypoint}_x", f"{keypoint}_y"]].to_numpy()).T)
        assert np.nanmedian(error) < ERROR_LIMIT * length, keypoint


def test_the_background_of_a_still_mouse_is_the_empty_floor(still):
    """Where the mouse rests, the background is the floor again, and the mouse's polarity
    is told from it: dark on the light floor for black fur, light on the dark floor for agouti."""
    scene, path, truth, renderer = still
    bg = tracking.estimate_background(path)
    assert bg.polarity == (-1 if scene.fur == "black" else 1)
    luma = cv2.cvtColor(renderer.plate, cv2.COLOR_BGR2YUV_I420)[: scene.height].astype(np.float32)
    x, y = truth.loc[0, ["body_center_x", "body_center_y"]].round().astype(int)
    under = np.s_[y - 3 : y + 4, x - 3 : x + 4]
    assert np.abs(bg.image[under] - luma[under]).max() < 12
    assert bg.threshold > 2 * tracking.TrackerConfig().min_threshold  # the mouse's contrast, not the noise's


def test_a_dark_object_on_the_floor_is_not_taken_for_a_resting_mouse(tmp_path):
    """A mouse-sized dark stain stays in the background while the mouse moves about: the
    mouse is seen elsewhere in most frames, so the stain is not a mouse at rest."""
    scene = replace(SCENE, fur="black", reflection=0.0)
    traj = simulate(SECONDS, "stim", seed=12, fps=scene.fps, arena=scene.geometry)
    renderer = Renderer(traj, scene, 12)
    stain = (160, 120)
    cv2.ellipse(renderer.plate, stain, (14, 8), 30, 0, 360, (60, 60, 60), -1, cv2.LINE_AA)
    encode(renderer, tmp_path / "stain.mp4")
    truth = truth_table(traj, scene, renderer.points)
    bg = tracking.estimate_background(tmp_path / "stain.mp4")
    assert bg.image[stain[1], stain[0]] < 100  # still in the background: never foreground
    ds = tracking.track(tmp_path / "stain.mp4", background=bg)
    error = np.hypot(*(_xy(ds, "body_center") - truth[["body_center_x", "body_center_y"]].to_numpy()).T)
    assert np.isfinite(error).all() and np.median(error) < ERROR_LIMIT * _body_length(truth)


@pytest.mark.parametrize(
    ("floor", "surround", "reflection"),
    [(200, 150, 65), (130, 230, 110)],
    ids=["fainter", "on-a-brighter-surround"],
)
def test_a_mirrored_copy_beyond_the_wall_is_not_the_mouse(tmp_path, floor, surround, reflection):
    """A dark ellipse (grey 30) gliding along a wall, and beyond the wall its reflection:
    mirrored and a little larger (farther from the camera's focus, more blurred). Fainter
    than the mouse, it loses on contrast; on a surround brighter than the floor it can
    differ from its background more than the mouse does, and loses for lying off the floor."""
    wall = 110  # the floor is x < 110, the surround beyond it
    frames = np.full((40, 160, 200), floor, np.uint8)
    frames[:, :, wall:] = surround
    for i, frame in enumerate(frames):
        y = round(30 + 2.5 * i)
        cv2.ellipse(frame, (wall - 20, y), (9, 18), 0, 0, 360, 30, -1)
        cv2.ellipse(frame, (wall + 21, y), (10, 20), 0, 0, 360, reflection, -1)
    _write_grey_video(tmp_path / "reflection.mp4", frames)
    ds = tracking.track(tmp_path / "reflection.mp4")
    centre = _xy(ds, "body_center")
    assert np.isfinite(centre).all()
    np.testing.assert_allclose(centre[:, 0], wall - 20, atol=2)
    np.testing.assert_allclose(centre[:, 1], 30 + 2.5 * np.arange(40), atol=2)


# --- an image of the empty arena: `--background` ---------------------------------------


@pytest.fixture(scope="module")
def with_empty_arena(tmp_path_factory):
    """A still black mouse and a photo of the arena without it (full-range PNG, while the
    video's luma is limited-range: the levels differ)."""
    folder = tmp_path_factory.mktemp("empty-arena")
    path, truth, renderer = _still_clip(folder, replace(SCENE, fur="black"), (200.0, 120.0, 0.7), seed=5)
    cv2.imwrite(str(folder / "empty.png"), renderer.plate)
    return path, truth, renderer, folder / "empty.png"


def test_the_empty_arena_image_is_the_background(with_empty_arena):
    path, _, renderer, empty = with_empty_arena
    bg = tracking.estimate_background(path, empty_arena=empty)
    luma = cv2.cvtColor(renderer.plate, cv2.COLOR_BGR2YUV_I420)[: SCENE.height].astype(np.float32)
    off = np.abs(bg.image - luma)
    # Unmatched, the floor would be 13 levels off (full range against the luma's 16-235).
    assert np.median(off) < 3 and np.percentile(off, 99) < 6
    assert bg.polarity == -1


def test_tracks_command_with_an_empty_arena_image(with_empty_arena, tmp_path):
    path, truth, _, empty = with_empty_arena
    out = tmp_path / "tracks.csv"
    result = CliRunner().invoke(app, ["tracks", str(path), "--background", str(empty), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds = load_poses.from_dlc_file(out, fps=SCENE.fps)
    centre = _xy(ds, "body_center")
    assert np.isnan(centre).any(axis=1).mean() <= MISSING_LIMIT
    error = np.hypot(*(centre - truth[["body_center_x", "body_center_y"]].to_numpy()).T)
    assert np.nanmedian(error) < ERROR_LIMIT * _body_length(truth)


def _bad_images(folder):
    """Empty-arena images that cannot be used, and what the error says about each."""
    cv2.imwrite(str(folder / "small.png"), np.zeros((200, 300, 3), np.uint8))
    (folder / "text.png").write_text("not an image")
    return {
        "small.png": "small.png: empty-arena image is 300x200 but the video still.mp4 is 320x240",
        "text.png": "text.png: not an image OpenCV can read",
        "gone.png": "gone.png: no such empty-arena image",
    }


def test_bad_empty_arena_images_are_rejected_before_tracking(with_empty_arena, tmp_path, monkeypatch):
    path = with_empty_arena[0]
    monkeypatch.setattr(tracking, "track", lambda *a, **k: pytest.fail("tracked despite a bad --background"))
    for name, message in _bad_images(tmp_path).items():
        result = CliRunner().invoke(
            app, ["tracks", str(path), "--background", str(tmp_path / name), "--out", str(tmp_path / "t.csv")]
        )
        assert result.exit_code == 1 and isinstance(result.exception, InputError), name
        assert str(tmp_path / name) in str(result.exception) and message in str(result.exception)
        with pytest.raises(InputError, match=message):
            input_specs([str(path)], background=str(tmp_path / name))
    assert not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("command", ["tracks", "analyze"])
def test_a_wrong_sized_empty_arena_image_is_one_error_line(with_empty_arena, tmp_path, command):
    path = with_empty_arena[0]
    _bad_images(tmp_path)
    extra = (
        ["--out", str(tmp_path / "t.csv")] if command == "tracks" else ["--workspace", str(tmp_path / "ws")]
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mousegpt.cli",
            command,
            str(path),
            "--background",
            str(tmp_path / "small.png"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'small.png'}: empty-arena image is 300x200 but the video still.mp4 is 320x240; "
        "it must be a frame of the same camera"
    ]
    assert not (tmp_path / "ws").exists() and not (tmp_path / "t.csv").exists()


def test_manifest_background_column_is_relative_to_the_manifest(with_empty_arena, tmp_path):
    path, _, _, empty = with_empty_arena
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "empty.png").write_bytes(empty.read_bytes())
    (tmp_path / "m.csv").write_text(
        "video,animal,condition,fps,px_per_mm,view,background\n"
        f"{path},m1,rest,,,bottom,sub/empty.png\n"
        f"{path},m2,rest,,,bottom,\n"
    )
    first, second = read_manifest(tmp_path / "m.csv")
    assert first.background == str((tmp_path / "sub" / "empty.png").resolve()) and second.background is None
    _bad_images(tmp_path)
    (tmp_path / "bad.csv").write_text(f"video,background\n{path},small.png\n")
    with pytest.raises(InputError, match="small.png: empty-arena image is 300x200"):
        read_manifest(tmp_path / "bad.csv")


def test_an_empty_arena_image_needs_a_video(tmp_path):
    cv2.imwrite(str(tmp_path / "empty.png"), np.zeros((240, 320), np.uint8))
    with pytest.raises(
        InputError, match="empty.png: an empty-arena image needs a video; .*track.csv is a pose file alone"
    ):
        input_specs([str(tmp_path / "track.csv")], fps=25, background=str(tmp_path / "empty.png"))


def test_analyze_tracks_with_the_empty_arena_image(with_empty_arena, tmp_path, monkeypatch):
    """`analyze --background` hands the image to the tracker: the spec's background reaches
    ``estimate_background`` (after its round trip through JSON to a worker)."""
    import json

    from mousegpt.analysis import analyze
    from mousegpt.describe import load_model
    from mousegpt.embed import DIM
    from mousegpt.inputs import InputSpec
    from mousegpt.store import Workspace

    path, _, _, empty = with_empty_arena
    asked, estimate = [], tracking.estimate_background
    monkeypatch.setattr(tracking, "estimate_background", lambda *a, **k: asked.append(k) or estimate(*a, **k))
    (spec,) = input_specs([str(path)], view="bottom", background=str(empty))
    spec = InputSpec(**json.loads(json.dumps(spec.to_dict())))
    unit = lambda texts: np.tile(np.eye(1, DIM, dtype=np.float32), (len(texts), 1))  # noqa: E731  (no text model needed)
    (result,) = analyze(spec, Workspace(tmp_path / "ws"), load_model("kinematic"), unit)
    assert result.error is None, result.error
    assert asked == [{"empty_arena": str(empty.resolve())}]
    assert result.qc["missing_fraction"] <= MISSING_LIMIT


def test_reflection_strength_is_checked():
    with pytest.raises(InputError, match="reflection must be 0-1, got 1.5"):
        Scene(reflection=1.5)
