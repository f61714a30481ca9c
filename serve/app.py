"""Ray Serve application: ``serve run serve.config.yaml`` or ``serve run serve.app:build_app workspace=DIR``.

- ``MouseGPT``: a describer replica, autoscaled (``serve/config.yaml``); concurrent requests
  are gathered into batches (``@serve.batch``) before they reach the model. It asks for a GPU
  when the cluster has one. The pipeline's ``--model serve`` sends it whole sessions.
- ``MouseGPTAPI``: the HTTP ingress. ``POST /describe`` takes kinematic facts as JSON, or
  everything the model reads as an ``application/x-npz`` body (``mousegpt.describe.wire``),
  and returns descriptions; ``GET /search?q=...&k=...&condition=...`` searches the workspace
  (read-only); ``GET /healthz`` asks the model to describe a segment and opens the catalogue.

With a ``token_sha256`` (``mousegpt serve --token``, required off loopback; or
``$MOUSEGPT_TOKEN`` where the builder runs), every request must carry ``Authorization: Bearer
TOKEN``. Answers name files, never where the machine keeps them.
"""

import asyncio
import math
import os
import threading
from pathlib import Path

import faiss
import pandas as pd
import ray
from fastapi import Depends, FastAPI, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from ray import serve

from mousegpt.access import TOKEN_ENV, token_matches, token_sha256
from mousegpt.describe import load_model, wire
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.errors import InputError, MouseGPTError
from mousegpt.records import FACTS, Fact, Hit
from mousegpt.search import Searcher
from mousegpt.segments import FACT_COLUMNS
from mousegpt.store import Workspace, workspace_path

_token_sha256: str | None = None
"""The SHA-256 of the access token, in each ingress replica's process (``MouseGPTAPI``);
None: no token asked."""


