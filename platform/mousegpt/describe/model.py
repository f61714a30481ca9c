"""The describer interface every MouseGPT backend implements, and the backend registry.

A backend turns segments into a five-field description (overall, head, limbs, torso,
keywords) and probabilities over the core vocabulary, in the vocabulary's order. Every
backend reads the kinematic facts (``mousegpt.segments.FACT_COLUMNS``); the learned ones
also read the per-frame kinematics and the segments' crops (``mousegpt.crops``) when given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from mousegpt.errors import MouseGPTError


@dataclass
class Description:
    behavior: str | None
    """Most probable core behaviour; None when the mouse was not visible."""
    probs: dict[str, float]
    overall: str
    head: str
    limbs: str
    torso: str
    keywords: list[str] = field(default_factory=list)
    motion: np.ndarray | None = field(default=None, repr=False)
    """Unit motion embedding in the text embedder's space, from models that learn one."""
    confidence: float | None = None
    """Probability that ``behavior`` is right: the largest of ``probs``, calibrated where the
    model was (MouseGPT-tiny: temperature scaling on held-out synthetic sessions). None when
    there is no behaviour."""

    @property
    def uncertain(self) -> bool:
        """Whether the behaviour is more likely wrong than right (``is_uncertain``)."""
        return is_uncertain(self.confidence)

    def fields(self) -> dict:
        """The five description fields, as stored and returned by search."""
        return {k: getattr(self, k) for k in ("overall", "head", "limbs", "torso", "keywords")}

    def text(self) -> str:
        """One passage for the text embedder."""
        return " ".join(
            [self.overall, self.head, self.limbs, self.torso, "Keywords: " + ", ".join(self.keywords) + "."]
        )


UNCERTAIN_BELOW = 0.5
"""A segment whose calibrated confidence is below this is more likely wrong than right: its
description says it is uncertain, and counts, profiles and discovery leave it out by default."""


def is_uncertain(confidence: float | None, below: float = UNCERTAIN_BELOW) -> bool:
    """Whether a confidence is below ``below`` (an unknown confidence, None or NaN, is not)."""
    return confidence is not None and confidence == confidence and confidence < below


def mark_uncertain(description: Description) -> Description:
    """``description`` saying so when it is uncertain: its overall sentence is prefixed with the
    confidence and ``uncertain`` joins its keywords (search can find such moments).
    """
    if description.uncertain:
        description.overall = f"Uncertain ({description.confidence:.0%} sure): {description.overall}"
        description.keywords = [*description.keywords, "uncertain"]
    return description


class BehaviorModel(Protocol):
    name: str
    uses_crops: bool
    """Whether ``describe`` reads the segments' crops (worth cutting them from the video)."""
    warnings: list[str]
    """Per-segment problems of the last ``describe`` call (e.g. an answer that was replaced)."""

    def describe(
        self,
        facts: pd.DataFrame,
        kinematics: pd.DataFrame | None = None,
        crops: np.ndarray | None = None,
        windows: list | None = None,
    ) -> list[Description]:
        """One description per row of ``facts``, in order. ``kinematics`` is the per-frame
        table the facts were computed from over ``windows``; ``crops`` (segment, frame, y, x).
        """
        ...


WEIGHTS = Path(__file__).parent / "weights"
DEFAULT_MODEL = "mousegpt-tiny"
"""The checkpoint shipped in ``WEIGHTS``, trained by ``mousegpt train`` (see its model card)."""


def load_model(spec: str = DEFAULT_MODEL) -> BehaviorModel:
    """A describer by name: ``mousegpt-tiny`` (the shipped learned model), ``tiny:/path`` (a
    MouseGPT-tiny checkpoint you trained), ``kinematic`` (rules over the facts, no weights),
    or ``hf:/path/to/checkpoint`` (a local transformers vision-language model; options after
    ``?``: ``dtype`` (bf16 on a GPU, fp32 on CPU by default), ``batch_size`` (32 on a GPU, 4 on
    CPU), ``max_new_tokens``, e.g. ``hf:/models/llava?dtype=fp16&batch_size=64``), or
    ``serve[:APP]`` (the replicas of a running MouseGPT Serve application, ``mousegpt`` by
    default, on the Ray cluster this process is connected to).
    """
    if spec == "kinematic":
        from mousegpt.describe.kinematic import KinematicDescriber

        return KinematicDescriber()
    if spec == DEFAULT_MODEL or spec.startswith("tiny:"):
        from mousegpt.describe.tiny import TinyDescriber

        path = WEIGHTS / DEFAULT_MODEL if spec == DEFAULT_MODEL else Path(spec[5:])
        if not (path / "config.json").exists():
            raise MouseGPTError(
                f"{path}: no MouseGPT-tiny checkpoint here (no config.json); train one with `mousegpt train`"
            )
        return TinyDescriber(path)
    if spec == "serve" or spec.startswith("serve:"):
        from mousegpt.describe.served import DEFAULT_APP, ServedDescriber

        return ServedDescriber(spec[6:] or DEFAULT_APP)
    if spec.startswith("hf:"):
        from mousegpt.describe.hf import HFVisionLanguageDescriber, options

        path, kwargs = options(spec[3:])
        return HFVisionLanguageDescriber(path, **kwargs)
    raise MouseGPTError(
        f"unknown model {spec!r}; available: {DEFAULT_MODEL}, tiny:/path, kinematic, hf:/path/to/checkpoint, serve[:APP]"
    )
