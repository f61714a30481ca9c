import math

import numpy as np
import pandas as pd
import pytest

from mousegpt.describe import load_model
from mousegpt.describe.model import DESCRIBERS, register_describer
from mousegpt.errors import MouseGPTError
from mousegpt.pipeline import measure_video
from mousegpt.segments import FACT_COLUMNS
from mousegpt.vocabulary import BEHAVIORS
from tests.conftest import truth_label

BASE = dict(
    speed_mean_mm_s=2.0,
    speed_max_mm_s=5.0,
    displacement_mm=1.0,
    body_length_mm=85.0,
    body_length_ratio=0.95,
    body_length_ratio_min=0.93,
    heading_change_deg=0.0,
    angular_speed_deg_s=3.0,
    head_yaw_std_deg=1.0,
    head_yaw_abs_deg=5.0,
    head_motion_hz=1.0,
    head_speed_mm_s=2.0,
    immobile_fraction=1.0,
    wall_distance_mm=120.0,
    zone="centre",
    visible_fraction=1.0,
)


def describe(**changes):
    return load_model("kinematic").describe(pd.DataFrame([BASE | changes], columns=list(FACT_COLUMNS)))[0]


@pytest.mark.parametrize(
    "changes, expected",
    [
        (dict(speed_mean_mm_s=200, speed_max_mm_s=260, immobile_fraction=0), "run"),
        (dict(speed_mean_mm_s=60, speed_max_mm_s=75, immobile_fraction=0), "walk"),
        (dict(head_speed_mm_s=30, head_motion_hz=6), "groom"),
        (dict(speed_mean_mm_s=8, speed_max_mm_s=15, immobile_fraction=0.3, angular_speed_deg_s=10), "groom"),
        (dict(head_speed_mm_s=30, head_motion_hz=1.5), "sniff"),
        (dict(body_length_ratio=0.62, body_length_ratio_min=0.6), "rear"),
        # curled, the head turned back to the flank: grooming it when the head works, resting when not
        (
            dict(body_length_ratio=0.62, body_length_ratio_min=0.6, head_yaw_abs_deg=110, head_speed_mm_s=30),
            "groom",
        ),
        (dict(body_length_ratio=0.62, body_length_ratio_min=0.6, head_yaw_abs_deg=110), "rest"),
        (
            dict(body_length_ratio=0.78, body_length_ratio_min=0.6, head_speed_mm_s=23, head_motion_hz=5),
            "rear",
        ),
        (dict(), "rest"),
        (dict(angular_speed_deg_s=180, heading_change_deg=-170, speed_mean_mm_s=12), "turn"),
        (dict(speed_mean_mm_s=200, speed_max_mm_s=450), "jump"),
    ],
)
def test_behaviour_follows_the_facts(changes, expected):
    d = describe(**changes)
    assert d.behavior == expected
    assert list(d.probs) == list(BEHAVIORS) and math.isclose(sum(d.probs.values()), 1.0)


def test_flank_grooming_is_written_as_body_grooming():
    face = describe(head_speed_mm_s=30, head_motion_hz=6)
    flank = describe(speed_mean_mm_s=8, speed_max_mm_s=15, immobile_fraction=0.3, angular_speed_deg_s=10)
    assert "face" in face.head + face.limbs and "body grooming" not in face.keywords
    assert "grooms its body" in flank.overall and "body grooming" in flank.keywords


def test_text_is_grounded_in_the_facts():
    d = describe(speed_mean_mm_s=200, speed_max_mm_s=260, immobile_fraction=0, zone="wall")
    assert "260 mm/s" in d.overall and "along the wall" in d.overall and "wall" in d.keywords
    assert "centre" not in d.text() and "corner" not in d.text()
    turn = describe(angular_speed_deg_s=180, heading_change_deg=-170, speed_mean_mm_s=12)
    assert "to the left" in turn.overall and "170 degrees" in turn.overall
    rear = describe(body_length_ratio=0.62, body_length_ratio_min=0.6)
    assert "62%" in rear.torso and "hind legs" in rear.text()


@pytest.mark.parametrize(
    "changes, says",
    [
        (dict(visible_fraction=0.2), "not visible"),
        (dict(speed_max_mm_s=float("nan")), "could not be measured"),
        (dict(head_motion_hz=None), "could not be measured"),
    ],
)
def test_unmeasured_segment_is_not_described_as_a_behaviour(changes, says):
    d = describe(**changes)
    assert d.behavior is None and says in d.overall and "nan" not in d.text()
    assert all(p == pytest.approx(1 / len(BEHAVIORS)) for p in d.probs.values())


def test_unknown_model_is_refused():
    with pytest.raises(MouseGPTError, match="unknown model 'gpt-9'"):
        load_model("gpt-9")


def test_unknown_describer_names_the_registered_ones():
    with pytest.raises(MouseGPTError, match="unknown model 'gpt-9'; available: ") as refused:
        load_model("gpt-9")
    for usage in ("mousegpt-tiny", "tiny:/path", "kinematic", "hf:/path/to/checkpoint", "serve[:APP]"):
        assert usage in str(refused.value)
    assert {"mousegpt-tiny", "tiny", "kinematic", "hf", "serve"} <= set(DESCRIBERS)
    # a registered name with an argument it does not take, or without one it needs
    with pytest.raises(MouseGPTError, match=r"unknown model 'kinematic:x' \(write kinematic\)"):
        load_model("kinematic:x")
    with pytest.raises(MouseGPTError, match=r"unknown model 'hf' \(write hf:/path/to/checkpoint\)"):
        load_model("hf")


def test_a_registered_describer_is_loaded_by_name():
    @register_describer("echo-test", argument="optional", usage="echo-test[:WORD]")
    class EchoDescriber:
        uses_crops = False

        def __init__(self, word: str = "hello"):
            self.name, self.word, self.warnings = f"echo:{word}", word, []

    try:
        assert isinstance(load_model("echo-test"), EchoDescriber) and load_model("echo-test").word == "hello"
        assert load_model("echo-test:mouse").word == "mouse"
        with pytest.raises(MouseGPTError, match=r"available: .*echo-test\[:WORD\]"):
            load_model("gpt-9")
        with pytest.raises(ValueError, match="registered already"):
            register_describer("echo-test")(lambda: None)
    finally:
        DESCRIBERS.pop("echo-test")
    with pytest.raises(MouseGPTError, match="unknown model 'echo-test'"):
        load_model("echo-test")


def test_behaviour_matches_truth_on_tracked_synthetic_video(synth_dir):
    """The whole video path (tracker, kinematics, facts, describer) against ground truth."""
    import pandas as pd

    manifest = pd.read_csv(synth_dir / "manifest.csv").set_index("animal")
    truth_labels, predicted = [], []
    for name in ("control_m01", "stim_m02"):
        path = synth_dir / f"{name}.mp4"
        px_per_mm = manifest.px_per_mm[name.split("_")[1]]
        facts = measure_video(path, px_per_mm, fps=25.0)[0].facts
        predicted += [d.behavior for d in load_model("kinematic").describe(facts)]
        truth_labels += [truth_label(path, s, e) for s, e in zip(facts.start_s, facts.end_s)]
    assert np.mean(np.array(predicted) == np.array(truth_labels)) >= 0.7
