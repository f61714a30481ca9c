"""The prompt engine: structured facts, the prompt, and grounding checks."""

import json

import pytest

from mousegpt.describe import load_model
from mousegpt.describe.prompt import contradictions, fact_sheet, prompt

WALKING_AT_THE_WALL = {
    "speed_mean_mm_s": 95.0,
    "speed_max_mm_s": 140.0,
    "displacement_mm": 80.0,
    "body_length_mm": 88.0,
    "body_length_ratio": 0.97,
    "body_length_ratio_min": 0.93,
    "heading_change_deg": 12.0,
    "angular_speed_deg_s": 20.0,
    "head_motion_hz": 1.0,
    "head_speed_mm_s": 8.0,
    "immobile_fraction": 0.0,
    "wall_distance_mm": 12.0,
    "zone": "wall",
}


def test_fact_sheet_states_measurements_with_units_and_categories():
    sheet = fact_sheet(
        WALKING_AT_THE_WALL | {"head_yaw_abs_deg": float("nan"), "wall_distance_mm": float("nan")}
    )
    assert sheet["measured"]["mean speed (mm/s)"] == 95.0
    assert "distance to nearest wall (mm)" not in sheet["measured"]  # NaN facts are left out
    assert sheet["categories"] == {
        "pace": "walking",
        "posture": "stretched",
        "zone": "wall",
        "turning": False,
        "rhythmic head motion": False,
    }
    text = prompt(WALKING_AT_THE_WALL)
    assert '"pace": "walking"' in text and '"overall"' in text and "JSON" in text
    json.loads(text[text.index("{") : text.index("}\nDescribe") + 2])  # the facts block is valid JSON


@pytest.mark.parametrize(
    "fields, facts, reason",
    [
        (
            {"overall": "The mouse sprints across the arena."},
            {"speed_mean_mm_s": 5.0},
            "says running but the mouse was still",
        ),
        (
            {"overall": "The mouse lies motionless."},
            {"speed_mean_mm_s": 200.0},
            "says still but the mouse was running",
        ),
        (
            {"overall": "The mouse walks around."},
            {"speed_mean_mm_s": 3.0},
            "says walking but the mouse was still",
        ),
        (
            {"overall": "It explores the centre of the arena."},
            {"zone": "wall"},
            "says centre but the mouse was in the wall zone",
        ),
        (
            {"overall": "Sitting in a corner."},
            {"zone": "centre"},
            "says corner but the mouse was in the centre zone",
        ),
        (
            {"keywords": ["rearing"]},
            {"body_length_ratio": 0.98},
            "says upright but the body stayed stretched out",
        ),
    ],
)
def test_contradicted_claims_are_found(fields, facts, reason):
    assert contradictions(fields, facts) == [reason]


def test_consistent_descriptions_pass():
    fields = {
        "overall": "The mouse walks along the wall at 95 mm/s.",
        "head": "Head forward.",
        "limbs": "Alternating steps.",
        "torso": "Body stretched out.",
        "keywords": ["walking", "wall"],
    }
    assert contradictions(fields, WALKING_AT_THE_WALL) == []
    assert (
        contradictions({"overall": "Walking near the wall."}, WALKING_AT_THE_WALL | {"zone": "corner"}) == []
    )


def test_the_kinematic_describer_never_contradicts_its_facts():
    """Every description it writes for a busy synthetic session is grounded in its facts."""
    from mousegpt.arena import Arena
    from mousegpt.pipeline import measure_poses
    from mousegpt.synth import Scene, simulate, truth_table
    from mousegpt.synth.dataset import truth_poses

    scene = Scene()
    side = 0.92 * min(scene.width, scene.height)
    arena = Arena("rect", cx=scene.width / 2, cy=scene.height / 2, width=side, height=side)
    checked = 0
    for condition, seed in (("stim", 1), ("anx", 2), ("control", 3)):
        truth = truth_table(simulate(60, condition, seed=seed, fps=scene.fps, arena=scene.geometry), scene)
        facts = measure_poses(
            truth_poses(truth, scene.fps), scene.fps, scene.px_per_mm, arena=arena, tracked=True
        ).facts
        for row, d in zip(facts.to_dict("records"), load_model("kinematic").describe(facts)):
            assert contradictions(d.fields(), row) == [], (d.overall, fact_sheet(row)["categories"])
            checked += 1
    assert checked > 300
