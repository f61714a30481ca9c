"""What the ``mousegpt`` commands share with the commands that plug into it.

The library's commands (``cli``) and the deployables' (``jobs``, ``serve`` and ``dashboard``,
loaded through the ``mousegpt.commands`` entry points) all print through these consoles and
take these options, so every command reads and answers alike. Plugins import this module,
never ``cli``: the command line loads them, they do not reach back into it.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

err = Console(stderr=True)
out = Console()

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", help="Workspace folder [default: $MOUSEGPT_WORKSPACE or ./mousegpt-workspace]"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def print_json(document: dict) -> None:
    """``--json``'s one document on stdout (the terminal's, even while Ray's output goes to a log)."""
    out.file.write(json.dumps(document, indent=2, default=str) + "\n")
    out.file.flush()


def ray_output_to(log: Path) -> None:
    """For the rest of this process, send everything written to file descriptors 1 and 2 into
    ``log`` (appended): Ray's logging, its core's own messages, its workers' output forwarded
    to the driver (some of it late, at shutdown), warnings. This command's own output (``out``,
    ``err``, ``print_json``) still reaches the terminal, as does an unexpected error's last
    line (its traceback is in ``log``).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal_out, terminal_err = os.fdopen(os.dup(1), "w"), os.fdopen(os.dup(2), "w")
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    out.file, err.file = terminal_out, terminal_err

    def excepthook(kind, value, tb):
        traceback.print_exception(kind, value, tb)  # into the log
        terminal_err.write(f"error: {kind.__name__}: {value} (the traceback is in {log})\n")
        terminal_err.flush()

    sys.excepthook = excepthook


def workspace_of(path: Path | None):
    """The workspace of ``--workspace`` (``store.workspace_path`` says which when None)."""
    from mousegpt.store import Workspace, workspace_path  # store loads duckdb and faiss: not for --help

    return Workspace(workspace_path(path))


def print_hits(query: str, hits: list) -> None:
    """A search's hits (``records.Hit``) as a table, under the query."""
    table = Table(title=f"\u201c{query}\u201d", title_justify="left", expand=True)
    for col in ("#", "score", "animal", "condition", "time (s)", "behaviour"):
        table.add_column(col, no_wrap=True)
    table.add_column("description", ratio=1)
    for rank, hit in enumerate(hits, 1):
        table.add_row(
            str(rank),
            f"{hit.score:.3f}",
            f"{hit.animal or hit.session_id}",
            hit.condition or "-",
            f"{hit.start_s:.1f}\u2013{hit.end_s:.1f}",
            hit.behavior or "-",
            hit.description["overall"],
        )
    out.print(table)
