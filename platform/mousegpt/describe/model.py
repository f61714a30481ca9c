"""The describer interface every MouseGPT backend implements, and the backend registry.

A backend turns the kinematic facts of segments (see ``mousegpt.segments.FACT_COLUMNS``)
into a five-field description (overall, head, limbs, torso, keywords) and probabilities
over the core vocabulary, in the vocabulary's order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

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

    def fields(self) -> dict:
        """The five description fields, as stored and returned by search."""
        d = asdict(self)
        return {k: d[k] for k in ("overall", "head", "limbs", "torso", "keywords")}

    def text(self) -> str:
        """One passage for the text embedder."""
        return " ".join([self.overall, self.head, self.limbs, self.torso, "Keywords: " + ", ".join(self.keywords) + "."])


class BehaviorModel(Protocol):
    name: str

    def describe(self, facts: pd.DataFrame) -> list[Description]:
        """One description per row of ``facts``, in order."""
        ...


DEFAULT_MODEL = "kinematic"


def load_model(spec: str = DEFAULT_MODEL) -> BehaviorModel:
    """A describer by name: ``kinematic`` (rules over the facts, no weights), or
    ``hf:/path/to/checkpoint`` (a local transformers vision-language model)."""
    if spec == "kinematic":
        from mousegpt.describe.kinematic import KinematicDescriber

        return KinematicDescriber()
    if spec.startswith("hf:"):
        from mousegpt.describe.hf import HFVisionLanguageDescriber

        return HFVisionLanguageDescriber(spec[3:])
    raise MouseGPTError(f"unknown model {spec!r}; available: kinematic, hf:/path/to/checkpoint")
