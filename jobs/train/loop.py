"""The training loop (``train_loop``), one per worker: in this process, or on each Ray Train
worker (``ray_train``)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from jobs.train.config import TrainConfig
from jobs.train.deepspeed_config import deepspeed_config
from jobs.train.evaluate import evaluate
from jobs.train.tensors import batch_tensors
from mousegpt.describe.tiny import MouseGPTTiny, MouseGPTTinyConfig, in_dtype


def train_loop(loop_config: dict) -> None:
    """The training loop, one per worker: DeepSpeed over a torch.distributed group (gloo on CPU,
    nccl on GPU); rank 0 evaluates and writes the checkpoint."""
    import deepspeed  # seconds to import: only where the loop runs

    in_ray = loop_config.get("in_ray", False)
    if in_ray:
        # Ray forwards a worker's stdout to the driver's stdout, which carries the --json
        # document: this worker's output (progress, DeepSpeed's logs) goes to stderr instead.
        sys.stdout.flush()
        os.dup2(2, 1)
    config = TrainConfig(**loop_config["config"])
    arrays = loop_config["arrays"]
    if not isinstance(arrays, dict):  # a Ray object reference
        import ray

        arrays = ray.get(arrays)
    if in_ray:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        rank, world = context.get_world_rank(), context.get_world_size()
        device = ray.train.torch.get_device()
    else:
        rank, world = 0, 1
        device = torch.device("cuda" if config.gpu and torch.cuda.is_available() else "cpu")
        if not dist.is_initialized():
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(29_500 + os.getpid() % 1000))
            os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
            dist.init_process_group("gloo", rank=0, world_size=1)
    torch.set_num_threads(max(1, loop_config.get("threads_per_worker", config.threads)))
    torch.manual_seed(config.seed)
    model = MouseGPTTiny(MouseGPTTinyConfig(**loop_config["model_config"])).to(device)
    train_rows, val_rows = loop_config["train_rows"], loop_config["val_rows"]
    mine = np.asarray(train_rows)[rank::world]
    steps_per_epoch = max(1, len(mine) // max(1, config.batch_size // world))
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        model_parameters=model.parameters(),
        config=deepspeed_config(config, steps_per_epoch * config.epochs, world),
        dist_init_required=False,
    )
    rng = np.random.default_rng(config.seed + rank)
    micro = engine.train_micro_batch_size_per_gpu()
    history = []
    for epoch in range(config.epochs):
        engine.train()
        order = rng.permutation(mine)
        totals: dict[str, float] = {}
        started = time.perf_counter()
        for step in range(steps_per_epoch):
            rows = order[step * micro : (step + 1) * micro]
            batch = batch_tensors(arrays, rows, device, rng)
            if config.gpu:
                batch = in_dtype(batch, torch.bfloat16)
            output = engine(**batch)
            engine.backward(output.loss)
            engine.step()
            for name, value in output.losses.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / steps_per_epoch
        record = {
            "epoch": epoch + 1,
            "seconds": round(time.perf_counter() - started, 1),
            **{k: round(v, 4) for k, v in totals.items()},
        }
        if rank == 0 and len(val_rows):
            record["val_macro_f1"] = round(
                evaluate(engine.module, arrays, np.asarray(val_rows), device)[0], 4
            )
        history.append(record)
        if rank == 0:
            print(json.dumps(record), file=sys.stderr, flush=True)
    if rank == 0:
        model = engine.module.float().cpu()
        model.save_pretrained(config.out, safe_serialization=True)
        Path(config.out, "training_log.json").write_text(json.dumps(history, indent=1))
