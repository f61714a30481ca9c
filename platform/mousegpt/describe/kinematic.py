"""The first MouseGPT backend: transparent rules over kinematic facts, no learned weights.

Each behaviour's likelihood is a product of soft thresholds (logistic functions) on the
facts; normalised, they are the probabilities. The text is written from the same facts, so
it never states a speed, zone or posture that the facts contradict. It sees no pixels: it
tells face from flank grooming only by whether the head or the whole body moves, and cannot
tell rearing against a wall from unsupported rearing (that is the learned model's job).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mousegpt.describe.captions import place
from mousegpt.describe.model import Description, mark_uncertain, register_describer
from mousegpt.vocabulary import BEHAVIORS

CORE_FACTS = (
    "speed_mean_mm_s",
    "speed_max_mm_s",
    "body_length_mm",
    "body_length_ratio",
    "heading_change_deg",
    "angular_speed_deg_s",
    "head_speed_mm_s",
    "head_motion_hz",
)
"""Facts the behaviour decision and the text use; without them a segment is not described."""


def _above(x: float, centre: float, width: float) -> float:
    """Soft ``x > centre``: 0.5 at the centre, 0.88 one width above."""
    return 1.0 / (1.0 + math.exp(-(x - centre) / width))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def behaviour_likelihoods(f: dict) -> dict[str, float]:
    """Each core behaviour's likelihood given one segment's facts: products of soft thresholds.

    Parameters
    ----------
    f
        One row of the facts (``mousegpt.segments.FACT_COLUMNS``) with every one of the
        CORE_FACTS measured.

    Returns
    -------
    dict
        Behaviour -> likelihood in 0..1, not normalised (``describe_one`` normalises them).
    """
    moving = _above(f["speed_mean_mm_s"], 25, 5)
    fast = _above(f["speed_mean_mm_s"], 120, 15)
    leaping = _above(f["speed_max_mm_s"], 350, 30)
    turning = _above(f["angular_speed_deg_s"], 80, 15)
    # Foreshortened from above: upright. The window's shortest posture counts, so a rear that
    # starts mid-window is not mistaken for grooming.
    shortest = (
        f["body_length_ratio"] if _missing(f.get("body_length_ratio_min")) else f["body_length_ratio_min"]
    )
    short = _above(-shortest, -0.72, 0.02)
    head_busy = _above(f["head_speed_mm_s"], 12, 3)
    rhythmic = _above(f["head_motion_hz"], 3.5, 0.5)
    slow = 1 - _above(f["speed_mean_mm_s"], 40, 5)
    still = (1 - moving) * (1 - turning)
    # Resting is motionless; a body that rocks in place without going anywhere or moving its
    # head (as seen from above) is grooming its flank.
    quiet = 1 - _above(f["speed_mean_mm_s"], 4, 1)
    # A short body is not always a rear: a mouse hunched over its face with the head bobbing
    # rhythmically is grooming, and one curled with the head turned back to its flank is
    # grooming it when the head works and resting when it does not (a rearing head stays in
    # line with the body and does not beat at grooming rates).
    yaw = f.get("head_yaw_abs_deg")
    head_to_flank = 0.0 if _missing(yaw) else _above(yaw, 30, 4)
    # Only a posture short for the whole window counts: a rear that starts mid-window also
    # moves the head fast.
    hunched = short * _above(-f["body_length_ratio"], -0.72, 0.02)
    curled = hunched * head_to_flank
    curled_grooming = hunched * head_busy * max(rhythmic, head_to_flank)
    curled_resting = curled * (1 - head_busy)
    return {
        "walk": moving * (1 - fast) * (1 - turning) * (1 - leaping),
        "run": fast * (1 - leaping),
        "rear": still * max(0.0, short - curled_grooming - curled_resting),
        "groom": still
        * ((1 - short) * (head_busy * rhythmic + (1 - quiet) * (1 - head_busy)) + curled_grooming),
        "rest": still * quiet * (1 - short + curled_resting) * (1 - head_busy),
        "turn": turning * (1 - fast) * (1 - leaping),
        "sniff": slow * (1 - turning) * (1 - short) * head_busy * (1 - rhythmic),
        "jump": leaping,
    }


def _side(angle: float) -> str:
    # Angles grow clockwise on screen (y down): positive heading change is a right turn.
    return "right" if angle > 0 else "left"


TEXT = {
    "walk": (
        "The mouse walks {where} at {speed:.0f} mm/s.",
        "Head level and pointing forward in the direction of travel.",
        "Alternating steps at a steady walking pace, all four paws on the floor.",
        "Body stretched out to {length:.0f} mm, moving forward.",
        ["walking", "locomotion", "exploring"],
    ),
    "run": (
        "The mouse runs fast {where}, reaching {speed_max:.0f} mm/s.",
        "Head low and forward, leading the dash.",
        "Rapid strides with the legs extended, scurrying across the floor.",
        "Body elongated to {length:.0f} mm and low to the ground.",
        ["running", "fast locomotion", "scurrying", "dashing"],
    ),
    "rear": (
        "The mouse rears up on its hind legs {where}, standing upright.",
        "Head raised high, nose pointing upward, sniffing the air.",
        "Standing on its hind legs with the forepaws lifted off the floor.",
        "Torso upright, appearing {ratio:.0%} of its full length from above.",
        ["rearing", "standing up", "hind legs", "upright", "vertical exploration"],
    ),
    "groom": (
        "The mouse sits still {where} and grooms itself, its head moving rapidly ({hz:.0f} Hz).",
        "Head bobbing quickly as the forepaws wipe the face and ears.",
        "Forepaws raised to the face in repeated strokes; hind paws planted.",
        "Body hunched and compact ({ratio:.0%} of full length), not moving.",
        ["grooming", "self-grooming", "face washing", "cleaning itself", "stationary"],
    ),
    "groom_body": (
        "The mouse sits {where} and grooms its body, rocking in place.",
        "Head turned back toward the flank, licking the fur.",
        "Hind paws planted, forepaws holding the body.",
        "Body curled and rocking ({ratio:.0%} of full length), not going anywhere.",
        ["grooming", "self-grooming", "body grooming", "licking its fur", "stationary"],
    ),
    "rest": (
        "The mouse rests motionless {where}.",
        "Head still and low.",
        "All four paws tucked under the body, no steps.",
        "Body curled and still, only breathing.",
        ["resting", "immobile", "lying still", "freezing", "inactive"],
    ),
    "turn": (
        "The mouse turns to the {side} {where}, rotating {turn:.0f} degrees.",
        "Head leading the turn to the {side}.",
        "Paws stepping around in place while pivoting.",
        "Body bending into the turn.",
        ["turning", "rotating", "changing direction", "pivoting"],
    ),
    "sniff": (
        "The mouse stands still {where}, sniffing and investigating its surroundings.",
        "Nose sweeping slowly from side to side, sniffing.",
        "Paws mostly planted, with small shuffling steps.",
        "Body stretched and attentive, nearly stationary ({speed:.0f} mm/s).",
        ["sniffing", "investigating", "exploring", "head scanning"],
    ),
    "jump": (
        "The mouse jumps {where}, leaping at up to {speed_max:.0f} mm/s.",
        "Head up as it springs.",
        "Hind legs push off and all paws leave the floor.",
        "Body extended in the air, {length:.0f} mm long.",
        ["jumping", "leaping", "escape", "hopping"],
    ),
}


def write(behavior: str, f: dict) -> tuple[str, str, str, str, list[str]]:
    """The five fields for one segment, filled in from its facts."""
    values = {
        "where": place(f.get("zone")),
        "speed": f["speed_mean_mm_s"],
        "speed_max": f["speed_max_mm_s"],
        "length": f["body_length_mm"],
        "ratio": f["body_length_ratio"],
        "hz": f["head_motion_hz"],
        "turn": abs(f["heading_change_deg"]),
        "side": _side(f["heading_change_deg"]),
    }
    face = f["head_speed_mm_s"] > 12 and f["head_motion_hz"] > 3.5 and not f.get("head_yaw_abs_deg", 0) > 50
    flank = behavior == "groom" and not face
    overall, head, limbs, torso, keywords = TEXT["groom_body" if flank else behavior]
    fill = lambda s: " ".join(s.format(**values).split()).replace(" .", ".").replace(" ,", ",")  # noqa: E731
    context = [f["zone"]] if isinstance(f.get("zone"), str) and f["zone"] else []  # NaN or None: unknown
    return fill(overall), fill(head), fill(limbs), fill(torso), [*keywords, *context]


def measurable(facts: pd.DataFrame) -> np.ndarray:
    """(segment,) bool: whether a segment can be described at all, the mouse visible for at
    least half of it (a missing ``visible_fraction`` counts as visible) and every one of the
    CORE_FACTS measured. The others are described as not visible or not measured.
    """
    visible = (
        pd.to_numeric(facts["visible_fraction"], errors="coerce") >= 0.5
        if "visible_fraction" in facts
        else pd.Series(True, index=facts.index)
    )
    core = np.ones(len(facts), bool)
    for c in CORE_FACTS:
        core &= pd.to_numeric(facts[c], errors="coerce").notna().to_numpy() if c in facts else False
    return visible.to_numpy() & core


def not_described(f: dict) -> Description:
    """The description of a segment that is not ``measurable``: not visible, or not measured."""
    uniform = {b: 1.0 / len(BEHAVIORS) for b in BEHAVIORS}
    if not pd.to_numeric(f.get("visible_fraction", 1.0), errors="coerce") >= 0.5:
        return Description(
            None,
            uniform,
            "The mouse is not visible in this moment.",
            "Not visible.",
            "Not visible.",
            "Not visible.",
            ["not visible"],
        )
    return Description(
        None,
        uniform,
        "The mouse's movement could not be measured in this moment.",
        "Not measured.",
        "Not measured.",
        "Not measured.",
        ["not measured"],
    )


@register_describer("kinematic")
class KinematicDescriber:
    """Describes segments by transparent rules over their facts (``--model kinematic``)."""

    name = "kinematic"
    uses_crops = False
    warnings: list[str] = []

    def describe(
        self, facts: pd.DataFrame, kinematics=None, crops=None, windows=None, mark: bool = True
    ) -> list[Description]:
        """One description per row of ``facts``; the rules read nothing else. ``mark``: say so in
        the text of an uncertain one (``mark_uncertain``); other describers that fall back on
        these descriptions mark them with their own confidence.
        """
        out = []
        for f, described in zip(facts.to_dict("records"), measurable(facts)):
            if not described:
                out.append(not_described(f))
                continue
            described = describe_one(f)
            out.append(mark_uncertain(described) if mark else described)
        return out


def describe_one(f: dict) -> Description:
    """The rules' description of one ``measurable`` segment's facts, unmarked."""
    likelihood = behaviour_likelihoods(f)
    total = sum(likelihood.values()) + 1e-12
    probs = {b: float(likelihood[b] / total) for b in BEHAVIORS}
    behavior = max(probs, key=probs.get)
    overall, head, limbs, torso, keywords = write(behavior, f)
    # The rules' probabilities are soft thresholds, not calibrated: their largest is the confidence.
    return Description(behavior, probs, overall, head, limbs, torso, keywords, confidence=probs[behavior])
