"""What to analyse: command-line INPUTs and manifests resolved into one spec per session.

INPUT is a video, a folder of videos, or a pose file alone. ``manifest.csv`` has columns
``video, animal, condition, fps, px_per_mm, view`` (optional ``pose``, ``arena_mm`` and
``background``); its paths are relative to the manifest's folder; empty fps is read from the
container; empty px_per_mm is measured from the arena when ``arena_mm`` (the real width of
the arena floor along the image's x axis, or its diameter) is given, else estimated from the
mouse's length. ``background`` is an image of the empty arena, of the video's size, that the
built-in tracker then uses instead of estimating one (for a mouse that hardly moves).

Any of these may be an object-store URL (``s3://lab/videos/m01.mp4``, a folder
``s3://lab/videos/``, a manifest ``s3://lab/manifest.csv`` whose relative entries are
then under its folder): see ``sources``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from mousegpt import sources, tracking, video
from mousegpt.errors import InputError
from mousegpt.kinematics import validate_rates
from mousegpt.pose import POSE_SUFFIXES
from mousegpt.video import VIDEO_SUFFIXES

VIEWS = ("top", "bottom")


@dataclass(frozen=True)
class InputSpec:
    """One session to analyse: its video and/or pose file, with the metadata given for it.

    Paths are absolute or object-store URLs. ``fps`` (frames per second) and ``px_per_mm``
    (pixels per millimetre) are None when not given: fps is then read from the container and
    the scale measured from the arena or estimated from the mouse's length. ``view`` is
    ``"top"`` or ``"bottom"``.
    """

    video: str | None
    pose: str | None = None
    animal: str | None = None
    condition: str | None = None
    fps: float | None = None
    px_per_mm: float | None = None
    view: str = "top"
    arena_mm: float | None = None
    """Real width of the arena floor (mm) along the image's x axis, or its diameter."""
    keypoint_map: dict[str, str] | None = None
    """Pose-file keypoint name -> platform name, over ``pose.KEYPOINT_ALIASES``."""
    background: str | None = None
    """Image of the empty arena (a file OpenCV reads, of the video's size): the tracker's
    background instead of one estimated from the video."""

    @property
    def name(self) -> str:
        """The session's name in messages: its video, else its pose file, else ``"?"``."""
        return self.video or self.pose or "?"

    def to_dict(self) -> dict:
        """The spec as a plain dict of its fields (None where not given)."""
        return asdict(self)


def parse_keypoint_map(text: str | None) -> dict[str, str] | None:
    """``"Head=nose,TailRoot=tail_base"`` as a dict; None for None or empty text."""
    if not text or not text.strip():
        return None
    pairs = [part.split("=") for part in text.split(",") if part.strip()]
    if any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise InputError(
            f"keypoint map {text!r}: write it as source=platform pairs, e.g. Head=nose,TailRoot=tail_base"
        )
    return {source.strip(): target.strip() for source, target in pairs}


def _is_pose_file(path: str) -> bool:
    return path.lower().endswith(POSE_SUFFIXES)


def _validate(spec: InputSpec) -> InputSpec:
    validate_rates(spec.fps, spec.px_per_mm, spec.name)
    validate_rates(None, spec.arena_mm, spec.name, names=("fps", "arena_mm"))
    if spec.view not in VIEWS:
        raise InputError(f"{spec.name}: view must be one of {', '.join(VIEWS)}, got {spec.view!r}")
    if spec.background is not None:
        _check_background(spec)
    return spec


def _check_background(spec: InputSpec) -> None:
    """An empty-arena image must go with a video, be readable and be of the video's size:
    checked now, before anything is analysed (a missing video fails later, in its worker).
    """
    if spec.video is None:
        raise InputError(
            f"{spec.background}: an empty-arena image needs a video; {spec.name} is a pose file alone"
        )
    if sources.exists(spec.video):
        tracking.read_empty_arena(spec.background, video.probe(spec.video))
    elif not sources.exists(spec.background):
        raise InputError(f"{spec.background}: no such empty-arena image")


def _number(value, column: str, where: str) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{where}: column {column} must be a number, got {value!r}") from None


