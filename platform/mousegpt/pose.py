"""Pose files in, platform keypoints out: DeepLabCut, SLEAP, NWB and LightningPose via ``movement``.

Every pose source ends as a ``movement`` poses dataset (dims time, space, keypoints,
individuals; positions in pixels, x right, y down) whose keypoint names are the
platform's (nose, body_center, tail_base, ...). Positions are kept as the file has them:
``qc.clean`` drops unlikely points, repairs swaps and fills short gaps.
``save`` writes poses out again as DeepLabCut CSV or NWB (ndx-pose).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pynwb
import xarray as xr
from movement.io import load_poses, save_poses
from movement.io.nwb import NWBFileSaveConfig

from mousegpt.errors import InputError
from mousegpt.qc import DERIVED_CENTRE

READ_FORMATS: dict[str, tuple[str, ...]] = {
    "DeepLabCut": (".csv", ".h5"), "LightningPose": (".csv",), "SLEAP": (".slp", ".analysis.h5"), "NWB": (".nwb",),
}
"""Formats ``read`` understands, by ``movement``'s source_software name, with their suffixes."""

POSE_SUFFIXES = tuple(sorted({suffix for suffixes in READ_FORMATS.values() for suffix in suffixes}))

EXPORT_FORMATS: dict[str, str] = {".csv": "DeepLabCut", ".nwb": "NWB"}
"""Suffixes ``save`` writes, with the format each one selects."""

KEYPOINT_ALIASES: dict[str, str] = {
    "nose": "nose", "snout": "nose",
    "tailbase": "tail_base", "tail_base": "tail_base", "tailroot": "tail_base",
    "center": "body_center", "centre": "body_center", "bodycenter": "body_center",
    "body_center": "body_center", "spine": "body_center", "mid": "body_center",
    "leftear": "left_ear", "left_ear": "left_ear", "rightear": "right_ear", "right_ear": "right_ear",
    "neck": "neck", "tailtip": "tail_tip", "tail_tip": "tail_tip", "tailend": "tail_tip",
}
"""Source keypoint names (lower case, spaces and dashes as underscores, individual prefixes
like ``ind1_`` removed) mapped to the platform's names. Override per call with ``keypoint_map``."""

REQUIRED_KEYPOINTS = ("nose", "tail_base")


def _readable_formats() -> str:
    return ", ".join(f"{name} ({', '.join(suffixes)})" for name, suffixes in READ_FORMATS.items())


def _is_lightning_pose_csv(path: Path) -> bool:
    """Whether a CSV is LightningPose output: DeepLabCut's single-animal table whose scorer
    is LightningPose's "<model type>_tracker" (heatmap_tracker, heatmap_mhcrnn_tracker,
    ensemble-kalman_tracker, ...) instead of a DeepLabCut network name."""
    try:
        with path.open(newline="") as f:
            scorer, level = f.readline().rstrip("\r\n").split(","), f.readline().split(",")[0]
    except (OSError, UnicodeDecodeError):
        return False  # movement's reader gives the clearer error
    return (scorer[0] == "scorer" and level == "bodyparts" and len(scorer) > 1
            and all(name.endswith("_tracker") for name in scorer[1:]))


def _source_software(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".slp") or name.endswith(".analysis.h5"):
        return "SLEAP"
    if name.endswith(".nwb"):
        return "NWB"
    if name.endswith(".csv"):
        return "LightningPose" if _is_lightning_pose_csv(path) else "DeepLabCut"
    if name.endswith(".h5"):
        return "DeepLabCut"
    raise InputError(f"{path}: not a pose file this platform reads; readable formats: {_readable_formats()}")


def _has_dlc_key(path: Path) -> bool:
    try:
        with h5py.File(path, "r") as f:
            return "df_with_missing" in f
    except OSError:
        return True  # not HDF5 at all: let movement give its own error


def _read_dlc_style_hdf(path: Path, fps: float | None) -> xr.Dataset:
    """A DeepLabCut-style table stored under another HDF5 key than DeepLabCut's own."""
    try:
        store = pd.HDFStore(path, mode="r")
    except Exception as exc:
        raise InputError(f"{path}: not a readable HDF5 pose table ({exc.__class__.__name__})") from None
    with store:
        keys = store.keys()
        if len(keys) != 1:
            raise InputError(f"{path}: expected one DeepLabCut table, found HDF5 keys {keys}")
        table = store[keys[0]]
    if not isinstance(table.columns, pd.MultiIndex) or table.columns.nlevels not in (3, 4):
        raise InputError(f"{path}: HDF5 key {keys[0]} is not a DeepLabCut-style table")
    return load_poses.from_dlc_style_df(table, fps=fps)


