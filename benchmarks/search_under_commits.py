"""Search while sessions commit: what Serve's ``/search`` clients see while a writer commits.

    .venv/bin/python benchmarks/search_under_commits.py [--base 100000] [--sessions 500]
                                                        [--per-commit 25] [--clients 8]

A catalogue of ``--base`` segments is built with ``discovery_scale.build`` (noisy copies of a
small analysed synthetic workspace's segments) and published. The Serve application is started
on the local Ray (one ingress replica, as ``mousegpt serve`` starts it) over that workspace.
Then, at once:

- a writer process commits ``--sessions`` new sessions of two minutes (240 segments each,
  noisy copies again, written as shards first as analysis workers write them), ``--per-commit``
  sessions per commit, as successive ``mousegpt analyze`` runs would;
- ``--clients`` threads each send ``GET /search`` (every other one with a condition filter),
  each query a new text so that none is answered from the embedding cache: back to back
  (``--pace 0``: the load that saturates the server), or one every ``--pace`` seconds (people
  at a dashboard, scripts that do something with each answer).

The clients first search for ``--idle`` seconds with no writer (the baseline), then while
the writer commits. Reported per phase: the queries answered, their errors (any status but
200 with k hits, or a failed connection), latency p50 / p99 / max (ms) and queries per
second; and the writer's commits (count, mean and longest: none of them waits for a reader).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from discovery_scale import SESSION_SEGMENTS, build, seed_workspace  # noqa: E402
from search_scale import QUERIES  # noqa: E402

from mousegpt.records import Session  # noqa: E402
from mousegpt.store import Workspace  # noqa: E402

console = Console(width=140)


def write_shards(source: Workspace, ws: Workspace, sessions: int, seed: int = 1) -> list[str]:
    """``sessions`` shards of ``SESSION_SEGMENTS`` noisy copies of ``source``'s segments each."""
    rng = np.random.default_rng(seed)
    with source.connect(read_only=True) as con:
        base = con.execute(
            "SELECT * EXCLUDE (vec_id, cluster_id) FROM segments WHERE behavior IS NOT NULL"
        ).fetchdf()
    numeric = [
        c for c in base.columns if base[c].dtype == float and c not in ("start_s", "end_s", "confidence")
    ]
    embedding = np.stack(base.pop("embedding").to_numpy()).astype(np.float32)
    paths = []
    for s in range(sessions):
        session_id = f"commit{s:05d}"
        rows = rng.integers(0, len(base), SESSION_SEGMENTS)
        part = base.iloc[rows].reset_index(drop=True)
        part[numeric] = part[numeric] * rng.normal(1.0, 0.05, size=(len(part), len(numeric)))
        vectors = embedding[rows] + rng.normal(0, 0.02, size=(len(part), embedding.shape[1])).astype(
            np.float32
        )
        part["embedding"] = list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        part["session_id"] = session_id
        part["segment_index"] = np.arange(len(part))
        part["start_s"] = part["segment_index"] * 0.5
        part["end_s"] = part["start_s"] + 1.0
        part["segment_id"] = [f"{session_id}-{i:06d}" for i in range(len(part))]
        session = Session(
            session_id=session_id,
            video=f"{session_id}.mp4",
            animal=f"a{s % 64:02d}",
            condition="stim" if s % 2 else "control",
            fps=25.0,
            view="top",
            duration_s=120.0,
            n_frames=3000,
            source="video",
            model="kinematic",
        )
        paths.append(ws.write_shard(session, pd.DataFrame(part)))
    return paths


def writer(root: str, shards_file: str, per_commit: int, nice: int) -> None:
    """The committing process: one JSON line per commit (its start, duration, sessions added)."""
    os.nice(nice)
    ws = Workspace(Path(root))
    shards = json.loads(Path(shards_file).read_text())
    for start in range(0, len(shards), per_commit):
        began = time.time()
        added, segments = ws.commit(
            shards[start : start + per_commit],
            job={"job_id": f"bench-{start}", "kind": "analyze", "inputs": per_commit},
        )
        print(
            json.dumps(
                {"at": began, "seconds": time.time() - began, "sessions": added, "segments": segments}
            ),
            flush=True,
        )


