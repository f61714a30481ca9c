"""What a re-run does to a session the catalogue holds (``mousegpt.changes``): pure decisions."""

import json

from mousegpt.changes import decide, labels, settings
from mousegpt.inputs import InputSpec

SPEC = InputSpec(video="m01.mp4", animal="m01", condition="control", px_per_mm=2.0)
RECORDED = {"settings": json.dumps(settings(SPEC, "mousegpt-tiny")), "animal": "m01", "condition": "control"}


def test_a_session_not_in_the_catalogue_is_new():
    assert decide("s1", settings(SPEC, "mousegpt-tiny"), labels(SPEC, None, 1), None).action == "new"


def test_the_same_settings_and_labels_are_skipped():
    change = decide("s1", settings(SPEC, "mousegpt-tiny"), labels(SPEC, None, 1), RECORDED)
    assert (change.action, change.fields, change.describe()) == ("unchanged", {}, "")


def test_a_corrected_condition_relabels_without_recomputing():
    spec = InputSpec(video="m01.mp4", animal="m01", condition="stim", px_per_mm=2.0)
    change = decide("s1", settings(spec, "mousegpt-tiny"), labels(spec, None, 1), RECORDED)
    assert change.action == "relabel"
    assert change.labels == {"animal": "m01", "condition": "stim"}
    assert change.describe() == "condition: control -> stim"


def test_a_label_left_out_keeps_what_was_recorded():
    spec = InputSpec(video="m01.mp4", px_per_mm=2.0)  # no animal, no condition given this time
    change = decide("s1", settings(spec, "mousegpt-tiny"), labels(spec, None, 1), RECORDED)
    assert (change.action, change.labels) == ("unchanged", {"animal": "m01", "condition": "control"})


def test_another_scale_or_model_recomputes_and_keeps_the_labels():
    spec = InputSpec(video="m01.mp4", px_per_mm=2.5)
    change = decide("s1", settings(spec, "kinematic"), labels(spec, None, 1), RECORDED)
    assert change.action == "recompute"
    assert change.fields == {"model": ("mousegpt-tiny", "kinematic"), "px_per_mm": (2.0, 2.5)}
    assert change.describe() == "model: mousegpt-tiny -> kinematic; px_per_mm: 2.0 -> 2.5"
    assert change.labels == {"animal": "m01", "condition": "control"}


def test_a_setting_left_out_is_not_a_change_but_the_view_always_is():
    spec = InputSpec(video="m01.mp4", animal="m01", condition="control")  # px_per_mm not given: keep 2.0
    assert (
        decide("s1", settings(spec, "mousegpt-tiny"), labels(spec, None, 1), RECORDED).action == "unchanged"
    )
    bottom = InputSpec(video="m01.mp4", view="bottom")
    change = decide("s1", settings(bottom, "mousegpt-tiny"), labels(bottom, None, 1), RECORDED)
    assert (change.action, change.describe()) == ("recompute", "view: top -> bottom")


def test_a_session_from_before_settings_were_recorded_compares_labels_only():
    legacy = {"settings": None, "animal": "m01", "condition": "control"}
    spec = InputSpec(video="m01.mp4", condition="stim", px_per_mm=9.0)
    change = decide("s1", settings(spec, "kinematic"), labels(spec, None, 1), legacy)
    assert (change.action, change.describe()) == ("relabel", "condition: control -> stim")


def test_the_animal_of_each_individual_of_a_pose_file():
    spec = InputSpec(video=None, pose="pair.slp", animal="cage3")
    assert labels(spec, "red", 2) == {"animal": "cage3:red", "condition": None}
    assert labels(InputSpec(video=None, pose="pair.slp"), "red", 2)["animal"] == "red"
    assert labels(spec, None, 1)["animal"] == "cage3"
