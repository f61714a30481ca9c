"""The DeepSpeed configuration of a training run: AdamW, warmup then cosine, the ZeRO stage."""

from __future__ import annotations

from jobs.train.config import TrainConfig


def deepspeed_config(config: TrainConfig, steps: int, world_size: int) -> dict:
    """DeepSpeed's settings for ``steps`` optimiser steps on ``world_size`` workers: the batch
    split between them, AdamW, warmup (a tenth of the steps, at most 200) then cosine decay,
    ZeRO stage ``config.zero_stage``, gradients clipped at 1, bf16 on GPU."""
    micro = max(1, config.batch_size // world_size)
    return {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": 1,
        "optimizer": {
            "type": "AdamW",
            "params": {"lr": config.lr, "weight_decay": config.weight_decay, "torch_adam": True},
        },
        "scheduler": {
            "type": "WarmupCosineLR",
            "params": {"total_num_steps": max(steps, 2), "warmup_num_steps": min(200, max(1, steps // 10))},
        },
        "zero_optimization": {"stage": config.zero_stage},
        "gradient_clipping": 1.0,
        "steps_per_print": 10**9,
        "bf16": {"enabled": bool(config.gpu)},
    }
