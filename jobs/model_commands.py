"""``mousegpt train`` and ``mousegpt adapt``: the commands that make a describer."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from mousegpt.errors import InputError
from mousegpt.terminal import JsonOpt, err, print_json


def _stdout_to_stderr():
    """For the rest of this process, send what anything writes to file descriptor 1 to 2
    (DeepSpeed logs there, and Ray forwards its workers' output there, some of it late, at
    shutdown); returns a file on the original stdout, for the --json document."""
    sys.stdout.flush()
    original = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return original


@contextmanager
def stage_bars():
    """A progress callback ``(stage, done, total)`` drawing one bar per stage on stderr."""
    # Like the training and adaptation modules below, not loaded for --help.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bars:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        yield progress


def train(
    out: Annotated[
        Path, typer.Argument(help="Folder for the checkpoint (config, safetensors, model card, metrics).")
    ],
    sessions: Annotated[
        int, typer.Option(help="Synthetic training sessions (0: annotations only).", min=0)
    ] = 120,
    pose_sessions: Annotated[
        int,
        typer.Option(
            "--pose-sessions",
            help="More synthetic sessions, seen as a lab's pose file (estimator noise, no video).",
            min=0,
        ),
    ] = 120,
    seconds: Annotated[float, typer.Option(help="Length of each synthetic session.", min=2)] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic world and of training.")] = 0,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 128,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, warmup then cosine).")] = 2e-3,
    zero_stage: Annotated[
        int, typer.Option("--zero-stage", help="DeepSpeed ZeRO stage (0-3).", min=0, max=3)
    ] = 1,
    workers: Annotated[int, typer.Option(help="Ray Train workers (0: train in this process).", min=0)] = 0,
    gpu: Annotated[bool, typer.Option("--gpu", help="Train on GPU workers (Ray Train, nccl, bf16).")] = False,
    annotations: Annotated[
        Path | None,
        typer.Option(
            help='JSONL of real annotations: one {"video", "start_s", "end_s", "description"} per line.'
        ),
    ] = None,
    reference_only: Annotated[
        bool,
        typer.Option(
            "--reference-only",
            help="Rebuild only the vocabulary facts (novelty detection) of the checkpoint in OUT, "
            "from the same synthetic sessions; the weights are kept.",
        ),
    ] = False,
    as_json: JsonOpt = False,
):
    """Train MouseGPT-tiny on synthetic sessions (and your annotations) with DeepSpeed.

    The defaults reproduce the shipped checkpoint (about an hour on 2 CPU cores).
    """
    from jobs.train import TrainConfig, write_model_card, write_vocabulary_facts
    from jobs.train import train as run_training

    if gpu and workers == 0:
        workers = 1
    config = TrainConfig(
        out=str(out),
        sessions=sessions,
        pose_sessions=pose_sessions,
        seconds=seconds,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        zero_stage=zero_stage,
        workers=workers,
        gpu=gpu,
        annotations=str(annotations) if annotations else None,
    )
    stdout = _stdout_to_stderr()
    with stage_bars() as progress:
        if reference_only:
            if not (out / "config.json").exists():
                raise InputError(f"{out}: no checkpoint here to rebuild the vocabulary facts of")
            path = write_vocabulary_facts(out, config, progress=progress)
            _finish_reference(path, as_json, stdout)
            return
        metrics = run_training(config, progress)
    write_model_card(out, metrics)
    if as_json:
        stdout.write(json.dumps(metrics, indent=2) + "\n")
        stdout.flush()
    else:
        err.print(
            f"trained in {metrics['seconds']['total']:.0f} s; "
            f"validation macro-F1 {metrics['validation_macro_f1']:.3f}; "
            f"checkpoint in {out}  (use it with --model tiny:{out})"
        )


def _finish_reference(path: Path, as_json: bool, stdout) -> None:
    import pyarrow.parquet as pq

    rows = pq.read_metadata(path).num_rows
    if as_json:
        stdout.write(json.dumps({"vocabulary_facts": str(path), "segments": rows}) + "\n")
        stdout.flush()
    else:
        err.print(f"vocabulary facts rebuilt: {path} ({rows} segments)")


def adapt(
    out: Annotated[
        Path, typer.Argument(help="Folder for the adapted checkpoint (use it with --model tiny:OUT).")
    ],
    annotations: Annotated[
        Path,
        typer.Option(
            help='JSONL, one bout per line: {"video" or "pose", "start_s", "end_s", "behavior"'
            '[, "description", "fps", "px_per_mm", "arena_mm", "view"]}; paths relative to the file.'
        ),
    ],
    base: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Checkpoint to start from: a folder or tiny:/path [default: the shipped mousegpt-tiny].",
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Fine-tuning steps (full batch, AdamW) [default: the length that does best on "
            "held-out halves of your bouts].",
            min=0,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fine-tuning.")] = 0,
    as_json: JsonOpt = False,
):
    """Fine-tune MouseGPT-tiny on your own labelled bouts in minutes: your behaviour names become classes.

    Every line is checked before anything is analysed; a bad one is one error naming FILE:LINE.
    """
    from transformers.utils import logging as hf_logging

    from jobs.adapt import adapt as run_adapt

    hf_logging.disable_progress_bar()
    with stage_bars() as progress:
        report = run_adapt(out, annotations, base=base, steps=steps, seed=seed, progress=progress)
    if as_json:
        print_json(report)
    else:
        added = ", ".join(report["new_behaviors"]) or "none"
        err.print(
            f"adapted in {report['seconds']['total']:.0f} s on {report['segments']['labelled']} "
            f"labelled segments (+{report['segments']['none_of_these']} in none of them); "
            f"new classes: {added}; training accuracy {report['before']['accuracy']:.2f} -> "
            f"{report['after']['accuracy']:.2f} ({report['steps']} steps"
            + (
                f", chosen on held-out halves: F1 {report['held_out']['f1'][str(report['steps'])]:.2f}"
                if report.get("held_out")
                else ""
            )
            + f"); checkpoint in {out}  "
            f"(use it with --model tiny:{out})",
            highlight=False,
            soft_wrap=True,
        )
