"""``mousegpt dashboard``: the Streamlit app on a workspace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from mousegpt.cli import WorkspaceOpt, err, workspace_of


def dashboard(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8501,
):
    """Open the dashboard (search, descriptions, clips) in the browser."""
    root = workspace_of(workspace).root.resolve()
    app = Path(__file__).with_name("app.py")
    err.print(f"dashboard on http://{host}:{port} for {root}; Ctrl-C stops")
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--", "--workspace", str(root)]
    raise typer.Exit(subprocess.call(command))


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
