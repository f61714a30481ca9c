"""`--address` against a real two-node Ray cluster (head + worker node, `ray start`) on loopback."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.ray
RAY = str(Path(sys.executable).with_name("ray"))


def _alive_nodes(address: str, env: dict) -> int:
    try:  # each probe is bounded; a cluster not up yet answers 0
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import ray; ray.init(address='{address}', logging_level='ERROR'); "
                "print(sum(n['Alive'] for n in ray.nodes()))",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        return 0
    return int(probe.stdout.strip().splitlines()[-1]) if probe.returncode == 0 and probe.stdout.strip() else 0


@pytest.fixture
def cluster():
    """Nodes run with --block in their own process groups, so stopping them cannot touch the
    test session's own Ray (``ray stop`` would stop every Ray on the machine)."""
    port = free_port("127.0.0.2")
    address = f"127.0.0.2:{port}"  # loopback; Ray would rewrite 127.0.0.1 to the network address
    temp = tempfile.mkdtemp(prefix="rc")  # short: Ray's socket paths must stay under 108 bytes
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    common = ["--node-ip-address", "127.0.0.2", "--num-cpus", "1", "--block"]
    head = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--port",
            str(port),
            "--temp-dir",
            temp,
            "--include-dashboard",
            "false",
            *common,
        ],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    nodes = [head]
    try:
        for _ in range(10):  # wait until the head answers (bounded)
            if _alive_nodes(address, env) >= 1:
                break
        nodes.append(
            subprocess.Popen(
                [RAY, "start", "--address", address, *common],
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        for _ in range(10):
            if _alive_nodes(address, env) == 2:
                break
        yield address, env
    finally:
        for node in reversed(nodes):
            # SIGKILL to the whole group (raylet, GCS, workers): a SIGTERM'd node spends half a
            # minute shutting down gracefully, and nothing of this throwaway cluster needs keeping.
            os.killpg(node.pid, signal.SIGKILL)
        for node in nodes:
            node.wait(timeout=60)
        shutil.rmtree(temp, ignore_errors=True)


def test_analyze_on_a_running_cluster(cluster, synth_dir, tmp_path):
    address, env = cluster
    assert _alive_nodes(address, env) == 2
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("control_m01.mp4", "stim_m02.mp4"):
        shutil.copy(synth_dir / name, videos / name)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mousegpt.cli",
            "analyze",
            str(videos),
            "--px-per-mm",
            "0.69",
            "--address",
            address,
            "--json",
            "--workspace",
            str(tmp_path / "ws"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)  # stdout is the JSON document alone: Ray's output went to the log
    assert report["sessions"] == 2 and report["failed"] == []
    # The terminal: one progress bar and the summary; Ray's own output is in WORKSPACE/logs/.
    for ray_says in (
        "Token authentication",
        "Deprecat",
        "core_worker",
        "logging_progress",
        "INFO",
        "WARNING",
        "(raylet)",
    ):
        assert ray_says not in result.stderr, ray_says
    bar = [line for line in result.stderr.splitlines() if line.startswith("analysing") and "inputs" in line]
    assert bar and "2/2 inputs" in bar[-1] and "frames" in bar[-1] and "segments/s" in bar[-1]
    (log,) = (tmp_path / "ws" / "logs").glob("analyze-*.log")
    assert f"Ray's output: {log}" in result.stderr.replace("\n", "") and "Dataset" in log.read_text()
