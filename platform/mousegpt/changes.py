"""What a re-run changes: an input analysed again, with corrected metadata.

A session is its input's bytes (``store.content_hash``), so a re-run meets the sessions it
made before. What they were made with decides what happens to each:

- its **settings** (``settings``: the describer, frame rate, scale, view, arena size, keypoint
  map, empty-arena image) differ: it is analysed again and its segments replaced;
- else its **labels** (``LABELS``: animal and condition) differ: its record in the catalogue
  is updated, and nothing is recomputed;
- else it is skipped.

A label or setting the re-run leaves out (None) keeps what was recorded; the describer and the
view always have a value, so they are always compared. A recomputed session takes the
re-run's settings as given. Sessions recorded before settings were (catalogue schema < 7)
have none to compare: only their labels are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from mousegpt.inputs import InputSpec

LABELS = ("animal", "condition")
"""What names a session without changing what was computed from it."""
ALWAYS_GIVEN = ("model", "view")
"""Settings that always have a value (a default when not given), so a re-run always compares them."""
ACTIONS = ("new", "unchanged", "relabel", "recompute")


def settings(spec: InputSpec, model: str) -> dict:
    """What an input's sessions are computed with: ``model`` (the describer asked for) and the
    spec's frame rate (Hz), scale (px/mm), view, arena size (mm), keypoint map and empty-arena
    image; None where not given (then read or estimated).
    """
    return {
        "model": model,
        "fps": spec.fps,
        "px_per_mm": spec.px_per_mm,
        "view": spec.view,
        "arena_mm": spec.arena_mm,
        "keypoint_map": spec.keypoint_map,
        "background": spec.background,
    }


def labels(spec: InputSpec, individual: str | None, individuals: int) -> dict:
    """A session's labels: the spec's animal (suffixed ``:individual`` when the file holds
    several; the individual's name alone when no animal is given) and condition.
    """
    animal = (
        spec.animal if individuals == 1 else (f"{spec.animal}:{individual}" if spec.animal else individual)
    )
    return {"animal": animal, "condition": spec.condition}


@dataclass(frozen=True)
class Change:
    """What a run does to one session."""

    session_id: str
    action: str
    """One of ``ACTIONS``."""
    fields: dict[str, tuple] = field(default_factory=dict)
    """What differs: name -> (recorded, requested)."""
    labels: dict = field(default_factory=dict)
    """The labels the session ends with (for ``relabel`` and ``recompute``)."""

    def describe(self) -> str:
        """``condition: control -> stim; model: kinematic -> mousegpt`` (empty when nothing differs)."""
        return "; ".join(f"{name}: {_show(old)} -> {_show(new)}" for name, (old, new) in self.fields.items())


def _show(value) -> str:
    return "(none)" if value is None else json.dumps(value) if isinstance(value, dict) else str(value)


def decide(session_id: str, wanted: dict, named: dict, recorded: dict | None) -> Change:
    """What to do with ``session_id`` asked for with settings ``wanted`` and labels ``named``,
    given what the catalogue ``recorded`` of it (``settings`` as JSON or None, and its
    ``LABELS``; None when it is not there).
    """
    if recorded is None:
        return Change(session_id, "new")
    before = json.loads(recorded["settings"]) if recorded.get("settings") else None
    differ = (
        {}
        if before is None
        else {
            name: (before.get(name), value)
            for name, value in wanted.items()
            if (value is not None or name in ALWAYS_GIVEN) and before.get(name) != value
        }
    )
    final = {name: recorded.get(name) if named.get(name) is None else named[name] for name in LABELS}
    if differ:
        return Change(session_id, "recompute", differ, final)
    relabelled = {
        name: (recorded.get(name), final[name]) for name in LABELS if final[name] != recorded.get(name)
    }
    return Change(session_id, "relabel" if relabelled else "unchanged", relabelled, final)
