"""MouseGPT-tiny as a describer backend (``--model mousegpt-tiny``, ``--model tiny:/path``).

``TinyDescriber`` runs a MouseGPT-tiny checkpoint (the network: ``tiny_network``; what it
reads and writes: ``tiny_features``) over segments and turns its outputs into descriptions
checked against the facts. This module imports neither torch nor transformers until a
checkpoint is loaded, so registering the backend (``import mousegpt.describe``) stays cheap.
The names of ``tiny_features`` and ``tiny_network`` are importable from here as they were
when all three were one module; the network's are imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mousegpt.describe import captions
from mousegpt.describe.kinematic import describe_one, measurable, not_described, write
from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS, Description, mark_uncertain, register_describer
from mousegpt.describe.prompt import categories, contradictions
from mousegpt.describe.tiny_features import (
    BOS,
    EOS,
    FACT_FEATURES,
    PAD,
    SEP,
    SEQUENCE_FEATURES,
    SPECIAL_TOKENS,
    UNK,
    caption_tokens,
    detokenize,
    fact_features,
    sequence_features,
    tokenize,
)
from mousegpt.errors import MouseGPTError
from mousegpt.vocabulary import BEHAVIORS

if TYPE_CHECKING:
    from mousegpt.describe.tiny_network import MouseGPTTiny, MouseGPTTinyConfig, MouseGPTTinyOutput, in_dtype
    from mousegpt.segments import Window

__all__ = [
    "BOS",
    "EOS",
    "FACT_FEATURES",
    "PAD",
    "SEP",
    "SEQUENCE_FEATURES",
    "SPECIAL_TOKENS",
    "UNK",
    "MouseGPTTiny",
    "MouseGPTTinyConfig",
    "MouseGPTTinyOutput",
    "TinyDescriber",
    "caption_tokens",
    "detokenize",
    "fact_features",
    "in_dtype",
    "load_checkpoint",
    "load_shipped",
    "sequence_features",
    "tokenize",
]

NETWORK = ("MouseGPTTiny", "MouseGPTTinyConfig", "MouseGPTTinyOutput", "in_dtype")
"""Names of ``tiny_network`` this module hands on, importing torch when one is first used."""


def __getattr__(name: str):
    """A name of ``tiny_network`` (one of NETWORK), imported on first use (PEP 562)."""
    if name in NETWORK:
        from mousegpt.describe import tiny_network

        return getattr(tiny_network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TinyDescriber:
    """Describes segments with a MouseGPT-tiny checkpoint, in batches; on a GPU when there is one."""

    uses_crops = True

    def __init__(
        self, path: str | Path, device: str | None = None, batch_size: int = 256, ensemble: bool = True
    ):
        import torch
        from transformers.utils import logging as hf_logging

        from mousegpt.describe.tiny_network import MouseGPTTiny

        hf_logging.disable_progress_bar()
        self.model = MouseGPTTiny.from_pretrained(str(path)).eval()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        self.batch_size = batch_size
        self.ensemble = ensemble
        self.name = f"mousegpt-tiny:{Path(path).name}"
        self.warnings: list[str] = []

    def describe(
        self,
        facts: pd.DataFrame,
        kinematics: pd.DataFrame | None = None,
        crops: np.ndarray | None = None,
        windows: list[Window] | None = None,
    ) -> list[Description]:
        """One description per row of ``facts``. ``kinematics`` (per frame, with the
        ``windows`` the facts were computed over) and ``crops`` (segment, frame, y, x) are
        optional.
        """
        import torch

        config = self.model.config
        self.warnings = []
        fact_x = fact_features(facts)
        seq_x = (
            sequence_features(kinematics, windows, config.n_steps)
            if kinematics is not None and windows
            else None
        )
        probs, motion, generated = [], [], []
        for start in range(0, len(facts), self.batch_size):
            part = slice(start, start + self.batch_size)
            f = torch.from_numpy(fact_x[part]).to(self.device)
            s = torch.from_numpy(seq_x[part]).to(self.device) if seq_x is not None else None
            c = torch.from_numpy(crops[part]).to(self.device) if crops is not None else None
            with torch.inference_mode():
                logits, m = self._encode(f, s, c)
                generated += self.model.generate_tokens(m, logits, f)
            probs.append(
                (logits / getattr(config, "probability_temperature", 1.0)).softmax(-1).float().cpu().numpy()
            )
            motion.append(m.float().cpu().numpy())
        if not len(facts):
            return []
        return self._descriptions(facts, np.concatenate(probs), np.concatenate(motion), generated)

    def _descriptions(
        self, facts: pd.DataFrame, probs: np.ndarray, motion: np.ndarray, generated: list[list[int]]
    ) -> list[Description]:
        """The model's outputs as descriptions. What costs per segment is only what differs
        per segment (numbers filled in, one dataclass): decoding the tokens, tidying the
        wording and checking it against the facts' categories are done once per distinct
        generated sequence (a few hundred in a session of thousands of segments).
        """
        config = self.model.config
        behaviors = list(config.behaviors)
        adapted = getattr(config, "adapted", None) or {}
        rows = facts.to_dict("records")
        best = probs.argmax(1)
        wordings: dict[tuple, dict] = {}  # token ids -> the five fields, slots unfilled
        checked: dict[tuple, list[str]] = {}  # (token ids, categories) -> the claims the facts rule out
        out: list[Description] = []
        for i, (row, ok, ids) in enumerate(zip(rows, measurable(facts), generated)):
            if not ok:  # not visible or not measured: nothing to describe
                out.append(not_described(row))
                continue
            p = dict(zip(behaviors, probs[i].tolist()))
            behavior = behaviors[best[i]]
            if behavior in adapted:
                out.append(mark_uncertain(self._adapted(behavior, adapted[behavior], row, p, motion[i])))
                continue
            key = tuple(ids)
            if key not in wordings:
                wordings[key] = detokenize([config.vocab[t] for t in ids])
            where = captions.place(row.get("zone"))
            values = captions.slot_values(row)
            fields = {k: captions.template(v, where).format_map(values) for k, v in wordings[key].items()}
            keywords = [k.strip() for k in fields.pop("keywords").split(",") if k.strip()]
            text = {**fields, "keywords": keywords}
            known = categories(row)
            # Filled-in numbers hold no words, so what the wording claims against the facts
            # depends on the wording and the facts' categories only.
            claim = (key, known["pace"], known["posture"], known["zone"])
            if claim not in checked:
                checked[claim] = contradictions(text, row, known)
            problems = checked[claim]
            if problems or not all(fields.values()):
                why = "; ".join(problems) if problems else "an empty field"
                self.warnings.append(
                    f"segment {i}: the generated description {why}; kept the facts-only description"
                )
                out.append(
                    mark_uncertain(
                        Description(
                            behavior,
                            p,
                            *self._facts_only(behavior, row),
                            motion=motion[i],
                            confidence=p[behavior],
                        )
                    )
                )
                continue
            out.append(
                mark_uncertain(
                    Description(
                        behavior,
                        p,
                        fields["overall"],
                        fields["head"],
                        fields["limbs"],
                        fields["torso"],
                        keywords,
                        motion=motion[i],
                        confidence=p[behavior],
                    )
                )
            )
        return out

    def _encode(self, facts, sequence, crops):
        """Logits and motion embedding, averaged over the views of the input the model was
        trained to read alone (all of it, without crops, facts only; each present one once).
        One view's quirks then count for a third: crops of real arenas and another pose
        estimator's kinematics differ from the synthetic ones in ways a single view over-reads.
        """
        import torch

        views = [(sequence, crops)]
        if self.ensemble:
            views += [(sequence, None)] if crops is not None and sequence is not None else []
            views += [(None, None)] if crops is not None or sequence is not None else []
        encoded = [self.model.encode(facts, s, c) for s, c in views]
        probs = torch.stack([logits.softmax(-1) for logits, _ in encoded]).mean(0)
        motion = torch.nn.functional.normalize(torch.stack([m for _, m in encoded]).mean(0), dim=-1)
        return probs.clamp(min=1e-12).log(), motion

    @staticmethod
    def _grounded(row: dict) -> Description:
        """The rule-based describer's own description of one measurable segment, unmarked."""
        return describe_one(row)

    @classmethod
    def _facts_only(cls, behavior: str, row: dict) -> tuple:
        """The rule-based wording of ``behavior`` filled from the facts, or, when even that
        contradicts them, the rule-based describer's own description.
        """
        overall, head, limbs, torso, keywords = write(behavior, row)
        fields = {"overall": overall, "head": head, "limbs": limbs, "torso": torso, "keywords": keywords}
        return (
            tuple(fields.values())
            if not contradictions(fields, row)
            else tuple(cls._grounded(row).fields().values())
        )

    @classmethod
    def _adapted(cls, behavior: str, spec: dict, row: dict, p: dict, motion: np.ndarray) -> Description:
        """A class a lab added (``mousegpt adapt``), named in its description: the overall sentence
        is the lab's own wording of it, or "The mouse shows <name>." followed by the facts-only
        wording of the core behaviour it specialises; head, limbs and torso are that wording's
        (the rule-based describer's, when there is no parent or the wording contradicts the
        facts); the keywords start with the name.
        """
        parent, said = spec.get("parent"), spec.get("description")
        fields = None
        if parent in BEHAVIORS:
            overall, head, limbs, torso, keywords = write(parent, row)
            fields = {"overall": overall, "head": head, "limbs": limbs, "torso": torso, "keywords": keywords}
            if contradictions(fields, row):
                fields = None
        named = said or f"The mouse shows {behavior}." + (f" {fields['overall']}" if fields else "")
        source = fields or cls._grounded(row).fields()
        keywords = list(dict.fromkeys([behavior, *source["keywords"]]))
        return Description(
            behavior,
            p,
            named,
            source["head"],
            source["limbs"],
            source["torso"],
            keywords,
            motion=motion,
            confidence=p[behavior],
        )


@register_describer("tiny", argument="required", usage="tiny:/path")
def load_checkpoint(path: str | Path) -> TinyDescriber:
    """The describer of ``--model tiny:PATH``: a MouseGPT-tiny checkpoint you trained.

    Parameters
    ----------
    path
        The checkpoint's folder (``mousegpt train`` or ``mousegpt adapt`` wrote it).

    Returns
    -------
    TinyDescriber
        The checkpoint, loaded; on a GPU when there is one.

    Raises
    ------
    MouseGPTError
        If the folder holds no ``config.json``.
    """
    path = Path(path)
    if not (path / "config.json").exists():
        raise MouseGPTError(
            f"{path}: no MouseGPT-tiny checkpoint here (no config.json); train one with `mousegpt train`"
        )
    return TinyDescriber(path)


@register_describer(DEFAULT_MODEL)
def load_shipped() -> TinyDescriber:
    """The describer of ``--model mousegpt-tiny``: the checkpoint shipped in ``WEIGHTS``.

    Returns
    -------
    TinyDescriber
        The shipped checkpoint, loaded (``load_checkpoint``).
    """
    return load_checkpoint(WEIGHTS / DEFAULT_MODEL)