def _authorised(request: Request) -> None:
    """Refuse a request without the access token, when there is one (compared in constant time)."""
    if _token_sha256 is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(given.strip(), _token_sha256):
        raise HTTPException(
            status_code=401,
            detail="this MouseGPT API needs its access token: Authorization: Bearer TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )


api = FastAPI(
    title="MouseGPT",
    description="Describe mouse behaviour from kinematic facts; search analysed videos.",
    dependencies=[Depends(_authorised)],
)


def _public(hit: Hit) -> dict:
    """A hit as clients get it: its files by name."""
    return hit.to_dict() | {k: Path(v).name for k in ("video", "pose") if (v := getattr(hit, k))}


MAX_SEGMENTS = 1024
"""Segments one ``/describe`` request may carry."""


def _fact_field(fact: Fact) -> tuple:
    """A request field for one fact: required or optional as ``records.FACTS`` says, with its
    range, and its meaning and unit as the schema's description."""
    described = {"description": f"{fact.meaning} ({fact.unit})"}
    if fact.choices:
        return str | None, Field(default=None, pattern=f"^({'|'.join(fact.choices)})$", **described)
    if fact.minimum is not None:
        described["gt" if fact.above_minimum else "ge"] = fact.minimum
    if fact.required:
        return float, Field(**described)
    if fact.default is not None:
        return float, Field(default=fact.default, **described)
    return float | None, Field(default=None, **described)


class _FactsBase(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    def row(self) -> dict:
        """The facts as the describer's table row: a fact left out is NaN (``zone``: None)."""
        values = self.model_dump()
        return {c: (math.nan if values[c] is None and c != "zone" else values[c]) for c in FACT_COLUMNS}


SegmentFacts = create_model(
    "SegmentFacts",
    __base__=_FactsBase,
    __doc__="""Kinematic facts of one segment, built from ``mousegpt.records.FACTS`` (units and
    ranges as defined there). The ones every behaviour decision uses are required; the others
    may be left out. NaN and infinities are refused (JSON's ``NaN``/``Infinity``, or a number too
    large for a double): a fact the client does not know is left out instead.""",
    **{fact.name: _fact_field(fact) for fact in FACTS},
)


class DescribeRequest(BaseModel):
    segments: list[SegmentFacts] = Field(min_length=1, max_length=MAX_SEGMENTS)


MAX_JSON_BYTES = MAX_SEGMENTS * 2048
"""Largest JSON body (2 MiB): 1,024 segments of facts at about 600 bytes each, with room to
spare. Refused before it is parsed."""


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 as soon as it passes ``limit`` bytes: by its declared
    length before anything is read, else while it streams in."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(status_code=413, detail=f"body of {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status_code=413, detail=f"body over {limit} bytes; the limit is {limit}")
    return bytes(body)


@serve.deployment(max_ongoing_requests=128)
class MouseGPT:
    """A describer replica. ``__call__`` takes one segment's facts (HTTP JSON clients; calls
    are gathered into batches); ``describe_packed`` takes a whole request of everything the
    model reads (``mousegpt.describe.wire``: facts, kinematic sequence, crops), as the
    pipeline's ``--model serve`` and binary HTTP clients send it."""

    def __init__(self, model: str = DEFAULT_MODEL):
        self.model = load_model(model)
        self._lock = threading.Lock()  # a model's ``warnings`` belong to its last call

    def info(self) -> dict:
        return {"name": self.model.name, "uses_crops": bool(getattr(self.model, "uses_crops", False))}

    def _describe(self, **arguments) -> tuple[list, list[str]]:
        with self._lock:
            return self.model.describe(**arguments), list(getattr(self.model, "warnings", []) or [])

    def describe_packed(self, body: bytes, kinematics: bytes | None = None) -> dict:
        if isinstance(kinematics, ray.ObjectRef):
            kinematics = ray.get(kinematics)
        try:
            arguments = wire.unpack(body, kinematics)
            descriptions, warnings = self._describe(**arguments)
        except InputError as exc:
            return {"error": str(exc)}
        except (
            KeyError,
            ValueError,
            IndexError,
        ) as exc:  # a table without a column the model reads, crops of another size
            return {
                "error": f"describe request does not fit the model {self.model.name} "
                f"({exc.__class__.__name__}: {exc})"
            }
        return {"descriptions": [wire.to_dict(d) for d in descriptions], "warnings": warnings}

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.005)
    async def describe_batch(self, rows: list[dict]) -> list[dict]:
        descriptions, _ = self._describe(facts=pd.DataFrame(rows, columns=list(FACT_COLUMNS)))
        # JSON clients get no motion embedding (384 numbers they have no use for).
        return [
            {k: v for k, v in wire.to_dict(d).items() if k != "motion"} | {"batch_size": len(rows)}
            for d in descriptions
        ]

    async def __call__(self, row: dict) -> dict:
        return await self.describe_batch(row)


HEALTH_PROBE = {
    "speed_mean_mm_s": 2.0,
    "speed_max_mm_s": 5.0,
    "body_length_mm": 80.0,
    "body_length_ratio": 0.95,
    "heading_change_deg": 0.0,
    "angular_speed_deg_s": 3.0,
    "head_speed_mm_s": 2.0,
    "head_motion_hz": 0.5,
}
"""A still mouse's facts: what ``/healthz`` asks the model to describe."""


# The ingress reserves no CPU: it waits on replicas and the catalogue, and a small cluster's
# cores stay free for the describer and for analyses that share it (``--model serve``).
@serve.deployment(ray_actor_options={"num_cpus": 0})
@serve.ingress(api)
class MouseGPTAPI:
    def __init__(self, describer, workspace: str, token_sha256: str | None = None):
        global _token_sha256
        _token_sha256 = token_sha256
        self.describer = describer
        self.workspace = Workspace(Path(workspace))
        self._searcher: Searcher | None = None
        # One thread per faiss search: Serve answers a batch of queries one after another, and
        # faiss's threads for a single query cost more than they save (measured on 2 cores).
        faiss.omp_set_num_threads(1)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        """200 when the model describes a segment and the catalogue's snapshot reads (or there
        is none yet: nothing analysed); 503 naming what failed."""
        try:
            answer = await self.describer.remote(SegmentFacts(**HEALTH_PROBE).row())
        except Exception as exc:
            raise HTTPException(
                status_code=503, detail=f"the model does not answer ({exc.__class__.__name__}: {exc})"
            ) from None
        catalogue = "none yet (nothing analysed)"
        if self.workspace.exists():
            try:
                snapshot = self.workspace.current()
                catalogue = f"{snapshot.sessions} session(s), {snapshot.segments} segment(s)"
            except MouseGPTError as exc:
                raise HTTPException(status_code=503, detail=self._redact(exc)) from None
        return {
            "status": "ok",
            "workspace": self.workspace.root.name,
            "model": answer["behavior"] is not None,
            "catalogue": catalogue,
        }

    @api.post(
        "/describe",
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": DescribeRequest.model_json_schema()},
                    "application/x-npz": {"schema": {"type": "string", "format": "binary"}},
                }
            }
        },
    )
    async def describe(self, request: Request) -> dict:
        """JSON ``{"segments": [facts, ...]}`` (facts alone), or an ``application/x-npz`` body
        of everything the model reads (``mousegpt.describe.wire``)."""
        if request.headers.get("content-type", "").split(";")[0].strip() == "application/x-npz":
            answer = await self.describer.describe_packed.remote(await _body(request, wire.MAX_BYTES))
            if "error" in answer:
                raise HTTPException(status_code=422, detail=answer["error"])
            return answer
        try:
            parsed = DescribeRequest.model_validate_json(await _body(request, MAX_JSON_BYTES))
        except ValidationError as exc:
            raise HTTPException(
                status_code=422,
                detail=exc.errors(include_url=False, include_context=False, include_input=False),
            ) from None
        # One call per segment: Serve batches them (with other clients' calls) in the replica.
        results = await asyncio.gather(*[self.describer.remote(s.row()) for s in parsed.segments])
        return {"descriptions": results}

    @api.get("/search")
    async def search(self, q: str, k: int = 10, condition: str | None = None) -> dict:
        if not q.strip():
            raise HTTPException(status_code=422, detail="q must not be empty")
        try:
            hits = await self._search_batch((q, max(1, min(k, 1000)), condition))
        except MouseGPTError as exc:  # no workspace yet, newer schema, catalogue unreadable
            raise HTTPException(status_code=503, detail=self._redact(exc)) from None
        return {"query": q, "hits": [_public(h) for h in hits]}

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def _search_batch(self, queries: list[tuple[str, int, str | None]]) -> list[list[Hit]]:
        """Concurrent queries, answered together: their texts embedded in one forward pass, one
        batch at a time (threads each running the text model would fight over the cores), off
        the event loop."""
        if self._searcher is None:
            self._searcher = Searcher(self.workspace, gpu=ray.get_gpu_ids() != [], background=True)
        return await asyncio.to_thread(self._searcher.search_many, queries)

    def _redact(self, exc: Exception) -> str:
        return str(exc).replace(str(self.workspace.root), self.workspace.root.name)


