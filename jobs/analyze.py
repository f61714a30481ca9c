"""The analysis job: a pipeline of stages on Ray Data, each sized to what it needs.

1. **Plan** (a task per input): check and read it, estimate the background from frames
   sought across the video, and cut the video into parts (``analysis.prepare``).
2. **Track** (a task per part, one CPU each): the parts of every video are tracked in
   parallel, so one long video uses every core (``tracking.track_part``).
3. **Session** (an actor pool holding the describer and the text model; one GPU per actor
   when the cluster has GPUs): stitch the parts into the one-pass track, then quality
   control, kinematics and segments; crops, cut by tasks over groups of the windows
   (``parallel_crops``); descriptions and search vectors, written as a Parquet shard per
   session (``analysis.finish``).

The driver then loads all new shards into the catalogue in one transaction. A failing input
(or a part of it that fails to decode) is reported under ``failed`` and never stops the
others. Each analysed session's quality-control report is listed under ``qc``, and what a
user should check (a scale that makes the mouse implausibly long, an fps that differs from
the container's) under ``warnings``.

On a multi-node cluster the workspace must be on storage every node sees.
"""

from __future__ import annotations

import json
import os
import pickle
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import ray

from mousegpt import analysis, crops, tracking
from mousegpt.analysis import SessionResult
from mousegpt.cluster import connect
from mousegpt.describe import load_model
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.embed import TextEmbedder
from mousegpt.errors import MouseGPTError
from mousegpt.inputs import InputSpec
from mousegpt.store import Workspace

TASK_RETRIES = 2
"""A plan or tracking task whose worker died (killed, out of memory) is run again this many
times; an input that kills its worker every time then fails with its name."""


NOTHING = {"part": 0, "start": -1, "stop": -1, "video": "", "background": "", "prepared": b"", "results": b""}
"""A pipeline row's fields besides ``key`` (the input's position), as a row with no part to track holds them."""


def plan(row: dict, workspace: str, known: list[str], part_seconds: float) -> list[dict]:
    """Stage 1, one input: ``analysis.prepare``; one row per tracking part (one row when there
    is nothing to track, or the input failed: then ``results`` holds its error). The first row
    carries the plan, every row the input's ``key``."""
    spec = InputSpec(**json.loads(row["spec"]))
    started = time.perf_counter()
    try:
        prepared = analysis.prepare(spec, Workspace(Path(workspace)), set(known), part_seconds)
    except Exception as exc:
        failed = analysis.failure(spec.name, exc)
        failed.seconds = round(time.perf_counter() - started, 3)
        return [NOTHING | {"key": row["key"], "results": pickle.dumps([failed])}]
    first = NOTHING | {"key": row["key"], "prepared": pickle.dumps(prepared)}
    if not prepared.parts:
        return [first]
    # The background travels once, as a file beside the shards, not in every part's row: an
    # hour of video is 60 parts, and each row would carry its own copy.
    background = _scratch(workspace) / f"{prepared.ids[0]}.background.pkl"
    background.parent.mkdir(parents=True, exist_ok=True)
    temporary = background.with_name(f".{background.name}.{os.getpid()}.tmp")
    temporary.write_bytes(pickle.dumps(prepared.background))
    temporary.replace(background)
    return [(first if i == 0 else NOTHING | {"key": row["key"]})
            | {"part": i, "start": start, "stop": -1 if stop is None else stop, "video": spec.video,
               "background": str(background)}
            for i, (start, stop) in enumerate(prepared.parts)]


def _scratch(workspace: str) -> Path:
    """Where the pipeline's stages leave each other what is too large for a row."""
    return Path(workspace) / "scratch"


def track(row: dict) -> dict:
    """Stage 2, one part of a video: ``tracking.track_part`` against the background the plan
    left in the workspace's scratch folder. The part, or the error decoding it raised (which
    names the file and the part's frames), joins the row."""
    out = dict(row) | {"tracked": b""}
    if row["start"] >= 0:
        try:
            part = tracking.track_part(row["video"], pickle.loads(Path(row["background"]).read_bytes()), row["start"],
                                       None if row["stop"] < 0 else row["stop"])
            out["tracked"] = pickle.dumps(part)
        except Exception as exc:
            out["results"] = pickle.dumps([analysis.failure(row["video"], exc)])
    return out


CROP_TASKS = 8
"""Most groups a session's windows are cut into for crops, each group a task."""
WINDOWS_PER_CROP_TASK = 100
"""Fewest windows worth a crop task of their own (a task costs a seek and a process's start)."""


@ray.remote(num_cpus=0, max_retries=TASK_RETRIES)
def _cut(path, ds, windows, background, view, individual, side):
    return crops.extract(path, ds, windows, background, view=view, individual=individual, side=side)


