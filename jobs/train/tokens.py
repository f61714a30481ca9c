"""The decoder's vocabulary (``build_vocab``) and captions as padded token ids (``encode_tokens``)."""

from __future__ import annotations

import numpy as np

from mousegpt.describe import captions
from mousegpt.describe.tiny import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, caption_tokens, tokenize


def build_vocab(caption_sets: list[list[dict]]) -> list[str]:
    """Special tokens, then every token of every caption, in first-seen order."""
    vocab = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for wordings in [[captions.CAPTIONS[k][f] for f in captions.FIELDS] for k in captions.CAPTIONS]:
        for texts in wordings:
            for token in tokenize(" ".join(texts)) + ["<sep>"]:
                if token not in seen:
                    seen.add(token)
                    vocab.append(token)
    for sets in caption_sets:
        for fields in sets:
            for token in caption_tokens(fields):
                if token not in seen:
                    seen.add(token)
                    vocab.append(token)
    for zone in ("wall", "centre", "corner"):
        if zone not in seen:
            vocab.append(zone)
    return vocab


def encode_tokens(fields: dict, index: dict[str, int], length: int) -> np.ndarray:
    """A caption's token ids: BOS, its tokens (unknown ones as UNK, cut to fit), EOS, then PAD
    up to ``length``."""
    ids = [BOS] + [index.get(t, UNK) for t in caption_tokens(fields)][: length - 2] + [EOS]
    return np.asarray(ids + [PAD] * (length - len(ids)), np.int64)
