"""A describer that is a running MouseGPT Serve application (``--model serve[:APP]``).

The pipeline's describe stage sends each chunk of a session's segments, with everything the model reads
(facts, kinematic sequence, crops; ``describe.wire``), to the application's ``MouseGPT``
replicas through a DeploymentHandle. Batch analysis and interactive requests then share the
same autoscaled replicas, on the cluster's GPUs, and the pipeline's own workers hold no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mousegpt.describe.model import Description, register_describer
from mousegpt.errors import MouseGPTError

if TYPE_CHECKING:
    from mousegpt.segments import Window

DEPLOYMENT = "MouseGPT"
"""The describer deployment's name in the Serve application (``serve/app.py``)."""
DEFAULT_APP = "mousegpt"
REQUEST_SEGMENTS = 512
"""Segments per request: small enough that replicas interleave batch and interactive calls and
that autoscaling sees the load, large enough to fill a GPU batch."""


@register_describer("serve", argument="optional", usage="serve[:APP]")
class ServedDescriber:
    """Describes through the ``MouseGPT`` replicas of the Serve application ``app`` (DEFAULT_APP
    when empty) on the Ray cluster this process is connected to.
    """

    def __init__(self, app: str = DEFAULT_APP, timeout_s: float = 600.0):
        from ray import serve

        app = app or DEFAULT_APP
        self.timeout_s = timeout_s
        try:
            self.handle = serve.get_deployment_handle(DEPLOYMENT, app_name=app)
            info = self.handle.info.remote().result(timeout_s=60)
        except Exception as exc:
            raise MouseGPTError(
                f"no MouseGPT Serve application {app!r} answers on this Ray cluster "
                f"({exc.__class__.__name__}); start one with `mousegpt serve` on the same cluster"
            ) from None
        self.name = info["name"]
        self.uses_crops = bool(info["uses_crops"])
        self.warnings: list[str] = []

    def describe(
        self,
        facts: pd.DataFrame,
        kinematics: pd.DataFrame | None = None,
        crops: np.ndarray | None = None,
        windows: list[Window] | None = None,
    ) -> list[Description]:
        """As ``BehaviorModel.describe``; requests of REQUEST_SEGMENTS segments go out at once
        and are answered by whichever replicas are free.
        """
        import ray

        # Not at the top: registering this backend (`import mousegpt.describe`) loads no segment tables.
        from mousegpt.describe import wire

        # The session's kinematics go into the object store once; every request refers to them.
        shared = ray.put(wire.table_bytes(kinematics)) if kinematics is not None and windows else None
        pending = []
        for start in range(0, len(facts), REQUEST_SEGMENTS):
            stop = min(len(facts), start + REQUEST_SEGMENTS)
            body = wire.pack(
                facts.iloc[start:stop].reset_index(drop=True),
                None,
                None if crops is None else crops[start:stop],
                windows[start:stop] if shared else None,
            )
            pending.append(self.handle.describe_packed.remote(body, shared))
        descriptions, self.warnings = [], []
        for response in pending:
            answer = response.result(timeout_s=self.timeout_s)
            if "error" in answer:
                raise MouseGPTError(f"the MouseGPT Serve replica refused a request: {answer['error']}")
            descriptions += [wire.from_dict(d) for d in answer["descriptions"]]
            self.warnings += answer["warnings"]
        return descriptions
