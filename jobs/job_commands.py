"""``mousegpt submit`` and ``mousegpt jobs``: analyses as Ray Jobs on a cluster (``jobs.submit``)."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from jobs.commands import (
    AnimalOpt,
    ArenaOpt,
    ConditionOpt,
    FpsOpt,
    InputsArg,
    KeypointMapOpt,
    ManifestOpt,
    ModelOpt,
    PoseOpt,
    PxPerMmOpt,
    StorageOpt,
    ViewOpt,
)
from mousegpt.terminal import JsonOpt, WorkspaceOpt, err, out, print_json, workspace_of

AddressOpt = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="The cluster's job server, http://HEAD:8265 [default: $MOUSEGPT_JOBS_ADDRESS, or a local "
        "head on http://127.0.0.1:8265, started when none answers].",
    ),
]
JobIdArg = Annotated[str, typer.Argument(metavar="JOB_ID", help="The id `mousegpt submit` printed.")]

jobs_app = typer.Typer(name="jobs", no_args_is_help=True, help="List, follow and cancel submitted analyses.")


def _when(seconds: float | None) -> str:
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S") if seconds else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes}:{s:02d}" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{s:02d}"


def _progress_text(job) -> str:
    p = job.progress or {}
    if not p:
        return "-"
    return (
        f"{p['inputs_done']:g}/{p['inputs']} inputs, {p['frames']:,} frames, {p['segments']:,} segments"
        + (f", ETA {_duration(job.eta_s)}" if job.eta_s is not None else "")
    )


def _follow(jobs, job_id: str) -> None:
    """Draw the job's progress until it ends."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn  # not for --help

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err,
    ) as bars:
        task = bars.add_task(job_id, total=1.0, detail="")
        while True:
            job = jobs.status(job_id)
            bars.update(task, completed=job.fraction, detail=f"{job.status} {_progress_text(job)}")
            if job.ended:
                break
            time.sleep(1.0)
    return job


def submit(
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
    model: ModelOpt = "mousegpt-tiny",
    address: AddressOpt = None,
    storage: StorageOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job's progress until it ends.")] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
):
    """Submit an analysis to a Ray cluster as a job (`mousegpt analyze` run by the cluster).

    The inputs are checked first: a missing file or a bad manifest is refused before anything
    reaches the cluster. The workspace and inputs must be on storage the cluster's nodes see.
    """
    # jobs.submit loads the input readers (cv2, movement): imported when a command runs, not for --help.
    from jobs.submit import AnalysisRequest, Jobs, default_address, start_local_head

    request = AnalysisRequest(
        workspace=str(workspace_of(workspace).root),
        inputs=inputs or [],
        manifest=manifest,
        pose=pose,
        condition=condition,
        animal=animal,
        fps=fps,
        px_per_mm=px_per_mm,
        arena_mm=arena_mm,
        view=view,
        model=model,
        keypoint_map=keypoint_map,
        storage=storage,
    )
    n = len(request.check())  # before any cluster is reached or started
    if address is None:
        address = default_address()
        with err.status(f"starting a local Ray head at {address}"):
            if start_local_head(address):
                err.print(f"started a local Ray head (job server {address}); `ray stop` stops it")
    jobs = Jobs(address)
    job_id = jobs.submit(request)
    err.print(
        f"submitted {job_id}: {n} input(s) into {request.workspace}; follow it with "
        f"`mousegpt jobs status {job_id}` or in the dashboard's Analyse page"
    )
    job = _follow(jobs, job_id) if wait else jobs.status(job_id)
    if as_json:
        print_json(job.to_dict() | ({"result": jobs.result(job_id)} if job.ended else {}))
    if wait and job.status != "SUCCEEDED":
        err.print(f"[bold red]{job_id} {job.status}:[/] {job.message or ''}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@jobs_app.command("list")
def list_jobs(
    address: AddressOpt = None,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Only the jobs committing to this workspace [default: all]."),
    ] = None,
    as_json: JsonOpt = False,
):
    """Submitted analyses, newest first, with the progress of those running."""
    from jobs.submit import Jobs

    views = Jobs(address).list(workspace=str(workspace) if workspace else None)
    if as_json:
        print_json({"jobs": [v.to_dict() for v in views]})
        return
    table = Table(
        "job",
        "status",
        "inputs",
        "started",
        "took",
        "progress",
        "workspace",
        title_justify="left",
        title=f"{len(views)} analysis job(s)",
    )
    for v in views:
        took = (v.finished_at or time.time()) - v.started_at if v.started_at else None
        table.add_row(
            v.job_id,
            v.status,
            str(v.inputs or "-"),
            _when(v.started_at),
            _duration(took),
            _progress_text(v) if not v.ended else "",
            Path(v.workspace).name if v.workspace else "-",
        )
    out.print(table)


@jobs_app.command("status")
def job_status(
    job_id: JobIdArg,
    address: AddressOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow until the job ends.")] = False,
    as_json: JsonOpt = False,
):
    """One job's state and progress (inputs, frames, segments, ETA)."""
    from jobs.submit import Jobs

    jobs = Jobs(address)
    job = _follow(jobs, job_id) if follow else jobs.status(job_id)
    if as_json:
        print_json(job.to_dict() | ({"result": jobs.result(job_id)} if job.ended else {}))
        return
    out.print(f"{job.job_id}: {job.status}" + (f" — {_progress_text(job)}" if job.progress else ""))
    if job.ended and job.message:
        out.print(job.message.splitlines()[0], highlight=False)


@jobs_app.command("logs")
def job_logs(
    job_id: JobIdArg,
    address: AddressOpt = None,
    tail: Annotated[int, typer.Option(help="Only the last N lines (0: all).", min=0)] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
):
    """A job's log (its `mousegpt analyze` output)."""
    from jobs.submit import Jobs

    jobs = Jobs(address)
    printed = 0
    while True:
        log = jobs.logs(job_id)
        lines = log.splitlines()
        if printed == 0 and tail:
            printed = max(0, len(lines) - tail)
        for line in lines[printed:]:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        printed = len(lines)
        if not follow or jobs.status(job_id).ended:
            if follow:  # lines written between the last read and the end
                for line in jobs.logs(job_id).splitlines()[printed:]:
                    sys.stdout.write(line + "\n")
            return
        time.sleep(1.0)


@jobs_app.command("cancel")
def job_cancel(job_id: JobIdArg, address: AddressOpt = None):
    """Stop a running job. It commits nothing; the sessions it had finished are reused by the next run."""
    from jobs.submit import Jobs

    if Jobs(address).cancel(job_id):
        err.print(f"stopping {job_id}")
    else:
        err.print(f"{job_id} had already ended")


@jobs_app.command("head")
def job_head(
    address: Annotated[
        str, typer.Option(help="Where its job server listens (loopback).")
    ] = "http://127.0.0.1:8265",
    port: Annotated[int, typer.Option(help="Port of the head's GCS (Ray's own address).")] = 6379,
):
    """Start a local Ray head with job submission (what `submit` does when no cluster answers).

    `ray stop` stops it.
    """
    from jobs.submit import start_local_head

    if start_local_head(address, gcs_port=port):
        err.print(
            f"started a local Ray head: job server {address}, cluster address 127.0.0.2:{port}; "
            "`ray stop` stops it"
        )
    else:
        err.print(f"a job server already answers at {address}")


def register(app: typer.Typer) -> None:
    app.command()(submit)
    app.add_typer(jobs_app)
