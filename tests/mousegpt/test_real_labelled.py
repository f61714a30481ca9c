"""The shipped describer on real mice labelled by people (../shared/data/real-labelled), as
``benchmarks/real_validity.py`` measures it: a regression guard well below today's figures."""

import numpy as np
import pytest

from jobs.analyze import run
from mousegpt import labels, segments
from mousegpt.inputs import input_specs
from mousegpt.search import list_segments
from mousegpt.store import Workspace

pytestmark = [pytest.mark.ray, pytest.mark.real]


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return 2 * float((truth & predicted).sum()) / max(1, int(truth.sum() + predicted.sum()))


def _described(real_labelled, tmp_path, name: str, fps: float, n_frames: int):
    ws = Workspace(tmp_path)
    report = run(input_specs([str(real_labelled / name)], fps=fps), ws)
    assert report["failed"] == []
    rows = sorted(list_segments(ws), key=lambda s: s.start_s)
    windows = segments.windows(n_frames, fps)
    assert len(rows) == len(windows)
    return rows, windows


def test_rearing_in_another_lab_s_open_field(real_labelled, tmp_path, ray_local):
    raters = real_labelled / "sturman_oft/12_01_A_190507144429_labels_3raters.csv"
    rows, windows = _described(
        real_labelled, tmp_path, "sturman_oft/12_01_A_190507144429_dlc.csv", 25.0, 1998
    )
    votes = labels.frame_votes(labels.read_rater_table(raters), ("Supported", "Unsupported"), 1998, 25.0)
    truth = labels.segment_truth(labels.majority(votes), windows)
    predicted = np.array([r.behavior == "rear" for r in rows])
    # Before the synthetic world was calibrated to real poses: 2 rears found of 29 (F1 0.13).
    assert _f1(truth, predicted) >= 0.45 and (truth & predicted).sum() >= 10
    assert all(r.confidence is not None for r in rows if r.behavior)


def test_freezing_is_rest(real_labelled, tmp_path, ray_local):
    mat = real_labelled / "behaviordepot_freezing/demo1_freezing_human.mat"
    rows, windows = _described(
        real_labelled, tmp_path, "behaviordepot_freezing/demo1_tracking.csv", 50.0, 6000
    )
    frozen = labels.majority(
        labels.frame_votes(labels.read_behaviordepot(mat, fps=50.0), ("Freezing",), 6000, 50.0)
    )
    truth = labels.segment_truth(frozen, windows)
    predicted = np.array([r.behavior == "rest" for r in rows])
    assert _f1(truth, predicted) >= 0.5