def read_manifest(path: str | Path) -> list[InputSpec]:
    """The specs of a ``manifest.csv``, one per row, in the file's order.

    Parameters
    ----------
    path
        A local path or an object-store URL; the manifest's relative entries are read from
        its own folder.

    Returns
    -------
    list of InputSpec
        With fps, px_per_mm and arena_mm None where the cell is empty, and view ``"top"``.

    Raises
    ------
    InputError
        When the manifest is missing or not a readable CSV, has neither a video nor a pose
        column, a row names neither, or a number or view is invalid (the message gives the
        row's line).
    """
    remote = sources.is_url(path)
    if not remote:
        path = Path(path)
    if not sources.exists(path):
        raise InputError(f"{path}: no such manifest")
    with sources.as_local(path) as copy:
        try:
            table = pd.read_csv(copy, dtype=str, keep_default_na=False)
        except Exception as exc:
            raise InputError(f"{path}: not a readable CSV ({exc})") from None
    if "video" not in table.columns and "pose" not in table.columns:
        raise InputError(
            f"{path}: a manifest needs a video (or pose) column; found {', '.join(table.columns)}"
        )
    specs = []

    def rel(v: str | None) -> str | None:
        """An entry of the manifest, read from the manifest's own folder unless it is a URL."""
        if not v:
            return None
        if remote:
            return sources.join(sources.parent(path), v)
        return sources.absolute(v if sources.is_url(v) else str(path.parent / v))

    for i, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        where = f"{path}:{i}"
        if not (row.get("video", "").strip() or row.get("pose", "").strip()):
            raise InputError(f"{where}: row has neither a video nor a pose file")
        specs.append(
            _validate(
                InputSpec(
                    video=rel(row.get("video", "").strip()),
                    pose=rel(row.get("pose", "").strip()),
                    animal=row.get("animal") or None,
                    condition=row.get("condition") or None,
                    fps=_number(row.get("fps"), "fps", where),
                    px_per_mm=_number(row.get("px_per_mm"), "px_per_mm", where),
                    view=(row.get("view") or "top").strip(),
                    arena_mm=_number(row.get("arena_mm"), "arena_mm", where),
                    background=rel(row.get("background", "").strip()),
                )
            )
        )
    return specs


def input_specs(
    inputs: list[str],
    manifest: str | None = None,
    pose: str | None = None,
    condition: str | None = None,
    animal: str | None = None,
    fps: float | None = None,
    px_per_mm: float | None = None,
    view: str = "top",
    arena_mm: float | None = None,
    keypoint_map: dict[str, str] | None = None,
    background: str | None = None,
) -> list[InputSpec]:
    """One spec per session. Command-line metadata applies to every INPUT (not to the
    manifest); so does ``background``, an empty-arena image for every video.
    """
    validate_rates(fps, px_per_mm, "command line")
    specs: list[InputSpec] = read_manifest(manifest) if manifest else []
    paths: list[str] = []
    for item in map(str, inputs):
        if sources.is_url(item) and (item.endswith("/") or sources.is_folder(item)):
            found = sources.files_in(item, VIDEO_SUFFIXES)
        elif Path(item).is_dir():
            found = sorted(str(f) for f in Path(item).iterdir() if f.suffix.lower() in VIDEO_SUFFIXES)
        else:
            paths.append(
                sources.absolute(item)
            )  # a missing file fails in its own worker, listed under `failed`
            continue
        if not found:
            raise InputError(f"{item}: folder holds no videos ({', '.join(VIDEO_SUFFIXES)})")
        paths.extend(map(sources.absolute, found))
    if pose is not None and len(paths) != 1:
        raise InputError(f"{pose}: --pose pairs one pose file with one video, got {len(paths)} inputs")
    for p in paths:
        common = dict(
            animal=animal,
            condition=condition,
            fps=fps,
            px_per_mm=px_per_mm,
            view=view,
            arena_mm=arena_mm,
            keypoint_map=keypoint_map,
            background=sources.absolute(background) if background else None,
        )
        if _is_pose_file(p) and pose is None:
            specs.append(_validate(InputSpec(video=None, pose=p, **common)))
        else:
            specs.append(
                _validate(InputSpec(video=p, pose=sources.absolute(pose) if pose else None, **common))
            )
    if not specs:
        raise InputError("nothing to analyse: give videos, a folder, pose files or --manifest")
    return specs
