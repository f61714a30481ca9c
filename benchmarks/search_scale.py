"""Search at scale: latency, first query, memory and recall of ``mousegpt.search.Searcher``.

    .venv/bin/python benchmarks/search_scale.py [--sizes 100000,1000000] [--rounds 3]

For each size, a catalogue is built with ``discovery_scale.build`` (noisy copies of a small
analysed synthetic workspace's segments, in sessions of two minutes, half control, half stim)
and its index is built as a commit builds it. Then a fresh process, as a Serve replica or the
dashboard would start, opens a ``Searcher`` and runs 30 queries ``--rounds`` times, with and
without a condition filter. Reported per size:

- the index build at commit (s);
- the first query after start (s): the index opened and one query answered, text model loaded before;
- p50 and p99 latency (ms) of a query, the text embedding of the query included, then the same
  with ``condition``;
- recall@10 of the index against exact search (brute force over every vector, in this process);
- the peak resident memory of the searching process (GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from discovery_scale import build, seed_workspace  # noqa: E402

from mousegpt import catalog_index  # noqa: E402
from mousegpt.store import Workspace  # noqa: E402

console = Console(width=140)
QUERIES = [
    "a mouse rearing up on its hind legs",
    "the mouse grooms its face with its forepaws",
    "resting still in a corner",
    "walking along the wall",
    "running fast across the arena",
    "sniffing the floor",
    "turning around in place",
    "a sudden jump",
    "the mouse stands up against the wall",
    "slow exploration of the centre",
    "licking its fur",
    "freezing without moving",
    "head scanning left and right",
    "a quick dash to the other side",
    "circling tightly",
    "stretching its body forward",
    "the mouse pauses and looks around",
    "scratching with a hind paw",
    "a rear in the middle of the open field",
    "walking slowly with its nose down",
    "rapid head movements",
    "lying flat and still",
    "the mouse climbs",
    "trotting along the edge",
    "turning its head towards the wall",
    "sitting hunched",
    "exploring the corner",
    "a long bout of grooming",
    "moving fast then stopping",
    "standing on hind legs with forepaws raised",
]
K = 10


def child(root: str, rounds: int) -> None:
    """The measured process: a Searcher opened as a fresh replica would open it."""
    from mousegpt.embed import TextEmbedder
    from mousegpt.search import Searcher

    embedder = TextEmbedder()
    embedder(["warm up"])
    started = time.perf_counter()
    searcher = Searcher(Workspace(Path(root)), embedder)
    searcher.search(QUERIES[0], k=K)
    first_s = time.perf_counter() - started
    timings: dict[str, list[float]] = {"all": [], "condition": []}
    for _ in range(rounds):
        for query in QUERIES:
            for kind, condition in (("all", None), ("condition", "stim")):
                embedder._cache.clear()  # every query is embedded, as a new one would be
                t = time.perf_counter()
                hits = searcher.search(query, k=K, condition=condition)
                timings[kind].append((time.perf_counter() - t) * 1000)
                assert len(hits) == K and (condition is None or {h.condition for h in hits} == {condition})
    vectors = embedder(QUERIES)
    index = searcher.current().index
    found = [index.search(v, K)[1].tolist() for v in vectors]
    print(
        json.dumps(
            {
                "first_s": first_s,
                "timings": timings,
                "found": found,
                "vectors": vectors.tolist(),
                "lists": index.lists,
                "peak_gb": peak_gb(),
            }
        )
    )


def peak_gb() -> float:
    """This process's peak resident memory, GB: its own high-water mark (``VmHWM``), not
    ``getrusage``'s, which a child started by a large parent may inherit from it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def exact_top(ws: Workspace, queries: np.ndarray, k: int) -> list[set[int]]:
    """Exact top-k vec_ids per query, by brute force over every vector, in blocks."""
    best_scores = np.full((len(queries), 0), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), 0), np.int64)
    with ws.connect(read_only=True) as con:
        for ids, vectors in catalog_index.vectors(con, 0):
            scores = np.concatenate([best_scores, (vectors @ queries.T).T], axis=1)
            every = np.concatenate([best_ids, np.broadcast_to(ids, (len(queries), len(ids)))], axis=1)
            keep = np.argsort(-scores, axis=1)[:, :k]
            best_scores, best_ids = np.take_along_axis(scores, keep, 1), np.take_along_axis(every, keep, 1)
    return [set(row.tolist()) for row in best_ids]


def measure(source: Workspace, root: Path, n: int, rounds: int) -> dict:
    ws = Workspace(root / f"scale-{n}")
    build(source, ws, n)
    started = time.perf_counter()
    with ws.connect() as con:
        ws.publish(con)  # as a commit builds the index and publishes the snapshot
    index_s = time.perf_counter() - started
    run = subprocess.run(
        [sys.executable, __file__, "--child", str(ws.root), "--rounds", str(rounds)],
        capture_output=True,
        text=True,
    )
    if run.returncode:
        raise SystemExit(run.stderr[-3000:])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    exact = exact_top(ws, np.asarray(result["vectors"], np.float32), K)
    recall = np.mean([len(set(f) & e) / K for f, e in zip(result["found"], exact)])
    return result | {"n": n, "index_s": index_s, "recall": float(recall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="Catalogue sizes, comma-separated.")
    parser.add_argument("--rounds", type=int, default=3, help="Times the 30 queries are run.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rounds)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="mousegpt-search-scale-") as tmp:
        source = seed_workspace(Path(tmp))
        for n in (int(s) for s in args.sizes.split(",")):
            console.print(f"[bold]{n:,} segments[/]")
            rows.append(measure(source, Path(tmp), n, args.rounds))
    table = Table(title=f"Searcher on 2 cores: {len(QUERIES)} queries x {args.rounds}, k={K}")
    for column in (
        "segments",
        "index",
        "index build (s)",
        "first query (s)",
        "p50 (ms)",
        "p99 (ms)",
        "p50 condition (ms)",
        "p99 condition (ms)",
        "recall@10",
        "peak RSS (GB)",
    ):
        table.add_column(column, justify="right")
    for r in rows:
        p = {kind: np.percentile(r["timings"][kind], [50, 99]) for kind in ("all", "condition")}
        kind = f"IVF-SQ8, {r['lists']} lists" if r["lists"] else "exact"
        table.add_row(
            f"{r['n']:,}",
            kind,
            f"{r['index_s']:.1f}",
            f"{r['first_s']:.2f}",
            f"{p['all'][0]:.1f}",
            f"{p['all'][1]:.1f}",
            f"{p['condition'][0]:.1f}",
            f"{p['condition'][1]:.1f}",
            f"{r['recall']:.3f}",
            f"{r['peak_gb']:.2f}",
        )
    console.print(table)


if __name__ == "__main__":
    main()
