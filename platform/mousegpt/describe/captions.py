"""Paraphrased five-field captions per behaviour: MouseGPT-tiny's training text.

Every field has several wordings, so the text decoder learns the behaviour rather than one
sentence, and the motion embedding learns the region of text space a behaviour's many
descriptions share (where a user's own words for it land). Measured quantities are slots
(``<speed>``, ``<where>``, ...) that the decoder writes as tokens and ``fill`` replaces with
the segment's facts, so a generated description quotes the facts and cannot misstate them.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

SLOTS = ("<where>", "<speed>", "<speed_max>", "<length>", "<ratio>", "<hz>", "<turn>", "<side>")
"""Placeholders for measured values, filled from the facts after generation."""

FIELDS = ("overall", "head", "limbs", "torso", "keywords")

# behaviour (or behaviour/variant) -> field -> wordings. Keywords are a pool; a caption
# draws a few of them, in random order.
CAPTIONS: dict[str, dict[str, list[str]]] = {
    "walk": {
        "overall": [
            "The mouse walks <where> at <speed> mm/s.",
            "The mouse moves forward <where> at a steady <speed> mm/s.",
            "Walking <where>, the mouse covers ground at <speed> mm/s.",
            "The mouse ambles <where>, about <speed> mm/s.",
        ],
        "head": [
            "Head level, pointing in the direction of travel.",
            "Head forward and steady as it goes.",
            "Nose leading, head held level.",
        ],
        "limbs": [
            "Alternating steps at a walking pace, all four paws on the floor.",
            "Regular strides, paws placed one after another.",
            "A steady gait with the legs stepping in turn.",
        ],
        "torso": [
            "Body stretched out to <length> mm, moving forward.",
            "Torso extended (<length> mm) and level.",
            "Body long and low, <length> mm from nose to tail base.",
        ],
        "keywords": ["walking", "locomotion", "exploring", "moving forward", "ambulating", "strolling"],
    },
    "run": {
        "overall": [
            "The mouse runs fast <where>, reaching <speed_max> mm/s.",
            "The mouse dashes <where> at up to <speed_max> mm/s.",
            "Running <where>, the mouse hits <speed_max> mm/s.",
            "The mouse sprints <where>, peaking at <speed_max> mm/s.",
            "The mouse scurries <where>, up to <speed_max> mm/s.",
            "The mouse races <where> at <speed_max> mm/s.",
        ],
        "head": [
            "Head low and forward, leading the dash.",
            "Head stretched forward as it races.",
            "Nose out in front, head down.",
        ],
        "limbs": [
            "Rapid strides with the legs fully extended.",
            "Quick bounding steps, legs reaching far.",
            "Fast gait, the paws barely touching the floor.",
        ],
        "torso": [
            "Body elongated to <length> mm and low to the ground.",
            "Torso stretched long (<length> mm) at speed.",
            "Body flat and extended, <length> mm.",
        ],
        "keywords": ["running", "fast locomotion", "scurrying", "dashing", "sprinting", "hurrying"],
    },
    "rear/supported": {
        "overall": [
            "The mouse rears up on its hind legs <where>, forepaws against the wall.",
            "The mouse stands upright <where>, leaning on the wall with its forepaws.",
            "Rearing <where>, the mouse props itself on the wall.",
        ],
        "head": [
            "Head raised high, nose up the wall.",
            "Head lifted, sniffing up the wall.",
            "Nose pointing upward, head high.",
        ],
        "limbs": [
            "Balanced on the hind legs, forepaws resting on the wall.",
            "Hind paws on the floor, front paws touching the wall.",
            "Up on its back legs with the front paws on the wall.",
        ],
        "torso": [
            "Torso upright, <ratio> of its full length seen from above.",
            "Body raised vertically, foreshortened to <ratio>.",
            "Trunk lifted and upright (<ratio> of full length from above).",
        ],
        "keywords": [
            "rearing",
            "supported rearing",
            "upright",
            "hind legs",
            "wall rearing",
            "vertical exploration",
        ],
    },
    "rear/unsupported": {
        "overall": [
            "The mouse rears up on its hind legs <where>, without support.",
            "The mouse stands upright <where>, balancing freely.",
            "Rearing <where>, the mouse rises into the open air.",
        ],
        "head": [
            "Head raised high, nose pointing up, sniffing the air.",
            "Head lifted, scanning the air.",
            "Nose up and twitching, head high.",
        ],
        "limbs": [
            "Balanced on the hind legs, forepaws held up in front of the chest.",
            "Up on its back legs, front paws lifted.",
            "Standing on the hind paws with the forelimbs off the floor.",
        ],
        "torso": [
            "Torso upright, <ratio> of its full length seen from above.",
            "Body raised vertically, foreshortened to <ratio>.",
            "Trunk lifted and upright (<ratio> of full length from above).",
        ],
        "keywords": [
            "rearing",
            "unsupported rearing",
            "upright",
            "hind legs",
            "vertical exploration",
            "standing",
        ],
    },
    "groom/face": {
        "overall": [
            "The mouse sits <where> and grooms its face, head bobbing at <hz> Hz.",
            "The mouse washes its face <where>, with rapid strokes (<hz> Hz).",
            "Sitting <where>, the mouse cleans its snout and ears.",
        ],
        "head": [
            "Head bobbing quickly as the forepaws wipe the face.",
            "Head tilted down, paws rubbing the nose and ears.",
            "Face being wiped in fast repeated strokes.",
        ],
        "limbs": [
            "Forepaws raised to the face in repeated strokes, hind paws planted.",
            "Front paws sweeping over the snout; back paws still.",
            "Both forepaws busy at the face.",
        ],
        "torso": [
            "Body hunched and compact (<ratio> of full length), not moving.",
            "Torso curled up, <ratio> of its length, in place.",
            "Compact, sitting posture at <ratio> of full length.",
        ],
        "keywords": ["grooming", "face grooming", "self-grooming", "face washing", "cleaning", "stationary"],
    },
    "groom/body": {
        "overall": [
            "The mouse sits <where> and grooms its body, rocking in place.",
            "The mouse licks its flank <where>, staying put.",
            "Sitting <where>, the mouse cleans its fur.",
        ],
        "head": [
            "Head turned back toward the flank, licking the fur.",
            "Head bent round to the side, nibbling its coat.",
            "Snout buried in the fur of its side.",
        ],
        "limbs": [
            "Hind paws planted, forepaws holding the body.",
            "Paws tucked in while it works on its fur.",
            "Legs braced, no steps taken.",
        ],
        "torso": [
            "Body curled and rocking (<ratio> of full length), not going anywhere.",
            "Torso bent to one side, <ratio> of its length.",
            "Curled posture at <ratio> of full length, rocking gently.",
        ],
        "keywords": ["grooming", "body grooming", "self-grooming", "licking fur", "cleaning", "stationary"],
    },
    "rest": {
        "overall": [
            "The mouse rests motionless <where>.",
            "The mouse lies still <where>.",
            "Quiet and inactive <where>, the mouse rests.",
        ],
        "head": ["Head still and low.", "Head down, not moving.", "Head resting, eyes half closed."],
        "limbs": [
            "All four paws tucked under the body, no steps.",
            "Legs folded beneath it, no movement.",
            "Paws still under the body.",
        ],
        "torso": [
            "Body curled and still, only breathing.",
            "Torso relaxed and motionless.",
            "Body hunched, breathing slowly.",
        ],
        "keywords": ["resting", "immobile", "inactive", "motionless", "freezing", "quiet"],
    },
    "turn": {
        "overall": [
            "The mouse turns to the <side> <where>, rotating <turn> degrees.",
            "The mouse changes direction <where>, pivoting <turn> degrees to the <side>.",
            "Turning <side> <where>, the mouse swings round <turn> degrees.",
        ],
        "head": [
            "Head leading the turn to the <side>.",
            "Head swinging <side> ahead of the body.",
            "Nose pointing into the <side> turn.",
        ],
        "limbs": [
            "Paws stepping around in place while pivoting.",
            "Short steps that swing the body round.",
            "Feet shuffling sideways through the turn.",
        ],
        "torso": [
            "Body bending into the turn.",
            "Torso curved toward the <side>.",
            "Body arched as it rotates.",
        ],
        "keywords": ["turning", "rotating", "changing direction", "pivoting", "reorienting"],
    },
    "sniff": {
        "overall": [
            "The mouse stands <where>, sniffing and investigating.",
            "The mouse pauses <where> to sniff around.",
            "Nearly stationary <where> (<speed> mm/s), the mouse investigates with its nose.",
        ],
        "head": [
            "Nose sweeping slowly from side to side, sniffing.",
            "Head scanning, whiskers and nose exploring.",
            "Head moving about as it sniffs the floor.",
        ],
        "limbs": [
            "Paws mostly planted, with small shuffling steps.",
            "Feet still apart from the odd small step.",
            "Legs planted while the head explores.",
        ],
        "torso": [
            "Body stretched and attentive.",
            "Torso extended toward what it investigates.",
            "Body long, leaning forward.",
        ],
        "keywords": ["sniffing", "investigating", "exploring", "head scanning", "olfactory exploration"],
    },
    "jump": {
        "overall": [
            "The mouse jumps <where>, leaping at up to <speed_max> mm/s.",
            "The mouse leaps <where>, reaching <speed_max> mm/s.",
            "A sudden jump <where> at up to <speed_max> mm/s.",
        ],
        "head": ["Head up as it springs.", "Head thrown up with the leap.", "Head raised in the jump."],
        "limbs": [
            "Hind legs push off and all paws leave the floor.",
            "A powerful kick of the back legs launches it.",
            "All four feet off the ground.",
        ],
        "torso": [
            "Body extended in the air, <length> mm long.",
            "Torso stretched in mid-air (<length> mm).",
            "Body airborne and long.",
        ],
        "keywords": ["jumping", "leaping", "escape", "hopping", "springing"],
    },
}
"""Wordings per behaviour; a behaviour with variants that read differently has one entry per
variant (``rear/supported``), the others one for all."""


def caption_key(behavior: str, variant: str | None) -> str:
    """The CAPTIONS entry for a behaviour and its truth variant."""
    key = f"{behavior}/{variant}"
    if key in CAPTIONS:
        return key
    if behavior in CAPTIONS:
        return behavior
    return next(k for k in CAPTIONS if k.startswith(behavior + "/"))


def sample(key: str, rng: np.random.Generator, zone: str | None = None) -> dict[str, str]:
    """One random wording of each sentence field for the CAPTIONS entry ``key``; the keywords
    are all of the entry's (the many words a user may search with), then the ``zone`` when
    known, as one comma-separated string.
    """
    entry = CAPTIONS[key]
    fields = {f: str(rng.choice(entry[f])) for f in FIELDS[:4]}
    fields["keywords"] = ", ".join(list(entry["keywords"]) + ([zone] if zone else []))
    return fields


def _number(value, fmt: str) -> str:
    return "?" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


_PLACES = {"wall": "along the wall", "corner": "in a corner", "centre": "in the centre of the arena"}


def place(zone: str | None) -> str:
    """What ``<where>`` says for a zone ("" when it is unknown)."""
    return _PLACES.get(zone or "", "")


def slot_values(facts: dict) -> dict[str, str]:
    """What each slot other than ``<where>`` says for one segment's facts, by slot name without
    brackets (``speed_max``): a number, ``?`` when it was not measured, or ``left``/``right``.
    """
    turn = facts.get("heading_change_deg")
    return {
        "speed": _number(facts.get("speed_mean_mm_s"), ".0f"),
        "speed_max": _number(facts.get("speed_max_mm_s"), ".0f"),
        "length": _number(facts.get("body_length_mm"), ".0f"),
        "ratio": _number(facts.get("body_length_ratio"), ".0%"),
        "hz": _number(facts.get("head_motion_hz"), ".0f"),
        "turn": _number(abs(turn) if turn is not None else None, ".0f"),
        # Angles grow clockwise on screen (y down): a positive heading change is a right turn.
        "side": "right" if (turn or 0) > 0 else "left",
    }


_SLOT = re.compile("|".join(re.escape(s) for s in SLOTS[1:]))


@functools.lru_cache(maxsize=65_536)
def template(text: str, where: str) -> str:
    """``text`` with ``<where>`` said and its spacing tidied, as a format string whose fields are
    the other slots (``{speed}``); ``fill`` is ``template(...).format_map(slot_values(...))``.

    The spacing can be tidied before the other slots are filled because what they say (a
    number, ``?``, a percentage, a side) holds no space and starts with no punctuation, so a
    generated description is tidied once per wording and place, not once per segment.
    """
    text = text.replace("<where>", where).replace("{", "{{").replace("}", "}}")
    text = _SLOT.sub(lambda m: "\x00" + m.group(0)[1:-1] + "\x00", text)
    text = " ".join(text.split())
    text = re.sub(r"\s*/\s*", "/", re.sub(r"\s+([.,;:)%])", r"\1", re.sub(r"\(\s+", "(", text)))
    return re.sub("\x00(\\w+)\x00", r"{\1}", text)


def fill(text: str, facts: dict) -> str:
    """``text`` with its slots replaced by the facts' values, spacing tidied."""
    return template(text, place(facts.get("zone"))).format_map(slot_values(facts))
