"""One input from file to shards, in this process: the analysis's front.

The stages live in modules of their own, and the pipeline (``jobs.analyze``) runs the same
functions spread over a cluster:

1. ``preparation.prepare``: the input checked, read and planned (``calibration`` gives its
   frame rate, poses, floor and scale);
2. ``tracking.track_part`` per part of a video;
3. ``chunks.plan_sessions``: quality control, kinematics and windows (``pipeline``'s steps),
   cut into chunks;
4. per chunk ``chunks.cut`` (facts and crops), ``chunks.describe`` and ``chunks.embed``;
5. ``chunks.write``: the session's shard. The driver commits shards (``store.Workspace.commit``).

Each stage's result is a ``results.SessionResult``; a bad input fails alone (``guarded``).
"""

from __future__ import annotations

from mousegpt import tracking
from mousegpt.chunks import DESCRIBE_CHUNK, Chunk, SessionPlan, cut, describe, embed, plan_sessions, write
from mousegpt.describe import BehaviorModel
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.embed import TextEmbedder
from mousegpt.inputs import InputSpec
from mousegpt.preparation import PART_SECONDS, Prepared, planned_changes, prepare, session_ids
from mousegpt.results import SessionResult, failure, guarded
from mousegpt.store import Workspace

__all__ = [
    "DESCRIBE_CHUNK",
    "PART_SECONDS",
    "Chunk",
    "Prepared",
    "SessionPlan",
    "SessionResult",
    "analyze",
    "cut",
    "describe",
    "embed",
    "failure",
    "guarded",
    "plan_sessions",
    "planned_changes",
    "prepare",
    "session_ids",
    "write",
]


def analyze(
    spec: InputSpec,
    workspace: Workspace,
    model: BehaviorModel,
    embedder: TextEmbedder,
    known: dict[str, dict] | None = None,
    model_name: str = DEFAULT_MODEL,
) -> list[SessionResult]:
    """Analyse one input in this process with ``model`` (asked for as ``model_name``, which
    its shards record) and write one shard per individual; errors are
    returned, not raised. The pipeline (``jobs.analyze``) runs the same steps as stages spread
    over a cluster: ``prepare``, ``tracking.track_part`` per part, ``plan_sessions``, then per
    chunk ``cut``, ``describe`` and ``embed``, and ``write``.
    """

    def work():
        prepared = prepare(spec, workspace, known, model=model_name)
        if prepared.done:
            return prepared.done
        parts = [
            tracking.track_part(spec.video, prepared.background, start, stop)
            for start, stop in prepared.parts
        ]
        sessions = plan_sessions(prepared, parts, crops=getattr(model, "uses_crops", False))
        return [
            write(s, [embed(describe(cut(c), model), embedder) for c in s.chunks], workspace)
            for s in sessions
        ]

    return guarded(spec.name, work)
