"""Ray Serve application: ``serve run serve.config.yaml`` or ``serve run serve.app:build_app workspace=DIR``.

- ``MouseGPT``: a describer replica; concurrent requests are gathered into batches
  (``@serve.batch``) before they reach the model. It asks for a GPU when the cluster has one.
- ``MouseGPTAPI``: the HTTP ingress. ``POST /describe`` takes kinematic facts and returns
  descriptions; ``GET /search?q=...&k=...&condition=...`` searches the workspace
  (read-only); ``GET /healthz``.
"""


import asyncio
import math
from pathlib import Path

import pandas as pd
import ray
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from ray import serve

from mousegpt.describe import load_model
from mousegpt.describe.model import DEFAULT_MODEL
from mousegpt.errors import MouseGPTError
from mousegpt.search import Searcher
from mousegpt.segments import FACT_COLUMNS
from mousegpt.store import Workspace, resolve

api = FastAPI(title="MouseGPT", description="Describe mouse behaviour from kinematic facts; search analysed videos.")


class SegmentFacts(BaseModel):
    """Kinematic facts of one segment (units as in ``mousegpt.segments``). The ones every
    behaviour decision uses are required; the others may be left out."""

    speed_mean_mm_s: float = Field(ge=0)
    speed_max_mm_s: float = Field(ge=0)
    body_length_mm: float = Field(gt=0)
    body_length_ratio: float = Field(gt=0)
    heading_change_deg: float
    angular_speed_deg_s: float = Field(ge=0)
    head_speed_mm_s: float = Field(ge=0)
    head_motion_hz: float = Field(ge=0)
    body_length_ratio_min: float | None = None
    displacement_mm: float | None = None
    head_yaw_std_deg: float | None = None
    head_yaw_abs_deg: float | None = None
    head_yaw_fast_deg: float | None = None
    immobile_fraction: float | None = None
    wall_distance_mm: float | None = None
    zone: str | None = Field(default=None, pattern="^(wall|centre|corner)$")
    visible_fraction: float = 1.0

    def row(self) -> dict:
        values = self.model_dump()
        return {c: (math.nan if values.get(c) is None and c != "zone" else values.get(c)) for c in FACT_COLUMNS}


class DescribeRequest(BaseModel):
    segments: list[SegmentFacts] = Field(min_length=1, max_length=1024)


@serve.deployment(max_ongoing_requests=128)
class MouseGPT:
    def __init__(self, model: str = DEFAULT_MODEL):
        self.model = load_model(model)

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.005)
    async def describe_batch(self, rows: list[dict]) -> list[dict]:
        descriptions = self.model.describe(pd.DataFrame(rows, columns=list(FACT_COLUMNS)))
        return [{"behavior": d.behavior, "probs": d.probs, "confidence": d.confidence, "uncertain": d.uncertain,
                 "description": d.fields(), "batch_size": len(rows)}
                for d in descriptions]

    async def __call__(self, row: dict) -> dict:
        return await self.describe_batch(row)


@serve.deployment
@serve.ingress(api)
class MouseGPTAPI:
    def __init__(self, describer, workspace: str):
        self.describer = describer
        self.workspace = Workspace(Path(workspace))
        self._searcher: Searcher | None = None

    @api.get("/healthz")
    def healthz(self) -> dict:
        return {"status": "ok", "workspace": str(self.workspace.root)}

    @api.post("/describe")
    async def describe(self, request: DescribeRequest) -> dict:
        # One call per segment: Serve batches them (with other clients' calls) in the replica.
        results = await asyncio.gather(*[self.describer.remote(s.row()) for s in request.segments])
        return {"descriptions": results}

    @api.get("/search")
    def search(self, q: str, k: int = 10, condition: str | None = None) -> dict:
        if not q.strip():
            raise HTTPException(status_code=422, detail="q must not be empty")
        if self._searcher is None:
            self._searcher = Searcher(self.workspace, gpu=ray.get_gpu_ids() != [])
        try:
            return self._searcher.search(q, k=max(1, min(k, 1000)), condition=condition)
        except MouseGPTError as exc:  # no workspace yet, newer schema, catalogue busy too long
            raise HTTPException(status_code=503, detail=str(exc)) from None


def build_app(args: dict) -> serve.Application:
    """Application builder; ``args``: ``workspace`` (folder), ``model`` (describer), ``replicas``.

    A relative workspace is resolved where the builder runs: with ``serve run config.yaml``
    on a cluster, give an absolute path (``GET /healthz`` shows the one in use).
    """
    workspace = str(resolve(args.get("workspace")).resolve())
    model = args.get("model", DEFAULT_MODEL)
    # The rule-based describer gains nothing from a GPU; learned backends get one when the cluster has any.
    gpus = 1 if model != "kinematic" and ray.is_initialized() and ray.cluster_resources().get("GPU", 0) >= 1 else 0
    describer = MouseGPT.options(
        num_replicas=int(args.get("replicas", 1)),
        ray_actor_options={"num_cpus": 1, "num_gpus": gpus},
    ).bind(model)
    return MouseGPTAPI.bind(describer, workspace)
