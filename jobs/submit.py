"""Analyses as Ray Jobs: checked here, submitted to a cluster's job server, followed, cancelled.

``mousegpt submit`` and the dashboard's Analyse page describe an analysis as an
``AnalysisRequest``. Its inputs are checked here with the command line's own rules and
errors, so that a missing file or a malformed manifest is refused before anything reaches
the cluster; then ``mousegpt analyze ... --json`` is submitted as the job's entrypoint
(``ray.job_submission.JobSubmissionClient``). The job prints its progress as
``mousegpt-progress {json}`` lines on stderr, and the job's log carries them back: following
a job needs nothing but the job server. Its results reach the catalogue in its commit; the
catalogue's ``jobs`` table keeps the history under the same id.

The job server is a cluster head's dashboard (``http://HOST:8265``). Without an address,
``LOCAL_ADDRESS`` is used, and a local head is started there when nothing answers
(``start_local_head``; ``ray stop`` stops it).
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from mousegpt import sources
from mousegpt.access import is_loopback
from mousegpt.errors import InputError, MouseGPTError
from mousegpt.inputs import InputSpec, input_specs, parse_keypoint_map
from mousegpt.storage import normalise

LOCAL_ADDRESS = "http://127.0.0.1:8265"
ADDRESS_ENV = "MOUSEGPT_JOBS_ADDRESS"
"""Environment variable naming the job server when no address is given."""
JOB_PREFIX = "mousegpt-analyze-"
"""Submission ids of analyses start with this: other jobs on the cluster are not listed."""
PROGRESS_PREFIX = "mousegpt-progress "
ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
AGENT_WAIT_S = 60.0
"""How long a submission waits for a just-started head's agent to take jobs."""


def default_address() -> str:
    return os.environ.get(ADDRESS_ENV) or LOCAL_ADDRESS


@dataclass
class AnalysisRequest:
    """What ``mousegpt analyze`` would be given: inputs (videos, folders, pose files) or a
    manifest, metadata for the inputs, the describer and the workspace the job commits to.
    Paths are made absolute here: the job runs in another process, maybe on another node
    that sees the same storage."""

    workspace: str
    inputs: list[str] = field(default_factory=list)
    manifest: str | None = None
    pose: str | None = None
    condition: str | None = None
    animal: str | None = None
    fps: float | None = None
    px_per_mm: float | None = None
    arena_mm: float | None = None
    view: str = "top"
    model: str = "mousegpt-tiny"
    keypoint_map: str | None = None
    storage: str | None = None
    """Where a new workspace keeps shards, index and clips (``analyze --storage``)."""

    def __post_init__(self):
        self.workspace = str(Path(self.workspace).resolve())
        self.inputs = [sources.absolute(i) for i in self.inputs]  # object-store URLs as they are
        self.manifest = sources.absolute(self.manifest) if self.manifest else None
        self.pose = sources.absolute(self.pose) if self.pose else None
        self.storage = normalise(self.storage) if self.storage else None
        for name in ("condition", "animal"):
            setattr(self, name, (getattr(self, name) or "").strip() or None)
        for name in ("fps", "px_per_mm", "arena_mm"):  # 0 or empty: read, estimated or measured
            setattr(self, name, getattr(self, name) or None)

    def check(self) -> list[InputSpec]:
        """The sessions' specs, or the command line's one-line ``InputError``; also refuses
        here the files that ``analyze`` would report missing only once it runs."""
        specs = input_specs(
            self.inputs,
            manifest=self.manifest,
            pose=self.pose,
            condition=self.condition,
            animal=self.animal,
            fps=self.fps,
            px_per_mm=self.px_per_mm,
            view=self.view,
            arena_mm=self.arena_mm,
            keypoint_map=parse_keypoint_map(self.keypoint_map),
        )
        for spec in specs:
            for path in (spec.video, spec.pose, spec.background):
                if path is not None and not sources.exists(path):
                    raise InputError(f"{path}: no such file")
        return specs

    def command(self, job_id: str) -> list[str]:
        """The job's ``mousegpt analyze`` command line."""
        command = [
            "mousegpt",
            "analyze",
            *self.inputs,
            "--workspace",
            self.workspace,
            "--view",
            self.view,
            "--model",
            self.model,
            "--json",
            "--progress-lines",
            "--job-id",
            job_id,
        ]
        for option, value in (
            ("--manifest", self.manifest),
            ("--pose", self.pose),
            ("--condition", self.condition),
            ("--animal", self.animal),
            ("--fps", self.fps),
            ("--px-per-mm", self.px_per_mm),
            ("--arena-mm", self.arena_mm),
            ("--keypoint-map", self.keypoint_map),
            ("--storage", self.storage),
        ):
            if value is not None:
                command += [option, str(value)]
        return command


