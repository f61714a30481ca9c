import numpy as np
import pytest

from mousegpt import video
from mousegpt.errors import InputError


def test_probe_reads_size_rate_and_count(synth_dir):
    info = video.probe(synth_dir / "control_m01.mp4")
    assert (info.width, info.height) == (640, 480)  # as conftest's synth_dir asks
    assert info.fps == pytest.approx(25.0)
    assert info.n_frames == 24 * 25
    assert info.duration_s == pytest.approx(24.0)


def test_packet_count_matches_the_header(synth_dir):
    assert (
        video.count_frames(synth_dir / "control_m01.mp4")
        == video.probe(synth_dir / "control_m01.mp4").n_frames
    )


def test_chunks_are_bounded_and_cover_every_frame_once(synth_dir):
    path = synth_dir / "control_m01.mp4"
    starts, total = [], 0
    for start, chunk in video.iter_chunks(path, chunk_size=50):
        assert chunk.shape[0] <= 50 and chunk.shape[1:] == (480, 640) and chunk.dtype == np.uint8
        starts.append(start)
        total += len(chunk)
    assert total == 600
    assert starts == list(range(0, 600, 50))


def test_step_keeps_frame_indices_of_the_full_video(synth_dir):
    starts = [s for s, _ in video.iter_chunks(synth_dir / "control_m01.mp4", chunk_size=4, step=100)]
    assert starts == [0, 400]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="no such file") as err:
        video.probe(tmp_path / "absent.mp4")
    assert "absent.mp4" in str(err.value)


def test_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputError, match="corrupt.mp4"):
        video.probe(bad)


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    """700 frames at 30 fps, H.264 4:4:4 (as one real lab's files) with a keyframe every 40
    frames, each frame's top-left block as bright as its index modulo 250 (in RGB); and every frame as
    decoded from the start."""
    import av

    path = tmp_path_factory.mktemp("video") / "numbered.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=30, options={"g": "40", "keyint_min": "40", "sc_threshold": "0"}
        )
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for i in range(700):
            image = np.full((48, 64, 3), 30, np.uint8)
            image[:16, :16] = i % 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path, np.concatenate([chunk for _, chunk in video.iter_chunks(path)])


@pytest.mark.parametrize("start, stop", [(1, 30), (333, 420), (600, None), (699, 700)])
def test_a_part_of_a_video_is_its_frames_exactly(numbered, start, stop):
    path, every = numbered
    parts = list(video.iter_chunks(path, chunk_size=25, start=start, stop=stop))
    assert parts[0][0] == start and all(b[0] - a[0] == 25 for a, b in zip(parts, parts[1:]))
    assert np.array_equal(np.concatenate([chunk for _, chunk in parts]), every[start:stop])
    # The fixture numbers its frames; grey RGB v is stored as limited-range luma 16 + v * 219/255.
    assert abs(int(every[start][8, 8]) - (16 + start % 250 * 219 / 255)) <= 2


def test_frames_far_apart_are_read_exactly_by_seeking(numbered, monkeypatch):
    path, every = numbered
    monkeypatch.setattr(video, "SEEK_GAP", 50)  # seek over anything longer than this file's keyframe interval
    wanted = [0, 7, 130, 131, 402, 699]
    assert np.array_equal(video.read_frames(path, wanted), every[wanted])
    assert np.array_equal(video.read_frames(path, range(0, 700, 97)), every[::97])
    assert len(video.read_frames(path, [698, 699, 700, 5000])) == 2  # past the end: left out


def test_a_stretch_that_fails_to_decode_is_left_out_of_frames_read_across_the_video(numbered, tmp_path):
    path, every = numbered
    broken = tmp_path / "broken.mp4"
    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat")  # the compressed frames: the box's size, then its name, then them
    size = int.from_bytes(data[mdat - 4 : mdat], "big")
    middle = mdat + size // 2
    data[middle : middle + size // 20] = bytes(size // 20)
    broken.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"broken.mp4: decoding failed after frame \d+ \("):
        list(video.iter_chunks(broken))  # a whole pass breaks there...
    frames = video.read_frames(broken, range(0, 700, 10))  # ...while frames spread across it skip the stretch
    assert len(every[::10]) // 2 < len(frames) < len(every[::10])
    assert np.array_equal(frames[:10], every[:100:10])  # before the stretch: exactly the video's frames
