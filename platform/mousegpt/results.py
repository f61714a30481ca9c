"""What analysing an input came to: one ``SessionResult`` per session, a failure included.

A bad input never stops a batch: its work is ``guarded``, and what went wrong becomes its
result's ``error``, one line naming the file and the problem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mousegpt.changes import Change
from mousegpt.errors import MouseGPTError


@dataclass
class SessionResult:
    """One analysed individual of one input (or the input's error)."""

    input: str
    session_id: str | None = None
    individual: str | None = None
    shard: str | None = None
    skipped: bool = False
    """Already in the catalogue (same content and settings): nothing was recomputed."""
    change: Change | None = None
    """What this run does to a session the catalogue holds (``changes.decide``): its labels
    updated (with ``skipped``), or its segments replaced; None for a new session."""
    frames: int = 0
    segments: int = 0
    seconds: float = 0.0
    px_per_mm: float | None = None
    px_per_mm_source: str | None = None
    qc: dict | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    node: str | None = None
    """The Ray node that described it (None when analysed outside Ray)."""


def failure(name: str, exc: Exception) -> SessionResult:
    """The failed result of input ``name``: a MouseGPTError's message names the file and the
    problem already; anything else is named by its class.
    """
    return SessionResult(
        input=name,
        error=str(exc) if isinstance(exc, MouseGPTError) else f"{name}: {exc.__class__.__name__}: {exc}",
    )


def guarded(name: str, work) -> list[SessionResult]:
    """``work()``'s results, or one failed result naming the input: a bad input must never stop a batch."""
    started = time.perf_counter()
    try:
        results = work()
    except Exception as exc:
        results = [failure(name, exc)]
    for result in results:
        result.seconds = round(time.perf_counter() - started, 3)
    return results
