"""A discovery run from start to finish (``discover``), its record (``DiscoveryRun``), its storage
in the catalogue (``store_run``), and reading it back (``latest_clusters``, ``write_map``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import attrs
import numpy as np
import pandas as pd

from mousegpt import snapshot
from mousegpt.discover.config import DiscoverConfig, StageNotice
from mousegpt.discover.features import Segments, fact_matrix, features, load
from mousegpt.discover.fit import Fit, fit
from mousegpt.discover.naming import (
    describe_clusters,
    keyword_behavior_shares,
    keyword_counts,
    merge_clusters,
    split_unknown,
)
from mousegpt.discover.reference import load_reference, vocabulary_distance
from mousegpt.errors import InputError, WorkspaceError
from mousegpt.records import CLUSTER_COLUMNS, Cluster
from mousegpt.store import Workspace


@attrs.frozen(kw_only=True)
class DiscoveryRun:
    """One discovery run, as ``discover`` made and stored it.

    Attributes
    ----------
    run_id : int
        Its number in the catalogue (``discovery_runs``), 1 for a workspace's first.
    warnings : list of str
        What went wrong without failing the run (publishing the readers' snapshot).
    segments : int
        Segments clustered.
    sample : int
        Segments the clustering was fitted on.
    seconds : float
        Wall time of the run, s (0.1 s resolution).
    timings : dict of str to float
        Wall time of each stage, s, in order.
    clusters : list of Cluster
        Its clusters, in cluster order.
    """

    run_id: int
    warnings: list[str]
    segments: int
    sample: int
    seconds: float
    timings: dict[str, float]
    clusters: list[Cluster]

    def to_dict(self) -> dict:
        """The run as a JSON-ready document (``mousegpt discover --json``), clusters as dicts."""
        return {
            "run_id": self.run_id,
            "warnings": list(self.warnings),
            "segments": self.segments,
            "sample": self.sample,
            "seconds": self.seconds,
            "timings": dict(self.timings),
            "clusters": [c.to_dict() for c in self.clusters],
        }


@attrs.frozen(kw_only=True)
class ClusterRun:
    """The clusters of a stored discovery run (``latest_clusters``).

    Attributes
    ----------
    run_id : int
        The run's number in the catalogue.
    clusters : list of Cluster
        Its clusters, in cluster order.
    """

    run_id: int
    clusters: list[Cluster]

    def to_dict(self) -> dict:
        """``{"run_id", "clusters": [...]}``, clusters as dicts (JSON-ready)."""
        return {"run_id": self.run_id, "clusters": [c.to_dict() for c in self.clusters]}


def discover(
    workspace: Workspace, config: DiscoverConfig = DiscoverConfig(), progress: StageNotice | None = None
) -> DiscoveryRun:
    """Cluster every visible segment of the workspace, flag novel clusters, and store the run.

    Parameters
    ----------
    workspace : Workspace
        An analysed workspace; its catalogue gains the run.
    config : DiscoverConfig
        The run's settings.
    progress : StageNotice or None
        Told each stage's name.

    Returns
    -------
    DiscoveryRun

    Raises
    ------
    InputError
        When ``sample_size`` is below 50, or the vocabulary's facts are missing.
    WorkspaceError
        When the workspace has fewer than twice ``min_cluster_size`` segments to cluster, or the
        run cannot be stored (nothing is changed then).
    """
    if config.sample_size < 50:
        raise InputError(f"--sample-size must be at least 50, got {config.sample_size}")
    started = time.perf_counter()
    say = progress or (lambda _: None)
    say("reading segments")
    reference = load_reference(config.reference)  # before the long part: a missing file fails at once
    seg = load(workspace, config.include_uncertain)
    if len(seg.table) < 2 * config.min_cluster_size:
        raise WorkspaceError(
            f"{workspace.root}: only {len(seg.table)} visible segments; discovery needs at least "
            f"{2 * config.min_cluster_size}"
        )
    say("measuring the distance to the vocabulary")
    vocab_distance, novelty = vocabulary_distance(seg.table, reference, config.vocabulary_quantile)
    unlike = novelty > 1
    z = fact_matrix(seg.table)
    x = features(workspace, seg, z, config, novelty)
    before_fit = {
        "read_and_vocabulary": round(time.perf_counter() - started, 2)
    }  # reading, distances, features
    fitted = fit(x, config, progress)
    fitted.timings = before_fit | fitted.timings
    del x
    clock = time.perf_counter()
    outlier = (fitted.outlier_score < 0) | unlike
    say("merging and naming clusters")
    min_size = (
        fitted.min_size * len(seg.table) / len(fitted.sample)
    )  # as many as HDBSCAN's smallest cluster holds
    labels = split_unknown(fitted.labels, unlike, int(np.ceil(min_size)), config)
    shares = keyword_behavior_shares(keyword_counts(seg.keywords, labels))
    outlying = pd.Series(outlier).groupby(labels).mean()
    labels = merge_clusters(labels, shares, outlying, z, config)
    clusters = describe_clusters(seg, fitted, labels, z, unlike, outlier, config)
    fitted.timings["name"] = round(time.perf_counter() - clock, 2)
    say("writing the run to the catalogue")
    clock = time.perf_counter()
    warnings: list[str] = []
    run_id = store_run(workspace, seg, labels, fitted, vocab_distance, clusters, config, warnings)
    fitted.timings["store"] = round(time.perf_counter() - clock, 2)
    return DiscoveryRun(
        run_id=run_id,
        warnings=warnings,
        segments=int(len(seg.table)),
        sample=int(len(fitted.sample)),
        seconds=round(time.perf_counter() - started, 1),
        timings=fitted.timings,
        clusters=clusters,
    )


def store_run(
    workspace: Workspace,
    seg: Segments,
    labels: np.ndarray,
    fitted: Fit,
    vocab_distance: np.ndarray,
    clusters: list[Cluster],
    config: DiscoverConfig,
    warnings: list[str] | None = None,
) -> int:
    """Store a run in one transaction, then publish the snapshot readers read.

    The run, its clusters, every segment's assignment, and ``segments.cluster_id`` (the latest
    run's clusters; segments not clustered get none) are written together; then the snapshot
    is published (``Workspace.publish``, which adds to ``warnings`` when that fails).

    Parameters
    ----------
    workspace : Workspace
        The workspace the segments were read from.
    seg : Segments
        The segments clustered.
    labels : numpy.ndarray
        (segments,) final cluster of each.
    fitted : Fit
        Its outlier scores and map positions are stored per segment.
    vocab_distance : numpy.ndarray
        (segments,) distance to the vocabulary (``vocabulary_distance``).
    clusters : list of Cluster
        The run's clusters (``describe_clusters``).
    config : DiscoverConfig
        Stored as JSON with the run.
    warnings : list of str or None
        Gains a line when publishing the snapshot fails.

    Returns
    -------
    int
        The run's id: one more than the latest stored.

    Raises
    ------
    WorkspaceError
        When the catalogue refuses the run; nothing is changed then.
    """
    import duckdb
    import pyarrow as pa

    assignments = pa.table(
        {
            "segment_id": pa.array(seg.table["segment_id"].to_numpy()),
            "cluster_id": pa.array(labels.astype(np.int32)),
            "outlier_score": pa.array(fitted.outlier_score.astype(np.float64)),
            "vocabulary_distance": pa.array(vocab_distance.astype(np.float64)),
            "map_x": pa.array(fitted.map_xy[:, 0].astype(np.float64)),
            "map_y": pa.array(fitted.map_xy[:, 1].astype(np.float64)),
        }
    )
    names, marks = ", ".join(CLUSTER_COLUMNS), ", ".join("?" * len(CLUSTER_COLUMNS))
    insert_cluster = f"INSERT INTO clusters ({names}) VALUES ({marks})"
    with workspace.connect() as con:
        con.execute("BEGIN")
        try:
            run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM discovery_runs").fetchone()[0])
            con.execute(
                "INSERT INTO discovery_runs VALUES (?, now(), ?, ?, ?)",
                [run_id, len(seg.table), len(fitted.sample), json.dumps(asdict(config))],
            )
            for c in clusters:
                con.execute(insert_cluster, c.row(run_id))
            con.register("assignments", assignments)
            con.execute("INSERT INTO segment_clusters SELECT ?, * FROM assignments", [run_id])
            con.execute("UPDATE segments SET cluster_id = NULL WHERE cluster_id IS NOT NULL")
            con.execute(
                "UPDATE segments SET cluster_id = a.cluster_id FROM assignments a "
                "WHERE segments.segment_id = a.segment_id"
            )
            con.unregister("assignments")
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WorkspaceError(
                f"{workspace.catalog_path}: cannot store the discovery run, nothing was changed "
                f"({str(exc).splitlines()[0]})"
            ) from None
        except BaseException:
            con.execute("ROLLBACK")
            raise
        workspace.publish(con, changed=snapshot.DISCOVERY, warnings=warnings)
    return run_id


def latest_clusters(workspace: Workspace, run_id: int | None = None) -> ClusterRun:
    """The clusters of a stored run.

    Parameters
    ----------
    workspace : Workspace
        The workspace (read through its published snapshot, ``Workspace.reader``).
    run_id : int or None
        The run; None for the latest.

    Returns
    -------
    ClusterRun
        Its clusters in cluster order (none for an unknown ``run_id``).

    Raises
    ------
    WorkspaceError
        When no run is stored yet.
    """
    with workspace.reader() as con:
        if run_id is None:
            run_id = con.execute("SELECT max(run_id) FROM discovery_runs").fetchone()[0]
        if run_id is None:
            raise WorkspaceError(f"{workspace.root}: no discovery run yet; run `mousegpt discover`")
        cursor = con.execute("SELECT * FROM clusters WHERE run_id = ? ORDER BY cluster_id", [run_id])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    return ClusterRun(run_id=int(run_id), clusters=[Cluster.from_row(r) for r in rows])


def write_map(workspace: Workspace, run_id: int, folder) -> list:
    """The behaviour map of a run: ``behaviour_map.png`` and ``behaviour_map.html`` in ``folder``.

    Parameters
    ----------
    workspace : Workspace
        The workspace the run is stored in.
    run_id : int
        The run.
    folder : str or pathlib.Path
        Made if missing.

    Returns
    -------
    list of pathlib.Path
        The files written (``plots.behaviour_map``), a sample of up to 20,000 segments drawn.
    """
    from pathlib import Path

    from mousegpt import plots

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    clusters = latest_clusters(workspace, run_id).clusters
    with workspace.reader() as con:
        points = con.execute(
            "SELECT a.segment_id, a.cluster_id, a.map_x, a.map_y, s.behavior, s.overall "
            "FROM segment_clusters a JOIN segments s USING (segment_id) WHERE a.run_id = ? "
            "USING SAMPLE 20000 ROWS",
            [run_id],
        ).fetchdf()
    return plots.behaviour_map(points, clusters, folder / "behaviour_map.png", folder / "behaviour_map.html")