def client(url: str, number: int, stop: threading.Event, out: list, pace: float) -> None:
    session = requests.Session()
    i = 0
    while not stop.wait(np.random.default_rng([number, i]).uniform(0, 2 * pace) if pace and i else 0):
        query = f"{QUERIES[i % len(QUERIES)]} ({number}.{i})"  # a new text each time: no embedding cache
        params = {"q": query, "k": 10} | ({"condition": "stim"} if i % 2 else {})
        began = time.perf_counter()
        try:
            response = session.get(f"{url}/search", params=params, timeout=30)
            ok, hits = response.status_code == 200, len(response.json().get("hits", [])) if response.ok else 0
        except requests.RequestException:
            ok, hits = False, 0
        out.append((time.time(), (time.perf_counter() - began) * 1000, ok and hits == 10))
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", type=int, default=100_000, help="Segments in the catalogue before the commits."
    )
    parser.add_argument("--sessions", type=int, default=500, help="Sessions committed while clients search.")
    parser.add_argument("--per-commit", type=int, default=25, help="Sessions per commit.")
    parser.add_argument("--clients", type=int, default=8, help="Concurrent /search clients.")
    parser.add_argument(
        "--idle", type=float, default=15.0, help="Seconds of searching before the writer starts."
    )
    parser.add_argument(
        "--pace",
        type=float,
        default=0.5,
        help="Mean seconds between a client's queries (uniform from 0 to twice it); 0: back to back.",
    )
    parser.add_argument(
        "--writer-nice",
        type=int,
        default=0,
        help="The writer's niceness: 0 as a command run by hand; 15 as Ray gives its workers (Serve's too).",
    )
    parser.add_argument("--writer", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(*args.writer, args.per_commit, args.writer_nice)
        return

    import ray
    from ray import serve

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from serve.app import build_app

    with tempfile.TemporaryDirectory(prefix="mousegpt-under-commits-") as tmp:
        console.print("analysing the seed workspace, building the base catalogue")
        source = seed_workspace(Path(tmp))
        ws = Workspace(Path(tmp) / "ws")
        build(source, ws, args.base)
        with ws.connect() as con:
            ws.publish(con)
        shards = write_shards(source, ws, args.sessions)
        (Path(tmp) / "shards.json").write_text(json.dumps(shards))

        with socket.socket() as probe:  # a free loopback port
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app({"workspace": str(ws.root), "replicas": 1}), name="mousegpt", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        for query in QUERIES[:5]:  # warm: the text model loaded, the snapshot opened
            requests.get(f"{url}/search", params={"q": query}, timeout=120).raise_for_status()

        console.print(
            f"{args.clients} clients searching while {args.sessions} sessions commit, "
            f"{args.per_commit} per commit"
        )
        stop, answers = threading.Event(), []
        threads = [
            threading.Thread(target=client, args=(url, n, stop, answers, args.pace))
            for n in range(args.clients)
        ]
        idle_from = time.time()
        for thread in threads:
            thread.start()
        time.sleep(args.idle)  # the baseline: searching alone (a wall-clock phase, not a wait for a result)
        began = time.time()
        run = subprocess.run(
            [
                sys.executable,
                __file__,
                "--writer",
                str(ws.root),
                str(Path(tmp) / "shards.json"),
                "--per-commit",
                str(args.per_commit),
                "--writer-nice",
                str(args.writer_nice),
            ],
            capture_output=True,
            text=True,
        )
        ended = time.time()
        stop.set()
        for thread in threads:
            thread.join()
        if run.returncode:
            raise SystemExit(run.stderr[-3000:])
        commits = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
        health = requests.get(f"{url}/healthz", timeout=60).json()
        serve.shutdown()
        ray.shutdown()

    seconds = [c["seconds"] for c in commits]
    pace = f"one query every {args.pace:g} s each" if args.pace else "back to back"
    table = Table(
        title=f"{args.clients} /search clients ({pace}) on 2 cores; {args.sessions} sessions committed "
        f"onto {args.base:,} segments, {args.per_commit} per commit, writer at nice {args.writer_nice}"
    )
    for column in (
        "phase",
        "seconds",
        "queries",
        "errors",
        "p50 (ms)",
        "p99 (ms)",
        "max (ms)",
        "queries/s",
        "commits",
        "commit mean (s)",
        "commit max (s)",
    ):
        table.add_column(column, justify="right")
    for phase, start, end in (
        ("searching alone", idle_from + 1.0, began),
        ("while committing", began, ended),
    ):
        inside = [
            (ms, ok) for at, ms, ok in answers if start <= at <= end
        ]  # (the first second warms the clients)
        latency = np.array([ms for ms, _ in inside])
        writing = phase == "while committing"
        table.add_row(
            phase,
            f"{end - start:.1f}",
            f"{len(inside):,}",
            str(sum(not ok for _, ok in inside)),
            f"{np.percentile(latency, 50):.1f}",
            f"{np.percentile(latency, 99):.1f}",
            f"{latency.max():.1f}",
            f"{len(inside) / (end - start):.1f}",
            str(len(commits)) if writing else "",
            f"{np.mean(seconds):.2f}" if writing else "",
            f"{np.max(seconds):.2f}" if writing else "",
        )
    console.print(table)
    console.print(
        f"after the commits /healthz reads: {health['catalogue']} "
        f"(expected {args.sessions + args.base // SESSION_SEGMENTS + (args.base % SESSION_SEGMENTS > 0)} "
        "sessions, "
        f"{args.base + args.sessions * SESSION_SEGMENTS:,} segments)"
    )


if __name__ == "__main__":
    main()
