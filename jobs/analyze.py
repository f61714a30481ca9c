"""The analysis job: a streaming pipeline of stages on Ray Data, each sized to what it needs.

1. **Sessions** (one row per input in, a row per chunk of its sessions out): it runs its
   input's work as Ray tasks of one CPU each and waits for them, holding no CPU itself:
   - plan (``analysis.prepare``): check and read the input, estimate the background from
     frames sought across the video, and cut the video into parts;
   - track, a task per part (``tracking.track_part``): the parts of a video are tracked in
     parallel, so one long video uses every core;
   - stitch the parts into the one-pass track, then quality control, kinematics and windows,
     cut into chunks of segments (``analysis.plan_sessions``).
2. **Crops**, a task per chunk: the chunk's facts and crops (``analysis.cut``).
3. **Describe**, an actor pool holding the describer (``analysis.describe``); an actor per
   GPU when the cluster has GPUs. ``--model serve[:APP]`` describes through a running Serve
   application's replicas instead.
4. **Embed**, an actor pool holding the text model (``analysis.embed``), on the GPUs too.
5. **Shard writer**: the driver writes each session's shard as soon as its last chunk comes
   out of the pipeline (``analysis.write``), then commits all new shards in one transaction.

Rows stream from stage to stage: an input's chunks are described while later inputs are
still being tracked. Memory per worker is a chunk's (DESCRIBE_CHUNK segments), except in the
sessions step, which holds one session's poses and kinematics.

A failing input (or a part of it that fails to decode, or a chunk whose crops fail) fails its
sessions alone, reported under ``failed``. A task whose worker dies is run again TASK_RETRIES
times, then fails its input with its name. An input whose tasks make no progress for
``input_timeout`` seconds is stopped. Each analysed session's quality-control report is listed
under ``qc``, and what a user should check (a scale that makes the mouse implausibly long, an
fps that differs from the container's) under ``warnings``.

On a multi-node cluster the inputs must be on storage every node sees.
"""

from __future__ import annotations

import json
import pickle
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import ray

from jobs.shard_writer import ShardWriter
from mousegpt import analysis, tracking
from mousegpt.describe import load_model
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.embed import TextEmbedder
from mousegpt.errors import InputError, MouseGPTError
from mousegpt.inputs import InputSpec
from mousegpt.ray_connection import connect
from mousegpt.store import Workspace

TASK_RETRIES = 2
"""A task whose worker died (killed, out of memory) is run again this many times; an input
that kills its worker every time then fails with its name."""
INPUT_TIMEOUT_S = 600.0
"""An input whose tasks (reading, tracking, stitching) make no progress for this long is
stopped: a file that never finishes reading must not hold the batch up."""


@ray.remote(num_cpus=1, max_retries=TASK_RETRIES)
def _prepare(
    spec: InputSpec, workspace: str, storage: str, known: dict[str, dict], part_seconds: float, model: str
):
    return analysis.prepare(spec, Workspace(Path(workspace), storage), known, part_seconds, model)


@ray.remote(num_cpus=1, max_retries=TASK_RETRIES)
def _track(video: str, background, start: int, stop: int | None):
    return tracking.track_part(video, background, start, stop)


@ray.remote(num_cpus=1, max_retries=TASK_RETRIES)
def _plan_sessions(prepared, parts, crops: bool, chunk: int | None):
    return analysis.plan_sessions(prepared, parts, crops, chunk)


def _gather(refs: list, name: str, doing: str, timeout: float) -> list:
    """The tasks' results, in order. Raises InputError naming the input when none of them
    finishes for ``timeout`` seconds (they are then cancelled, their workers killed), or when
    one's worker died on every try; a task's own error is raised as it is."""
    position = {ref: i for i, ref in enumerate(refs)}
    results, pending = [None] * len(refs), list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=timeout, fetch_local=False)
            if not ready:
                for ref in pending:
                    ray.cancel(ref, force=True)
                pending = []
                raise InputError(f"{name}: {doing} made no progress for {timeout:g} s; stopped")
            for ref in ready:
                results[position[ref]] = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # the task raised: its own error
        raise exc.cause from None
    except ray.exceptions.RayError as exc:  # its worker died every time (killed, out of memory, a crash)
        raise InputError(
            f"{name}: the worker {doing} it died {TASK_RETRIES + 1} times "
            f"({exc.__class__.__name__}); given up"
        ) from None
    finally:
        for ref in pending:  # another part failed: the rest is not needed
            ray.cancel(ref)
    return results


ROW = {
    "key": -1,
    "sessions": "[]",
    "session": "",
    "header": b"",
    "chunk": b"",
    "settled": b"",
    "error": "",
    "parts": 0,
    "node": "",
}
"""A pipeline row: an input's ``key``, and either the results it ``settled`` with (failed,
skipped, or shards left by an earlier run), or one ``chunk`` of one of its ``sessions`` (the
``header`` is that session without its chunks), or that chunk's ``error``."""