@dataclass
class JobView:
    """One analysis job as the job server reports it, with its progress read from its log."""

    job_id: str
    status: str
    """PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED."""
    inputs: int | None = None
    workspace: str | None = None
    started_at: float | None = None
    """Unix time, s."""
    finished_at: float | None = None
    message: str | None = None
    progress: dict | None = None
    """The last ``mousegpt-progress`` line: inputs, inputs_done, sessions, frames, segments, elapsed_s."""

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def fraction(self) -> float:
        """Share of the inputs done, 0 to 1 (1 once the job succeeded)."""
        if self.status == "SUCCEEDED":
            return 1.0
        p = self.progress or {}
        return min(1.0, p["inputs_done"] / p["inputs"]) if p.get("inputs") else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far; None before the first input has made progress."""
        p = self.progress or {}
        if self.ended or not p.get("inputs_done") or not p.get("elapsed_s"):
            return None
        return p["elapsed_s"] * (p["inputs"] - p["inputs_done"]) / p["inputs_done"]

    def to_dict(self) -> dict:
        return asdict(self) | {"fraction": self.fraction, "eta_s": self.eta_s}


def progress_line(counts: dict) -> str:
    return PROGRESS_PREFIX + json.dumps(counts)


def parse_progress(log: str) -> dict | None:
    """The last progress line of a job's log, as a dict; None when there is none yet."""
    for line in reversed(log.splitlines()):
        if line.startswith(PROGRESS_PREFIX):
            try:
                return json.loads(line[len(PROGRESS_PREFIX) :])
            except json.JSONDecodeError:  # a line cut short by a log rotation: look further back
                continue
    return None


