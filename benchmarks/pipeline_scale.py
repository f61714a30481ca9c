"""How the analysis pipeline scales: against decoding, across cores, across nodes, in memory.

    .venv/bin/python benchmarks/pipeline_scale.py [--quick] [--keep DIR]

Prints one table:

(a) end-to-end ``analyze`` rate over the decode-to-grey rate on the same files: 4 x 5-minute
    videos on a 2-CPU local Ray, start-up included; decoding runs one process per file, as
    many at once as CPUs (the parallelism the pipeline gets). Target >= 0.5.
(b) one 20-minute video on a 1-CPU and on a 2-CPU local Ray: speedup. Target >= 1.7.
(c) a local multi-node cluster (a head and 2 worker nodes on loopback, one of them started
    with ``--num-gpus 1``, a logical GPU): the node the describe stage ran on, against the
    GPU node.
(d) peak resident memory of the pipeline's worker processes, for a 10- and a 60-minute
    video: flat within 20%.

The long videos are synthetic 640x480, 25 fps minutes joined end to end (packets copied, not
re-encoded), so every length costs the same to make. ``--quick`` divides every length by 5.
Each measurement runs in a fresh child process with its own Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).parent / "ray")
PIPELINE_WORKERS = ("sessions", "_prepare", "_track", "_plan_sessions", "cut", "Describe", "Embed")
"""Name parts of the pipeline's worker processes (``ray::...``), as Ray titles them."""
PX_PER_MM = 1.104  # the synthetic scene's (tests/conftest.py): the scale is not what is measured


def joined(base: Path, copies: int, out: Path) -> Path:
    """``base`` played ``copies`` times end to end, as one file (packets copied)."""
    import av

    with av.open(str(base)) as probe:
        stream = probe.streams.video[0]
        duration = int(
            stream.duration or round(stream.frames / float(stream.average_rate) / stream.time_base)
        )
    with av.open(str(out), "w") as output:
        target = None
        for k in range(copies):
            with av.open(str(base)) as source:
                stream = source.streams.video[0]
                if target is None:
                    target = output.add_stream_from_template(stream)
                for packet in source.demux(stream):
                    if packet.dts is None:  # the demuxer's final empty packet
                        continue
                    packet.pts += k * duration
                    packet.dts += k * duration
                    packet.stream = target
                    output.mux(packet)
    return out


def decode_count(path: str) -> int:
    from mousegpt import video

    return sum(len(chunk) for _, chunk in video.iter_chunks(path))


def decode_rate(paths: list[Path], cpus: int) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(cpus) as pool:
        frames = sum(pool.map(decode_count, [str(p) for p in paths]))
    return frames / (time.perf_counter() - started)


def child(args: dict) -> dict:
    """One measurement in this (fresh) process: analyse ``videos`` into a new workspace on a
    local Ray of ``cpus`` CPUs, or on the cluster at ``address``; with ``memory``, the peak
    resident memory of every Ray worker process, sampled every 0.2 s."""
    import psutil
    import ray

    from jobs.analyze import run
    from mousegpt.inputs import InputSpec
    from mousegpt.store import Workspace

    started = time.perf_counter()
    if args.get("address"):
        ray.init(address=args["address"], logging_level="ERROR")
    else:
        # address="local": a new Ray of its own, even where another runs on this machine
        ray.init(address="local", num_cpus=args["cpus"], include_dashboard=False, logging_level="ERROR")
    peaks: dict[int, tuple[str, int]] = {}
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            for proc in psutil.process_iter(["pid", "cmdline"]):
                try:
                    name = (proc.info["cmdline"] or [""])[0]
                    if name.startswith("ray::") and name not in ("ray::IDLE",):
                        rss = proc.memory_info().rss
                        if rss > peaks.get(proc.pid, ("", 0))[1]:
                            peaks[proc.pid] = (name, rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass

    sampler = threading.Thread(target=sample, daemon=True)
    if args.get("memory"):
        sampler.start()
    specs = [InputSpec(video=v, px_per_mm=PX_PER_MM) for v in args["videos"]]
    report = run(specs, Workspace(Path(args["workspace"])), part_seconds=args.get("part_seconds", 60.0))
    stop.set()
    seconds = time.perf_counter() - started
    gpu_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0]
    ray.shutdown()
    by_stage: dict[str, int] = {}
    for name, rss in peaks.values():
        by_stage[name] = max(by_stage.get(name, 0), rss)
    return {
        "seconds": seconds,
        "frames": report["frames"],
        "failed": report["failed"],
        "nodes": report["nodes"],
        "gpu_nodes": gpu_nodes,
        "peak_rss_mb": {k: round(v / 2**20) for k, v in by_stage.items()},
    }


def measure(args: dict) -> dict:
    """``child(args)`` in a fresh Python process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=os.environ | {"RAY_AUTH_MODE": "disabled"},
    )
    if out.returncode != 0:
        raise SystemExit(f"measurement failed: {args}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def nodes_up(address: str, count: int, env: dict, timeout_s: float = 120) -> None:
    """Wait until the cluster at ``address`` has ``count`` live nodes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = subprocess.run(
            [RAY, "status", "--address", address], capture_output=True, text=True, env=env
        )
        if status.returncode == 0 and status.stdout.count(" node_") >= count:
            return
        time.sleep(1)
    raise SystemExit(f"the local cluster at {address} did not reach {count} nodes in {timeout_s:.0f} s")


