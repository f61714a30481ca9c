"""The pipeline's own faults, each caused: a worker killed mid-part, an input that kills its
worker every time, a part that fails to decode, and an input that hangs.

The workers of this module's Ray run a setup hook that makes tracking a video named
``dies_once*`` kill its worker process the first time any part of it is tracked, and one named
``dies_always*`` every time its first part is tracked; each such try is counted in a file.
All the faults go through one analysis together, with a good video beside them.
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
def faulty(tmp_path_factory, synth_dir, ray_local):
    """The analysis report of a good video and one of each fault, on a local Ray of 2 CPUs
    whose workers die as the video's name says; and the folder where the tries are counted
    (``<video name>.tries``, a line per try)."""
    from mousegpt.ray_connection import LOOPBACK_NODE_IP, connect

    marks = str(tmp_path_factory.mktemp("tries"))

    def kill_as_named(marks=marks):
        # Runs in every worker process as it starts: wraps the tracker.
        from pathlib import Path

        from mousegpt import tracking

        real = tracking.track_part

        def track_part(path, background, start=0, *args, **kwargs):
            name = Path(path).name
            if name.startswith("dies_once") or (name.startswith("dies_always") and start == 0):
                tries = Path(marks) / f"{name}.tries"
                with open(tries, "a") as out:
                    out.write("try\n")
                if name.startswith("dies_always") or len(tries.read_text().splitlines()) == 1:
                    os._exit(1)  # as the kernel's OOM killer or a segfault would: no exception, no cleanup
            return real(path, background, start, *args, **kwargs)

        tracking.track_part = track_part

    folder = tmp_path_factory.mktemp("faulty")
    # Different recordings: the same content would be one session.
    sources = {
        "dies_once": "stim_m02",
        "dies_always": "anx_m03",
        "broken": "control_m04",
        "fine": "control_m01",
    }
    videos = {
        name: _copy(synth_dir / f"{source}.mp4", folder / f"{name}.mp4") for name, source in sources.items()
    }
    data = bytearray(videos["broken"].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20000] = bytes(20000)  # the compressed frames there no longer decode
    videos["broken"].write_bytes(bytes(data))
    videos["hangs"] = folder / "hangs.mp4"
    os.mkfifo(videos["hangs"])  # reading it waits forever for a writer that never comes

    ray_local.shutdown()
    ray_local.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address=LOOPBACK_NODE_IP,
        runtime_env={"worker_process_setup_hook": kill_as_named},
    )
    try:
        specs = [
            InputSpec(video=str(videos[name]), px_per_mm=1.104)
            for name in ("hangs", "dies_once", "dies_always", "broken", "fine")
        ]
        report = run(specs, Workspace(folder / "ws"), part_seconds=5.0, input_timeout=TIMEOUT_S)
    finally:
        ray_local.shutdown()
        connect(None)  # the other tests' Ray, as it was
    return report, {name: str(path) for name, path in videos.items()}, marks


TIMEOUT_S = 20.0


def _copy(source, path):
    shutil.copy(source, path)
    return path


def _tries(marks, name):
    path = os.path.join(marks, f"{name}.tries")
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


def _failed(report, video):
    return [f["error"] for f in report["failed"] if f["input"] == video]


def test_the_good_input_and_the_one_whose_worker_was_killed_once_are_committed(faulty):
    report, videos, _ = faulty
    assert (report["sessions"], report["segments"]) == (2, 2 * SEGMENTS_PER_SESSION)
    assert _failed(report, videos["fine"]) == [] and _failed(report, videos["dies_once"]) == []
    assert {q["input"] for q in report["qc"]} == {videos["fine"], videos["dies_once"]}


def test_a_worker_killed_mid_part_is_retried(faulty):
    _, _, marks = faulty
    assert _tries(marks, "dies_once.mp4") == 5 + 1  # every part once, and the killed one again


def test_an_input_that_kills_its_worker_every_time_fails_after_the_retries(faulty):
    report, videos, marks = faulty
    (error,) = _failed(report, videos["dies_always"])
    assert error.startswith(f"{videos['dies_always']}: the worker tracking it died {TASK_RETRIES + 1} times")
    assert _tries(marks, "dies_always.mp4") == 1 + TASK_RETRIES  # no endless retry


def test_a_part_that_fails_to_decode_fails_its_session_alone(faulty):
    report, videos, _ = faulty
    (error,) = _failed(report, videos["broken"])
    # The file, and the part's frames and time range.
    assert re.match(
        rf"{re.escape(videos['broken'])}: decoding failed after frame \d+ \(reading frames \d+-\d+, "
        r"\d+\.\d-\d+\.\d s\)",
        error,
    ), error


def test_an_input_that_hangs_is_stopped_by_the_timeout(faulty):
    report, videos, _ = faulty
    assert _failed(report, videos["hangs"]) == [
        f"{videos['hangs']}: reading and planning made no progress for {TIMEOUT_S:g} s; stopped"
    ]
    assert len(report["failed"]) == 3
