"""Human behaviour labels made with other tools: bouts in, per-frame and per-segment truth out.

A bouts table has one row per labelled bout: ``start_s`` and ``end_s`` (seconds from the
recording's first frame, end exclusive), ``behavior`` (the tool's own name, e.g.
``Supported``, ``Freezing``) and ``rater`` (who labelled it; one name when the file has one
annotator). Readers, by file:

- a rater table (CSV with ``from``, ``to``, ``type`` and ``Experimenter`` columns, as
  DLC2action and DLCAnalyzer keep the Sturman et al. 2020 open-field labels); rows whose
  type is ``Start/End`` (the trial window) or ``_DEFAULT`` are not behaviour and are left out,
  the trial window is kept separately (``trial_start_s``);
- a BehaviorDEPOT annotation (MATLAB v7.3 ``.mat``: ``hBehavior/<Behaviour>/Vector``, one 0/1
  per frame), which needs the frame rate.

Raters disagree at bout edges, so per-frame truth is the majority of the raters
(``majority``), and a segment shows a behaviour when at least half its frames do
(``segment_truth``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from mousegpt.errors import InputError
from mousegpt.segments import Window

BOUT_COLUMNS = ("start_s", "end_s", "behavior", "rater")
TRIAL_TYPES = ("Start/End", "StartEnd")
"""Rater-table types that mark the trial window, not a behaviour."""
IGNORED_TYPES = (*TRIAL_TYPES, "_DEFAULT")


def _rater_table(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable CSV ({exc.__class__.__name__})") from None
    needed = {"from", "to", "type", "Experimenter"}
    if not needed <= set(table.columns):
        raise InputError(
            f"{path}: a rater table needs columns {', '.join(sorted(needed))}; "
            f"found {', '.join(map(str, table.columns))}"
        )
    return table


def read_rater_table(path: str | Path) -> pd.DataFrame:
    """Bouts of a rater table (``from``, ``to`` in seconds, ``type``, ``Experimenter``)."""
    path = Path(path)
    table = _rater_table(path)
    table = table[~table["type"].isin(IGNORED_TYPES)]
    bouts = pd.DataFrame(
        {
            "start_s": table["from"].astype(float),
            "end_s": table["to"].astype(float),
            "behavior": table["type"].astype(str),
            "rater": table["Experimenter"].astype(str),
        }
    )
    return bouts.sort_values(["rater", "start_s"]).reset_index(drop=True)


def trial_start_s(path: str | Path) -> float:
    """When the trial starts in a rater table: the median over raters of their first
    ``Start/End`` mark; 0 when the table has none.
    """
    table = _rater_table(Path(path))
    marks = table[table["type"].isin(TRIAL_TYPES)]
    if marks.empty:
        return 0.0
    return float(marks.groupby("Experimenter")["from"].min().median())


def read_behaviordepot(path: str | Path, fps: float, rater: str = "human") -> pd.DataFrame:
    """Bouts of a BehaviorDEPOT annotation, every behaviour in it (frames at ``fps``)."""
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            if "hBehavior" not in f:
                raise InputError(f"{path}: no hBehavior group; not a BehaviorDEPOT annotation")
            vectors = {
                name: np.asarray(group["Vector"][()]).ravel() > 0.5
                for name, group in f["hBehavior"].items()
                if isinstance(group, h5py.Group) and "Vector" in group
            }
    except OSError as exc:
        raise InputError(f"{path}: not a readable MATLAB v7.3 file ({exc})") from None
    rows = []
    for name, on in vectors.items():
        edges = np.diff(np.r_[0, on.astype(int), 0])
        for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            rows.append((start / fps, end / fps, name, rater))
    return pd.DataFrame(rows, columns=list(BOUT_COLUMNS))


def frame_votes(
    bouts: pd.DataFrame, behaviors: set[str] | tuple[str, ...], n_frames: int, fps: float
) -> dict[str, np.ndarray]:
    """Per rater, a bool per frame: whether the rater labelled the frame as one of ``behaviors``.

    Frame ``i`` is at ``i / fps`` seconds and belongs to a bout when ``start_s <= t < end_s``.
    """
    t = np.arange(n_frames) / fps
    votes = {}
    for rater, own in bouts.groupby("rater"):
        mask = np.zeros(n_frames, dtype=bool)
        for start, end in own.loc[own["behavior"].isin(behaviors), ["start_s", "end_s"]].itertuples(
            index=False
        ):
            mask |= (t >= start) & (t < end)
        votes[str(rater)] = mask
    return votes


def majority(votes: dict[str, np.ndarray]) -> np.ndarray:
    """Frames that more than half of the raters labelled (one rater: that rater's labels)."""
    stacked = np.stack(list(votes.values()))
    return stacked.sum(0) * 2 > len(stacked)


def segment_truth(frames: np.ndarray, windows: list[Window], share: float = 0.5) -> np.ndarray:
    """Per window, whether at least ``share`` of its frames are labelled."""
    return np.array(
        [
            frames[w.start_frame : w.end_frame].mean() >= share if w.end_frame > w.start_frame else False
            for w in windows
        ],
        dtype=bool,
    )