def read(path: str | Path, fps: float | None = None, source_software: str | None = None) -> xr.Dataset:
    """Read a pose file as it is (source keypoint names, positions in pixels), through ``movement``.

    The format comes from the file name and, for a CSV, its scorer row (LightningPose or
    DeepLabCut); ``source_software`` (a key of ``READ_FORMATS``) overrides that. With ``fps``
    time is in seconds, without it in frames; NWB files carry their own frame rate.
    Missing points are NaN.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if source_software is not None and source_software not in READ_FORMATS:
        raise InputError(f"{path}: unknown pose format {source_software!r}; readable formats: {_readable_formats()}")
    software = source_software or _source_software(path)
    if software == "DeepLabCut" and path.suffix == ".h5" and not _has_dlc_key(path):
        return _read_dlc_style_hdf(path, fps)
    try:
        return load_poses.from_file(path, source_software=software, fps=fps)
    except Exception as exc:  # movement raises ValueError, OSError, KeyError... per format
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"{path}: not a readable {software} pose file ({message})") from None


def platform_name(name: str, keypoint_map: dict[str, str] | None = None) -> str:
    """The platform's name for a source keypoint name (unknown names are kept, normalised)."""
    if keypoint_map and name in keypoint_map:
        return keypoint_map[name]
    key = re.sub(r"^ind\d+_", "", name.strip().lower().replace(" ", "_").replace("-", "_"))
    return KEYPOINT_ALIASES.get(key, KEYPOINT_ALIASES.get(key.replace("_", ""), key))


def standardize(ds: xr.Dataset, source: str | Path, keypoint_map: dict[str, str] | None = None) -> xr.Dataset:
    """Rename keypoints to the platform's; positions and confidences are kept as they are
    (``qc.clean`` filters them).

    When the source has no body_center it is the midpoint of nose and tail_base (NaN when
    either is), with the lower of their confidences, and ``attrs["body_center"]`` says so.
    """
    names = [platform_name(str(k), keypoint_map) for k in ds.keypoints.values]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{source}: several keypoints map to {duplicates}; pass an explicit keypoint map")
    ds = ds.assign_coords(keypoints=names)
    missing = [k for k in REQUIRED_KEYPOINTS if k not in names]
    if missing:
        found = ", ".join(map(str, ds.keypoints.values))
        raise InputError(f"{source}: no {' or '.join(missing)} keypoint among [{found}]; map one with a keypoint map")
    if "body_center" not in names:
        pair = ["nose", "tail_base"]
        centre = ds.position.sel(keypoints=pair).mean("keypoints", skipna=False).expand_dims(keypoints=["body_center"])
        confidence = ds.confidence.sel(keypoints=pair).min("keypoints").expand_dims(keypoints=["body_center"])
        ds = xr.Dataset(
            {"position": xr.concat([ds.position, centre.transpose(*ds.position.dims)], dim="keypoints"),
             "confidence": xr.concat([ds.confidence, confidence.transpose(*ds.confidence.dims)], dim="keypoints")},
            attrs=ds.attrs | {"body_center": DERIVED_CENTRE},
        )
    return ds


def load(path: str | Path, fps: float | None = None, keypoint_map: dict[str, str] | None = None) -> xr.Dataset:
    """Read and standardize a pose file; the returned dataset uses platform keypoint names."""
    return standardize(read(path, fps=fps), source=path, keypoint_map=keypoint_map)


def n_frames(ds: xr.Dataset) -> int:
    return int(ds.sizes["time"])


def positions(ds: xr.Dataset, individual: int = 0) -> dict[str, np.ndarray]:
    """Arrays (frame, xy) in pixels for each keypoint of one individual."""
    one = ds.position.isel(individuals=individual).transpose("time", "keypoints", "space")
    return {str(k): one.sel(keypoints=k).values.astype(float) for k in one.keypoints.values}


def export_format(path: str | Path) -> str:
    """The format ``save`` writes to ``path``, chosen by its suffix (see ``EXPORT_FORMATS``).

    Raises InputError naming the path and the supported suffixes for any other suffix.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXPORT_FORMATS:
        supported = ", ".join(f"{s} ({name})" for s, name in EXPORT_FORMATS.items())
        raise InputError(f"{path}: cannot write poses to a {suffix or 'suffix-less'} file; supported: {supported}")
    return EXPORT_FORMATS[suffix]


def save(ds: xr.Dataset, path: str | Path, source: str | Path | None = None,
         start_time: datetime | None = None) -> list[Path]:
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
    and ``movement``). NaN positions and confidences are written as empty cells."""
    with _replacing(Path(path)) as part:
        save_poses.to_dlc_file(_poses_only(ds), part, split_individuals=False)


def _session_start(source: Path | None) -> datetime:
    # the recording's own start is rarely known: the source file's time is the closest stand-in
    if source is not None and source.exists():
        return datetime.fromtimestamp(source.stat().st_mtime, tz=timezone.utc)
    return datetime.now(timezone.utc)


def _nwb_config(ds: xr.Dataset, individual: str, name: str, source: Path | None, start: datetime) -> NWBFileSaveConfig:
    software = ds.attrs.get("source_software") or "unknown software"
    return NWBFileSaveConfig(
        nwbfile_kwargs={"session_description": f"Poses by {software}" + (f" from {source.name}" if source else ""),
                        "session_start_time": start, "identifier": f"{name}_{individual}"},
        subject_kwargs={"subject_id": individual, "species": "Mus musculus"},
    )


def to_nwb(ds: xr.Dataset, path: str | Path, source: str | Path | None = None,
           start_time: datetime | None = None) -> list[Path]:
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
        raise InputError(f"{path}: NWB stores time in seconds but these poses have no frame rate; read them with fps")
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
