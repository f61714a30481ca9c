"""``mousegpt dashboard``: the Streamlit app on a workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from mousegpt.errors import MouseGPTError
from mousegpt.terminal import WorkspaceOpt, err, workspace_of

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="MOUSEGPT_TOKEN",
        show_envvar=True,
        help="Access token a browser must give; required when --host is not a loopback address.",
    ),
]


def dashboard(
    workspace: WorkspaceOpt = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            "--data-root",
            envvar="MOUSEGPT_DATA_ROOT",
            show_envvar=True,
            help="Folder whose videos, pose files and manifests the Analyse page offers as inputs.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; anything but loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8501,
    token: TokenOpt = None,
):
    """Open the dashboard: search, sessions, clusters, profiles, and analyses to launch and follow."""
    from mousegpt.access import TOKEN_ENV, is_loopback  # hashlib: not loaded for --help

    if not is_loopback(host) and not token:
        raise MouseGPTError(
            f"--host {host}: the dashboard would be open to the network; give --token "
            f"(or set {TOKEN_ENV}) so that only those who know it get in"
        )
    if data_root is not None and not data_root.is_dir():
        raise MouseGPTError(f"--data-root {data_root}: no such folder")
    root = workspace_of(workspace).root.resolve()
    app = Path(__file__).with_name("app.py")
    err.print(f"dashboard on http://{host}:{port} for {root}; Ctrl-C stops")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--workspace",
        str(root),
    ] + (["--data-root", str(data_root.resolve())] if data_root else [])
    # The token travels in the environment, not on the command line other users can read.
    env = os.environ | ({TOKEN_ENV: token} if token else {})
    raise typer.Exit(subprocess.call(command, env=env))


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