def parallel_crops(path, ds, windows, background, view: str = "top", individual: int = 0):
    """``crops.extract`` over groups of the windows, as tasks across the cluster: a long
    session's crops cost about its share of the cores, not one core's whole pass. The tasks
    reserve no CPU: the session actor that waits for them holds one, and on a cluster whose
    every CPU is held by session actors they would otherwise never start."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    groups = min(CROP_TASKS, cpus, max(1, len(windows) // WINDOWS_PER_CROP_TASK))
    if groups == 1:
        return crops.extract(path, ds, windows, background, view=view, individual=individual)
    side = crops.side_px(ds, individual)
    shared_ds, shared_bg = ray.put(ds), ray.put(background)
    bounds = np.linspace(0, len(windows), groups + 1).round().astype(int)
    return np.concatenate(ray.get([_cut.remote(path, shared_ds, windows[a:b], shared_bg, view, individual, side)
                                   for a, b in zip(bounds, bounds[1:])]))


class SessionWorker:
    """Stage 3, an actor: loads the models once, then finishes one input per call."""

    def __init__(self, workspace: str, model: str):
        self.workspace = Workspace(Path(workspace))
        self.model = load_model(model)
        self.embedder = TextEmbedder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        # One row per input in, one per session out (a multi-animal pose file gives several);
        # results travel as JSON because their QC reports and warnings are nested.
        out = []
        for prepared, parts in zip(batch["prepared"], batch["parts"]):
            prepared = pickle.loads(prepared)
            parts = [pickle.loads(p) for p in parts]
            out += analysis.guarded(prepared.spec.name, lambda: analysis.finish(
                prepared, parts, self.workspace, self.model, self.embedder, cut=parallel_crops))
        node = ray.get_runtime_context().get_node_id()
        return {"result": [json.dumps(asdict(r) | {"node": node}) for r in out]}


def _sessions(rows: list[dict]) -> tuple[list[dict], list[SessionResult]]:
    """The tracked parts gathered per input: inputs to finish, and the results of those
    already settled: failed on the way (a part that failed fails its input), skipped, or
    left as shards by an earlier run."""
    by_key = defaultdict(list)
    for row in rows:
        by_key[row["key"]].append(row)
    todo, settled = [], []
    for key in sorted(by_key):
        parts = sorted(by_key[key], key=lambda r: r["part"])
        errors = [pickle.loads(r["results"]) for r in parts if r["results"]]
        if errors:
            settled += errors[0]
            continue
        done = pickle.loads(parts[0]["prepared"]).done  # skipped, or its shards are left from an earlier run
        if done:
            settled += done
        else:
            todo.append({"prepared": parts[0]["prepared"], "parts": [r["tracked"] for r in parts if r["tracked"]]})
    return todo, settled


def run(specs: list[InputSpec], workspace: Workspace, address: str | None = None,
        model: str = DEFAULT_MODEL, max_workers: int | None = None,
        part_seconds: float = analysis.PART_SECONDS) -> dict:
    """Analyse ``specs`` and commit them; returns the analyze JSON document."""
    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).replace(tzinfo=None)
    connect(address)
    known = sorted(workspace.session_ids())  # also refuses a workspace of a newer schema, before any work
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 1))
    gpus = int(resources.get("GPU", 0))
    root = str(workspace.root.resolve())
    items = [{"key": i, "spec": json.dumps(s.to_dict())} for i, s in enumerate(specs)]
    try:
        parts = (ray.data.from_items(items, override_num_blocks=len(items))
                 .flat_map(plan, fn_kwargs={"workspace": root, "known": known, "part_seconds": part_seconds},
                           num_cpus=1, max_retries=TASK_RETRIES)
                 .map(track, num_cpus=1, max_retries=TASK_RETRIES)
                 .take_all())
        tracked = sum(1 for row in parts if row["tracked"])
        for used in {row["background"] for row in parts if row["background"]}:  # read by every part now
            Path(used).unlink(missing_ok=True)
        if _scratch(root).is_dir() and not any(_scratch(root).iterdir()):
            _scratch(root).rmdir()
        todo, results = _sessions(parts)
        if todo:
            # A GPU per session actor where the cluster has them: the describer and the text
            # model run there; otherwise as many CPU actors as cores (each holds the models).
            # A served describer holds its own GPUs; the rules need none.
            on_gpu = gpus > 0 and model != "kinematic" and not model.startswith("serve")
            workers = max(1, min(len(todo), max_workers or (gpus if on_gpu else cpus)))
            finished = ray.data.from_items(todo, override_num_blocks=len(todo)).map_batches(
                SessionWorker, fn_constructor_kwargs={"workspace": root, "model": model}, batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1, num_gpus=1 if on_gpu else 0,
            ).take_all()
            results += [SessionResult(**json.loads(row["result"])) for row in finished]
    except Exception as exc:  # a worker process died for good (out of memory, killed): per-input errors never get here
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
        "tracked_parts": tracked,
        "nodes": dict(Counter(r.node for r in done if r.node)),  # Ray node id -> sessions described there
        "skipped": [{"input": r.input, "session_id": r.session_id} for r in results if r.skipped],
        "failed": failed,
        "qc": [{"input": r.input, "session_id": r.session_id, "individual": r.individual, "px_per_mm": r.px_per_mm,
                "px_per_mm_source": r.px_per_mm_source, **(r.qc or {})} for r in done],
        "warnings": [w for r in results for w in r.warnings],
    }
