"""Behaviour programs: which behaviour comes next, for how long, under which condition.

A program is a Markov chain over bouts. The chance of each next behaviour is the
condition's rate for it times a transition affinity from the current behaviour (a run
usually slows to a walk, a rear is usually followed by sniffing), never the same
behaviour twice in a row. Bout durations are uniform within the behaviour's bounds (s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mousegpt.errors import InputError
from mousegpt.vocabulary import BEHAVIORS

BOUT_SECONDS = {
    "walk": (1.0, 3.0),
    "run": (0.6, 1.5),
    "rear": (1.0, 2.5),
    "groom": (2.0, 5.0),
    "rest": (2.0, 6.0),
    "turn": (0.6, 1.2),
    "sniff": (1.0, 3.0),
    "jump": (0.3, 0.5),
}

NOVEL_BEHAVIORS = {"circling": (2.0, 4.0), "head_twitch": (0.3, 0.6)}
"""Behaviours outside the core vocabulary (bout seconds), planted only when asked for, to
test novel-behaviour discovery: tight repeated rotations, and brief rapid head rotations."""

NOVEL_RATE = 0.08
"""Rate of each planted novel behaviour, relative to the condition's core rates (which sum to 1)."""

VARIANTS = {
    "rear": ("supported", "unsupported"),
    "groom": ("face", "body"),
    "turn": ("left", "right"),
    "circling": ("left", "right"),
}
"""Sub-kinds of a behaviour, written to the truth table's ``variant`` column. A rear is
supported when it happens at a wall (forepaws on the wall) and unsupported in the open."""

# Next-bout affinities (multipliers on the condition's rates), from the current behaviour.
TRANSITION_AFFINITY = {
    "run": {"walk": 3.0, "turn": 1.5, "rest": 0.3},
    "walk": {"rear": 1.5, "sniff": 1.5, "turn": 1.5},
    "rear": {"sniff": 2.5, "walk": 1.5, "jump": 0.3},
    "rest": {"groom": 2.5, "walk": 1.5, "run": 0.3, "jump": 0.2},
    "groom": {"rest": 1.5, "walk": 1.5, "run": 0.5},
    "sniff": {"rear": 2.0, "walk": 1.5},
    "turn": {"walk": 2.0, "sniff": 1.5},
    "jump": {"run": 2.0, "walk": 2.0},
}


@dataclass(frozen=True)
class Condition:
    """How an experimental condition shapes behaviour."""

    rates: dict[str, float]
    """Relative rate of choosing each core behaviour for the next bout."""
    wall_affinity: float
    """0..1: how strongly locomotion is drawn to the walls (thigmotaxis)."""


CONDITIONS = {
    # Conditions differ measurably: `stim` moves more and rests less; `anx` hugs the walls,
    # rears (mostly at walls) and freezes more.
    "control": Condition(
        {
            "walk": 0.24,
            "run": 0.06,
            "rear": 0.12,
            "groom": 0.14,
            "rest": 0.14,
            "turn": 0.12,
            "sniff": 0.15,
            "jump": 0.03,
        },
        wall_affinity=0.45,
    ),
    "stim": Condition(
        {
            "walk": 0.30,
            "run": 0.22,
            "rear": 0.10,
            "groom": 0.08,
            "rest": 0.04,
            "turn": 0.12,
            "sniff": 0.10,
            "jump": 0.04,
        },
        wall_affinity=0.35,
    ),
    "anx": Condition(
        {
            "walk": 0.16,
            "run": 0.04,
            "rear": 0.26,
            "groom": 0.12,
            "rest": 0.22,
            "turn": 0.10,
            "sniff": 0.10,
            "jump": 0.02,
        },
        wall_affinity=0.95,
    ),
}
CONDITION_RATES = {name: c.rates for name, c in CONDITIONS.items()}

assert all(set(c.rates) == set(BEHAVIORS) for c in CONDITIONS.values())


def check_condition(condition: str) -> Condition:
    """The ``Condition`` named ``condition``; InputError naming the known ones for any other."""
    if condition not in CONDITIONS:
        raise InputError(f"unknown synthetic condition {condition!r}; known: {', '.join(CONDITIONS)}")
    return CONDITIONS[condition]


def check_novel(novel: tuple[str, ...]) -> None:
    """Refuse (InputError) any name in ``novel`` that is not one of ``NOVEL_BEHAVIORS``."""
    unknown = [n for n in novel if n not in NOVEL_BEHAVIORS]
    if unknown:
        raise InputError(f"unknown novel behaviour(s) {unknown}; known: {', '.join(NOVEL_BEHAVIORS)}")


def check_emphasis(emphasis: dict[str, float] | None) -> None:
    """Refuse (InputError) emphasis on a behaviour not in ``BEHAVIORS``, or a multiplier that
    is not positive (NaN included); None or empty is accepted.
    """
    unknown = sorted(set(emphasis or {}) - set(BEHAVIORS))
    if unknown:
        raise InputError(f"cannot emphasise unknown behaviour(s) {unknown}; known: {', '.join(BEHAVIORS)}")
    negative = {b: m for b, m in (emphasis or {}).items() if not m > 0}
    if negative:
        raise InputError(f"emphasis multipliers must be positive, got {negative}")


def behavior_program(
    seconds: float,
    condition: str,
    rng: np.random.Generator,
    novel: tuple[str, ...] = (),
    emphasis: dict[str, float] | None = None,
) -> list[tuple[str, float]]:
    """A Markov chain of bouts ``(behaviour, duration_s)`` that fills ``seconds``.

    Behaviours named in ``novel`` join the chain at ``NOVEL_RATE`` each; without them
    no novel behaviour ever appears. ``emphasis`` multiplies the rates of the behaviours it
    names (training data plants brief, rare behaviours more often than any condition does).
    """
    rates = check_condition(condition).rates
    check_novel(novel)
    check_emphasis(emphasis)
    rates = {b: r * (emphasis or {}).get(b, 1.0) for b, r in rates.items()} | {n: NOVEL_RATE for n in novel}
    durations = BOUT_SECONDS | NOVEL_BEHAVIORS
    bouts: list[tuple[str, float]] = []
    total, current = 0.0, None
    while total < seconds:
        names = [b for b in rates if b != current]
        affinity = TRANSITION_AFFINITY.get(current, {})
        p = np.array([rates[b] * affinity.get(b, 1.0) for b in names])
        current = str(rng.choice(names, p=p / p.sum()))
        duration = float(rng.uniform(*durations[current]))
        bouts.append((current, duration))
        total += duration
    return bouts
