"""Shared fixtures: one local Ray, one synthetic dataset and one analysed workspace per test session.

Real recordings live in ../shared/data/real beside the repository. Tests that need them
skip with a reason when the folder is absent, and fail instead when
MOUSEGPT_REQUIRE_REAL_DATA=1 (as in CI).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
REAL_LABELLED = REPO.parent / "shared" / "data" / "real-labelled"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _required(folder: Path, what: str) -> Path:
    if not folder.is_dir():
        reason = f"{what} not found at {folder}"
        if os.environ.get("MOUSEGPT_REQUIRE_REAL_DATA") == "1":
            pytest.fail(reason + " and MOUSEGPT_REQUIRE_REAL_DATA=1")
        pytest.skip(reason)
    return folder


@pytest.fixture(scope="session")
def real_data() -> Path:
    return _required(REAL_DATA, "real recordings")


@pytest.fixture(scope="session")
def real_labelled() -> Path:
    """Real pose files with human behaviour labels (../shared/data/real-labelled)."""
    return _required(REAL_LABELLED, "real labelled pose files")


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray for every test that needs it."""
    import ray

    from mousegpt.cluster import connect

    connect(None)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """Four 24-second 640x480 sessions (control, stim, anx, control), with truth tables and a manifest."""
    from mousegpt.synth import Scene, synth_dataset

    out = tmp_path_factory.mktemp("synth")
    synth_dataset(out, sessions=4, seconds=24, seed=7, conditions=("control", "stim", "anx"),
                  scene=Scene(width=640, height=480))
    return out


@pytest.fixture(scope="session")
def embedder():
    from mousegpt.embed import TextEmbedder

    return TextEmbedder()


@pytest.fixture(scope="session")
def analyzed(tmp_path_factory, synth_dir, ray_local):
    """The synthetic dataset analysed on the local Ray: (workspace, report)."""
    from jobs.analyze import run
    from mousegpt.inputs import read_manifest
    from mousegpt.store import Workspace

    ws = Workspace(tmp_path_factory.mktemp("ws"))
    report = run(read_manifest(synth_dir / "manifest.csv"), ws)
    return ws, report


def truth_label(video: str | Path, start_s: float, end_s: float) -> str:
    """Majority ground-truth behaviour of a synthetic video between two times."""
    truth = pd.read_parquet(str(video).replace(".mp4", ".truth.parquet"))
    inside = truth[(truth.time_s >= start_s) & (truth.time_s < end_s)]
    return inside.behavior.mode().iloc[0]


def truth_share(video: str | Path, start_s: float, end_s: float, behavior: str) -> float:
    """Fraction of a synthetic video's frames between two times whose true behaviour is ``behavior``."""
    truth = pd.read_parquet(str(video).replace(".mp4", ".truth.parquet"))
    inside = truth[(truth.time_s >= start_s) & (truth.time_s < end_s)]
    return float((inside.behavior == behavior).mean())


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
