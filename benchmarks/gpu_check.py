"""GPU check: one script a GPU machine runs in under 5 minutes. Prints one table.

    PYTHONPATH=platform python benchmarks/gpu_check.py [--model DIR] [--segments 4096]

Needs torch, transformers, numpy and pandas (faiss when installed): the inputs are random but
shaped and scaled as ``analyze`` makes them (facts, kinematic sequences, crops), which is all
agreement and speed need. Checks:

- bf16 training: MouseGPT-tiny in bf16 fed as ``mousegpt train --gpu`` feeds it (uint8 crops),
  AdamW steps on one batch; the step time and whether every loss fell;
- the shipped checkpoint's behaviour probabilities and calibrated confidence (temperature
  scaling) on CUDA against the CPU, in fp32: the largest difference and the share of segments
  given the same behaviour;
- segments/s of the model alone (the three-view ensemble, no text) by batch size, and of
  ``TinyDescriber.describe`` end to end on facts (behaviour, confidence and the five fields,
  with the text decoder), with the end-to-end rate over the model-alone rate;
- the ``hf:`` backend on a randomly initialised LLaVA-style model (built here, nothing is
  downloaded) in bf16: segments/s;
- FAISS on the GPU, when a GPU build is installed: the same neighbours as on the CPU.

Without a GPU every check runs on the CPU (``tests/benchmarks/test_gpu_check.py`` runs them small), so the
script is known to work before a GPU machine is borrowed for it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mousegpt.describe.model import WEIGHTS
from mousegpt.describe.tiny import (
    BOS,
    EOS,
    SPECIAL_TOKENS,
    MouseGPTTiny,
    MouseGPTTinyConfig,
    TinyDescriber,
    in_dtype,
)
from mousegpt.segments import FACT_COLUMNS


def inputs(n: int, config, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    crops = np.zeros((n, config.crop_frames, config.crop_size, config.crop_size), np.uint8)
    yy, xx = np.mgrid[: config.crop_size, : config.crop_size] - config.crop_size / 2
    body = ((xx / 20) ** 2 + (yy / 9) ** 2 < 1).astype(np.uint8)  # a mouse-sized ellipse
    crops[:] = body * rng.integers(40, 200, size=(n, config.crop_frames, 1, 1), dtype=np.uint8)
    return {
        "facts": torch.from_numpy(rng.normal(0, 0.5, (n, config.fact_dim)).astype(np.float32)),
        "sequence": torch.from_numpy(
            rng.normal(0, 0.5, (n, config.n_steps, config.sequence_dim)).astype(np.float32)
        ),
        "crops": torch.from_numpy(crops),
    }


def probabilities(describer: TinyDescriber, x: dict, batch: int = 1024) -> np.ndarray:
    out = []
    temperature = getattr(describer.model.config, "probability_temperature", 1.0)
    with torch.inference_mode():
        for start in range(0, len(x["facts"]), batch):
            part = {k: v[start : start + batch].to(describer.device) for k, v in x.items()}
            logits, _ = describer._encode(part["facts"], part["sequence"], part["crops"])
            out.append((logits / temperature).softmax(-1).float().cpu().numpy())
    return np.concatenate(out)


def facts_table(n: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({c: rng.uniform(0, 1, n) for c in FACT_COLUMNS if c != "zone"})
    table["speed_mean_mm_s"] *= 150
    table["speed_max_mm_s"] = table["speed_mean_mm_s"] * 1.5
    table["body_length_mm"] = 60 + 40 * table["body_length_mm"]
    table["body_length_ratio"] = 0.6 + 0.4 * table["body_length_ratio"]
    table["visible_fraction"] = 1.0
    table["zone"] = rng.choice(["wall", "centre", "corner"], n)
    return table[list(FACT_COLUMNS)]


def rate(fn, n: int, repeats: int = 3) -> float:
    fn()  # warm-up
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return n / best


def bf16_training(device: str, steps: int = 20, batch: int = 256) -> list[tuple[str, str]]:
    """MouseGPT-tiny (shipped size, fresh weights) in bf16, fed as the GPU training loop feeds
    it, for ``steps`` AdamW steps on one batch: ms per step and whether every loss fell."""
    config = MouseGPTTinyConfig.from_pretrained(WEIGHTS / "mousegpt-tiny")
    torch.manual_seed(0)
    model = MouseGPTTiny(config).to(device, torch.bfloat16).train()
    x = inputs(batch, config)
    n_tokens = len(config.vocab)
    g = torch.Generator().manual_seed(1)
    labels = torch.randint(0, len(config.behaviors), (batch,), generator=g)
    texts = torch.randn(len(config.behaviors), config.text_dim, generator=g)  # one description per behaviour
    feed = {
        **x,
        "labels": labels,
        "caption_groups": labels,
        "text_embeddings": texts[labels],
        "tokens": torch.cat(
            [
                torch.full((batch, 1), BOS),
                torch.randint(len(SPECIAL_TOKENS), n_tokens, (batch, 20), generator=g),
                torch.full((batch, 1), EOS),
            ],
            dim=1,
        ),
    }
    feed = {k: v.to(device) for k, v in in_dtype(feed, torch.bfloat16).items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    with torch.no_grad():
        first = {k: float(v) for k, v in model(**feed).losses.items()}
    started = _synced(device)
    for _ in range(steps):
        optimizer.zero_grad()
        model(**feed).loss.backward()
        optimizer.step()
    step_ms = (_synced(device) - started) / steps * 1000
    with torch.no_grad():
        last = {k: float(v) for k, v in model(**feed).losses.items()}
    fell = all(last[k] < first[k] for k in first) and all(np.isfinite(list(last.values())))
    return [
        (f"bf16 training, batch {batch}: ms per step", f"{step_ms:.1f}"),
        (
            f"bf16 training: every loss fell over {steps} steps",
            f"{'yes' if fell else 'NO'} " + ", ".join(f"{k} {first[k]:.2f} -> {last[k]:.2f}" for k in first),
        ),
    ]


def _synced(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter()


def agreement(model: Path, n: int) -> tuple[list[tuple[str, str]], TinyDescriber]:
    """The checkpoint on CUDA against the CPU (when there is CUDA); the describer to time."""
    cpu = TinyDescriber(model, device="cpu")
    rows = [("probability temperature", f"{getattr(cpu.model.config, 'probability_temperature', 1.0):.3f}")]
    if not torch.cuda.is_available():
        return rows, cpu
    x = inputs(n, cpu.model.config)
    p_cpu = probabilities(cpu, x)
    gpu = TinyDescriber(model, device="cuda")
    p_gpu = probabilities(gpu, x)
    rows += [
        ("max |probability CUDA - CPU|", f"{np.abs(p_gpu - p_cpu).max():.2e}"),
        ("max |confidence CUDA - CPU|", f"{np.abs(p_gpu.max(1) - p_cpu.max(1)).max():.2e}"),
        ("same behaviour on CUDA and CPU", f"{np.mean(p_gpu.argmax(1) == p_cpu.argmax(1)):.2%}"),
    ]
    return rows, gpu


def speeds(describer: TinyDescriber, n: int, batches=(256, 1024, 4096)) -> list[tuple[str, str]]:
    """Segments/s of the model alone and of ``describe`` end to end, by batch size."""
    x = inputs(n, describer.model.config)
    facts = facts_table(n)
    rows = []
    for batch in batches:
        m = min(batch, n)
        alone = rate(
            lambda m=m, batch=batch: probabilities(describer, {k: v[:m] for k, v in x.items()}, batch), m
        )
        describer.batch_size = batch
        whole = rate(lambda: describer.describe(facts), n, repeats=1)
        rows += [
            (f"model alone, batch {batch}: segments/s", f"{alone:,.0f}"),
            (
                f"describe() end to end on facts, batch {batch}: segments/s",
                f"{whole:,.0f} ({whole / alone:.0%} of the model alone)",
            ),
        ]
    return rows


def random_llava(path: Path, hidden: int = 32, layers: int = 1, image_size: int = 32) -> Path:
    """A LLaVA-style model (CLIP vision tower, Llama text model), randomly initialised, with a
    word-level tokenizer, saved as a checkpoint folder ``hf:`` loads: nothing is downloaded."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        AutoModelForImageTextToText,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = [
        "<unk>",
        "<pad>",
        "<s>",
        "</s>",
        "<image>",
        *'{}":,[]',
        "overall",
        "head",
        "limbs",
        "torso",
        "mouse",
        "walks",
    ]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
    )
    heads = max(2, hidden // 64)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            image_size=image_size,
            patch_size=8,
        ),
        text_config=LlamaConfig(
            vocab_size=len(words),
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
        ),
        image_token_index=words.index("<image>"),
    )
    AutoModelForImageTextToText.from_config(config).save_pretrained(path)
    LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    ).save_pretrained(path)
    return path