def auth_headers(address: str) -> dict[str, str]:
    """The bearer token of Ray's token authentication for the job server at ``address``:
    ``$RAY_AUTH_TOKEN`` (or the file ``$RAY_AUTH_TOKEN_PATH``) wherever it is; this user's
    ``~/.ray/auth_token``, written by a head started here, only for a head on this machine."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if not path and is_loopback(urlparse(address).hostname):
        path = str(Path.home() / ".ray" / "auth_token")
    if not token and path and Path(path).is_file():
        token = Path(path).read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _reachable(address: str, timeout_s: float = 3.0) -> bool:
    """Whether a Ray job server answers at ``address`` (one that wants a token answers too)."""
    import requests  # only when a job server is asked

    try:
        answer = requests.get(
            address.rstrip("/") + "/api/version", headers=auth_headers(address), timeout=timeout_s
        )
    except requests.RequestException:
        return False
    return answer.ok or answer.status_code in (401, 403)


def start_local_head(address: str = LOCAL_ADDRESS, gcs_port: int = 6379, cpus: int | None = None) -> bool:
    """Start a Ray head on this machine whose job server answers at ``address`` (a loopback
    URL); False when one already answers. The head keeps running (``ray stop`` stops it)."""
    if _reachable(address):
        return False
    url = urlparse(address)
    if url.hostname not in ("127.0.0.1", "localhost") or not url.port:
        raise MouseGPTError(
            f"no Ray job server answers at {address}; only a local one (http://127.0.0.1:PORT) "
            "is started on demand"
        )
    bin_dir = Path(sys.executable).parent
    with (
        socket.socket() as probe
    ):  # the agent's port: not Ray's fixed default, which another local Ray may hold
        probe.bind(("127.0.0.2", 0))
        agent_port = probe.getsockname()[1]
    command = [
        str(bin_dir / "ray"),
        "start",
        "--head",
        "--node-ip-address",
        "127.0.0.2",
        "--port",
        str(gcs_port),
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(url.port),
        "--include-dashboard",
        "true",
        "--dashboard-agent-listen-port",
        str(agent_port),
        "--disable-usage-stats",
    ]
    if cpus:
        command += ["--num-cpus", str(cpus)]
    # Jobs run `mousegpt` from the head's PATH: this environment's, first.
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=Path.home())
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise MouseGPTError(
            f"could not start a local Ray head for {address}: {last[-1] if last else done.returncode}"
        )
    deadline = time.monotonic() + 60
    while not _reachable(address):
        if time.monotonic() > deadline:
            raise MouseGPTError(
                f"started a local Ray head, but its job server at {address} did not answer in 60 s"
            )
        time.sleep(0.5)
    return True


class Jobs:
    """The analysis jobs of one job server. Every failure to reach it is a ``MouseGPTError``
    naming the address."""

    def __init__(self, address: str | None = None):
        self.address = address or default_address()
        hint = (
            "start a local one with `mousegpt jobs head`, or give the cluster's dashboard address "
            "(http://HEAD:8265)"
        )
        if not _reachable(self.address):
            raise MouseGPTError(
                f"cannot reach the Ray job server at {self.address} (nothing answers); {hint}"
            )
        try:
            from ray.job_submission import JobSubmissionClient

            self.client = JobSubmissionClient(self.address, headers=auth_headers(self.address))
        except Exception as exc:  # ConnectionError, ValueError for a malformed address, ...
            reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise MouseGPTError(
                f"cannot reach the Ray job server at {self.address} ({reason[:200]}); {hint}"
            ) from None

    def _failure(self, what: str, exc: Exception) -> MouseGPTError:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        return MouseGPTError(f"{what} at {self.address} failed: {reason[:300]}")

    def _call(self, what: str, function, *args):
        try:
            return function(*args)
        except MouseGPTError:
            raise
        except Exception as exc:
            raise self._failure(what, exc) from None

    def submit(self, request: AnalysisRequest) -> str:
        """Check the request, then submit it; returns the job id."""
        specs = request.check()
        job_id = JOB_PREFIX + uuid.uuid4().hex[:12]
        entrypoint = shlex.join(request.command(job_id))
        metadata = {"mousegpt": "analyze", "inputs": str(len(specs)), "workspace": request.workspace}
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                return self.client.submit_job(entrypoint=entrypoint, submission_id=job_id, metadata=metadata)
            except Exception as exc:
                # A head just started answers before its node's agent takes jobs, and says to try again.
                if "No available agent" not in str(exc) or time.monotonic() > deadline:
                    raise self._failure("submitting the job", exc) from None
            time.sleep(1.0)

    def _view(self, info, with_progress: bool) -> JobView:
        metadata = info.metadata or {}
        log = self.logs(info.submission_id) if with_progress else ""
        return JobView(
            job_id=info.submission_id,
            status=str(getattr(info.status, "value", info.status)),
            inputs=int(metadata["inputs"]) if metadata.get("inputs") else None,
            workspace=metadata.get("workspace"),
            started_at=info.start_time / 1000 if info.start_time else None,
            finished_at=info.end_time / 1000 if info.end_time else None,
            message=info.message,
            progress=parse_progress(log),
        )

    def list(self, workspace: str | None = None, with_progress: bool = True) -> list[JobView]:
        """Analysis jobs, newest first (only those committing to ``workspace`` when given);
        the progress of those still running (read from their logs) unless not ``with_progress``."""
        infos = self._call("listing jobs", self.client.list_jobs)
        infos = [
            i
            for i in infos
            if (i.submission_id or "").startswith(JOB_PREFIX)
            and (workspace is None or (i.metadata or {}).get("workspace") == str(Path(workspace).resolve()))
        ]
        infos.sort(key=lambda i: i.start_time or 0, reverse=True)
        return [
            self._view(
                i, with_progress=with_progress and str(getattr(i.status, "value", i.status)) not in ENDED
            )
            for i in infos
        ]

    def status(self, job_id: str) -> JobView:
        info = self._call(f"job {job_id}", self.client.get_job_info, job_id)
        return self._view(info, with_progress=True)

    def logs(self, job_id: str) -> str:
        return self._call(f"the log of job {job_id}", self.client.get_job_logs, job_id)

    def cancel(self, job_id: str) -> bool:
        """Stop a job; False when it had already ended."""
        return bool(self._call(f"cancelling job {job_id}", self.client.stop_job, job_id))

    def result(self, job_id: str) -> dict | None:
        """The analyze JSON document the job printed once it ended; None before, or if it printed none."""
        log = self.logs(job_id)
        start = log.rfind('\n{\n  "sessions"')
        if start < 0:
            start = 0 if log.startswith('{\n  "sessions"') else -1
        if start < 0:
            return None
        try:
            return json.JSONDecoder().raw_decode(log[start:].lstrip())[0]
        except json.JSONDecodeError:
            return None
