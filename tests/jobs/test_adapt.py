"""``mousegpt adapt``: a lab's own labelled bouts fine-tune MouseGPT-tiny; its names become classes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mousegpt.errors import InputError

MOUSEGPT = str(Path(sys.executable).with_name("mousegpt"))
NAMES = {
    ("rear", "supported"): "supported rear",
    ("rear", "unsupported"): "Unsupported  Rear",
    ("groom", "body"): "self care",
    ("groom", "face"): "self care",
    ("rest", ""): "Freezing",
    ("walk", ""): "walk",
}
"""How the synthetic truth's bouts are named in the annotations: new classes with a parent in
their name, one without (self care), a core name, and case and spacing a person might type."""


def truth_bouts(truth: pd.DataFrame, fps: float) -> list[dict]:
    key = truth["behavior"] + ":" + truth["variant"].astype(str)
    runs = truth.groupby((key != key.shift()).cumsum())
    out = []
    for _, run in runs:
        name = NAMES.get((run["behavior"].iloc[0], str(run["variant"].iloc[0])))
        if name and len(run) >= fps / 2:
            out.append(
                {
                    "start_s": run["frame"].iloc[0] / fps,
                    "end_s": (run["frame"].iloc[-1] + 1) / fps,
                    "behavior": name,
                }
            )
    return out


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A 60 s synthetic pose file (DeepLabCut CSV, no frame rate in it) and annotations of its true bouts."""
    from mousegpt.synth import synth_dataset

    root = tmp_path_factory.mktemp("lab")
    manifest = synth_dataset(root / "data", sessions=1, seconds=60, seed=3, conditions=("anx",), video=False)
    fps = float(manifest["fps"][0])
    truth = pd.read_parquet(root / "data" / "anx_m01.truth.parquet")
    bouts = truth_bouts(truth, fps)
    lines = [{"pose": "data/" + manifest["pose"][0], "fps": fps, **b} for b in bouts]
    first = next(r for r in lines if r["behavior"] == "supported rear")
    first["description"] = "The mouse stands up against the wall, forepaws on it."
    annotations = root / "annotations.jsonl"
    annotations.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return {
        "root": root,
        "pose": root / "data" / manifest["pose"][0],
        "fps": fps,
        "annotations": annotations,
        "lines": lines,
        "truth": truth,
    }


@pytest.fixture(scope="module")
def adapted(lab):
    from jobs.adapt import adapt

    out = lab["root"] / "adapted"
    return out, adapt(out, lab["annotations"], steps=200)


def _bad(lab, tmp_path, second: str) -> Path:
    """An annotations file whose second line is ``second`` (the first is good)."""
    path = tmp_path / "bad.jsonl"
    first = json.dumps({**lab["lines"][0], "pose": str(lab["pose"])})
    path.write_text(first + "\n" + second + "\n")
    return path


def _line(lab, **changes) -> str:
    row = {
        "pose": str(lab["pose"]),
        "fps": lab["fps"],
        "start_s": 1.0,
        "end_s": 2.0,
        "behavior": "rear",
    } | changes
    return json.dumps({k: v for k, v in row.items() if v is not None})


