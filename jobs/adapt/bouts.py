"""A lab's annotation file, checked line by line (``read_bouts``): one bout per line, ``video`` or
``pose`` (a path relative to the file's folder, or absolute), ``start_s``, ``end_s``,
``behavior``, optionally ``description``, and what a recording needs to be analysed (``fps``,
``px_per_mm``, ``arena_mm``, ``view``). Every recording is opened to check the times against
its duration before anything is analysed."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from mousegpt import pose, video
from mousegpt.errors import InputError

KEYS = {
    "video",
    "pose",
    "start_s",
    "end_s",
    "behavior",
    "description",
    "fps",
    "px_per_mm",
    "arena_mm",
    "view",
}
"""Every key an annotation line may have."""


@dataclass(frozen=True)
class Bout:
    line: int
    file: str
    """Absolute path of the video or pose file."""
    kind: str
    """``video`` or ``pose``."""
    start_s: float
    end_s: float
    behavior: str
    description: str | None
    fps: float | None
    px_per_mm: float | None
    arena_mm: float | None
    view: str | None
    """None when the line does not say (then ``top``, unless another line of the recording says)."""


def behavior_name(text: str) -> str:
    """A behaviour name as a class: lower case, single spaces."""
    return " ".join(str(text).split()).lower()


def _number(row: dict, key: str, where: str, positive: bool = False) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}: {key} must be a number, got {json.dumps(value)}")
    if positive and value <= 0:
        raise InputError(f"{where}: {key} must be positive, got {value:g}")
    return float(value)


def _line(path: Path, number: int, text: str) -> Bout:
    where = f"{path}:{number}"
    try:
        row = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{where}: not JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(row, dict):
        raise InputError(f"{where}: not a JSON object")
    unknown = sorted(set(row) - KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}")
    has = [k for k in ("video", "pose") if row.get(k) not in (None, "")]
    if len(has) != 1:
        raise InputError(f"{where}: give one of video or pose" + (", not both" if len(has) == 2 else ""))
    missing = [k for k in ("start_s", "end_s", "behavior") if row.get(k) is None]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    start, end = _number(row, "start_s", where), _number(row, "end_s", where)
    if start < 0 or start >= end:
        raise InputError(f"{where}: need 0 <= start_s < end_s, got {start:g} and {end:g}")
    if not isinstance(row["behavior"], str) or not row["behavior"].strip():
        raise InputError(f"{where}: behavior must be a non-empty name")
    description = row.get("description")
    if description is not None and not isinstance(description, str):
        raise InputError(f"{where}: description must be text")
    view = row.get("view")
    if view not in (None, "top", "bottom"):
        raise InputError(f"{where}: view must be top or bottom, got {json.dumps(view)}")
    kind = has[0]
    if not isinstance(row[kind], str):
        raise InputError(f"{where}: {kind} must be a path")
    file = (path.parent / row[kind]).resolve()
    if not file.is_file():
        raise InputError(f"{where}: {kind} file {row[kind]} not found")
    return Bout(
        number,
        str(file),
        kind,
        start,
        end,
        behavior_name(row["behavior"]),
        description.strip() or None if description else None,
        _number(row, "fps", where, True),
        _number(row, "px_per_mm", where, True),
        _number(row, "arena_mm", where, True),
        view,
    )


def _duration(bout: Bout, where: str) -> tuple[float, object]:
    """The recording's duration (s) and, for a pose file, its poses (read once, reused)."""
    try:
        if bout.kind == "video":
            info = video.probe(bout.file)
            return info.n_frames / (bout.fps or info.fps), None
        ds = pose.load(bout.file, fps=bout.fps)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    fps = bout.fps or (ds.attrs.get("fps") if ds.attrs.get("time_unit") == "seconds" else None)
    if not fps:
        raise InputError(
            f'{where}: pose file {Path(bout.file).name} has no frame rate; add "fps" to the line'
        )
    return pose.n_frames(ds) / float(fps), ds


def read_bouts(path: str | Path) -> tuple[list[Bout], dict[str, object]]:
    """Every annotation line, checked: the bouts, and the poses of each pose file read.

    Raises InputError ``FILE:LINE: problem`` for the first bad line (unknown keys, not JSON,
    a missing file, times outside the recording, metadata that differs between lines of one
    recording)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    bouts: list[Bout] = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if text.strip():
            bouts.append(_line(path, number, text))
    if not bouts:
        raise InputError(f"{path}: no annotations")
    # A recording's metadata may be given on any of its lines; two lines must not disagree.
    recording: dict[str, Bout] = {}
    for bout in bouts:
        seen = recording.setdefault(bout.file, bout)
        merged = {}
        for key in ("kind", "fps", "px_per_mm", "arena_mm", "view"):
            mine, theirs = getattr(bout, key), getattr(seen, key)
            if mine is not None and theirs is not None and mine != theirs:
                raise InputError(
                    f"{path}:{bout.line}: {key} {mine} differs from {theirs} given for the same file before"
                )
            merged[key] = theirs if theirs is not None else mine
        recording[bout.file] = replace(seen, **merged)
    durations: dict[str, float] = {}
    poses: dict[str, object] = {}
    for bout in bouts:
        where = f"{path}:{bout.line}"
        if bout.file not in durations:
            durations[bout.file], ds = _duration(recording[bout.file], where)
            if ds is not None:
                poses[bout.file] = ds
        if bout.end_s > durations[bout.file] + 1e-6:
            raise InputError(
                f"{where}: end_s {bout.end_s:g} is beyond the recording's end ({durations[bout.file]:.2f} s)"
            )
    return [
        replace(
            recording[b.file],
            line=b.line,
            start_s=b.start_s,
            end_s=b.end_s,
            behavior=b.behavior,
            description=b.description,
        )
        for b in bouts
    ], poses
