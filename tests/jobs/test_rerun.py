"""Re-running analyze with corrected metadata: labels updated in place, settings recomputed,
``--dry-run`` listing it first, and a leftover shard made with other settings not reused."""

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mousegpt.cli import _load_plugins, app
from mousegpt.inputs import read_manifest
from mousegpt.store import Workspace

pytestmark = pytest.mark.ray
_load_plugins()
runner = CliRunner()


@pytest.fixture(scope="module")
def pose_inputs(tmp_path_factory) -> Path:
    from mousegpt.synth import synth_dataset

    out = tmp_path_factory.mktemp("rerun")
    synth_dataset(out, sessions=2, seconds=12, seed=13, conditions=("control", "stim"), video=False)
    return out


def catalogue(ws: Workspace) -> tuple[list, dict]:
    """Sessions (id, condition, px_per_mm, settings' px_per_mm) and each segment's vec_id, from the
    catalogue itself.
    """
    with ws.connect(read_only=True) as con:
        sessions = con.execute(
            "SELECT session_id, condition, px_per_mm, json_extract(settings, '$.px_per_mm')::DOUBLE "
            "FROM sessions ORDER BY pose"
        ).fetchall()
        vec_ids = dict(con.execute("SELECT segment_id, vec_id FROM segments").fetchall())
    return sessions, vec_ids


def test_a_rerun_relabels_recomputes_what_changed_and_dry_run_shows_it_first(
    pose_inputs, tmp_path, ray_local
):
    from jobs.analyze import run

    ws = Workspace(tmp_path / "ws")
    specs = read_manifest(pose_inputs / "manifest.csv")
    first = run(specs, ws, model="kinematic")
    assert first["sessions"] == 2 and first["failed"] == []
    (control, stim), vec_ids = catalogue(ws)
    assert (control[1:], stim[1:]) == (("control", 1.104, 1.104), ("stim", 1.104, 1.104))

    # The first mouse was in the wrong group; the second file's scale was wrong.
    corrected = pd.read_csv(pose_inputs / "manifest.csv")
    corrected["pose"] = [str(pose_inputs / p) for p in corrected["pose"]]
    corrected.loc[0, "condition"] = "stim"
    corrected.loc[1, "px_per_mm"] = 1.5
    manifest = tmp_path / "corrected.csv"
    corrected.to_csv(manifest, index=False)

    dry = runner.invoke(
        app,
        [
            "analyze",
            "--manifest",
            str(manifest),
            "--model",
            "kinematic",
            "-w",
            str(ws.root),
            "--dry-run",
            "--json",
        ],
    )
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)["sessions"]
    assert [(r["session_id"], r["action"], r["changes"]) for r in planned] == [
        (control[0], "relabel", "condition: control -> stim"),
        (stim[0], "recompute", "px_per_mm: 1.104 -> 1.5"),
    ]
    assert catalogue(ws) == ([control, stim], vec_ids)  # a dry run changes nothing
    table = runner.invoke(
        app,
        ["analyze", "--manifest", str(manifest), "--model", "kinematic", "-w", str(ws.root), "--dry-run"],
        env={"COLUMNS": "200"},
    )
    assert table.exit_code == 0 and "nothing is changed" in table.stdout
    assert "relabel" in table.stdout and "px_per_mm: 1.104 -> 1.5" in table.stdout

    second = run(read_manifest(manifest), ws, model="kinematic")
    assert second["failed"] == [] and second["skipped"] == []
    assert second["relabelled"] == [
        {
            "input": str(pose_inputs / "control_m01.truth_dlc.csv"),
            "session_id": control[0],
            "changes": "condition: control -> stim",
        }
    ]
    assert [r["session_id"] for r in second["recomputed"]] == [stim[0]] and second["sessions"] == 1
    (relabelled, recomputed), after = catalogue(ws)
    assert relabelled == (control[0], "stim", 1.104, 1.104)
    assert recomputed == (stim[0], "stim", 1.5, 1.5)
    first_ids = {s: v for s, v in vec_ids.items() if s.startswith(control[0])}
    assert {s: after[s] for s in first_ids} == first_ids  # relabelled: not recomputed
    assert min(v for s, v in after.items() if s.startswith(stim[0])) > max(
        vec_ids.values()
    )  # recomputed: new rows
    with Workspace(ws.root).reader() as con:  # what the dashboard and search read has both
        assert (
            con.execute(
                "SELECT count(DISTINCT session_id) FROM segments JOIN sessions USING (session_id) "
                "WHERE condition = 'stim'"
            ).fetchone()[0]
            == 2
        )
        assert con.execute("SELECT count(*) FROM segments").fetchone()[0] == len(after)


def test_a_leftover_shard_made_with_other_settings_is_not_reused(pose_inputs, tmp_path, ray_local, embedder):
    from jobs.analyze import run
    from mousegpt.analysis import analyze
    from mousegpt.describe import load_model

    ws = Workspace(tmp_path / "ws")
    spec = read_manifest(pose_inputs / "manifest.csv")[0]
    (left,) = analyze(spec, ws, load_model("kinematic"), embedder, model_name="kinematic")  # never committed
    shard = Path(ws.shard_path(left.session_id))
    written = shard.stat().st_mtime_ns

    report = run([dataclasses.replace(spec, px_per_mm=2.0)], ws, model="kinematic")
    assert report["sessions"] == 1 and report["recomputed"] == []
    assert shard.stat().st_mtime_ns != written  # analysed again, not taken from the shard
    assert catalogue(ws)[0][0][2:] == (2.0, 2.0)