def sessions(
    row: dict,
    workspace: str,
    storage: str,
    known: ray.ObjectRef,
    model: str,
    part_seconds: float,
    crops: bool,
    chunk: int | None,
    timeout: float,
):
    """Stage 1, one input: its chunks, one row each, or one row of its settled results."""
    spec = InputSpec(**json.loads(row["spec"]))
    key, started = row["key"], time.perf_counter()
    try:
        prepared = _gather(
            [_prepare.remote(spec, workspace, storage, known, part_seconds, model)],
            spec.name,
            "reading and planning",
            timeout,
        )[0]
        if prepared.done:
            yield ROW | {"key": key, "settled": pickle.dumps(prepared.done)}
            return
        background = ray.put(prepared.background)
        parts = _gather(
            [_track.remote(spec.video, background, start, stop) for start, stop in prepared.parts],
            spec.name,
            "tracking",
            timeout,
        )
        planned = _gather(
            [_plan_sessions.remote(prepared, parts, crops, chunk)],
            spec.name,
            "stitching and measuring",
            timeout,
        )[0]
    except Exception as exc:
        failed = analysis.failure(spec.name, exc)
        failed.seconds = round(time.perf_counter() - started, 3)
        yield ROW | {"key": key, "settled": pickle.dumps([failed])}
        return
    ids = json.dumps([s.result.session_id for s in planned])
    for session in planned:
        chunks, session.chunks = session.chunks, []
        header = pickle.dumps(session)
        for piece in chunks:
            yield ROW | {
                "key": key,
                "sessions": ids,
                "session": piece.session_id,
                "header": header,
                "chunk": pickle.dumps(piece),
                "parts": len(prepared.parts),
            }


def _chunk_step(row: dict, step) -> dict:
    """``step(chunk)`` on a row's chunk; its error, naming the input, instead when it fails."""
    if not row["chunk"]:
        return row
    chunk = pickle.loads(row["chunk"])
    try:
        return row | {"chunk": pickle.dumps(step(chunk))}
    except Exception as exc:
        name = pickle.loads(row["header"]).result.input
        return row | {"chunk": b"", "error": analysis.failure(name, exc).error}


def cut(row: dict) -> dict:
    """Stage 2, one chunk: its facts and crops."""
    return _chunk_step(row, analysis.cut)


class Describe:
    """Stage 3, an actor holding the describer."""

    def __init__(self, model: str):
        self.model = load_model(model)
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, row: dict) -> dict:
        return _chunk_step(row, lambda chunk: analysis.describe(chunk, self.model)) | {"node": self.node}


class Embed:
    """Stage 4, an actor holding the text model."""

    def __init__(self):
        self.embedder = TextEmbedder()

    def __call__(self, row: dict) -> dict:
        return _chunk_step(row, lambda chunk: analysis.embed(chunk, self.embedder))


BLOCK_BYTES = 256 * 1024
"""Ray Data's block size for this pipeline: a chunk's row is larger, so each chunk is a block
of its own and the chunks of one session go through each stage in parallel."""


def _reads_crops(model: str) -> bool:
    """Whether the describer ``model`` reads crops (the rules do not; a served model says)."""
    if model == "kinematic":
        return False
    if model.startswith("serve"):
        return load_model(model).uses_crops
    return True


def _pipeline(
    specs: list[InputSpec],
    workspace: Workspace,
    known: ray.ObjectRef,
    model: str,
    part_seconds: float,
    chunk_segments: int | None,
    input_timeout: float,
    max_workers: int | None,
    cpus: int,
    gpus: int,
):
    """The stages, composed (see the module's docstring)."""
    # The describer and the text model share each GPU where the cluster has them; a served
    # describer holds its own GPUs and the rules need none. On CPUs they reserve none: the
    # CPUs go to the tasks, the actors take what turns they need.
    on_gpu = gpus > 0 and model != "kinematic" and not model.startswith("serve")
    pool = (
        ray.data.ActorPoolStrategy(size=gpus)
        if gpus
        else ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, cpus // 8))
    )
    return (
        ray.data.from_items(
            [{"key": i, "spec": json.dumps(s.to_dict())} for i, s in enumerate(specs)],
            override_num_blocks=len(specs),
        )
        .flat_map(
            sessions,
            fn_kwargs={
                "workspace": str(workspace.root.resolve()),
                "storage": workspace.store.url,
                "known": known,
                "model": model,
                "part_seconds": part_seconds,
                "crops": _reads_crops(model),
                "chunk": chunk_segments,
                "timeout": input_timeout,
            },
            num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=max(1, min(len(specs), max_workers or cpus))),
            max_retries=TASK_RETRIES,
        )
        .map(cut, num_cpus=1, max_retries=TASK_RETRIES)
        .map(
            Describe,
            fn_constructor_kwargs={"model": model},
            compute=pool,
            num_cpus=0,
            num_gpus=0.5 if on_gpu else 0,
            max_restarts=TASK_RETRIES,
            max_task_retries=TASK_RETRIES,
        )
        .map(
            Embed,
            compute=pool,
            num_cpus=0,
            num_gpus=0.5 if gpus else 0,
            max_restarts=TASK_RETRIES,
            max_task_retries=TASK_RETRIES,
        )
    )


