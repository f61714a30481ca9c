"""`mousegpt submit` and `mousegpt jobs`: analyses as Ray Jobs on a real local head."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.submit import AnalysisRequest, JobView, parse_progress, progress_line
from mousegpt.errors import InputError
from tests.conftest import free_port


def _cli(*args):
    """``mousegpt ARGS`` in this process (these commands only talk HTTP to the job server), as
    ``main()`` runs it: a ``MouseGPTError`` is one ``error:`` line and status 1."""
    import contextlib
    import io

    from mousegpt.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(sys, "argv", ["mousegpt", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def pose_data(tmp_path_factory) -> Path:
    """Two 12-second synthetic sessions as pose files alone (quick to analyse), with a manifest."""
    from mousegpt.synth import synth_dataset

    out = tmp_path_factory.mktemp("jobdata")
    synth_dataset(out, sessions=2, seconds=12, seed=5, conditions=("control", "stim"), video=False)
    return out


def test_a_missing_input_is_refused_before_any_cluster_is_reached(tmp_path):
    # Nothing listens at this address: the refusal must come from the input check, first.
    result = _cli(
        "submit",
        tmp_path / "absent.mp4",
        "--address",
        f"http://127.0.0.1:{free_port()}",
        "-w",
        tmp_path / "ws",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: {tmp_path / 'absent.mp4'}: no such file"]
    assert not (tmp_path / "ws").exists()


def test_a_malformed_manifest_gets_the_same_error_as_analyze(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("film,mouse\na.mp4,m1\n")
    submitted = _cli(
        "submit",
        "--manifest",
        manifest,
        "--address",
        f"http://127.0.0.1:{free_port()}",
        "-w",
        tmp_path / "ws",
    )
    analysed = _cli("analyze", "--manifest", manifest, "-w", tmp_path / "ws")
    assert submitted.returncode == analysed.returncode == 1
    assert submitted.stderr.strip() == analysed.stderr.strip()
    assert (
        submitted.stderr.startswith(f"error: {manifest}") and len(submitted.stderr.strip().splitlines()) == 1
    )


def test_an_unreachable_cluster_is_one_clear_line(pose_data, tmp_path):
    address = f"http://127.0.0.1:{free_port()}"
    for args in (
        ["submit", "--manifest", pose_data / "manifest.csv", "-w", tmp_path / "ws"],
        ["jobs", "list"],
        ["jobs", "status", "mousegpt-analyze-0"],
    ):
        result = _cli(*args, "--address", address)
        assert result.returncode == 1, args
        assert result.stderr.strip().splitlines() == [
            f"error: cannot reach the Ray job server at {address} (nothing answers); "
            "start a local one with `mousegpt jobs head`, or give the cluster's dashboard address (http://HEAD:8265)"
        ], args


def test_request_paths_are_absolute_and_zero_means_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    request = AnalysisRequest(workspace="ws", inputs=["v.mp4"], fps=0.0, px_per_mm=0, condition="  ")
    assert request.workspace == str(tmp_path / "ws") and request.inputs == [str(tmp_path / "v.mp4")]
    assert request.fps is None and request.px_per_mm is None and request.condition is None
    command = request.command("mousegpt-analyze-x")
    assert command[:3] == ["mousegpt", "analyze", str(tmp_path / "v.mp4")] and "--fps" not in command
    assert command[command.index("--job-id") + 1] == "mousegpt-analyze-x"
    with pytest.raises(InputError, match="v.mp4: no such file"):
        request.check()


def test_object_store_inputs_travel_as_urls_and_a_missing_one_is_refused(s3, tmp_path):
    from mousegpt.storage import Storage

    Storage("s3://lab").fs.pipe_file("lab/submit/m01.mp4", b"bytes")
    request = AnalysisRequest(
        workspace=str(tmp_path / "ws"),
        inputs=["s3://lab/submit/", "s3://lab/submit/m09.mp4"],
        manifest="s3://lab/submit/manifest.csv",
    )
    command = request.command("mousegpt-analyze-x")
    assert command[2:4] == ["s3://lab/submit/", "s3://lab/submit/m09.mp4"]
    assert command[command.index("--manifest") + 1] == "s3://lab/submit/manifest.csv"
    with pytest.raises(InputError, match=r"^s3://lab/submit/manifest.csv: no such manifest$"):
        request.check()
    request.manifest = None
    with pytest.raises(InputError, match=r"^s3://lab/submit/m09.mp4: no such file$"):
        request.check()  # the folder's m01.mp4 is there; m09.mp4 is not


def test_progress_lines_are_read_back_with_an_eta():
    log = "\n".join(
        [
            "Running entrypoint",
            progress_line(
                {
                    "inputs": 4,
                    "inputs_done": 1.0,
                    "sessions": 1,
                    "frames": 300,
                    "segments": 20,
                    "elapsed_s": 30.0,
                }
            ),
            'mousegpt-progress {"inputs": 4, "inpu',
            "a Ray log line",
        ]
    )
    progress = parse_progress(log)  # the last whole progress line; one cut short is passed over
    assert progress["inputs_done"] == 1.0 and progress["frames"] == 300
    job = JobView(job_id="j", status="RUNNING", progress=progress)
    assert job.fraction == 0.25 and job.eta_s == pytest.approx(90.0)
    assert JobView(job_id="j", status="SUCCEEDED", progress=progress).fraction == 1.0
    assert JobView(job_id="j", status="PENDING").eta_s is None and parse_progress("no progress yet") is None


def test_submit_follow_list_and_history(job_server, pose_data, tmp_path):
    ws = tmp_path / "ws"
    result = _cli(
        "submit",
        "--manifest",
        pose_data / "manifest.csv",
        "-w",
        ws,
        "--address",
        job_server,
        "--wait",
        "--json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    job = json.loads(result.stdout)
    assert job["status"] == "SUCCEEDED" and job["job_id"].startswith("mousegpt-analyze-")
    assert job["result"]["sessions"] == 2 and job["result"]["failed"] == []
    assert job["progress"]["inputs_done"] == 2 and job["progress"]["segments"] == job["result"]["segments"]

    listed = json.loads(_cli("jobs", "list", "--address", job_server, "-w", ws, "--json").stdout)["jobs"]
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    status = _cli("jobs", "status", job["job_id"], "--address", job_server)
    assert status.returncode == 0 and f"{job['job_id']}: SUCCEEDED" in status.stdout
    logs = _cli("jobs", "logs", job["job_id"], "--address", job_server)
    assert logs.returncode == 0 and "mousegpt-progress" in logs.stdout

    from mousegpt.store import Workspace

    history = Workspace(ws).jobs()  # the catalogue keeps the job under the same id
    assert list(history["job_id"]) == [job["job_id"]]
    assert history["sessions_added"].iloc[0] == 2 and history["failed"].iloc[0] == 0


def test_a_cancelled_job_stops_and_commits_nothing(job_server, pose_data, tmp_path):
    from jobs.submit import Jobs

    ws = tmp_path / "ws"
    submitted = _cli(
        "submit", "--manifest", pose_data / "manifest.csv", "-w", ws, "--address", job_server, "--json"
    )
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    job_id = json.loads(submitted.stdout)["job_id"]
    cancelled = _cli("jobs", "cancel", job_id, "--address", job_server)
    assert cancelled.returncode == 0 and f"stopping {job_id}" in cancelled.stderr
    followed = _cli("jobs", "status", job_id, "--address", job_server, "--follow", "--json")
    assert json.loads(followed.stdout)["status"] == "STOPPED"
    assert Jobs(job_server).status(job_id).ended
    if (ws / "catalog.duckdb").exists():
        from mousegpt.store import Workspace

        assert len(Workspace(ws).jobs()) == 0
