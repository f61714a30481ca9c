"""Mouse-centred, heading-aligned crops: placed, turned and mirrored as the docstring says."""

import av
import cv2
import numpy as np
import pytest
from movement.io import load_poses

from mousegpt import crops
from mousegpt.segments import Window
from mousegpt.tracking import Background

SIZE = (240, 320)  # height, width
CENTRE = np.array([160.0, 120.0])


def mouse_frame(heading_deg: float, marker_left: bool = True) -> tuple[np.ndarray, dict]:
    """A grey floor with a bright body along ``heading_deg`` (image angles, y down), a bright
    nose disc at the front and a smaller marker on the animal's left side (seen from above)."""
    frame = np.full(SIZE, 60, np.uint8)
    forward = np.array([np.cos(np.radians(heading_deg)), np.sin(np.radians(heading_deg))])
    left = np.array([forward[1], -forward[0]])  # the animal's left, seen from above with y down
    nose, tail = CENTRE + 30 * forward, CENTRE - 30 * forward
    cv2.ellipse(frame, tuple(int(v) for v in CENTRE), (30, 12), heading_deg, 0, 360, 200, -1)
    cv2.circle(frame, tuple(int(v) for v in nose), 8, 255, -1)
    side = CENTRE + (1 if marker_left else -1) * 16 * left
    cv2.circle(frame, tuple(int(v) for v in side), 5, 255, -1)
    return frame, {"nose": nose, "body_center": CENTRE, "tail_base": tail}


def write_video(path, frames):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
        stream.options = {"crf": "10"}
        for grey in frames:
            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def poses(points: list[dict]):
    names = ["nose", "body_center", "tail_base"]
    position = np.stack([np.stack([p[k] for k in names], axis=-1) for p in points])[..., None]
    return load_poses.from_numpy(
        position, np.ones((len(points), 3, 1)), individual_names=["m"], keypoint_names=names, fps=25
    )


@pytest.mark.parametrize("view", ["top", "bottom"])
def test_the_mouse_faces_up_in_the_middle_with_its_left_on_the_left(tmp_path, view):
    headings = [0.0, 90.0, 200.0, -45.0]
    # A bottom camera sees the animal mirrored: its left marker on the other side of the image.
    drawn = [mouse_frame(h, marker_left=(view == "top")) for h in headings]
    write_video(tmp_path / "v.mp4", [f for f, _ in drawn])
    background = Background(image=np.full(SIZE, 60, np.float32), polarity=1, threshold=10.0)
    windows = [Window(i, i, i + 1) for i in range(len(headings))]
    out = crops.extract(
        tmp_path / "v.mp4", poses([p for _, p in drawn]), windows, background, view=view, n=1, size=64
    )
    assert out.shape == (4, 1, 64, 64) and out.dtype == np.uint8
    for crop in out[:, 0].astype(float):
        ys, xs = np.nonzero(crop > 80)
        assert abs(xs.mean() - 31.5) < 4 and abs(ys.mean() - 31.5) < 5  # centred on body_center
        assert np.ptp(ys) > 1.6 * np.ptp(xs)  # the body runs up and down the crop
        assert crop[:24].sum() > crop[40:].sum()  # the nose disc is at the top
        middle = crop[24:40]
        assert middle[:, :28].sum() > middle[:, 36:].sum()  # the left marker is on the left


def test_frames_without_a_position_give_empty_crops(tmp_path):
    frame, points = mouse_frame(0.0)
    write_video(tmp_path / "v.mp4", [frame, frame])
    missing = {k: np.full(2, np.nan) for k in points}
    background = Background(image=np.full(SIZE, 60, np.float32), polarity=1, threshold=10.0)
    out = crops.extract(
        tmp_path / "v.mp4", poses([points, missing]), [Window(0, 0, 1), Window(1, 1, 2)], background, n=1
    )
    assert out[0].any() and not out[1].any()


def test_window_frames_spread_over_the_window():
    assert list(crops.window_frames(Window(0, 10, 35), n=4)) == [10, 18, 26, 34]
