"""The analysis job: inputs fan out to Ray Data workers; the driver commits their shards.

Each worker (an actor holding the describer and the text model) analyses one input at a time
and writes a Parquet shard into the workspace; results stream back to the driver, which
loads all new shards into the catalogue in one transaction. A failing input is reported
under ``failed`` and never stops the others. Each analysed session's quality-control report
is listed under ``qc``, and what a user should check (a scale that makes the mouse
implausibly long, an fps that differs from the container's) under ``warnings``.

On a multi-node cluster the workspace must be on storage every node sees.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import ray

from mousegpt.analysis import SessionResult, analyze
from mousegpt.cluster import connect
from mousegpt.describe import load_model
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.embed import TextEmbedder
from mousegpt.errors import MouseGPTError
from mousegpt.inputs import InputSpec
from mousegpt.store import Workspace


class AnalyzeWorker:
    """A Ray Data actor: loads the models once, then analyses one input per call."""

    def __init__(self, workspace: str, model: str, known: list[str]):
        self.workspace = Workspace(Path(workspace))
        self.model = load_model(model)
        self.embedder = TextEmbedder()
        self.known = set(known)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        # One row per session (a multi-animal pose file gives several); results travel as
        # JSON because their QC reports and warnings are nested.
        results = [json.dumps(asdict(r)) for s in batch["spec"]
                   for r in analyze(InputSpec(**json.loads(s)), self.workspace, self.model, self.embedder, self.known)]
        return {"result": results}


def run(specs: list[InputSpec], workspace: Workspace, address: str | None = None,
        model: str = DEFAULT_MODEL, max_workers: int | None = None) -> dict:
    """Analyse ``specs`` and commit them; returns the analyze JSON document."""
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    connect(address)
    known = sorted(workspace.session_ids())  # also refuses a workspace of a newer schema, before any work
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = max(1, min(len(specs), max_workers or cpus))
    items = [{"spec": json.dumps(s.to_dict())} for s in specs]
    dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        AnalyzeWorker, fn_constructor_kwargs={"workspace": str(workspace.root.resolve()), "model": model, "known": known},
        batch_size=1, concurrency=workers, num_cpus=1,
    )
    try:
        results = [SessionResult(**json.loads(row["result"])) for row in dataset.take_all()]
    except Exception as exc:  # a worker process died (out of memory, killed): per-input errors never get here
        raise MouseGPTError(f"the analysis job failed, nothing was committed: {str(exc).splitlines()[0]}") from None
    done = [r for r in results if r.error is None and not r.skipped]
    failed = [{"input": r.input, "error": r.error} for r in results if r.error is not None]
    job = {"job_id": uuid.uuid4().hex[:12], "kind": "analyze", "started_at": started_at,
           "finished_at": datetime.now(timezone.utc).replace(tzinfo=None), "inputs": len(specs),
           "failed": json.dumps(failed)}
    sessions, segments = workspace.commit([Path(r.shard) for r in done], job=job)
    return {
        "sessions": sessions, "segments": segments,
        "frames": int(sum({r.session_id: r.frames for r in done}.values())),
        "seconds": round(time.perf_counter() - started, 2),
        "skipped": [{"input": r.input, "session_id": r.session_id} for r in results if r.skipped],
        "failed": failed,
        "qc": [{"input": r.input, "session_id": r.session_id, "individual": r.individual, "px_per_mm": r.px_per_mm,
                "px_per_mm_source": r.px_per_mm_source, **(r.qc or {})} for r in done],
        "warnings": [w for r in results for w in r.warnings],
    }
