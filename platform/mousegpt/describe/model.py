"""The describer interface every MouseGPT backend implements, and the backend registry.

A backend turns segments into a five-field description (overall, head, limbs, torso,
keywords) and probabilities over the core vocabulary, in the vocabulary's order. Every
backend reads the kinematic facts (``mousegpt.segments.FACT_COLUMNS``); the learned ones
also read the per-frame kinematics and the segments' crops (``mousegpt.crops``) when given.

``load_model`` finds a describer by name in ``DESCRIBERS``. This module imports no backend:
each backend module registers its describers with ``@register_describer(name)`` when it is
imported, and the package (``mousegpt.describe``) imports every backend module, so the
registry is full wherever ``load_model`` can be imported from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar, get_args

import numpy as np
import pandas as pd

from mousegpt.errors import MouseGPTError


@dataclass
class Description:
    """One segment's description: its behaviour, the probabilities and the five text fields."""

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
    """What every describer is: a name, whether it reads crops, and ``describe``."""

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

Argument = Literal["none", "optional", "required"]
"""Whether a describer's spec takes an argument after its name and a ``:``."""
Builder = TypeVar("Builder", bound=Callable[..., BehaviorModel])


@dataclass(frozen=True)
class Registered:
    """One describer of the registry: how a model spec names it and what builds it."""

    name: str
    """What a spec starts with: ``kinematic``, ``hf`` in ``hf:/path``."""
    build: Callable[..., BehaviorModel]
    """Called with no argument, or with the text after the spec's first ``:``."""
    argument: Argument
    """Whether a spec gives ``build`` that text: never, when it has one, or always."""
    usage: str
    """How a spec is written, as the error for an unknown one lists it (``serve[:APP]``)."""

    def load(self, argument: str | None) -> BehaviorModel:
        """The describer, built with ``argument`` (None: the spec had no ``:``).

        Parameters
        ----------
        argument
            The text after the spec's first ``:``, or None when it has none.

        Returns
        -------
        BehaviorModel
            What ``build`` returns.
        """
        return self.build() if argument is None else self.build(argument)


DESCRIBERS: dict[str, Registered] = {}
"""The describers ``load_model`` knows, by name. Each backend module registers its own with
``register_describer`` when it is imported, and ``mousegpt.describe`` imports them all."""


def register_describer(
    name: str, *, argument: Argument = "none", usage: str | None = None
) -> Callable[[Builder], Builder]:
    """A decorator that registers a describer under ``name``, for ``load_model``.

    Parameters
    ----------
    name
        The name a model spec starts with, without ``:``.
    argument
        Whether the spec takes the text after ``name:``: ``none`` (``kinematic``), ``optional``
        (``serve`` or ``serve:APP``) or ``required`` (``hf:/path``). Any other spec that starts
        with ``name`` is refused as unknown.
    usage
        How the spec is written, for the error that lists the describers (``hf:/path``);
        ``name``, ``name[:ARG]`` or ``name:ARG`` by default.

    Returns
    -------
    Callable
        A decorator that registers what it decorates and returns it unchanged: a class or a
        function that builds the describer, called with no argument or with the text after
        ``name:``.

    Raises
    ------
    ValueError
        If ``name`` holds a ``:``, ``argument`` is none of the three, or another describer is
        registered under ``name`` already.

    Examples
    --------
    >>> @register_describer("echo", argument="optional", usage="echo[:TEXT]")
    ... class EchoDescriber: ...
    """
    if ":" in name or not name:
        raise ValueError(f"a describer's name is not empty and holds no ':', unlike {name!r}")
    if argument not in get_args(Argument):
        raise ValueError(f"argument={argument!r}; use one of {', '.join(get_args(Argument))}")
    usage = usage or {"none": name, "optional": f"{name}[:ARG]", "required": f"{name}:ARG"}[argument]

    def register(build: Builder) -> Builder:
        known = DESCRIBERS.get(name)
        if known is not None and _qualified(known.build) != _qualified(build):
            raise ValueError(f"a describer named {name!r} is registered already ({_qualified(known.build)})")
        DESCRIBERS[name] = Registered(name, build, argument, usage)
        return build

    return register


def _qualified(build: Callable) -> str:
    """``module.name`` of a builder: the same one registered again (a module reloaded) is no clash."""
    return f"{build.__module__}.{build.__qualname__}"


def load_model(spec: str = DEFAULT_MODEL) -> BehaviorModel:
    """A describer by its model spec, ``NAME`` or ``NAME:ARGUMENT``, from the registered ones.

    Parameters
    ----------
    spec
        ``mousegpt-tiny`` (the shipped learned model), ``tiny:/path`` (a MouseGPT-tiny
        checkpoint you trained), ``kinematic`` (rules over the facts, no weights),
        ``hf:/path/to/checkpoint`` (a local transformers vision-language model; options after
        ``?``: ``dtype`` (bf16 on a GPU, fp32 on CPU by default), ``batch_size`` (32 on a GPU, 4
        on CPU), ``max_new_tokens``, e.g. ``hf:/models/llava?dtype=fp16&batch_size=64``), or
        ``serve[:APP]`` (the replicas of a running MouseGPT Serve application, ``mousegpt`` by
        default, on the Ray cluster this process is connected to); or any name a
        ``register_describer`` added.

    Returns
    -------
    BehaviorModel
        The describer, built by its backend.

    Raises
    ------
    MouseGPTError
        If no describer is registered under the spec's name, or the spec gives an argument to
        one that takes none or none to one that needs it: the message lists how each
        registered describer is written. The backends raise it too (no checkpoint at a path).
    """
    name, colon, argument = spec.partition(":")
    known = DESCRIBERS.get(name)
    misused = known is not None and known.argument == ("none" if colon else "required")
    if known is None or misused:
        hint = f" (write {known.usage})" if misused else ""
        available = ", ".join(sorted(d.usage for d in DESCRIBERS.values()))
        raise MouseGPTError(f"unknown model {spec!r}{hint}; available: {available}")
    return known.load(argument if colon else None)
