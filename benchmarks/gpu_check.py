"""GPU check: MouseGPT-tiny on CUDA against the CPU, and its speed by batch size. Prints one table.

    python benchmarks/gpu_check.py [--model DIR] [--segments 4096]

Runs on a machine with a GPU and only torch, transformers, numpy and pandas installed (with
``PYTHONPATH=platform``): the inputs are random but shaped and scaled as ``analyze`` makes them
(facts, kinematic sequences, crops), which is all agreement and speed need. Checks:

- the shipped checkpoint's behaviour probabilities and calibrated confidence (temperature
  scaling) on CUDA against the CPU, in fp32: the largest difference and the share of segments
  given the same behaviour;
- segments/s of the model alone (the three-view ensemble, no text) by batch size;
- segments/s of ``TinyDescriber.describe`` end to end on facts (behaviour, confidence and the
  five fields, with the text decoder), by batch size.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mousegpt.describe.model import WEIGHTS
from mousegpt.describe.tiny import TinyDescriber
from mousegpt.segments import FACT_COLUMNS


def inputs(n: int, config, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    crops = np.zeros((n, config.crop_frames, config.crop_size, config.crop_size), np.uint8)
    yy, xx = np.mgrid[:config.crop_size, :config.crop_size] - config.crop_size / 2
    body = ((xx / 20) ** 2 + (yy / 9) ** 2 < 1).astype(np.uint8)  # a mouse-sized ellipse
    crops[:] = body * rng.integers(40, 200, size=(n, config.crop_frames, 1, 1), dtype=np.uint8)
    return {"facts": torch.from_numpy(rng.normal(0, 0.5, (n, config.fact_dim)).astype(np.float32)),
            "sequence": torch.from_numpy(rng.normal(0, 0.5, (n, config.n_steps, config.sequence_dim)).astype(np.float32)),
            "crops": torch.from_numpy(crops)}


def probabilities(describer: TinyDescriber, x: dict, batch: int = 1024) -> np.ndarray:
    out = []
    temperature = getattr(describer.model.config, "probability_temperature", 1.0)
    with torch.inference_mode():
        for start in range(0, len(x["facts"]), batch):
            part = {k: v[start:start + batch].to(describer.device) for k, v in x.items()}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=WEIGHTS / "mousegpt-tiny")
    parser.add_argument("--segments", type=int, default=4096)
    args = parser.parse_args()
    rows = [("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device: CPU only")]
    cpu = TinyDescriber(args.model, device="cpu")
    x = inputs(args.segments, cpu.model.config)
    p_cpu = probabilities(cpu, x)
    rows.append(("probability temperature", f"{getattr(cpu.model.config, 'probability_temperature', 1.0):.3f}"))
    if torch.cuda.is_available():
        gpu = TinyDescriber(args.model, device="cuda")
        p_gpu = probabilities(gpu, x)
        rows += [("max |probability CUDA - CPU|", f"{np.abs(p_gpu - p_cpu).max():.2e}"),
                 ("max |confidence CUDA - CPU|", f"{np.abs(p_gpu.max(1) - p_cpu.max(1)).max():.2e}"),
                 ("same behaviour on CUDA and CPU", f"{np.mean(p_gpu.argmax(1) == p_cpu.argmax(1)):.2%}")]
    describer = gpu if torch.cuda.is_available() else cpu
    for batch in (256, 1024, 4096):
        n = min(batch, args.segments)
        rows.append((f"model alone, batch {batch}: segments/s",
                     f"{rate(lambda: probabilities(describer, {k: v[:n] for k, v in x.items()}, batch), n):,.0f}"))
    facts = facts_table(args.segments)
    for batch in (256, 2048):
        describer.batch_size = batch
        rows.append((f"describe() end to end on facts, batch {batch}: segments/s",
                     f"{rate(lambda: describer.describe(facts), len(facts), repeats=1):,.0f}"))
    width = max(len(k) for k, _ in rows)
    print(f"| {'check'.ljust(width)} | result |\n|{'-' * (width + 2)}|--------|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")


if __name__ == "__main__":
    main()