def hf_backend(n: int, hidden: int = 512, layers: int = 4, new_tokens: int = 32) -> list[tuple[str, str]]:
    """The ``hf:`` backend on a random LLaVA-style model, in its default dtype (bf16 on a GPU):
    segments/s describing ``n`` segments with 4 crops each, ``new_tokens`` generated per answer."""
    import tempfile

    from mousegpt.describe.hf import HFVisionLanguageDescriber

    with tempfile.TemporaryDirectory() as folder:
        describer = HFVisionLanguageDescriber(
            random_llava(Path(folder), hidden, layers, image_size=64), max_new_tokens=new_tokens
        )
        crops = inputs(n, MouseGPTTinyConfig.from_pretrained(WEIGHTS / "mousegpt-tiny"))["crops"].numpy()
        facts = facts_table(n)
        started = _synced(describer.device)
        described = describer.describe(facts, crops=crops)
        seconds = _synced(describer.device) - started
        dtype = str(describer.dtype).replace("torch.", "")
    assert len(described) == n
    return [
        (
            f"hf: random LLaVA ({hidden}-d, {layers} layers), {dtype}, "
            f"batch {describer.batch_size}: segments/s",
            f"{n / seconds:,.2f}",
        )
    ]


def faiss_gpu(n: int = 100_000, dim: int = 384, queries: int = 100) -> list[tuple[str, str]]:
    """FAISS on the GPU, when a GPU build is installed: exact inner-product search of ``queries``
    over ``n`` unit vectors, the share of top-10 neighbours it shares with the CPU's, and its rate."""
    try:
        import faiss
    except ImportError:
        return [("FAISS on GPU", "faiss is not installed")]
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return [("FAISS on GPU", "no GPU build or no GPU (faiss-cpu): skipped")]
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, dim)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    cpu = faiss.IndexFlatIP(dim)
    cpu.add(base)
    gpu = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, cpu)
    _, want = cpu.search(base[:queries], 10)
    started = time.perf_counter()
    _, got = gpu.search(base[:queries], 10)
    seconds = time.perf_counter() - started
    same = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got)])
    return [
        ("FAISS on GPU: top-10 shared with the CPU", f"{same:.2%}"),
        (f"FAISS on GPU: queries/s over {n:,} vectors", f"{queries / seconds:,.0f}"),
    ]


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(
        [
            f"| {'check'.ljust(width)} | result |",
            f"|{'-' * (width + 2)}|--------|",
            *(f"| {k.ljust(width)} | {v} |" for k, v in rows),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=WEIGHTS / "mousegpt-tiny")
    parser.add_argument("--segments", type=int, default=4096)
    parser.add_argument("--hf-segments", type=int, default=256)
    parser.add_argument("--small", action="store_true", help="tiny sizes, for a CPU smoke run")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    rows = [("device", torch.cuda.get_device_name(0) if cuda else "no CUDA device: CPU only")]
    rows += bf16_training(device, steps=10 if args.small else 20, batch=16 if args.small else 256)
    found, describer = agreement(args.model, args.segments)
    rows += found
    rows += speeds(describer, args.segments, (64,) if args.small else (256, 1024, 4096))
    rows += (
        hf_backend(args.hf_segments, hidden=32, layers=1, new_tokens=4)
        if args.small
        else hf_backend(args.hf_segments)
    )
    rows += faiss_gpu(2_000 if args.small else 100_000)
    print(table(rows))


if __name__ == "__main__":
    main()
