"""Synthetic mouse world: labelled videos of an articulated mouse for tests, training and load.

``program`` (behaviour Markov chains per condition) -> ``motion`` (per-frame posture) ->
``body`` (keypoints) -> ``render`` (scene, camera, mouse) -> ``dataset`` (mp4, truth, manifest).
"""

from mousegpt.synth.body import KEYPOINTS
from mousegpt.synth.contact_sheet import contact_sheet
from mousegpt.synth.dataset import (
    discovery_scores,
    read_truth_metadata,
    segment_coverage,
    segment_truth,
    shows_planted,
    synth_dataset,
    truth_table,
    write_session,
)
from mousegpt.synth.motion import ArenaGeometry, Trajectory, simulate
from mousegpt.synth.program import (
    BOUT_SECONDS,
    CONDITION_RATES,
    CONDITIONS,
    NOVEL_BEHAVIORS,
    VARIANTS,
    behavior_program,
)
from mousegpt.synth.render import FUR, Renderer, Scene, render

__all__ = [
    "ArenaGeometry",
    "BOUT_SECONDS",
    "CONDITIONS",
    "CONDITION_RATES",
    "FUR",
    "KEYPOINTS",
    "NOVEL_BEHAVIORS",
    "Renderer",
    "Scene",
    "Trajectory",
    "VARIANTS",
    "behavior_program",
    "contact_sheet",
    "discovery_scores",
    "read_truth_metadata",
    "render",
    "segment_coverage",
    "segment_truth",
    "shows_planted",
    "simulate",
    "synth_dataset",
    "truth_table",
    "write_session",
]
