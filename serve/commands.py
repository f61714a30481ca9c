"""``mousegpt serve``: the Ray Serve application on a local Ray or a cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from mousegpt.errors import MouseGPTError
from mousegpt.terminal import WorkspaceOpt, err, workspace_of


def serve_cmd(
    workspace: WorkspaceOpt = None,
    host: Annotated[str, typer.Option(help="HTTP address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    replicas: Annotated[
        int | None,
        typer.Option(
            help="A fixed number of MouseGPT describer replicas; "
            "without it they autoscale from 1 to --max-replicas.",
            min=1,
        ),
    ] = None,
    max_replicas: Annotated[
        int, typer.Option("--max-replicas", help="Most describer replicas when autoscaled.", min=1)
    ] = 4,
    model: Annotated[
        str, typer.Option(help="Describer: mousegpt-tiny, tiny:/path, kinematic or hf:/path.")
    ] = "mousegpt-tiny",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address [default: embedded local Ray].")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="MOUSEGPT_TOKEN",
            show_envvar=True,
            help="Access token every request must carry (Authorization: Bearer TOKEN); "
            "required off loopback.",
        ),
    ] = None,
):
    """Serve POST /describe and GET /search?q= over HTTP until interrupted."""
    # Loaded when serving starts, not for --help (access needs hashlib, ray_connection logging).
    from ray import serve

    from mousegpt.access import TOKEN_ENV, is_loopback, token_sha256
    from mousegpt.ray_connection import connect
    from serve.app import build_app

    if not is_loopback(host) and not token:
        raise MouseGPTError(
            f"--host {host}: the API would be open to the network; give --token (or set {TOKEN_ENV}) "
            "so that only clients that send it are answered"
        )
    ws = workspace_of(workspace)
    connect(address)
    serve.start(http_options={"host": host, "port": port})
    err.print(
        f"MouseGPT serving {ws.root} on http://{host}:{port}  "
        "(POST /describe, GET /search?q=...); Ctrl-C stops"
    )
    try:
        scaling = {"replicas": replicas} if replicas else {"max_replicas": max_replicas}
        secret = {"token_sha256": token_sha256(token)} if token else {}
        serve.run(
            build_app({"workspace": str(ws.root), "model": model, **scaling, **secret}),
            name="mousegpt",
            route_prefix="/",
            blocking=True,
        )
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