def cluster(gpu_worker: bool = True):
    """A head and 2 worker nodes on loopback (one with a logical GPU), each its own process
    group so that stopping them touches no other Ray on this machine. Returns (address, stop)."""
    port = 6391
    address = f"127.0.0.2:{port}"
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--node-ip-address", "127.0.0.2", "--num-cpus", "1", "--block"]
    procs = [
        subprocess.Popen(
            [RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]

    def stop():
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            proc.wait(timeout=60)
        # `ray start --head` left its address on record: a later ray.init() would try to join it.
        record = Path("/tmp/ray/ray_current_cluster")
        if record.exists() and record.read_text().strip() == address:
            record.unlink()

    try:
        nodes_up(address, 1, env)
        # One node at a time: two nodes starting at once on one address can collide.
        for k, gpus in enumerate(("1" if gpu_worker else "0", "0")):
            procs.append(
                subprocess.Popen(
                    [RAY, "start", "--address", address, "--num-gpus", gpus, *common],
                    env=env,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            nodes_up(address, k + 2, env)
    except BaseException:
        stop()
        raise
    return address, stop


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="every video 5 times shorter")
    parser.add_argument("--keep", type=Path, help="make the videos here and keep them")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c,d")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    from mousegpt.synth import Scene, synth_dataset

    console = Console(stderr=True)
    skip = set(args.skip.split(","))
    scale = 5 if args.quick else 1
    work = args.keep or Path(tempfile.mkdtemp(prefix="pipeline_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    console.print(f"making videos in {work}")
    if not (work / "base" / "manifest.csv").exists():
        synth_dataset(
            work / "base",
            sessions=4,
            seconds=60 // scale,
            seed=11,
            conditions=("control",),
            scene=Scene(width=640, height=480),
        )
    bases = sorted((work / "base").glob("*.mp4"))
    five = [joined(b, 5, work / f"five_{i}.mp4") for i, b in enumerate(bases)]
    twenty, ten, sixty = (joined(bases[0], n, work / f"min{n}.mp4") for n in (20, 10, 60))
    minutes = 1 / scale

    class Rows(list):
        def append(self, row):
            console.print("  " + " | ".join(row))
            super().append(row)

    rows = Rows()

    def workspace() -> str:
        return tempfile.mkdtemp(prefix="ws_", dir=work)

    if "a" not in skip:
        console.print("(a) 4 videos, end to end against decoding")
        decoding = decode_rate(five, 2)
        run_a = measure({"videos": [str(v) for v in five], "cpus": 2, "workspace": workspace()})
        rate = run_a["frames"] / run_a["seconds"]
        rows.append(
            (
                "(a) 4 x %g-min videos, 2 CPUs" % (5 * minutes),
                f"decode-to-grey {decoding:,.0f} frames/s; "
                f"analyze {rate:,.0f} frames/s ({run_a['seconds']:.0f} s, start-up included)",
                f"{rate / decoding:.2f}",
                ">= 0.5",
            )
        )
    if "b" not in skip:
        console.print("(b) one long video on 1 and 2 CPUs")
        one = measure({"videos": [str(twenty)], "cpus": 1, "workspace": workspace()})
        two = measure({"videos": [str(twenty)], "cpus": 2, "workspace": workspace()})
        rows.append(
            (
                "(b) one %g-min video, 1 vs 2 CPUs" % (20 * minutes),
                f"{one['seconds']:.0f} s vs {two['seconds']:.0f} s",
                f"{one['seconds'] / two['seconds']:.2f}x",
                ">= 1.7x",
            )
        )
    if "c" not in skip:
        console.print("(c) a head and 2 worker nodes, one with a logical GPU")
        address, stop = cluster()
        try:
            run_c = measure(
                {
                    "videos": [str(v) for v in five[:2]],
                    "address": address,
                    "workspace": workspace(),
                    "part_seconds": 30.0,
                }
            )
        finally:
            stop()
        on_gpu = set(run_c["nodes"]) <= set(run_c["gpu_nodes"]) and bool(run_c["gpu_nodes"])
        rows.append(
            (
                "(c) 3-node cluster, describe stage placement",
                f"sessions per node {run_c['nodes']}; GPU node {run_c['gpu_nodes']}",
                "on the GPU node" if on_gpu else "NOT on the GPU node",
                "on the GPU node",
            )
        )
    if "d" not in skip:
        console.print("(d) worker memory, a short and a long video")
        peaks = []
        for path, length in ((ten, 10), (sixty, 60)):
            measured = measure({"videos": [str(path)], "cpus": 2, "workspace": workspace(), "memory": True})
            peaks.append(measured["peak_rss_mb"])
            rows.append(
                (
                    f"(d) peak RSS per worker, {length * minutes:g}-min video",
                    ", ".join(f"{k}: {v} MB" for k, v in sorted(measured["peak_rss_mb"].items())),
                    f"{max(measured['peak_rss_mb'].values())} MB",
                    "",
                )
            )
        # The pipeline's own workers (Ray's internal actors are not the pipeline's), and any
        # one of them: a process runs tasks of several stages, and is named for its latest.
        short, long_ = (max(v for k, v in p.items() if any(s in k for s in PIPELINE_WORKERS)) for p in peaks)
        rows.append(
            (
                "(d) largest pipeline worker, 60-min over 10-min",
                f"{long_} MB / {short} MB",
                f"{long_ / short:.2f}",
                "<= 1.20",
            )
        )
    table = Table(title="analysis pipeline scaling (benchmarks/pipeline_scale.py)")
    for column in ("measure", "figures", "result", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
