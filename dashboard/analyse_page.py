"""The Analyse page: choose inputs under the data root, set their metadata, submit the analysis
as a Ray Job, and follow it (state, progress, ETA, log, cancel) until its sessions are searchable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.common import redact
from jobs.submit import (
    LOCAL_ADDRESS,
    AnalysisRequest,
    Jobs,
    default_address,
    parse_progress,
    start_local_head,
)
from mousegpt.errors import MouseGPTError
from mousegpt.inputs import VIEWS
from mousegpt.pose import POSE_SUFFIXES
from mousegpt.store import Workspace
from mousegpt.video import VIDEO_SUFFIXES

MAX_LISTED = 2000
"""Entries of the data root offered as inputs (a deeper tree is narrowed by choosing a folder)."""
LOG_LINES = 40


@st.cache_data(ttl=15)
def choices(data_root: str, workspace: str) -> tuple[list[str], list[str]]:
    """Under the data root (but not in the workspace), relative paths: folders holding videos,
    videos and pose files (the inputs ``analyze`` takes), and manifests (``*.csv`` whose
    header names a ``video`` column)."""
    root, skip = Path(data_root), Path(workspace)
    inputs, manifests = [], []
    suffixes = set(VIDEO_SUFFIXES) | set(POSE_SUFFIXES)
    for path in sorted(root.rglob("*")):
        if len(inputs) >= MAX_LISTED:
            break
        if any(part.startswith(".") for part in path.relative_to(root).parts) or path.is_relative_to(skip):
            continue
        relative = str(path.relative_to(root))
        if path.is_dir():
            if any(f.suffix.lower() in VIDEO_SUFFIXES for f in path.iterdir()):
                inputs.append(relative + "/")
        elif path.suffix.lower() == ".csv" and "video" in path.open(errors="replace").readline().split(","):
            manifests.append(relative)
        elif path.suffix.lower() in suffixes:
            inputs.append(relative)
    return inputs, manifests


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _request(root: Path, data_root: Path | None) -> AnalysisRequest | None:
    """The form; the request once submitted. Inputs are chosen under the data root, or given
    as object-store URLs (read on the cluster's nodes with their own credentials)."""
    inputs, manifests = choices(str(data_root), str(root)) if data_root is not None else ([], [])
    with st.form("analyse"):
        source = st.radio("Inputs", ["Files and folders", "A manifest"], horizontal=True, key="source")
        if data_root is not None:
            picked = st.multiselect(
                f"Videos, folders or pose files under the data root ({data_root.name}/)",
                inputs,
                key="inputs",
                help="A folder stands for every video in it.",
            )
        else:
            picked = []
            st.caption(
                "Start the dashboard with `--data-root DIR` (or set $MOUSEGPT_DATA_ROOT) "
                "to choose files here."
            )
        urls = st.text_area(
            "Object-store URLs, one per line",
            key="urls",
            height=80,
            placeholder="s3://lab/videos/\ns3://lab/pose/m02_dlc.h5",
            help="Videos, pose files or folders of videos in s3://, gs://, az:// ...; the "
            "cluster's nodes read them with their own credentials.",
        )
        manifest = st.selectbox(
            "Manifest (CSV: video, animal, condition, fps, px_per_mm, view[, pose, arena_mm])",
            ["", *manifests],
            key="manifest",
            help="Its rows carry their own metadata; the fields below apply to files and folders.",
        )
        manifest_url = st.text_input(
            "…or a manifest's URL",
            key="manifest-url",
            placeholder="s3://lab/manifest.csv",
            help="Its relative entries are read from its own folder.",
        )
        left, middle, right = st.columns(3)
        condition = left.text_input("Condition", key="condition", placeholder="e.g. control")
        animal = middle.text_input("Animal", key="animal", placeholder="e.g. m01")
        view = right.selectbox("Camera view", VIEWS, key="view")
        fps = left.number_input("Frame rate (0: from the video)", min_value=0.0, value=0.0, key="fps")
        px_per_mm = middle.number_input(
            "px per mm (0: estimated)", min_value=0.0, value=0.0, format="%.4f", key="px_per_mm"
        )
        arena_mm = right.number_input(
            "Arena width, mm (0: unknown)",
            min_value=0.0,
            value=0.0,
            key="arena_mm",
            help="The floor's real width along x (or its diameter): px/mm is then measured from the walls.",
        )
        model = left.text_input(
            "Describer",
            value="mousegpt-tiny",
            key="model",
            help="mousegpt-tiny, kinematic, tiny:/path, hf:/path or serve[:APP]",
        )
        submitted = st.form_submit_button("Analyse", type="primary")
    if not submitted:
        return None
    if source == "Files and folders":
        chosen = {"inputs": [str(data_root / p) for p in picked] + _lines(urls)}
    else:
        chosen = {"manifest": manifest_url.strip() or (str(data_root / manifest) if manifest else None)}
    return AnalysisRequest(
        workspace=str(root),
        condition=condition,
        animal=animal,
        view=view,
        fps=fps,
        px_per_mm=px_per_mm,
        arena_mm=arena_mm,
        model=model.strip() or "mousegpt-tiny",
        **chosen,
    )


def _submit(request: AnalysisRequest, address: str, root: Path, data_root: Path) -> None:
    try:
        n = len(request.check())  # refused here, before the cluster is reached
        if address == LOCAL_ADDRESS:
            with st.spinner(f"Starting a local Ray head at {address}…"):
                start_local_head(address)
        job_id = Jobs(address).submit(request)
    except MouseGPTError as exc:
        st.error(redact(str(exc), root, data_root))
        return
    st.session_state.setdefault("submitted", []).append(job_id)
    st.success(
        f"Submitted {job_id}: {n} input(s). Follow it below; its sessions appear in Search once committed."
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes} min {s:02d} s" if minutes else f"{s} s"


@st.fragment(run_every=2)
def follow(address: str, root: Path, data_root: Path | None) -> None:
    """The workspace's jobs on the cluster, redrawn every 2 s: state, progress, log, cancel."""
    try:
        jobs = Jobs(address)
        views = jobs.list(workspace=str(root), with_progress=False)
    except MouseGPTError as exc:
        st.warning(f"Jobs: {redact(str(exc), root, data_root)}")
        return
    if not views:
        st.caption(f"No analysis jobs for this workspace on {address}.")
        return
    seen = st.session_state.setdefault("ended", set())
    for view in views:
        if view.ended and view.job_id not in seen:
            seen.add(view.job_id)
            if view.status == "SUCCEEDED":
                # its sessions are committed: search, sessions and conditions read them anew
                st.cache_data.clear()
    ended_logs = st.session_state.setdefault("ended-logs", {})
    for view in views[:10]:
        # A running job's log is read once per redraw (its progress and its tail); an ended
        # job's log no longer changes, so it is read once.
        log = ended_logs.get(view.job_id) if view.ended else None
        if log is None:
            log = jobs.logs(view.job_id)
            if view.ended:
                ended_logs[view.job_id] = log
        view.progress = parse_progress(log) or view.progress
        with st.container(border=True, key=f"job-{view.job_id}"):
            head, button = st.columns([5, 1])
            p = view.progress or {}
            head.markdown(f"**{view.job_id}** · `{view.status}` · {view.inputs or '?'} input(s)")
            detail = (
                f"{p['inputs_done']:g}/{p['inputs']} inputs · {p['frames']:,} frames · "
                f"{p['segments']:,} segments"
                if p
                else "waiting for its first results"
            )
            if not view.ended:
                detail += f" · ETA {_duration(view.eta_s)}"
                if button.button("Cancel", key=f"cancel-{view.job_id}"):
                    jobs.cancel(view.job_id)
                    st.toast(f"Stopping {view.job_id}")
            st.progress(view.fraction, text=detail)
            if view.ended and view.status != "SUCCEEDED" and view.message:
                st.error(redact(view.message.splitlines()[0], root, data_root))
            with st.expander("Log"):
                st.code(
                    redact("\n".join(log.splitlines()[-LOG_LINES:]), root, data_root) or "(empty)",
                    language=None,
                )


def history(root: Path) -> pd.DataFrame | None:
    """The catalogue's jobs table: every committed analysis, newest first."""
    workspace = Workspace(root)
    if not workspace.exists():
        return None
    return workspace.jobs()


def render(root: Path, data_root: Path | None) -> None:
    st.subheader("Analyse videos")
    address = st.text_input(
        "Ray cluster (job server)",
        value=default_address(),
        key="address",
        help=f"A cluster head's dashboard, http://HEAD:8265. {LOCAL_ADDRESS} is a local head, "
        "started when you submit if none answers.",
    )
    request = _request(root, data_root)
    if request is not None:
        _submit(request, address, root, data_root)
    st.markdown("##### Jobs")
    follow(address, root, data_root)
    past = history(root)
    if past is not None and len(past):
        st.markdown("##### Committed analyses")
        st.dataframe(past, hide_index=True, key="history")
