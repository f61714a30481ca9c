"""Poses out: the platform's poses written as DeepLabCut CSV or NWB (ndx-pose), via ``movement``.

What ``mousegpt tracks`` writes, so the built-in tracker's poses open in the field's tools.
A file is written whole or not at all.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pynwb
import xarray as xr
from movement.io import save_poses
from movement.io.nwb import NWBFileSaveConfig

from mousegpt.errors import InputError

EXPORT_FORMATS: dict[str, str] = {".csv": "DeepLabCut", ".nwb": "NWB"}
"""Suffixes ``save`` writes, with the format each one selects."""


def export_format(path: str | Path) -> str:
    """The format ``save`` writes to ``path``, chosen by its suffix (see ``EXPORT_FORMATS``).

    Raises InputError naming the path and the supported suffixes for any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        supported = ", ".join(f"{s} ({name})" for s, name in EXPORT_FORMATS.items())
        raise InputError(
            f"{path}: cannot write poses to a {suffix or 'suffix-less'} file; supported: {supported}"
        )
    return EXPORT_FORMATS[suffix]


def save(
    ds: xr.Dataset, path: str | Path, source: str | Path | None = None, start_time: datetime | None = None
) -> list[Path]:
    """Write poses to ``path``: DeepLabCut CSV for ``.csv``, NWB (ndx-pose) for ``.nwb``.

    Only ``position`` (pixels) and ``confidence`` are written; other data variables are
    left out. NaN stays NaN. Every file is written whole or not at all, replacing any file
    already there. ``source`` and ``start_time`` are NWB session metadata (see ``to_nwb``).
    Returns the files written.
    """
    path = Path(path)
    if export_format(path) == "NWB":
        return to_nwb(ds, path, source=source, start_time=start_time)
    to_dlc_csv(ds, path)
    return [path]


@contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A scratch file that becomes ``path`` only if the block succeeds.

    The scratch file lies in a hidden folder beside ``path`` because a rename within one
    file system is atomic, so readers see the old file or the new one, never half of one.
    It has ``path``'s suffix in lower case, as ``movement``'s writers check it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as scratch:
            part = Path(scratch) / f"part{path.suffix.lower()}"
            yield part
            os.replace(part, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _poses_only(ds: xr.Dataset) -> xr.Dataset:
    # a tracker may add variables (body length, ...) that the pose formats have no place for
    return ds[["position", "confidence"]]


def to_dlc_csv(ds: xr.Dataset, path: str | Path) -> None:
    """Write poses as one DeepLabCut CSV, every individual in it (readable back by DeepLabCut
    and ``movement``). NaN positions and confidences are written as empty cells.
    """
    with _replacing(Path(path)) as part:
        save_poses.to_dlc_file(_poses_only(ds), part, split_individuals=False)


def _session_start(source: Path | None) -> datetime:
    # the recording's own start is rarely known: the source file's time is the closest stand-in
    if source is not None and source.exists():
        return datetime.fromtimestamp(source.stat().st_mtime, tz=UTC)
    return datetime.now(UTC)


def _nwb_config(
    ds: xr.Dataset, individual: str, name: str, source: Path | None, start: datetime
) -> NWBFileSaveConfig:
    software = ds.attrs.get("source_software") or "unknown software"
    return NWBFileSaveConfig(
        nwbfile_kwargs={
            "session_description": f"Poses by {software}" + (f" from {source.name}" if source else ""),
            "session_start_time": start,
            "identifier": f"{name}_{individual}",
        },
        subject_kwargs={"subject_id": individual, "species": "Mus musculus"},
    )


def to_nwb(
    ds: xr.Dataset, path: str | Path, source: str | Path | None = None, start_time: datetime | None = None
) -> list[Path]:
    """Write poses as NWB with the ndx-pose extension: one file per individual, as NWB has one
    subject per file (``path`` itself for one individual, ``<stem>_<individual>.nwb`` for several).

    Time is written in seconds, so the poses need a frame rate; positions are in pixels and
    NaN stays NaN. The session description names ``source`` (default: the dataset's
    ``source_file``), the session starts at ``start_time`` (timezone-aware; default: the
    source file's modification time, else now) and the identifier is
    ``<source stem>_<individual>``, which ``movement`` reads back as the individual's name.
    Readers return the keypoints in alphabetical order.
    """
    path = Path(path)
    if ds.attrs.get("time_unit") != "seconds":
        raise InputError(
            f"{path}: NWB stores time in seconds but these poses have no frame rate; read them with fps"
        )
    source = source or ds.attrs.get("source_file")
    source = Path(source) if source else None
    start = start_time or _session_start(source)
    individuals = [str(i) for i in ds.individuals.values]
    if len(individuals) == 1:
        targets = [path]
    else:
        targets = [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in individuals]
    for individual, target in zip(individuals, targets):
        config = _nwb_config(ds, individual, (source or path).stem, source, start)
        nwb_file = save_poses.to_nwb_file(_poses_only(ds).sel(individuals=[individual]), config)
        with _replacing(target) as part, pynwb.NWBHDF5IO(part, mode="w") as io:
            io.write(nwb_file)
    return targets
