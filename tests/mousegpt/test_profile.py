"""Behaviour profiles: bouts, per-animal metrics, group statistics and phenotype prediction."""

import numpy as np
import pandas as pd
import pytest

from mousegpt import profile
from mousegpt.errors import InputError


def segments_of(
    labels: dict[str, list[str | None]], groups: dict[str, str], hop: float = 0.5
) -> pd.DataFrame:
    """Segments of 1 s every ``hop`` s for sessions named after their animal."""
    rows = []
    for animal, seq in labels.items():
        for i, label in enumerate(seq):
            rows.append(
                {
                    "session_id": f"s-{animal}",
                    "segment_index": i,
                    "start_s": i * hop,
                    "end_s": i * hop + 1.0,
                    "behavior": label,
                    "cluster_id": None,
                    "animal": animal,
                    "group": groups[animal],
                    "duration_s": len(seq) * hop + 0.5,
                }
            )
    return pd.DataFrame(rows)


def test_bouts_follow_runs_of_one_label_and_break_where_the_mouse_was_not_seen():
    seg = segments_of({"a": ["walk", "walk", "rear", "rear", "rear", None, "rear", "walk"]}, {"a": "control"})
    b = profile.bouts(seg)
    assert b["label"].tolist() == ["walk", "rear", "rear", "walk"]
    assert b["segments"].tolist() == [2, 3, 1, 1]
    assert b["duration_s"].tolist() == [1.0, 1.5, 0.5, 0.5]  # each segment stands for its 0.5 s hop
    # the first bout starts at 0; the first rear at the 3rd segment's share of time: centre 1.5 s less 0.25 s
    assert b["start_s"].tolist() == pytest.approx([0.0, 1.25, 3.25, 3.75])


def test_animal_metrics_count_time_bouts_and_latency():
    seg = segments_of(
        {"a": ["walk", "rear", "rear", "walk", "rear", "walk"], "b": ["walk"] * 6},
        {"a": "control", "b": "control"},
    )
    m = profile.animal_metrics(seg).set_index(["animal", "label"])
    assert m.loc[("a", "rear"), "time_fraction"] == pytest.approx(0.5)
    assert m.loc[("a", "rear"), "bout_count"] == 2
    assert m.loc[("a", "rear"), "mean_bout_s"] == pytest.approx(0.75)  # bouts of 1.0 s and 0.5 s
    assert m.loc[("a", "rear"), "latency_s"] == pytest.approx(0.75)
    # b never reared: no time, no bouts, and its latency is censored at the session's end
    assert m.loc[("b", "rear"), "time_fraction"] == 0 and m.loc[("b", "rear"), "bout_count"] == 0
    assert np.isnan(m.loc[("b", "rear"), "mean_bout_s"])
    assert m.loc[("b", "rear"), "latency_s"] == pytest.approx(3.5)


def test_transition_matrix_rows_are_next_bout_probabilities():
    seg = segments_of({"a": ["walk", "rear", "walk", "groom", "walk", "rear"]}, {"a": "control"})
    moves = profile.transitions(seg)["control"]
    assert moves["walk"] == pytest.approx({"rear": 2 / 3, "groom": 1 / 3}, abs=1e-4)  # rounded to 4 places
    assert moves["rear"] == {"walk": 1.0}


def test_cliffs_delta_and_epsilon_squared_at_their_extremes():
    assert profile.cliffs_delta(np.array([1, 2, 3]), np.array([4, 5, 6])) == 1.0
    assert profile.cliffs_delta(np.array([4, 5, 6]), np.array([1, 2, 3])) == -1.0
    assert profile.cliffs_delta(np.array([1, 2]), np.array([1, 2])) == 0.0
    separated = [np.array([1.0, 1.1, 1.2]), np.array([5.0, 5.1, 5.2]), np.array([9.0, 9.1, 9.2])]
    assert profile.epsilon_squared(separated) == pytest.approx(
        7.2 / 8
    )  # H = 7.2 for 3x3 fully separated groups


def _random_profiles(rng, effect: float, animals: int = 8) -> pd.DataFrame:
    """Two groups whose rear time differs by ``effect`` (fraction of segments)."""
    labels, groups = {}, {}
    for g, group in enumerate(("control", "treated")):
        for k in range(animals):
            p_rear = 0.2 + effect * g
            seq = rng.choice(["walk", "rear", "groom"], size=240, p=[0.8 - p_rear, p_rear, 0.2]).tolist()
            labels[f"{group}{k}"], groups[f"{group}{k}"] = seq, group
    return segments_of(labels, groups)


def test_a_planted_difference_is_found_and_predicts_the_group():
    seg = _random_profiles(np.random.default_rng(1), effect=0.2)
    metrics = profile.animal_metrics(seg)
    tests = profile.add_q_values(profile.compare_groups(metrics, "behavior"))
    rear = next(t for t in tests if t["label"] == "rear" and t["metric"] == "time_fraction")
    assert rear["test"] == "mann-whitney" and rear["q"] < 0.05 and rear["significant"]
    assert rear["effect_size"] == 1.0 and rear["ci95"][0] > 0.5  # every treated animal rears more
    prediction = profile.predict_condition(metrics, permutations=50)
    assert prediction["accuracy"] >= 0.9 and prediction["p_value"] < 0.05 and prediction["chance"] == 0.5


def test_without_a_difference_nothing_is_significant():
    false = 0
    for seed in range(5):
        metrics = profile.animal_metrics(_random_profiles(np.random.default_rng(100 + seed), effect=0.0))
        tests = profile.add_q_values(profile.compare_groups(metrics, "behavior", seed=seed))
        false += sum(t["significant"] for t in tests)
    assert false == 0


def test_three_groups_use_kruskal_wallis():
    rng = np.random.default_rng(3)
    labels, groups = {}, {}
    for g, group in enumerate(("a", "b", "c")):
        for k in range(4):
            labels[f"{group}{k}"] = rng.choice(
                ["walk", "rest"], size=100, p=[0.3 + 0.3 * g, 0.7 - 0.3 * g]
            ).tolist()
            groups[f"{group}{k}"] = group
    tests = profile.compare_groups(profile.animal_metrics(segments_of(labels, groups)), "behavior")
    rest = next(t for t in tests if t["label"] == "rest" and t["metric"] == "time_fraction")
    assert rest["test"] == "kruskal-wallis" and rest["p"] < 0.01 and rest["effect"] == "epsilon_squared"
    assert set(rest["groups"]) == {"a", "b", "c"}


def test_grouping_by_an_unknown_column_is_refused(tmp_path):
    from mousegpt.store import Workspace

    with pytest.raises(InputError, match="--by 'cage'"):
        profile.load_segments(Workspace(tmp_path), by="cage")
