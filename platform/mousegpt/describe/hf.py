"""Large-model backend: any local transformers vision-language checkpoint, prompted with the
prompt engine's facts (``--model hf:/path/to/checkpoint``).

The checkpoint is loaded with ``AutoProcessor`` and ``AutoModelForImageTextToText`` from the
local folder only (nothing is downloaded). Each segment's frames go in with its facts; the
answer must be one JSON object with the five description fields. An answer that cannot be
parsed, or that contradicts the facts (see ``prompt.contradictions``), is replaced by the
facts-only description and reported in ``warnings``. The behaviour and its probabilities
come from the facts (the kinematic rules), so a model's prose never changes what is counted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd

from mousegpt.describe.kinematic import KinematicDescriber
from mousegpt.describe.model import Description, mark_uncertain, register_describer
from mousegpt.describe.prompt import contradictions, prompt
from mousegpt.errors import MouseGPTError

FIELDS = ("overall", "head", "limbs", "torso")


def parse_answer(text: str) -> dict | None:
    """The five fields from a model's answer: the first JSON object in it that has string
    overall/head/limbs/torso and a keyword list (a string is split on commas); None if none.
    """
    for match in re.finditer(r"\{", text):
        try:
            candidate, _ = json.JSONDecoder().raw_decode(text[match.start() :])
        except ValueError:
            continue
        if not isinstance(candidate, dict) or not all(
            isinstance(candidate.get(f), str) and candidate[f].strip() for f in FIELDS
        ):
            continue
        keywords = candidate.get("keywords", [])
        if isinstance(keywords, str):
            keywords = [k.strip() for k in keywords.split(",")]
        if not isinstance(keywords, list):
            continue
        return {
            **{f: candidate[f].strip() for f in FIELDS},
            "keywords": [str(k).strip() for k in keywords if str(k).strip()],
        }
    return None


DTYPES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str):
    """The torch dtype called ``name`` (one of DTYPES; ``bf16``, ``fp16``, ``fp32`` too)."""
    import torch

    name = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(name, name)
    if name not in DTYPES:
        raise MouseGPTError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def options(spec: str) -> tuple[str, dict]:
    """A checkpoint path and the backend's options from ``/path?dtype=bf16&batch_size=32``
    (``--model hf:/path?...``).
    """
    path, _, query = spec.partition("?")
    known = {"dtype": str, "batch_size": int, "max_new_tokens": int}
    out = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in known:
            raise MouseGPTError(f"hf:{spec}: unknown option {key!r}; options: {', '.join(known)}")
        try:
            out[key] = known[key](value)
        except ValueError:
            raise MouseGPTError(f"hf:{spec}: {key} must be a whole number, not {value!r}") from None
    return path, out


class HFVisionLanguageDescriber:
    """Describes segments with a local vision-language checkpoint; one ``generate`` per batch."""

    uses_crops = True
    crops_per_segment = 4
    """Of a segment's crops, how many go to the model (evenly spread): each costs image tokens."""

    def __init__(
        self,
        path: str | Path,
        device: str | None = None,
        max_new_tokens: int = 160,
        batch_size: int | None = None,
        dtype: str | None = None,
    ):
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = Path(path)
        if not (path / "config.json").exists():
            raise MouseGPTError(f"{path}: not a transformers checkpoint folder (no config.json)")
        self.name = f"hf:{path}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        on_gpu = self.device.startswith("cuda")
        self.dtype = torch_dtype(dtype or ("bfloat16" if on_gpu else "float32"))
        try:
            self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
            self.model = (
                AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=self.dtype)
                .to(self.device)
                .eval()
            )
        except (OSError, ValueError) as exc:
            raise MouseGPTError(
                f"{path}: cannot load it as a vision-language model ({str(exc).splitlines()[0]})"
            ) from None
        self.image_token = getattr(self.processor, "image_token", "<image>")
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # a batch of prompts is generated on from their ends
        # A GPU keeps many prompts' key/value caches at once; a CPU gains little from more than a few.
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size or (32 if on_gpu else 4)
        self.facts_only = KinematicDescriber()
        self.warnings: list[str] = []

    def chat(self, prompt_text: str, n_images: int) -> str:
        """The text the model is given for one segment: the processor's chat template applied to
        a user turn of ``n_images`` images then the prompt, with the assistant's turn opened, when
        the checkpoint has a template (instruction-tuned models answer in their own format only
        when asked in it); else the images' tokens, a newline and the prompt.
        """
        if getattr(self.processor, "chat_template", None):
            content = [{"type": "image"}] * n_images + [{"type": "text", "text": prompt_text}]
            return self.processor.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
            )
        return self.image_token * n_images + "\n" + prompt_text

    def _generate(self, prompts: list[str], frames: list[list[np.ndarray]]) -> list[str]:
        import torch

        texts = [self.chat(p, len(images)) for p, images in zip(prompts, frames)]
        images = [image for segment in frames for image in segment]
        inputs = self.processor(images=images or None, text=texts, return_tensors="pt", padding=True).to(
            self.device
        )
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        return self.processor.batch_decode(
            output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True
        )

    def describe(
        self,
        facts: pd.DataFrame,
        kinematics: pd.DataFrame | None = None,
        crops: np.ndarray | None = None,
        windows: list | None = None,
        frames: list[list[np.ndarray]] | None = None,
    ) -> list[Description]:
        """One description per row of ``facts``. The images are ``frames`` (each segment's RGB
        frames, uint8 (height, width, 3)) or else ``crops_per_segment`` of its ``crops``
        (``mousegpt.crops``); with neither (pose-only input) the prompt goes alone.
        """
        grounded = self.facts_only.describe(facts)
        rows = facts.to_dict("records")
        if frames is None and crops is not None:
            pick = np.round(np.linspace(0, crops.shape[1] - 1, self.crops_per_segment)).astype(int)
            frames = [[np.repeat(c[..., None], 3, axis=-1) for c in segment[pick]] for segment in crops]
        frames = frames if frames is not None else [[] for _ in rows]
        self.warnings = []
        out = []
        for start in range(0, len(rows), self.batch_size):
            batch = [
                i
                for i in range(start, min(start + self.batch_size, len(rows)))
                if grounded[i].behavior is not None
            ]
            answers = (
                self._generate([prompt(rows[i]) for i in batch], [frames[i] for i in batch]) if batch else []
            )
            by_row = dict(zip(batch, answers))
            for i in range(start, min(start + self.batch_size, len(rows))):
                out.append(self._checked(i, rows[i], grounded[i], by_row.get(i)))
        return out

    def _checked(self, i: int, row: dict, grounded: Description, answer: str | None) -> Description:
        if answer is None:  # not visible or not measured: nothing to ask
            return grounded
        fields = parse_answer(answer)
        if fields is None:
            self.warnings.append(
                f"segment {i}: the model's answer is not the five-field JSON; kept the facts-only description"
            )
            return grounded
        problems = contradictions(fields, row)
        if problems:
            self.warnings.append(
                f"segment {i}: the model's answer {'; '.join(problems)}; kept the facts-only description"
            )
            return grounded
        return mark_uncertain(
            Description(
                grounded.behavior,
                grounded.probs,
                fields["overall"],
                fields["head"],
                fields["limbs"],
                fields["torso"],
                fields["keywords"],
                confidence=grounded.confidence,
            )
        )


@register_describer("hf", argument="required", usage="hf:/path/to/checkpoint")
def load_checkpoint(spec: str) -> HFVisionLanguageDescriber:
    """The describer of ``--model hf:SPEC``: a local checkpoint and its options (``options``).

    Parameters
    ----------
    spec
        ``/path/to/checkpoint``, optionally followed by ``?`` and options, e.g.
        ``/models/llava?dtype=fp16&batch_size=64``.

    Returns
    -------
    HFVisionLanguageDescriber
        The checkpoint, loaded (torch and transformers are imported only now).

    Raises
    ------
    MouseGPTError
        If an option is unknown or malformed, or the folder holds no loadable checkpoint.
    """
    path, kwargs = options(spec)
    return HFVisionLanguageDescriber(path, **kwargs)
