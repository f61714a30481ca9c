"""The ``mousegpt`` command line.

Library commands live here; the deployables (jobs/, serve/, dashboard/) add theirs through
the ``mousegpt.commands`` entry points, so the library never imports them. ``--json``
prints one JSON document on stdout; logs and progress go to stderr. A user error prints
one ``error:`` line and exits with status 1.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mousegpt.errors import MouseGPTError
from mousegpt.terminal import JsonOpt, WorkspaceOpt, err, out, print_hits, print_json, workspace_of

app = typer.Typer(
    name="mousegpt",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Mouse videos and pose files to searchable natural-language behaviour descriptions.",
)


IncludeUncertainOpt = Annotated[
    bool,
    typer.Option(
        "--include-uncertain",
        help="Count the moments whose behaviour the describer is uncertain of "
        "(calibrated confidence below 50%; left out by default).",
    ),
]


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@app.command()
def synth(
    out_dir: Annotated[
        Path, typer.Argument(metavar="OUT", help="Folder for videos, truth tables and manifest.csv.")
    ],
    sessions: Annotated[
        int, typer.Option(help="Number of sessions (conditions, furs, arenas assigned in turn).")
    ] = 4,
    seconds: Annotated[float, typer.Option(help="Length of each session.")] = 30.0,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same arguments and seed give the same files.")
    ] = 0,
    conditions: Annotated[
        str, typer.Option(help="Comma-separated conditions: control, stim, anx.")
    ] = "control,stim",
    novel: Annotated[
        list[str] | None,
        typer.Option(help="Plant a behaviour outside the vocabulary (circling, head_twitch); repeatable."),
    ] = None,
    view: Annotated[
        str, typer.Option(help="Camera: top (the back) or bottom (belly and paws, through a clear floor).")
    ] = "top",
    fur: Annotated[str, typer.Option(help="Comma-separated coat colours: black, agouti, white.")] = "black",
    arena: Annotated[str, typer.Option(help="Comma-separated arena shapes: square, circle.")] = "square",
    fps: Annotated[float, typer.Option(help="Frame rate.")] = 25.0,
    width: Annotated[int, typer.Option(help="Frame width in pixels (even).")] = 640,
    height: Annotated[int, typer.Option(help="Frame height in pixels (even).")] = 480,
    workers: Annotated[
        int,
        typer.Option(
            help="Sessions rendered at once, one CPU each, on Ray [default: all CPUs].", show_default=False
        ),
    ] = 0,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster to render on (OUT must be shared).")
    ] = None,
    contact_sheet: Annotated[
        bool,
        typer.Option(
            "--contact-sheet",
            help="Also write OUT/contact_sheet.png: a frame of every behaviour in both views.",
        ),
    ] = False,
    pose_only: Annotated[
        bool,
        typer.Option(
            "--pose-only",
            help="No video: only the truth and its DeepLabCut file, which manifest.csv names as the pose.",
        ),
    ] = False,
    as_json: JsonOpt = False,
):
    """Render synthetic mouse videos with per-frame ground truth (behaviour and 10 keypoints)."""
    # Each command imports what it runs here, not at the top: `mousegpt --help` stays fast.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mousegpt.synth import Scene, synth_dataset
    from mousegpt.synth import contact_sheet as write_contact_sheet

    furs, arenas = _names(fur), _names(arena)
    scene = Scene(
        width=width,
        height=height,
        fps=fps,
        view=view,
        fur=furs[0] if furs else "",
        arena=arenas[0] if arenas else "",
    )
    frames = sessions * int(round(seconds * fps))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"rendering {sessions} session(s) into {out_dir} (frames)", total=frames)
        manifest = synth_dataset(
            out_dir,
            sessions=sessions,
            seconds=seconds,
            seed=seed,
            conditions=_names(conditions),
            scene=scene,
            novel=tuple(novel or ()),
            furs=furs,
            arenas=arenas,
            workers=workers or os.cpu_count() or 1,
            address=address,
            progress=lambda n: bar.advance(task, n),
            video=not pose_only,
        )
        sheet = write_contact_sheet(out_dir / "contact_sheet.png", scene, seed) if contact_sheet else None
    if as_json:
        print_json(
            {
                "out": str(out_dir),
                "manifest": str(out_dir / "manifest.csv"),
                "contact_sheet": sheet and str(sheet),
                "sessions": manifest.to_dict("records"),
            }
        )
    else:
        err.print(
            f"wrote {len(manifest)} sessions and {out_dir / 'manifest.csv'}"
            + (f"; contact sheet {sheet}" if sheet else "")
        )


@app.command()
def tracks(
    video_path: Annotated[Path, typer.Argument(metavar="VIDEO", help="Video of one mouse.")],
    out_file: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Pose file to write; its suffix picks the format: "
            ".csv (DeepLabCut) or .nwb (NWB, ndx-pose).",
        ),
    ],
    background: Annotated[
        Path | None,
        typer.Option(
            "--background",
            help="Image of the empty arena (no mouse; any format OpenCV reads, the video's size): the "
            "tracker's background, for a mouse that hardly moves [default: estimated from the video].",
        ),
    ] = None,
):
    """Track one mouse with the built-in tracker and write its poses as DeepLabCut CSV or NWB."""
    from rich.progress import Progress

    from mousegpt import pose_export, tracking, video

    pose_export.export_format(out_file)  # a bad suffix fails now, not after tracking the whole video
    info = video.probe(video_path)
    if background is not None:
        tracking.read_empty_arena(background, info)  # a bad image fails now, too
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(f"tracking {video_path.name}", total=info.n_frames)
        bg = tracking.estimate_background(video_path, empty_arena=background)
        ds = tracking.track(
            video_path, background=bg, progress=lambda done: progress.update(task, completed=done)
        )
    written = pose_export.save(ds, out_file, source=video_path)
    missing = float(ds.position.sel(keypoints="body_center").isnull().any("space").mean())
    err.print(
        f"wrote {', '.join(map(str, written))}: {ds.sizes['time']} frames, {missing:.1%} without a position"
    )


@app.command("segments")
def segments_cmd(
    session: Annotated[str | None, typer.Option(help="Only this session_id.")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")] = False,
    workspace: WorkspaceOpt = None,
):
    """List analysed segments with their behaviour, probabilities and description."""
    from mousegpt.search import flat_segments, list_segments

    rows = list_segments(workspace_of(workspace), session=session)
    if as_json:
        print_json({"segments": [r.to_dict() for r in rows]})
    elif as_csv:
        flat_segments(rows).to_csv(sys.stdout, index=False)
    else:
        table = Table("session", "start", "end", "behaviour", "description")
        for r in rows:
            table.add_row(
                r.session_id,
                f"{r.start_s:.1f}",
                f"{r.end_s:.1f}",
                r.behavior or "-",
                r.description["overall"],
            )
        out.print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in plain words.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.", min=1)] = 10,
    condition: Annotated[str | None, typer.Option(help="Only sessions of this condition.")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
):
    """Natural-language search over every analysed moment."""
    from mousegpt.search import Searcher, hits_document

    ws = workspace_of(workspace)
    ws.snapshot()  # a missing or newer workspace fails here, before loading the text model
    hits = Searcher(ws).search(query, k=k, condition=condition)
    if as_json:
        print_json(hits_document(query, hits))
    else:
        print_hits(query, hits)


@app.command()
def discover(
    sample_size: Annotated[
        int,
        typer.Option(
            help="Segments the clustering is fitted on; the rest are assigned to its clusters with FAISS.",
            min=50,
        ),
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed of the sample, UMAP and the isolation forest.")] = 0,
    plots: Annotated[
        Path | None,
        typer.Option(help="Folder for the behaviour map: behaviour_map.png and behaviour_map.html."),
    ] = None,
    include_uncertain: IncludeUncertainOpt = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
):
    """Cluster every analysed moment, name the clusters and flag novel behaviours (a new run each time)."""
    from mousegpt import discover as discovery

    ws = workspace_of(workspace)
    ws.connect(read_only=True).close()
    with err.status("discovering behaviours") as status:
        config = discovery.DiscoverConfig(
            sample_size=sample_size, seed=seed, include_uncertain=include_uncertain
        )
        result = discovery.discover(ws, config, progress=lambda stage: status.update(f"discovery: {stage}"))
        document = result.to_dict()
        if plots is not None:
            document["plots"] = [str(p) for p in discovery.write_map(ws, result.run_id, plots)]
    if as_json:
        print_json(document)
        return
    table = Table(
        title=f"Discovery run {result.run_id}: {result.segments:,} segments in {result.seconds:.0f} s",
        title_justify="left",
    )
    for col in ("cluster", "name", "size", "novel", "outliers", "keywords", "by condition"):
        table.add_column(col)
    for c in result.clusters:
        table.add_row(
            str(c.cluster_id),
            c.name,
            f"{c.size:,}",
            "[bold red]novel[/]" if c.novel else "",
            f"{c.outlier_fraction:.0%}",
            ", ".join(c.keywords),
            ", ".join(f"{k} {v}" for k, v in c.size_by_condition.items()),
        )
    out.print(table)
    for path in document.get("plots", []):
        err.print(f"wrote {path}")
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")


@app.command()
def profile(
    by: Annotated[
        str, typer.Option(help="Session column whose groups are compared: condition, view, model or source.")
    ] = "condition",
    plots: Annotated[
        Path | None,
        typer.Option(help="Folder for figures: an ethogram per session and bar charts of every metric."),
    ] = None,
    include_uncertain: IncludeUncertainOpt = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
):
    """Behaviour profiles per animal and group, their statistics and phenotype prediction."""
    from mousegpt import profile as profiling

    ws = workspace_of(workspace)
    with err.status("profiling"):
        result = profiling.profile(ws, by=by, include_uncertain=include_uncertain)
        if plots is not None:
            result["plots"] = [str(p) for p in profiling.write_plots(ws, result, plots)]
    if as_json:
        print_json(profiling.to_json(result))
        return
    groups = result["groups"]
    err.print(
        f"{len(groups)} group(s) by {by}: "
        + ", ".join(f"{g} ({v['n_animals']} animals)" for g, v in groups.items())
    )
    table = Table(title="Differences between groups (Benjamini-Hochberg q < 0.05)", title_justify="left")
    for col in ("level", "label", "metric", "test", "medians", "effect [95% CI]", "p", "q"):
        table.add_column(col)
    for t in sorted((t for t in result["tests"] if t["significant"]), key=lambda t: t["q"]):
        table.add_row(
            t["level"],
            t["label"],
            t["metric"],
            t["test"],
            ", ".join(f"{g} {m:g}" for g, m in t["median"].items()),
            f"{t['effect']} {t['effect_size']:+.2f} [{t['ci95'][0]:+.2f}, {t['ci95'][1]:+.2f}]",
            f"{t['p']:.2g}",
            f"{t['q']:.2g}",
        )
    out.print(table)
    p = result["prediction"]
    if p.get("accuracy") is not None:
        out.print(
            f"phenotype prediction ({by} from time fractions): cross-validated accuracy {p['accuracy']:.0%} "
            f"(chance {p['chance']:.0%}, permutation p = {p['p_value']:.3g}, {p['n_animals']} animals)"
        )
    else:
        out.print(f"phenotype prediction: not possible ({p['reason']})")
    for path in result.get("plots", []):
        err.print(f"wrote {path}")


_plugins_loaded = False


def _load_plugins() -> None:
    """Add the deployables' commands (once, however often it is called)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    for ep in sorted(entry_points(group="mousegpt.commands"), key=lambda e: e.name):
        ep.load()(app)
    _plugins_loaded = True


def main() -> None:
    """The ``mousegpt`` command: a user error is one ``error:`` line and exit status 1."""
    _load_plugins()
    try:
        app()
    except MouseGPTError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    # `python -m mousegpt.cli` runs this file as __main__, a second copy beside the
    # `mousegpt.cli` whose `app` the plugins add their commands to: run that one's main.
    from mousegpt.cli import main as canonical_main

    canonical_main()
