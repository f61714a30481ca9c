"""``mousegpt analyze`` and ``mousegpt demo``: the commands that analyse on Ray (``train`` and
``adapt`` are in ``jobs.model_commands``)."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jobs.model_commands import adapt, train
from mousegpt.errors import MouseGPTError
from mousegpt.terminal import (
    JsonOpt,
    WorkspaceOpt,
    err,
    out,
    print_hits,
    print_json,
    ray_output_to,
    workspace_of,
)

DEMO_QUERIES = ("a mouse grooming itself", "standing up on its hind legs", "running fast along the wall")


def _print_qc(rows: list[dict]) -> None:
    """The quality-control report of each new session, as a table on stderr."""
    if not rows:
        return
    table = Table(
        "input",
        "individual",
        "frames",
        "missing",
        "swaps fixed",
        "jumps removed",
        "gaps filled",
        "px/mm",
        title="Pose quality control",
        title_justify="left",
    )
    for r in rows:
        table.add_row(
            Path(r["input"]).name,
            r["individual"] or "-",
            str(r["frames"]),
            f"{r['missing_fraction']:.1%}",
            str(r["swaps_fixed"]),
            str(r["jumps_removed"]),
            str(r["gaps_filled"]),
            f"{r['px_per_mm']:.3f} ({r['px_per_mm_source']})",
        )
    err.print(table)


InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[INPUT]...",
        help="Videos, folders of videos, or pose files alone: paths, or object-store URLs "
        "(s3://bucket/videos/, read with the usual AWS_* settings).",
    ),
]
ManifestOpt = Annotated[
    str | None,
    typer.Option(
        help="CSV: video, animal, condition, fps, px_per_mm, view[, pose, arena_mm, background]; "
        "a path or a URL."
    ),
]
PoseOpt = Annotated[
    str | None,
    typer.Option(help="Pose file (DeepLabCut, SLEAP, NWB, LightningPose) for the one video given."),
]
ConditionOpt = Annotated[str | None, typer.Option(help="Experimental condition of these inputs.")]
AnimalOpt = Annotated[str | None, typer.Option(help="Animal id of these inputs.")]
FpsOpt = Annotated[float | None, typer.Option(help="Frame rate [default: from the container].")]
PxPerMmOpt = Annotated[float | None, typer.Option("--px-per-mm", help="Scale [default: estimated].")]
ViewOpt = Annotated[str, typer.Option(help="Camera view: top or bottom.")]
ArenaOpt = Annotated[
    float | None,
    typer.Option(
        "--arena-mm",
        help="Real width of the arena floor along the image's x axis (or its diameter), mm: "
        "px_per_mm is then measured from the walls found in the video.",
    ),
]
KeypointMapOpt = Annotated[
    str | None,
    typer.Option(
        "--keypoint-map",
        help="Pose-file keypoint names to the platform's, e.g. Head=nose,TailRoot=tail_base "
        "(common names such as snout, tailbase, Center are mapped already).",
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "--describer",
        help="Describer: mousegpt-tiny (shipped), tiny:/path (one you trained), kinematic "
        "(rules, no weights), hf:/path/to/checkpoint (a local vision-language model), or serve[:APP] "
        "(the replicas of a running `mousegpt serve` application on the same Ray cluster).",
    ),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="MOUSEGPT_STORAGE",
        show_envvar=True,
        help="Where a new workspace keeps its shards, index and clips: a folder (NFS) or an fsspec URL "
        "such as s3://bucket/prefix [default: the workspace folder; an existing workspace's own].",
    ),
]
"""The options ``analyze`` and ``submit`` share."""
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Show Ray's own output (logs, warnings, per-stage progress) in the terminal "
        "[default: written to WORKSPACE/logs/, with one progress bar here].",
    ),
]


def quiet_ray(root: Path, command: str) -> Path | None:
    """Ray's output into ``ROOT/logs/COMMAND-TIME.log`` for the rest of this process, and Ray
    Data's own progress lines off; returns the log's path (None when ``root`` is not a folder
    one can make: the command then fails with its own message; or when something else already
    captures this process's output, as a test runner does)."""
    import ray.data

    if (
        root.exists()
        and not root.is_dir()
        or sys.stdout is not sys.__stdout__
        or sys.stderr is not sys.__stderr__
    ):
        return None
    log = root / "logs" / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    try:
        ray_output_to(log)
    except OSError:
        return None
    ray.data.DataContext.get_current().enable_progress_bars = False
    return log


@contextmanager
def analyze_bar(inputs: int):
    """``run``'s progress callback: one bar of inputs done, with frames, segments per second
    and the time left, on stderr."""
    # rich.progress is not needed for --help (rich.table, above, is loaded by mousegpt.terminal anyway).
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]analysing[/]"),
        BarColumn(),
        TextColumn("{task.fields[inputs]} inputs"),
        TextColumn("{task.fields[frames]:,} frames"),
        TextColumn("{task.fields[rate]} segments/s"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("analyse", total=inputs, inputs=f"0/{inputs}", frames=0, rate="-")
        started = time.perf_counter()

        def update(counts: dict) -> None:
            elapsed = time.perf_counter() - started
            bar.update(
                task,
                completed=counts["inputs_done"],
                inputs=f"{int(counts['inputs_done'])}/{counts['inputs']}",
                frames=counts["frames"],
                rate=f"{counts['segments'] / elapsed:.0f}" if elapsed > 0 else "-",
            )

        yield update


class _ProgressLines:
    """``run``'s progress callback for a Ray Job: a ``mousegpt-progress`` line on stderr at
    most once a second, and the last one always (``jobs.submit`` reads them back from the log)."""

    def __init__(self):
        self.started = time.perf_counter()
        self.printed = 0.0
        self.last: dict | None = None

    def __call__(self, counts: dict) -> None:
        from jobs.submit import progress_line  # jobs.submit loads the input readers (cv2, movement)

        self.last = counts | {"elapsed_s": round(time.perf_counter() - self.started, 1)}
        if time.perf_counter() - self.printed >= 1.0 or counts["inputs_done"] >= counts["inputs"]:
            self.printed = time.perf_counter()
            print(progress_line(self.last), file=sys.stderr, flush=True)


def analyze(
    inputs: InputsArg = None,
    manifest: ManifestOpt = None,
    pose: PoseOpt = None,
    condition: ConditionOpt = None,
    animal: AnimalOpt = None,
    fps: FpsOpt = None,
    px_per_mm: PxPerMmOpt = None,
    view: ViewOpt = "top",
    arena_mm: ArenaOpt = None,
    keypoint_map: KeypointMapOpt = None,
    background: Annotated[
        str | None,
        typer.Option(
            "--background",
            help="Image of the empty arena (no mouse; any format OpenCV reads, the videos' size): the "
            "tracker's background, for a mouse that hardly moves [default: estimated from each video].",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster: auto or ray://host:10001 [default: embedded local Ray]."),
    ] = None,
    model: ModelOpt = "mousegpt-tiny",
    part_seconds: Annotated[
        float,
        typer.Option(
            "--part-seconds",
            min=1.0,
            help="Videos are tracked in parts of about this many seconds, in parallel, "
            "then stitched: one long video uses every core.",
        ),
    ] = 60.0,
    input_timeout: Annotated[
        float,
        typer.Option(
            "--input-timeout",
            min=1.0,
            help="Seconds an input's reading, tracking or stitching may go without "
            "progress before it is stopped and reported as failed (a file that never finishes reading).",
        ),
    ] = 600.0,
    progress_lines: Annotated[
        bool,
        typer.Option(
            "--progress-lines",
            hidden=True,
            help="Print progress as `mousegpt-progress {json}` lines on stderr (for `mousegpt submit`).",
        ),
    ] = False,
    job_id: Annotated[
        str | None, typer.Option("--job-id", hidden=True, help="The run's id in the jobs table.")
    ] = None,
    storage: StorageOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List what the run would do to each input's sessions (analyse it, skip it, update its "
            "animal or condition, or recompute it with other settings) and change nothing.",
        ),
    ] = False,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
):
    """Analyse videos or pose files on Ray and add them to the workspace.

    An input analysed before is skipped; given another animal or condition, its sessions are
    relabelled; given other settings (model, fps, scale, view, arena, keypoint map,
    background), they are recomputed. Exits with status 1 when any input failed (the others
    are still committed).
    """
    # The analysis' modules load Ray, the readers and the catalogue: imported when it runs, not for --help.
    from jobs.analyze import run
    from mousegpt.inputs import input_specs, parse_keypoint_map
    from mousegpt.storage import normalise
    from mousegpt.store import Workspace

    specs = input_specs(
        inputs or [],
        manifest=manifest,
        pose=pose,
        condition=condition,
        animal=animal,
        fps=fps,
        px_per_mm=px_per_mm,
        view=view,
        arena_mm=arena_mm,
        keypoint_map=parse_keypoint_map(keypoint_map),
        background=background,
    )
    ws = Workspace(workspace_of(workspace).root, normalise(storage) if storage else None)
    if dry_run:
        _print_plan(specs, ws, model, as_json)
        return
    err.print(
        f"analysing {len(specs)} input(s) into {ws.root}"
        + (f" (shards, index and clips in {storage})" if storage else "")
    )
    if progress_lines:  # a Ray Job: its log is the log, and `mousegpt submit` reads these lines from it
        report = run(
            specs,
            ws,
            address=address,
            model=model,
            part_seconds=part_seconds,
            input_timeout=input_timeout,
            job_id=job_id,
            progress=_ProgressLines(),
        )
    else:
        log = None if verbose else quiet_ray(ws.root, "analyze")
        with analyze_bar(len(specs)) as bar:
            report = run(
                specs,
                ws,
                address=address,
                model=model,
                part_seconds=part_seconds,
                input_timeout=input_timeout,
                job_id=job_id,
                progress=bar,
            )
        if log is not None:
            err.print(f"[dim]Ray's output: {log}[/]", highlight=False)
    if as_json:
        print_json(report)
    else:
        _print_qc(report["qc"])
        recomputed = len(report["recomputed"])
        err.print(
            f"added {report['sessions'] - recomputed} session(s) and recomputed {recomputed}: "
            f"{report['segments']} segment(s), {report['frames']} frames in {report['seconds']:.1f} s; "
            f"relabelled {len(report['relabelled'])}; {len(report['skipped'])} already analysed"
        )
        for changed in report["relabelled"] + report["recomputed"]:
            err.print(f"  {changed['input']}: {changed['changes']}", highlight=False, soft_wrap=True)
    for warning in report["warnings"]:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    for failure in report["failed"]:
        err.print(f"[bold red]failed:[/] {failure['error']}", highlight=False, soft_wrap=True)
    if report["failed"]:
        raise typer.Exit(1)


