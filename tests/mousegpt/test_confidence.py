"""Honest uncertainty: every segment's confidence, its calibration, and what uncertain moments are
left out of."""

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs.train import expected_calibration_error, fit_temperature
from mousegpt import profile
from mousegpt.describe.model import UNCERTAIN_BELOW, Description, is_uncertain, mark_uncertain
from mousegpt.store import Workspace
from tests.mousegpt.describe.test_describe import describe
from tests.mousegpt.test_store import make_shard


def test_an_uncertain_description_says_so():
    sure = mark_uncertain(
        Description("rear", {"rear": 0.9}, "The mouse rears.", "h", "l", "t", ["rearing"], confidence=0.9)
    )
    assert sure.overall == "The mouse rears." and sure.keywords == ["rearing"] and not sure.uncertain
    unsure = mark_uncertain(
        Description("rear", {"rear": 0.4}, "The mouse rears.", "h", "l", "t", ["rearing"], confidence=0.4)
    )
    assert unsure.overall == "Uncertain (40% sure): The mouse rears." and unsure.keywords == [
        "rearing",
        "uncertain",
    ]
    assert not is_uncertain(None) and not is_uncertain(float("nan")) and is_uncertain(UNCERTAIN_BELOW - 0.01)


def test_the_rules_give_their_largest_probability_as_confidence():
    d = describe(speed_mean_mm_s=200, speed_max_mm_s=260, immobile_fraction=0)
    assert d.confidence == pytest.approx(max(d.probs.values())) and d.behavior == "run"


def test_temperature_scaling_finds_an_overconfident_model_s_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, size=(20_000, 8))
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(8, p=p) for p in true])
    overconfident = 3.0 * np.log(true)  # log-probabilities three times too sharp
    assert fit_temperature(overconfident, labels) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(np.log(true), labels) == pytest.approx(1.0, rel=0.1)


def test_expected_calibration_error():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.2, 1.0, 50_000)
    calibrated = rng.random(50_000) < confidence  # right as often as it says
    assert expected_calibration_error(confidence, calibrated) < 0.01
    always_right = np.ones(50_000, dtype=bool)
    assert expected_calibration_error(confidence, always_right) == pytest.approx(
        1 - confidence.mean(), abs=0.01
    )


def test_uncertain_segments_are_left_out_of_profiles_unless_asked(tmp_path):
    ws = Workspace(tmp_path)
    shard, _ = make_shard(ws, "aaa", "control", n=6)
    table = pq.read_table(shard)
    session = ws.read_shard_session(shard)
    frame = table.to_pandas().assign(confidence=[0.9, 0.9, 0.3, 0.3, 0.9, None])
    Path(shard).unlink()
    ws.commit([ws.write_shard(session, frame)])
    kept = profile.load_segments(ws)
    assert kept["behavior"].fillna("none").tolist() == ["walk", "walk", "none", "none", "walk", "walk"]
    assert profile.load_segments(ws, include_uncertain=True)["behavior"].tolist() == ["walk"] * 6