def run(
    specs: list[InputSpec],
    workspace: Workspace,
    address: str | None = None,
    model: str = DEFAULT_MODEL,
    max_workers: int | None = None,
    part_seconds: float = analysis.PART_SECONDS,
    input_timeout: float = INPUT_TIMEOUT_S,
    chunk_segments: int | None = None,
    job_id: str | None = None,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Analyse ``specs`` and commit them; returns the analyze JSON document. ``max_workers``
    caps the inputs worked on at once (as many as CPUs by default); videos are tracked in parts
    of ``part_seconds``, and sessions described in chunks of ``chunk_segments``
    (``analysis.DESCRIBE_CHUNK``). ``progress`` is called with ``ShardWriter.progress()``'s counts
    as results come in; ``job_id`` names the run in the catalogue's jobs table (a Ray Job's
    submission id; a new id by default)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).replace(tzinfo=None)
    # Opened for writing first: a new catalogue records its storage (one that differs is
    # refused), and an older one is upgraded, before anything is analysed.
    workspace.connect().close()
    known = workspace.recorded()  # also refuses a workspace of a newer schema, before any work
    connect(address)
    known = ray.put(known)  # stored once: each input's plan task is handed it by reference, not a copy
    resources = ray.cluster_resources()
    cpus = int(resources.get("CPU", 1))
    gpus = int(resources.get("GPU", 0))
    writer = ShardWriter(workspace, specs, TASK_RETRIES)
    context = ray.data.DataContext.get_current()
    saved = context.max_errored_blocks, context.target_max_block_size
    context.max_errored_blocks = -1  # a chunk whose worker died fails its session, not the job
    context.target_max_block_size = BLOCK_BYTES
    try:
        with warnings.catch_warnings():
            # The stages' retry counts are Ray remote arguments, which Ray 2.60 deprecates with no
            # named parameter to replace them; without them a task whose worker dies every time
            # would be retried for ever (Ray Data's default), and one bad input would hang the batch.
            warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
            stream = _pipeline(
                specs,
                workspace,
                known,
                model,
                part_seconds,
                chunk_segments,
                input_timeout,
                max_workers,
                cpus,
                gpus,
            )
        for row in stream.iter_rows():
            writer.add(row)
            if progress is not None:
                progress(writer.progress())
    except MouseGPTError:
        raise
    except (
        Exception
    ) as exc:  # the describer cannot load, the cluster went away: per-input errors never get here
        raise MouseGPTError(
            f"the analysis job failed, nothing was committed: {str(exc).splitlines()[0]}"
        ) from None
    finally:
        context.max_errored_blocks, context.target_max_block_size = saved
    results = writer.finish()
    done = [r for r in results if r.error is None and not r.skipped]
    failed = [{"input": r.input, "error": r.error} for r in results if r.error is not None]
    job = {
        "job_id": job_id or uuid.uuid4().hex[:12],
        "kind": "analyze",
        "started_at": started_at,
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
        "inputs": len(specs),
        "failed": json.dumps(failed),
    }
    commit_warnings: list[str] = []
    changed = [
        r for r in results if r.error is None and r.change is not None and r.change.action != "unchanged"
    ]
    sessions_, segments = workspace.commit(
        [r.shard for r in done],
        job=job,
        warnings=commit_warnings,
        replace={r.session_id for r in changed if r.change.action == "recompute"},
        labels={r.session_id: r.change.labels for r in changed if r.change.labels},
    )
    return {
        "sessions": sessions_,
        "segments": segments,
        "frames": int(sum({r.session_id: r.frames for r in done}.values())),
        "seconds": round(time.perf_counter() - started, 2),
        "tracked_parts": sum(writer.parts.values()),
        "nodes": dict(Counter(r.node for r in done if r.node)),  # Ray node id -> sessions described there
        "skipped": [
            {"input": r.input, "session_id": r.session_id}
            for r in results
            if r.skipped and (r.change is None or r.change.action == "unchanged")
        ],
        "relabelled": [
            {"input": r.input, "session_id": r.session_id, "changes": r.change.describe()}
            for r in changed
            if r.change.action == "relabel"
        ],
        "recomputed": [
            {"input": r.input, "session_id": r.session_id, "changes": r.change.describe()}
            for r in changed
            if r.change.action == "recompute"
        ],
        "failed": failed,
        "qc": [
            {
                "input": r.input,
                "session_id": r.session_id,
                "individual": r.individual,
                "px_per_mm": r.px_per_mm,
                "px_per_mm_source": r.px_per_mm_source,
                **(r.qc or {}),
            }
            for r in done
        ],
        "warnings": [w for r in results for w in r.warnings] + commit_warnings,
    }