def _print_plan(specs, ws, model: str, as_json: bool) -> None:
    """``analyze --dry-run``: one row per session of each input, what the run would do to it."""
    from mousegpt.analysis import planned_changes

    known = ws.recorded()
    rows = []
    for spec in specs:
        try:
            rows += [
                {"input": spec.name, "session_id": c.session_id, "action": c.action, "changes": c.describe()}
                for c in planned_changes(spec, known, model)
            ]
        except MouseGPTError as exc:
            rows.append({"input": spec.name, "session_id": None, "action": "fails", "changes": str(exc)})
    if as_json:
        print_json({"dry_run": True, "sessions": rows})
    else:
        _plan_table(ws, rows)
    if any(row["action"] == "fails" for row in rows):
        raise typer.Exit(1)


def _plan_table(ws, rows: list[dict]) -> None:
    table = Table(
        title=f"analyze --dry-run: what would change in {ws.root} (nothing is changed)", title_justify="left"
    )
    for column in ("input", "session", "would", "what changes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["input"],
            row["session_id"] or "",
            {"new": "analyse", "unchanged": "skip"}.get(row["action"], row["action"]),
            row["changes"],
        )
    out.print(table)


def demo(
    workspace: WorkspaceOpt = None,
    sessions: Annotated[int, typer.Option(help="Synthetic sessions (two conditions).", min=2)] = 4,
    seconds: Annotated[float, typer.Option(help="Length of each session.")] = 30.0,
    verbose: VerboseOpt = False,
):
    """Synthesize a small dataset, analyse it on a local Ray, and run example searches."""
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest
    from mousegpt.search import Searcher
    from mousegpt.synth import synth_dataset

    started = time.perf_counter()
    ws = workspace_of(workspace)
    videos = ws.root / "demo-videos"
    with err.status(f"rendering {sessions} synthetic sessions into {videos}"):
        synth_dataset(
            videos,
            sessions=sessions,
            seconds=seconds,
            seed=0,
            conditions=("control", "stim"),
            workers=os.cpu_count() or 1,
        )
    log = None if verbose else quiet_ray(ws.root, "demo")
    with analyze_bar(sessions) as bar:
        report = run(read_manifest(videos / "manifest.csv"), ws, progress=bar)
    if log is not None:
        err.print(f"[dim]Ray's output: {log}[/]", highlight=False)
    err.print(
        f"analysed: {report['sessions']} new session(s), {report['segments']} segment(s); "
        f"{len(report['skipped'])} already in the workspace"
    )
    if report["failed"]:
        for failure in report["failed"]:
            err.print(f"[bold red]failed:[/] {failure['error']}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    searcher = Searcher(ws)
    for query in DEMO_QUERIES:
        print_hits(query, searcher.search(query, k=5))
    root = ws.root.resolve()
    sys.stdout.write(
        f"\nDemo finished in {time.perf_counter() - started:.0f} s. "
        "Open the dashboard on this workspace with:\n"
        f"  mousegpt dashboard --workspace {root}\n"
        f'or search from the command line:\n  mousegpt search "a mouse grooming itself" --workspace {root}\n'
    )


def register(app: typer.Typer) -> None:
    """Add ``analyze``, ``demo``, ``train`` and ``adapt`` to the ``mousegpt`` command line."""
    app.command()(analyze)
    app.command()(demo)
    app.command()(train)
    app.command()(adapt)