@pytest.mark.parametrize(
    "case, problem",
    [
        ("missing file", "not found"),
        ("negative start", "0 <= start_s < end_s"),
        ("start after end", "0 <= start_s < end_s"),
        ("beyond the end", "beyond the recording's end"),
        ("unknown key", "unknown key(s) frame"),
        ("not json", "not JSON"),
        ("no fps", "no frame rate"),
        ("no behavior", "missing behavior"),
    ],
)
def test_a_bad_line_is_one_error_naming_file_and_line_and_nothing_is_written(lab, tmp_path, case, problem):
    from jobs.adapt import adapt

    other = tmp_path / "other_dlc.csv"  # another recording, whose line gives no frame rate
    other.write_bytes(lab["pose"].read_bytes())
    second = {
        "missing file": _line(lab, pose="nowhere.csv"),
        "negative start": _line(lab, start_s=-1.0),
        "start after end": _line(lab, start_s=5.0, end_s=5.0),
        "beyond the end": _line(lab, start_s=59.0, end_s=61.0),
        "unknown key": _line(lab, frame=3),
        "not json": '{"pose": "a.csv", "start_s": 1,',
        "no fps": _line(lab, pose=str(other), fps=None),
        "no behavior": _line(lab, behavior=None),
    }[case]
    path = _bad(lab, tmp_path, second)
    out = tmp_path / "out"
    with pytest.raises(InputError) as caught:
        adapt(out, path, steps=5)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ") and problem in message and "\n" not in message
    assert not out.exists() and not (tmp_path / ".out.partial").exists()


