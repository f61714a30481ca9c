"""The visual-guided prompt engine: a segment's kinematic facts as structured model input,
and as grounding that no description may contradict.

``fact_sheet`` turns one row of ``segments.facts`` into a small dict of measured values
(units as in ``records.FACTS``) plus the categories a description may state (pace,
posture, zone, turning, head rhythm). ``prompt`` renders it for a vision-language model.
``contradictions`` lists the claims of a five-field description that the facts rule out:
a speed, a zone or a posture the measurements contradict.
"""

from __future__ import annotations

import json
import math
import re

PACES = {"still": 15.0, "slow": 60.0, "walking": 160.0}
"""Upper bounds (mm/s, mean body-centre speed) of each pace; above the last, ``running``."""
UPRIGHT_RATIO = 0.75
"""Body length (seen from the camera) under this fraction of the stretched length: upright."""
TURNING_DEG_S = 90.0
RHYTHMIC_HZ = 3.5

_PACE_WORDS = {
    "running": r"\b(run|runs|running|sprint\w*|dash\w*|scurr\w*|races?|racing|fast)\b",
    "still": r"\b(motionless|immobile|still|resting|rests|lying|freez\w*|not moving|stationary)\b",
    "walking": r"\b(walk|walks|walking|locomot\w*|travel\w*)\b",
}
_ZONE_WORDS = {
    "centre": r"\b(centre|center|middle of the arena|open field)\b",
    "wall": r"\b(along the wall|against the wall|near the wall|by the wall|walls?)\b",
    "corner": r"\bcorners?\b",
}
_UPRIGHT_WORDS = r"\b(rear\w*|on (its )?hind legs|upright|standing up|stands up)\b"


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _pace(speed: float | None) -> str | None:
    if speed is None:
        return None
    return next((pace for pace, limit in PACES.items() if speed < limit), "running")


def fact_sheet(facts: dict) -> dict:
    """The structured facts of one segment: ``measured`` values with their units, and the
    ``categories`` a description may state. Missing facts are left out (None categories).
    """
    measured = {
        "mean speed (mm/s)": _number(facts.get("speed_mean_mm_s")),
        "top speed (mm/s)": _number(facts.get("speed_max_mm_s")),
        "distance travelled (mm)": _number(facts.get("displacement_mm")),
        "body length (mm)": _number(facts.get("body_length_mm")),
        "body length / stretched length": _number(facts.get("body_length_ratio")),
        "heading change (deg, + = clockwise from above)": _number(facts.get("heading_change_deg")),
        "turning rate (deg/s)": _number(facts.get("angular_speed_deg_s")),
        "head motion frequency (Hz)": _number(facts.get("head_motion_hz")),
        "head speed relative to body (mm/s)": _number(facts.get("head_speed_mm_s")),
        "fraction of time immobile": _number(facts.get("immobile_fraction")),
        "distance to nearest wall (mm)": _number(facts.get("wall_distance_mm")),
    }
    return {
        "measured": {k: round(v, 1) for k, v in measured.items() if v is not None},
        "categories": categories(facts),
    }


def categories(facts: dict) -> dict:
    """The categories a description of one segment may state (None where a fact is missing):
    its pace, posture, zone, whether it turned and whether its head moved rhythmically.
    """
    speed = _number(facts.get("speed_mean_mm_s"))
    ratio = _number(facts.get("body_length_ratio_min", facts.get("body_length_ratio")))
    turning = _number(facts.get("angular_speed_deg_s"))
    rhythm = _number(facts.get("head_motion_hz"))
    return {
        "pace": _pace(speed),
        "posture": None
        if ratio is None
        else ("upright or hunched" if ratio < UPRIGHT_RATIO else "stretched"),
        "zone": facts.get("zone")
        if isinstance(facts.get("zone"), str) and facts.get("zone")
        else None,  # NaN: unknown
        "turning": None if turning is None else turning >= TURNING_DEG_S,
        "rhythmic head motion": None if rhythm is None else rhythm >= RHYTHMIC_HZ,
    }


def prompt(facts: dict) -> str:
    """Instructions for a vision-language model: the frames it sees plus this segment's
    facts, answered as JSON with the five description fields.
    """
    sheet = fact_sheet(facts)
    return (
        "You see consecutive frames of one mouse in an open-field arena, filmed from above. "
        "Measured from its pose over these frames (trust these numbers):\n"
        f"{json.dumps(sheet, indent=1)}\n"
        "Describe what the mouse does. Do not state a speed, place or posture these facts contradict. "
        'Answer with one JSON object: {"overall": "...", "head": "...", "limbs": "...", "torso": "...", '
        '"keywords": ["...", "..."]}'
    )


def contradictions(fields: dict, facts: dict, known: dict | None = None) -> list[str]:
    """Claims in a description's five fields that its facts rule out, as short reasons.

    Checked: a running pace claimed while the mouse was still or slow, walking claimed while
    it was still, stillness claimed while it walked or ran, a zone it was not in (the wall and
    corner zones both touch a wall), and rearing claimed while its body stayed stretched out.
    ``known``: the facts' ``categories``, when the caller has them already.
    """
    text = " ".join(
        [
            fields.get("overall", ""),
            fields.get("head", ""),
            fields.get("limbs", ""),
            fields.get("torso", ""),
            " ".join(fields.get("keywords", [])),
        ]
    ).lower()
    known = known if known is not None else categories(facts)
    found = []
    pace = known["pace"]
    if pace in ("still", "slow") and re.search(_PACE_WORDS["running"], text):
        found.append(f"says running but the mouse was {pace}")
    elif pace == "still" and re.search(_PACE_WORDS["walking"], text):
        found.append("says walking but the mouse was still")
    if pace in ("walking", "running") and re.search(_PACE_WORDS["still"], text):
        found.append(f"says still but the mouse was {pace}")
    zone = known["zone"]
    if zone is not None:
        near_wall = {"wall", "corner"}
        for claimed, pattern in _ZONE_WORDS.items():
            allowed = claimed == zone or (claimed == "wall" and zone in near_wall)
            if not allowed and re.search(pattern, text):
                found.append(f"says {claimed} but the mouse was in the {zone} zone")
    if known["posture"] == "stretched" and re.search(_UPRIGHT_WORDS, text):
        found.append("says upright but the body stayed stretched out")
    return found
