"""``mousegpt train``: annotation files are checked line by line, and a short run through
DeepSpeed on Ray Train workers writes a checkpoint that analyze can use."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.train import behavior_from_text, read_annotations
from mousegpt.errors import InputError
from mousegpt.vocabulary import BEHAVIORS


@pytest.mark.parametrize(
    "line, problem",
    [
        ("{not json", r"annotations.jsonl:2: not JSON"),
        ('{"video": "a.mp4", "start_s": 1}', r"annotations.jsonl:2: missing end_s, description"),
        (
            '{"video": "a.mp4", "start_s": 3, "end_s": 2, "description": "rears"}',
            r"annotations.jsonl:2: need 0 <= start_s < end_s",
        ),
        (
            '{"video": "a.mp4", "start_s": "x", "end_s": 2, "description": "rears"}',
            r"annotations.jsonl:2: start_s and end_s must be numbers",
        ),
        (
            '{"video": "gone.mp4", "start_s": 0, "end_s": 2, "description": "rears"}',
            r"annotations.jsonl:2: video gone.mp4 not found",
        ),
    ],
)
def test_a_bad_annotation_line_is_named(tmp_path, line, problem):
    (tmp_path / "a.mp4").write_bytes(b"")
    path = tmp_path / "annotations.jsonl"
    path.write_text('{"video": "a.mp4", "start_s": 0, "end_s": 1, "description": "walks"}\n' + line + "\n")
    with pytest.raises(InputError, match=problem):
        read_annotations(path)


@pytest.mark.parametrize(
    "text, behavior",
    [
        ("The mouse stands up against the wall", "rear"),
        ("washing its face with both paws", "groom"),
        ("sprinting across the arena", "run"),
        ("completely motionless in the corner", "rest"),
        ("a stretched attend posture", None),
    ],
)
def test_behaviour_from_free_text(text, behavior):
    assert behavior_from_text(text) == behavior


@pytest.mark.ray
def test_training_on_ray_train_workers_writes_a_usable_checkpoint(tmp_path, synth_dir):
    from mousegpt.describe import load_model
    from mousegpt.describe.tiny import tokenize
    from mousegpt.segments import FACT_COLUMNS

    annotations = tmp_path / "mine.jsonl"
    annotations.write_text(
        json.dumps(
            {
                "video": str(synth_dir / "stim_m02.mp4"),
                "start_s": 2.0,
                "end_s": 6.0,
                "description": "The mouse nibbles a pellet",
            }
        )
        + "\n"
    )
    out = tmp_path / "ckpt"
    # A real process: Ray and DeepSpeed write to file descriptor 1, which must not reach --json's stdout.
    # OUT is relative, as typed: Ray Train's workers run in folders of their own.
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "mousegpt"),
            "train",
            "ckpt",
            "--sessions",
            "2",
            "--pose-sessions",
            "2",
            "--seconds",
            "6",
            "--epochs",
            "2",
            "--batch-size",
            "16",
            "--workers",
            "2",
            "--zero-stage",
            "2",
            "--annotations",
            str(annotations),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout)
    assert metrics["config"]["zero_stage"] == 2 and metrics["config"]["workers"] == 2
    assert metrics["segments"]["train"] > 0
    assert set(metrics["segments_by_source"]) == {
        "video",
        "pose",
        "",
    }  # rendered, seen as pose files, annotated
    assert {"config.json", "model.safetensors", "README.md", "metrics.json"} <= {
        p.name for p in out.iterdir()
    }
    reference = __import__("pandas").read_parquet(
        out / "vocabulary_facts.parquet"
    )  # what discover measures against
    assert set(reference["source"]) == {"video", "pose"} and set(reference["behavior"]) <= set(BEHAVIORS)
    model = load_model(f"tiny:{out}")
    assert set(tokenize("nibbles a pellet")) <= set(
        model.model.config.vocab
    )  # the annotation's words were learned
    facts = __import__("pandas").DataFrame([{c: 1.0 for c in FACT_COLUMNS} | {"zone": "wall"}])
    (d,) = model.describe(facts)
    assert d.behavior in model.model.config.behaviors and d.overall
    from mousegpt.discover import FEATURE_FACTS

    assert set(FEATURE_FACTS) <= set(reference.columns)
    # The vocabulary facts alone can be rebuilt from the same sessions: the same table, the weights untouched.
    weights = (out / "model.safetensors").read_bytes()
    (out / "vocabulary_facts.parquet").unlink()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "mousegpt"),
            "train",
            str(out),
            "--sessions",
            "2",
            "--seconds",
            "6",
            "--reference-only",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["segments"] == len(reference)
    rebuilt = __import__("pandas").read_parquet(out / "vocabulary_facts.parquet")
    __import__("pandas").testing.assert_frame_equal(rebuilt, reference)
    assert (out / "model.safetensors").read_bytes() == weights


@pytest.mark.parametrize(
    "sessions, pose_sessions, held_out",
    [((120, 120, (12, 24))), ((2, 2, (4, 8))), ((0, 0, (4, 8))), ((75, 1000, (8, 24)))],
)
def test_a_small_training_run_holds_out_fewer_sessions_for_calibration(sessions, pose_sessions, held_out):
    from jobs.train import TrainConfig, calibration_sessions

    assert (
        calibration_sessions(TrainConfig(out="x", sessions=sessions, pose_sessions=pose_sessions)) == held_out
    )


def test_rebuilding_the_vocabulary_facts_needs_a_checkpoint(tmp_path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mousegpt"), "train", str(tmp_path / "none"), "--reference-only"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "no checkpoint here" in result.stderr and result.stderr.count("error:") == 1