def test_the_cli_refuses_a_bad_file_with_status_1_and_leaves_out_untouched(lab, tmp_path):
    path = _bad(lab, tmp_path, _line(lab, start_s=10.0, end_s=600.0))
    out = tmp_path / "out"
    run = subprocess.run(
        [MOUSEGPT, "adapt", str(out), "--annotations", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"{path}:2: end_s 600" in errors[0]
    assert not out.exists()


def test_the_labs_names_become_classes_and_the_descriptions_name_them(lab, adapted):
    from jobs.adapt import Bout, recording_segments
    from mousegpt.describe.tiny import TinyDescriber
    from mousegpt.vocabulary import BEHAVIORS

    out, report = adapted
    config = json.loads((out / "config.json").read_text())
    assert config["behaviors"][: len(BEHAVIORS)] == list(BEHAVIORS)
    assert sorted(config["behaviors"][len(BEHAVIORS) :]) == [
        "freezing",
        "self care",
        "supported rear",
        "unsupported rear",
    ]
    assert (
        config["adapted"]["supported rear"]["parent"] == "rear"
        and config["adapted"]["freezing"]["parent"] == "rest"
    )
    assert config["adapted"]["self care"]["parent"] is None
    assert config["decoder_behaviors"] == len(BEHAVIORS)
    assert (
        report["after"]["loss"] < report["before"]["loss"]
        and report["after"]["accuracy"] > report["before"]["accuracy"]
    )

    seg = recording_segments(Bout(0, str(lab["pose"]), "pose", 0, 1, "", None, lab["fps"], None, None, "top"))
    described = TinyDescriber(out, device="cpu").describe(
        seg["facts"], kinematics=seg["kinematics"], windows=seg["windows"]
    )
    # Segments inside a supported rear (by the synthetic truth) are mostly called so now.
    truth = lab["truth"]
    inside = [
        i
        for i, w in enumerate(seg["windows"])
        if (truth["variant"].iloc[w.start_frame : w.end_frame] == "supported").all()
    ]
    called = [described[i].behavior for i in inside]
    assert len(inside) >= 5 and called.count("supported rear") >= 0.7 * len(inside)
    shown = [d for d in described if d.behavior == "supported rear"]
    for d in shown:
        assert d.keywords[0] == "supported rear"
        assert "The mouse shows supported rear." in d.overall or "stands up against the wall" in d.overall
        assert d.confidence == pytest.approx(d.probs["supported rear"]) and set(d.probs) == set(
            config["behaviors"]
        )
        assert d.uncertain == (d.confidence < 0.5) and d.overall.startswith("Uncertain") == d.uncertain
    assert any("stands up against the wall" in d.overall for d in shown)  # the lab's own wording
    # The parent's facts-only wording follows, unless the facts rule rearing out (then the rules' own).
    from mousegpt.describe.kinematic import write
    from mousegpt.describe.prompt import contradictions

    facts = seg["facts"].to_dict("records")
    for i, d in enumerate(described):
        if d.behavior == "supported rear":
            wording = dict(zip(("overall", "head", "limbs", "torso", "keywords"), write("rear", facts[i])))
            fits = not contradictions(wording, facts[i])
            assert (d.head == wording["head"]) == fits and ("upright" in d.keywords) == fits
    freezing = [d for d in described if d.behavior == "freezing"]
    assert freezing and all("freezing" in d.overall and d.keywords[0] == "freezing" for d in freezing)
    # A core name stays its class; the decoder still writes the core behaviours' descriptions.
    walks = [d for d in described if d.behavior == "walk"]
    assert walks and all(d.overall and d.head and "freezing" not in d.overall for d in walks)


def test_decoder_reads_adapted_classes_folded_into_their_parents():
    import torch

    from mousegpt.describe.tiny import MouseGPTTiny, MouseGPTTinyConfig
    from mousegpt.vocabulary import BEHAVIORS

    config = MouseGPTTinyConfig(
        behaviors=[*BEHAVIORS, "supported rear", "circling"],
        decoder_behaviors=len(BEHAVIORS),
        adapted={"supported rear": {"parent": "rear"}, "circling": {"parent": None}},
    )
    model = MouseGPTTiny(config)
    probs = torch.zeros(2, len(config.behaviors))
    probs[0, BEHAVIORS.index("rear")], probs[0, 8] = 0.25, 0.75
    probs[1, 9] = 1.0
    folded = model.decoder_probs(probs)
    assert folded.shape == (2, len(BEHAVIORS))
    assert folded[0, BEHAVIORS.index("rear")].item() == pytest.approx(1.0)
    assert torch.allclose(folded[1], torch.full((len(BEHAVIORS),), 1 / len(BEHAVIORS)))
    assert model.context.in_features == config.text_dim + len(BEHAVIORS) + config.fact_dim


def test_adapting_is_deterministic_and_can_start_from_an_adapted_checkpoint(lab, adapted, tmp_path):
    from safetensors.numpy import load_file

    from jobs.adapt import adapt

    out, _ = adapted
    again = adapt(tmp_path / "again", lab["annotations"], steps=200)
    first, second = load_file(out / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert all(np.array_equal(first[k], second[k]) for k in first)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({**lab["lines"][1], "pose": str(lab["pose"]), "behavior": "head dip"}) + "\n")
    report = adapt(tmp_path / "more", more, base=f"tiny:{out}", steps=20)
    assert (
        report["behaviors"][: len(again["behaviors"])] == again["behaviors"]
        and report["behaviors"][-1] == "head dip"
    )
    assert list(report["new_behaviors"]) == ["head dip"]


@pytest.mark.ray
def test_analyze_and_search_with_the_adapted_model(lab, adapted, tmp_path):
    out, _ = adapted
    ws = ["--workspace", str(tmp_path / "ws"), "--json"]
    run = subprocess.run(
        [MOUSEGPT, "analyze", str(lab["pose"]), "--fps", str(lab["fps"]), "--model", f"tiny:{out}", *ws],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["sessions"] == 1 and not report["failed"]
    listed = json.loads(
        subprocess.run([MOUSEGPT, "segments", *ws], capture_output=True, text=True, check=True).stdout
    )
    segments = pd.DataFrame(listed["segments"])
    assert {"supported rear", "freezing"} <= set(segments["behavior"]) and segments[
        "confidence"
    ].notna().all()
    hits = json.loads(
        subprocess.run(
            [MOUSEGPT, "search", "supported rear", "-k", "5", *ws], capture_output=True, text=True, check=True
        ).stdout
    )["hits"]
    assert sum(h["behavior"] == "supported rear" for h in hits) >= 3


def test_folds_are_the_first_and_second_half_of_a_recording_in_time():
    from jobs.adapt import _halves

    assert _halves(np.array([3.0, 0.0, 2.0, 1.0, 4.0])).tolist() == [1, 0, 0, 0, 1]  # 3 earliest, 2 latest
    assert _halves(np.array([0.5, 0.0])).tolist() == [1, 0]


def test_macro_f1_over_the_labs_classes():
    from jobs.adapt import macro_f1

    truth = np.array(["a", "a", "", "b", ""])
    said = np.array(["a", "", "a", "b", "b"])
    # a: 1 hit of 2 true and 2 said -> 0.5; b: 1 of 1 true and 2 said -> 2/3
    assert macro_f1(truth, said, ["a", "b"]) == pytest.approx((0.5 + 2 / 3) / 2)
    assert macro_f1(truth, said, ["c"]) != macro_f1(truth, said, ["c"])  # nothing to score: NaN


def test_without_steps_the_length_is_chosen_on_held_out_halves(lab, tmp_path):
    from jobs.adapt import STEP_CHOICES, adapt

    report = adapt(tmp_path / "chosen", lab["annotations"])
    held = report["held_out"]
    assert [int(s) for s in held["f1"]] == list(STEP_CHOICES)
    best = max(held["f1"].values())
    assert report["steps"] == held["chosen"] == min(int(s) for s, f in held["f1"].items() if f == best)
    # Synthetic bouts are learnable: some fine-tuning beats none on the held-out half.
    assert report["steps"] > 0 and best > held["f1"]["0"]
    assert json.loads((tmp_path / "chosen" / "adaptation.json").read_text())["held_out"] == held


@pytest.mark.real
def test_adapting_on_the_first_40_s_finds_the_lab_s_rears_in_the_last_40_s(real_labelled, tmp_path):
    """Sturman open field: the raters' majority bouts of the first 40 s adapt the shipped model;
    on the last 40 s (never trained on) the lab's own class finds most of their rears.
    (Its F1 does not beat the shipped model's there, see benchmarks/adapt_oft.py.)"""
    from jobs.adapt import Bout, adapt, recording_segments
    from mousegpt import labels
    from mousegpt.describe.tiny import TinyDescriber

    oft = real_labelled / "sturman_oft"
    pose_file, fps = oft / "12_01_A_190507144429_dlc.csv", 25.0
    bouts = labels.read_rater_table(oft / "12_01_A_190507144429_labels_3raters.csv")
    seg = recording_segments(Bout(0, str(pose_file), "pose", 0, 1, "", None, fps, None, None, "top"))
    n_frames = len(seg["kinematics"])
    lines = []
    for kind, name in (
        ("Supported", "supported rear"),
        ("Unsupported", "unsupported rear"),
        ("Grooming", "groom"),
    ):
        on = labels.majority(labels.frame_votes(bouts, (kind,), n_frames, fps))[:1000].astype(int)
        edges = np.diff(np.r_[0, on, 0])
        lines += [
            {"pose": str(pose_file), "fps": fps, "start_s": a / fps, "end_s": b / fps, "behavior": name}
            for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))
        ]
    assert lines and max(r["end_s"] for r in lines) <= 40
    annotations = tmp_path / "oft.jsonl"
    annotations.write_text("".join(json.dumps(r) + "\n" for r in lines))
    adapt(tmp_path / "oft", annotations)

    rearing = labels.majority(labels.frame_votes(bouts, ("Supported", "Unsupported"), n_frames, fps))
    test = [i for i, w in enumerate(seg["windows"]) if w.start_frame >= 40 * fps]
    truth = np.array([rearing[w.start_frame : w.end_frame].mean() >= 0.5 for w in seg["windows"]])[test]

    said = TinyDescriber(tmp_path / "oft", device="cpu").describe(
        seg["facts"], kinematics=seg["kinematics"], windows=seg["windows"]
    )
    called = np.array([said[i].behavior in {"supported rear", "unsupported rear"} for i in test])
    assert truth.sum() >= 10
    assert np.sum(called & truth) > 0.5 * truth.sum()  # the lab's class finds most of the raters' rears
    assert 2 * np.sum(called & truth) / (called.sum() + truth.sum()) >= 0.4
