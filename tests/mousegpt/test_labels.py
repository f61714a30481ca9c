"""Human behaviour labels from other tools: rater tables, BehaviorDEPOT, majorities per frame and segment."""

import numpy as np
import pandas as pd
import pytest

from mousegpt import labels
from mousegpt.errors import InputError
from mousegpt.segments import windows


def test_majority_of_raters_per_frame_and_segment():
    bouts = pd.DataFrame(
        [
            (0.0, 1.0, "Supported", "a"),
            (0.2, 1.0, "Supported", "b"),
            (0.6, 2.0, "Supported", "c"),
            (1.5, 2.0, "Grooming", "a"),
        ],
        columns=list(labels.BOUT_COLUMNS),
    )
    votes = labels.frame_votes(bouts, ("Supported",), n_frames=20, fps=10)
    assert sorted(votes) == ["a", "b", "c"] and votes["a"][:10].all() and not votes["a"][10:].any()
    frames = labels.majority(votes)
    # frames 0.2-0.6 s: a and b; 0.6-1.0 s: all three; from 1.0 s: c alone
    np.testing.assert_array_equal(np.flatnonzero(frames), np.arange(2, 10))
    truth = labels.segment_truth(frames, windows(20, 10, window_s=1.0, hop_s=0.5))
    assert truth.tolist() == [True, True, False]  # 8, 5 and 0 of each window's 10 frames: half is enough


def test_rater_table_leaves_out_the_trial_marks(tmp_path):
    path = tmp_path / "raters.csv"
    pd.DataFrame(
        {
            "from": [3.8, 4.0, 8.1, 8.2, 9.0],
            "to": [4.6, 5.1, 8.9, 9.0, 9.5],
            "type": ["StartEnd", "Start/End", "Supported", "Supported", "_DEFAULT"],
            "Experimenter": ["Oliver", "Jin", "Oliver", "Jin", "Jin"],
        }
    ).to_csv(path)
    bouts = labels.read_rater_table(path)
    assert bouts.to_dict("records") == [
        {"start_s": 8.2, "end_s": 9.0, "behavior": "Supported", "rater": "Jin"},
        {"start_s": 8.1, "end_s": 8.9, "behavior": "Supported", "rater": "Oliver"},
    ]
    assert labels.trial_start_s(path) == pytest.approx(3.9)


def test_a_table_without_rater_columns_names_what_it_found(tmp_path):
    path = tmp_path / "other.csv"
    pd.DataFrame({"start": [1.0], "stop": [2.0]}).to_csv(path, index=False)
    with pytest.raises(
        InputError,
        match=r"other.csv: a rater table needs columns Experimenter, from, to, type; found start, stop",
    ):
        labels.read_rater_table(path)


@pytest.mark.real
def test_behaviordepot_freezing_bouts(real_labelled):
    bouts = labels.read_behaviordepot(
        real_labelled / "behaviordepot_freezing/demo1_freezing_human.mat", fps=50
    )
    assert set(bouts["behavior"]) == {"Freezing"} and len(bouts) == 20
    frames = labels.majority(labels.frame_votes(bouts, ("Freezing",), 6000, 50))
    assert frames.mean() == pytest.approx(0.228)  # the README's 22.8% of frames
    assert bouts["start_s"].iloc[0] == pytest.approx(505 / 50)  # MATLAB's frame 506, counted from 1


@pytest.mark.real
def test_the_open_field_raters(real_labelled):
    path = real_labelled / "sturman_oft/12_01_A_190507144429_labels_3raters.csv"
    bouts = labels.read_rater_table(path)
    assert set(bouts["rater"]) == {"Furkan", "Jin", "Oliver"}
    assert set(bouts["behavior"]) == {"Supported", "Unsupported", "Grooming"}
