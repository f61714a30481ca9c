"""The command-line contract: commands, JSON shapes, one-line errors and exit codes."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mousegpt.cli import _load_plugins, app

_load_plugins()
runner = CliRunner()

HIT_FIELDS = {"segment_id", "session_id", "video", "start_s", "end_s", "score", "behavior", "description"}


def mousegpt(*args):
    return subprocess.run(
        [sys.executable, "-m", "mousegpt.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_every_command_is_there():
    import typer

    names = set(typer.main.get_command(app).commands)
    assert names >= {"synth", "analyze", "tracks", "segments", "search", "serve", "dashboard", "demo"}
    result = mousegpt("--help")
    assert result.returncode == 0 and "tracks" in result.stdout and "dashboard" in result.stdout


def test_bad_scale_is_one_error_line_and_exit_1(tmp_path):
    result = mousegpt(
        "analyze", str(tmp_path / "x.mp4"), "--px-per-mm", "-1", "--workspace", str(tmp_path / "ws")
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == ["error: command line: px_per_mm must be a positive number, got -1.0"]
    assert not (tmp_path / "ws").exists()


def test_search_json_has_the_design_fields(analyzed):
    ws, _ = analyzed
    result = runner.invoke(
        app, ["search", "a mouse grooming itself", "--json", "-k", "4", "-w", str(ws.root)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["query"] == "a mouse grooming itself" and len(document["hits"]) == 4
    for hit in document["hits"]:
        assert HIT_FIELDS <= set(hit)
        assert set(hit["description"]) == {"overall", "head", "limbs", "torso", "keywords"}


def test_unknown_condition_is_an_empty_result(analyzed):
    ws, _ = analyzed
    result = runner.invoke(app, ["search", "walking", "--condition", "nope", "--json", "-w", str(ws.root)])
    assert result.exit_code == 0 and json.loads(result.stdout)["hits"] == []


def test_segments_json_and_csv(analyzed):
    ws, report = analyzed
    rows = json.loads(runner.invoke(app, ["segments", "--json", "-w", str(ws.root)]).stdout)["segments"]
    assert len(rows) == report["segments"]
    assert {"probs", "cluster_id", "behavior", "description"} <= set(rows[0]) and rows[0][
        "cluster_id"
    ] is None
    assert sum(rows[0]["probs"].values()) == pytest.approx(1.0)
    one = rows[0]["session_id"]
    csv = (
        runner.invoke(app, ["segments", "--csv", "--session", one, "-w", str(ws.root)])
        .stdout.strip()
        .splitlines()
    )
    assert csv[0].startswith("segment_id,session_id") and len(csv) - 1 == sum(
        r["session_id"] == one for r in rows
    )


def test_analyze_json_reports_failures_and_exits_1(tmp_path, ray_local):
    result = runner.invoke(app, ["analyze", str(tmp_path / "gone.mp4"), "--json", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert set(document) >= {"sessions", "segments", "frames", "seconds", "failed"}
    assert document["sessions"] == 0 and "gone.mp4: no such file" in document["failed"][0]["error"]


@pytest.mark.parametrize("command", [["search", "grooming"], ["segments", "--json"]])
def test_missing_workspace_says_so(tmp_path, command):
    result = mousegpt(*command, "--workspace", str(tmp_path / "nothing"))
    assert result.returncode == 1 and result.stdout == ""
    assert "no workspace here" in result.stderr and "mousegpt analyze" in result.stderr


def test_unreachable_cluster_is_one_error_line(tmp_path, synth_dir):
    result = mousegpt(
        "analyze",
        str(synth_dir / "control_m01.mp4"),
        "--address",
        "127.0.0.2:1",
        "--workspace",
        str(tmp_path / "ws"),
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot start or reach the Ray cluster at 127.0.0.2:1")
    )
    assert (
        len(list((tmp_path / "ws" / "logs").glob("analyze-*.log"))) == 1
    )  # Ray's output would have gone there
    verbose = mousegpt(
        "analyze",
        str(synth_dir / "control_m01.mp4"),
        "--address",
        "127.0.0.2:1",
        "--verbose",
        "--workspace",
        str(tmp_path / "loud"),
    )
    assert verbose.returncode == 1 and verbose.stderr.strip().splitlines()[-1].startswith(
        "error: cannot start or reach"
    )
    assert not (tmp_path / "loud" / "logs").exists()  # --verbose: Ray's output stays in the terminal


def test_synth_plants_novel_behaviour_on_request(tmp_path):
    import pandas as pd

    result = runner.invoke(
        app,
        [
            "synth",
            str(tmp_path),
            "--sessions",
            "1",
            "--seconds",
            "90",
            "--seed",
            "3",
            "--width",
            "160",
            "--height",
            "120",
            "--novel",
            "circling",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    truth = pd.read_parquet(tmp_path / document["sessions"][0]["video"].replace(".mp4", ".truth.parquet"))
    assert "circling" in set(truth.behavior) and "head_twitch" not in set(truth.behavior)
    assert (tmp_path / "manifest.csv").exists()


def test_synth_bottom_view_furs_and_contact_sheet(tmp_path):
    import cv2
    import pandas as pd

    result = runner.invoke(
        app,
        [
            "synth",
            str(tmp_path),
            "--sessions",
            "2",
            "--seconds",
            "2",
            "--workers",
            "1",
            "--width",
            "320",
            "--height",
            "240",
            "--view",
            "bottom",
            "--fur",
            "white,agouti",
            "--arena",
            "circle",
            "--contact-sheet",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [s["view"] for s in document["sessions"]] == ["bottom", "bottom"]
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert list(manifest.view) == ["bottom", "bottom"]
    assert cv2.imread(document["contact_sheet"]) is not None


def test_synth_bad_option_is_one_error_line(tmp_path):
    result = mousegpt("synth", str(tmp_path / "out"), "--fur", "green")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: fur must be one of black, agouti, white, got 'green'"
    ]
    assert not (tmp_path / "out").exists()
