"""``train_loop`` on ``config.workers`` Ray Train workers (``train_on_ray``): gloo on CPU
workers, nccl on GPU workers."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from jobs.train.config import TrainConfig
from jobs.train.loop import train_loop
from mousegpt.ray_connection import connect


def train_on_ray(loop_config: dict, arrays: dict, config: TrainConfig) -> None:
    """Run ``train_loop`` on the Ray cluster's workers, the arrays shared through the object
    store; a CPU worker gets an equal share of the cluster's CPUs as its threads."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    connect(None)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    per_worker = max(1, cpus // config.workers) if not config.gpu else 1
    loop_config = {**loop_config, "arrays": ray.put(arrays), "in_ray": True, "threads_per_worker": per_worker}
    trainer = TorchTrainer(
        train_loop,
        train_loop_config=loop_config,
        torch_config=TorchConfig(backend="nccl" if config.gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=config.workers,
            use_gpu=config.gpu,
            resources_per_worker={"CPU": per_worker} if not config.gpu else None,
        ),
        run_config=RunConfig(
            storage_path=str(Path(tempfile.gettempdir()) / "mousegpt-ray-train"),
            name=f"mousegpt-train-{os.getpid()}",
        ),
    )
    result = trainer.fit()
    if result.error:
        raise result.error
