"""Shared fixtures: one local Ray, one synthetic dataset and one analysed workspace per test session.

Real recordings live in ../shared/data/real beside the repository. Tests that need them
skip with a reason when the folder is absent, and fail instead when
MOUSEGPT_REQUIRE_REAL_DATA=1 (as in CI).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
REAL_LABELLED = REPO.parent / "shared" / "data" / "real-labelled"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# The S3 server of tests/mousegpt/test_storage.py (moto, on loopback) and its test credentials, set
# before any Ray starts, so that its workers reach it too; never a real account's.
S3_ENDPOINT = f"http://127.0.0.1:{free_port()}"
os.environ.update(
    AWS_ENDPOINT_URL=S3_ENDPOINT,
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
)
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
# Copies of object-store inputs (mousegpt.sources) go to a folder of this run, not the user's cache.
os.environ["MOUSEGPT_CACHE"] = tempfile.mkdtemp(prefix="mousegpt-cache-")
atexit.register(shutil.rmtree, os.environ["MOUSEGPT_CACHE"], ignore_errors=True)


@pytest.fixture(scope="session")
def s3():
    """A moto S3 server on loopback, where the test environment's AWS_ENDPOINT_URL points, with
    a bucket ``lab``; stopped when the session ends."""
    from moto.server import ThreadedMotoServer

    from mousegpt.storage import Storage

    port = int(S3_ENDPOINT.rsplit(":", 1)[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        Storage("s3://lab").fs.mkdir("lab")
        yield
    finally:
        server.stop()


def _required(folder: Path, what: str) -> Path:
    if not folder.is_dir():
        reason = f"{what} not found at {folder}"
        if os.environ.get("MOUSEGPT_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + " and MOUSEGPT_REQUIRE_REAL_DATA=1")
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def real_data() -> Path:
    return _required(REAL_DATA, "real recordings")


@pytest.fixture(scope="session")
def real_labelled() -> Path:
    """Real pose files with human behaviour labels (../shared/data/real-labelled)."""
    return _required(REAL_LABELLED, "real labelled pose files")


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray for every test that needs it."""
    import ray

    from mousegpt.ray_connection import connect

    connect(None)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """Four 24-second 640x480 sessions (control, stim, anx, control), with truth tables and a manifest."""
    from mousegpt.synth import Scene, synth_dataset

    out = tmp_path_factory.mktemp("synth")
    synth_dataset(
        out,
        sessions=4,
        seconds=24,
        seed=7,
        conditions=("control", "stim", "anx"),
        scene=Scene(width=640, height=480),
    )
    return out


@pytest.fixture(scope="session")
def embedder():
    from mousegpt.embed import TextEmbedder

    return TextEmbedder()


@pytest.fixture(scope="session")
def analyzed(tmp_path_factory, synth_dir, ray_local):
    """The synthetic dataset analysed on the local Ray: (workspace, report)."""
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest
    from mousegpt.store import Workspace

    ws = Workspace(tmp_path_factory.mktemp("ws"))
    report = run(read_manifest(synth_dir / "manifest.csv"), ws)
    return ws, report


def truth_label(video: str | Path, start_s: float, end_s: float) -> str:
    """Majority ground-truth behaviour of a synthetic video between two times."""
    truth = pd.read_parquet(str(video).replace(".mp4", ".truth.parquet"))
    inside = truth[(truth.time_s >= start_s) & (truth.time_s < end_s)]
    return inside.behavior.mode().iloc[0]


def truth_share(video: str | Path, start_s: float, end_s: float, behavior: str) -> float:
    """Fraction of a synthetic video's frames between two times whose true behaviour is ``behavior``."""
    truth = pd.read_parquet(str(video).replace(".mp4", ".truth.parquet"))
    inside = truth[(truth.time_s >= start_s) & (truth.time_s < end_s)]
    return float((inside.behavior == behavior).mean())


@pytest.fixture(scope="session")
def job_server(tmp_path_factory):
    """A Ray head with its job server on loopback, as `mousegpt jobs head` starts one: its
    address (http://127.0.0.1:PORT). It runs with --block in its own process group, so that
    it is stopped without touching the session's own Ray (``ray stop`` would stop every Ray)."""
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    from jobs.submit import _reachable

    bin_dir = Path(sys.executable).parent
    port, gcs, agent = free_port(), free_port("127.0.0.2"), free_port("127.0.0.2")
    address = f"http://127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="rj")  # short: Ray's socket paths must stay under 108 bytes
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    head = subprocess.Popen(
        [
            str(bin_dir / "ray"),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.2",
            "--port",
            str(gcs),
            "--dashboard-host",
            "127.0.0.1",
            "--dashboard-port",
            str(port),
            "--include-dashboard",
            "true",
            "--dashboard-agent-listen-port",
            str(agent),  # not Ray's fixed default: the session's Ray holds it
            "--num-cpus",
            "2",
            "--temp-dir",
            temp,
            "--disable-usage-stats",
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        while not _reachable(address):
            assert head.poll() is None, "the Ray head exited while starting"
            assert time.monotonic() < deadline, f"no job server at {address} after 90 s"
            time.sleep(0.5)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGKILL)  # the whole head: GCS, raylet, dashboard, the jobs' drivers
        head.wait(timeout=60)
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
