"""The pipeline's own faults, each caused: a worker killed mid-part, an input that kills its
worker every time, a part that fails to decode, and an input that hangs.

The workers of this module's Ray run a setup hook that makes tracking a video named
``dies_once*`` kill its worker process the first time any part of it is tracked, and one named
``dies_always*`` every time; each try is counted in a file beside the hook's marks.
"""

import os
import re
import shutil

import pytest

from jobs.analyze import TASK_RETRIES, run
from mousegpt.inputs import InputSpec
from mousegpt.store import Workspace

pytestmark = pytest.mark.ray

FRAMES = 24 * 25
SEGMENTS_PER_SESSION = (FRAMES - 25) // 12 + 1


@pytest.fixture(scope="module")
def faulty_ray(tmp_path_factory, ray_local):
    """A local Ray of 2 CPUs whose workers die as the video's name says; yields the folder
    where each try is counted (``<video name>.tries``, a line per try)."""
    from mousegpt.cluster import LOOPBACK_NODE_IP, connect

    marks = str(tmp_path_factory.mktemp("tries"))

    def kill_as_named(marks=marks):
        # Runs in every worker process as it starts: wraps the tracker.
        from pathlib import Path

        from mousegpt import tracking

        real = tracking.track_part

        def track_part(path, *args, **kwargs):
            name = Path(path).name
            if name.startswith("dies_"):
                tries = Path(marks) / f"{name}.tries"
                with open(tries, "a") as out:
                    out.write("try\n")
                if name.startswith("dies_always") or len(tries.read_text().splitlines()) == 1:
                    os._exit(1)  # as the kernel's OOM killer or a segfault would: no exception, no cleanup
            return real(path, *args, **kwargs)

        tracking.track_part = track_part

    ray_local.shutdown()
    ray_local.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address=LOOPBACK_NODE_IP,
                   runtime_env={"worker_process_setup_hook": kill_as_named})
    yield marks
    ray_local.shutdown()
    connect(None)  # the other tests' Ray, as it was


def _copy(synth_dir, tmp_path, name):
    path = tmp_path / name
    shutil.copy(synth_dir / "control_m01.mp4", path)
    return path


def _tries(marks, name):
    path = os.path.join(marks, f"{name}.tries")
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


def test_a_worker_killed_mid_part_is_retried(faulty_ray, synth_dir, tmp_path):
    video = _copy(synth_dir, tmp_path, "dies_once.mp4")
    report = run([InputSpec(video=str(video), px_per_mm=1.104)], Workspace(tmp_path / "ws"), part_seconds=5.0)
    assert report["failed"] == []
    assert (report["sessions"], report["segments"], report["tracked_parts"]) == (1, SEGMENTS_PER_SESSION, 5)
    assert _tries(faulty_ray, "dies_once.mp4") == 5 + 1  # every part once, and the killed one again


def test_an_input_that_kills_its_worker_every_time_fails_after_the_retries(faulty_ray, synth_dir, tmp_path):
    bad, good = _copy(synth_dir, tmp_path, "dies_always.mp4"), _copy(synth_dir, tmp_path, "fine.mp4")
    specs = [InputSpec(video=str(v), px_per_mm=1.104) for v in (bad, good)]
    report = run(specs, Workspace(tmp_path / "ws"))
    assert (report["sessions"], report["segments"]) == (1, SEGMENTS_PER_SESSION)
    (failed,) = report["failed"]
    assert failed["input"] == str(bad)
    assert failed["error"].startswith(f"{bad}: the worker tracking it died {TASK_RETRIES + 1} times")
    assert _tries(faulty_ray, "dies_always.mp4") == 1 + TASK_RETRIES  # no endless retry


def test_a_part_that_fails_to_decode_fails_its_session_alone(faulty_ray, synth_dir, tmp_path):
    broken = _copy(synth_dir, tmp_path, "broken.mp4")
    data = bytearray(broken.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 20000] = bytes(20000)  # the compressed frames there no longer decode
    broken.write_bytes(bytes(data))
    good = _copy(synth_dir, tmp_path, "fine.mp4")
    report = run([InputSpec(video=str(v), px_per_mm=1.104) for v in (broken, good)], Workspace(tmp_path / "ws"),
                 part_seconds=5.0)
    assert (report["sessions"], report["segments"]) == (1, SEGMENTS_PER_SESSION)
    (failed,) = report["failed"]
    assert failed["input"] == str(broken)
    # The file, and the part's frames and time range.
    assert re.match(rf"{re.escape(str(broken))}: decoding failed after frame \d+ \(reading frames (\d+)-(\d+), "
                    r"(\d+\.\d)-(\d+\.\d) s\)", failed["error"]), failed["error"]


def test_an_input_that_hangs_is_stopped_by_the_timeout(faulty_ray, synth_dir, tmp_path):
    hangs = tmp_path / "hangs.mp4"
    os.mkfifo(hangs)  # reading it waits forever for a writer that never comes
    good = _copy(synth_dir, tmp_path, "fine.mp4")
    report = run([InputSpec(video=str(v), px_per_mm=1.104) for v in (hangs, good)], Workspace(tmp_path / "ws"),
                 input_timeout=20.0)
    assert (report["sessions"], report["segments"]) == (1, SEGMENTS_PER_SESSION), report["failed"]
    assert report["failed"] == [{"input": str(hangs),
                                 "error": f"{hangs}: reading and planning made no progress for 20 s; stopped"}]