AUTOSCALING = {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 32}
"""The describer's autoscaling when ``serve/config.yaml`` (or the builder's args) says nothing."""


def describer_options(args: dict, gpus_in_cluster: float) -> dict:
    """The ``MouseGPT`` deployment's options from the builder's ``args``: a fixed ``replicas``
    count, or autoscaling between ``min_replicas`` and ``max_replicas`` replicas aiming at
    ``target_ongoing_requests`` per replica. A GPU per replica when the cluster has any and
    the model is learned (the rule-based describer gains nothing from one)."""
    model = args.get("model", DEFAULT_MODEL)
    gpus = 1 if model != "kinematic" and gpus_in_cluster >= 1 else 0
    options = {"ray_actor_options": {"num_cpus": 1, "num_gpus": gpus}}
    if "replicas" in args:
        return options | {"num_replicas": int(args["replicas"])}
    scaling = {k: type(v)(args.get(k, v)) for k, v in AUTOSCALING.items()}
    if not 1 <= scaling["min_replicas"] <= scaling["max_replicas"]:
        raise MouseGPTError(
            f"serve: need 1 <= min_replicas <= max_replicas, got {scaling['min_replicas']} and "
            f"{scaling['max_replicas']}"
        )
    return options | {"autoscaling_config": scaling}


def build_app(args: dict) -> serve.Application:
    """Application builder; ``args``: ``workspace`` (folder), ``model`` (describer), and either
    ``replicas`` or ``min_replicas``/``max_replicas``/``target_ongoing_requests`` (autoscaling,
    the default; see ``describer_options``); ``token_sha256`` (``token_sha256(TOKEN)``) asks
    every request for that token, as does ``$MOUSEGPT_TOKEN`` set where the builder runs.

    A relative workspace is resolved where the builder runs: with ``serve run config.yaml``
    on a cluster, give an absolute path (``GET /healthz`` shows the one in use).
    """
    workspace = str(workspace_path(args.get("workspace")).resolve())
    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    describer = MouseGPT.options(**describer_options(args, gpus)).bind(args.get("model", DEFAULT_MODEL))
    token = args.get("token_sha256") or (
        token_sha256(os.environ[TOKEN_ENV]) if os.environ.get(TOKEN_ENV) else None
    )
    return MouseGPTAPI.bind(describer, workspace, token)
