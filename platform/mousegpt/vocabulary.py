"""The core behaviour vocabulary shared by synth, describe, search and profiles."""

BEHAVIORS: tuple[str, ...] = ("walk", "run", "rear", "groom", "rest", "turn", "sniff", "jump")
"""Core behaviours, in a fixed order: probability vectors follow it."""

ZONES: tuple[str, ...] = ("wall", "centre", "corner")
"""Spatial context of a segment in the arena."""
