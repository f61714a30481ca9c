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
    assert video.count_frames(synth_dir / "control_m01.mp4") == video.probe(synth_dir / "control_m01.mp4").n_frames


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
