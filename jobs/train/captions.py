"""Caption targets of the training segments: paraphrased five-field captions per segment for
the decoder (``build_captions``), and pools of captions embedded with all-MiniLM-L6-v2 as the
contrastive targets (``caption_embeddings``)."""

from __future__ import annotations

import numpy as np

from jobs.train.config import StageProgress
from mousegpt.describe import captions
from mousegpt.embed import TextEmbedder

CAPTIONS_PER_SEGMENT = 2
"""Decoder targets per segment (a step draws one)."""
TEXT_POOL = 48
"""Embedded captions per (caption key, zone) group: the contrastive targets."""


def build_captions(
    data: dict, seed: int, per_segment: int = CAPTIONS_PER_SEGMENT
) -> tuple[list[list[dict]], list[str]]:
    """``per_segment`` caption field sets per segment (slots filled from its facts for the
    text embedding, kept as slots for the decoder) and each segment's caption key."""
    rng = np.random.default_rng(seed)
    facts = data["facts"].to_dict("records")
    out, keys = [], []
    for i, f in enumerate(facts):
        label, variant = str(data["label"][i]), str(data["variant"][i])
        described = str(data["description"][i]) if "description" in data else ""
        key = captions.caption_key(label, variant) if label else "annotation"
        keys.append(key if not described else f"annotation:{described}")
        sets = []
        for _ in range(per_segment):
            fields = captions.sample(key, rng, f.get("zone")) if label else {n: "" for n in captions.FIELDS}
            if described:
                fields["overall"] = described
            sets.append(fields)
        out.append(sets)
    return out, keys


def caption_text(fields: dict, facts: dict) -> str:
    """A caption as one text: its first four fields with their slots filled from ``facts``, then
    its keywords."""
    return " ".join(
        [captions.fill(fields[n], facts) for n in captions.FIELDS[:4] if fields[n]]
        + (["Keywords: " + fields["keywords"] + "."] if fields["keywords"] else [])
    )


def caption_embeddings(
    data: dict,
    caption_sets: list[list[dict]],
    keys: list[str],
    seed: int,
    progress: StageProgress | None = None,
    pool: int = TEXT_POOL,
) -> tuple[np.ndarray, np.ndarray]:
    """Contrastive targets: for every (caption key, zone) among the segments, ``pool`` captions
    with their slots filled from the facts of random segments of that group, embedded with
    all-MiniLM-L6-v2; and each segment's group. A training step draws one of its group's
    captions, so a segment meets many wordings (embedding one caption per segment per epoch
    would cost more than the training). A segment with an annotator's description has it alone."""
    rng = np.random.default_rng(seed + 1)
    facts = data["facts"].to_dict("records")
    zones = [str(f.get("zone")) for f in facts]
    groups = sorted({(k, z) for k, z in zip(keys, zones)})
    group_index = {g: i for i, g in enumerate(groups)}
    members: dict[tuple, list[int]] = {}
    for i, g in enumerate(zip(keys, zones)):
        members.setdefault(g, []).append(i)
    texts = []
    for key, zone in groups:
        rows = members[(key, zone)]
        for _ in range(pool):
            i = int(rng.choice(rows))
            fields = (
                caption_sets[i][0]
                if key.startswith("annotation:")
                else captions.sample(key, rng, facts[i].get("zone"))
            )
            texts.append(caption_text(fields, facts[i]))
    embedder = TextEmbedder(batch_size=128)
    chunks = []
    for start in range(0, len(texts), 512):
        chunks.append(embedder(texts[start : start + 512]))
        if progress:
            progress("embedding captions", min(start + 512, len(texts)), len(texts))
    text = np.concatenate(chunks).reshape(len(groups), pool, -1).astype(np.float32)
    return text, np.asarray([group_index[g] for g in zip(keys, zones)], np.int64)
