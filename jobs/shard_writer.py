"""The analysis job's last stage: each session's shard written once all its chunks are in."""

from __future__ import annotations

import json
import pickle

from mousegpt import analysis
from mousegpt.analysis import SessionResult
from mousegpt.inputs import InputSpec
from mousegpt.store import Workspace


class ShardWriter:
    """Stage 5 of ``jobs.analyze``, on the driver: gathers each session's chunks as they come
    out of the pipeline and writes its shard once all are in.

    ``retries`` is how often the pipeline runs a task again after its worker died: a session
    some of whose chunks never came out failed that many times and once more.
    """

    def __init__(self, workspace: Workspace, specs: list[InputSpec], retries: int):
        self.workspace, self.specs, self.retries = workspace, specs, retries
        self.results: list[SessionResult] = []
        self.parts: dict[int, int] = {}
        self.expected: dict[int, list[str]] = {}
        self.waiting: dict[str, tuple[analysis.SessionPlan, list]] = {}
        self.over: set[str] = set()
        self.segments = 0

    def progress(self) -> dict:
        """How far the run is: inputs settled (each partly, by its described chunks), sessions
        written, their frames, and segments described so far."""
        done = 0.0
        for key in range(len(self.specs)):
            sids = self.expected.get(key)
            if sids is None:
                continue
            for sid in sids:
                if sid in self.over:
                    done += 1 / len(sids)
                elif sid in self.waiting:
                    chunks = self.waiting[sid][1]
                    done += (len(chunks) / chunks[0].of if chunks else 0.0) / len(sids)
            done += 0 if sids else 1
        ok = [r for r in self.results if r.error is None and not r.skipped]
        return {
            "inputs": len(self.specs),
            "inputs_done": round(done, 3),
            "sessions": len(ok),
            "frames": int(sum(r.frames for r in ok)),
            "segments": self.segments,
        }

    def add(self, row: dict) -> None:
        """Take one row out of the pipeline: an input settled without chunks, or one chunk
        of a session (whose shard is written when it is the last)."""
        key = row["key"]
        self.parts[key] = max(self.parts.get(key, 0), row["parts"])
        if row["settled"]:
            self.expected[key] = []
            self.results += pickle.loads(row["settled"])
            return
        self.expected[key] = json.loads(row["sessions"])
        sid = row["session"]
        if sid in self.over:
            return
        header, chunks = self.waiting.setdefault(sid, (pickle.loads(row["header"]), []))
        if row["error"]:
            self._fail(key, sid, row["error"])
            return
        chunk = pickle.loads(row["chunk"])
        chunks.append(chunk)
        self.segments += len(chunk.windows)
        if len(chunks) == chunk.of:
            del self.waiting[sid]
            self.over.add(sid)
            header.result.node = row["node"] or None
            self.results += analysis.guarded(
                header.result.input, lambda: [analysis.write(header, chunks, self.workspace)]
            )

    def _fail(self, key: int, sid: str | None, error: str) -> None:
        header, _ = self.waiting.pop(sid, (None, None))
        self.over.add(sid)
        self.results.append(
            SessionResult(
                input=self.specs[key].name,
                session_id=sid,
                error=error,
                individual=header.result.individual if header else None,
                warnings=header.result.warnings if header else [],
            )
        )

    def finish(self) -> list[SessionResult]:
        """Every result, with a failure for each input or session some of whose rows never
        came out of the pipeline: a worker died on every try."""
        died = f"its worker died {self.retries + 1} times"
        for key, spec in enumerate(self.specs):
            if key not in self.expected:
                self._fail(key, None, f"{spec.name}: lost in the pipeline: {died}")
            for sid in self.expected.get(key, []):
                if sid not in self.over:
                    chunks = self.waiting.get(sid, (None, []))[1]
                    have = sorted(c.index for c in chunks)
                    self._fail(
                        key,
                        sid,
                        f"{spec.name}: session {sid} lost in the pipeline"
                        + (f" after chunk(s) {have}" if have else "")
                        + f": {died}",
                    )
        return self.results
