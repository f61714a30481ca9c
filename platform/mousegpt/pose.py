"""Pose files in, platform keypoints out: DeepLabCut, SLEAP, NWB and LightningPose via ``movement``.

Every pose source ends as a ``movement`` poses dataset (dims time, space, keypoints,
individuals; positions in pixels, x right, y down) whose keypoint names are the
platform's (nose, body_center, tail_base, ...). Low-confidence points become NaN and short
gaps are interpolated; longer gaps stay NaN.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from movement.filtering import filter_by_confidence, interpolate_over_time
from movement.io import load_poses, save_poses

from mousegpt.errors import InputError

POSE_SUFFIXES = (".csv", ".h5", ".slp", ".nwb")

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


def _source_software(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".slp") or name.endswith(".analysis.h5"):
        return "SLEAP"
    if name.endswith(".nwb"):
        return "NWB"
    if name.endswith(".csv") or name.endswith(".h5"):
        return "DeepLabCut"
    raise InputError(f"{path}: not a pose file this platform reads (expected {', '.join(POSE_SUFFIXES)})")


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


def read(path: str | Path, fps: float | None = None) -> xr.Dataset:
    """Read a pose file as it is (source keypoint names), through ``movement``."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    software = _source_software(path)
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


def standardize(
    ds: xr.Dataset, source: str | Path, keypoint_map: dict[str, str] | None = None,
    min_confidence: float = 0.6, max_gap_s: float = 0.25,
) -> xr.Dataset:
    """Rename keypoints to the platform's, drop low-confidence points, fill short gaps.

    When the source has no body_center it is the midpoint of nose and tail_base.
    Points with confidence below ``min_confidence`` become NaN; gaps up to ``max_gap_s``
    are linearly interpolated, longer ones stay NaN.
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
    position = ds.position
    if "confidence" in ds and not bool(ds.confidence.isnull().all()):
        position = filter_by_confidence(position, ds.confidence, threshold=min_confidence)
    fps = ds.attrs.get("fps") if ds.attrs.get("time_unit") == "seconds" else None
    max_gap = max(1, int(round(max_gap_s * (fps or 25.0))))  # no frame rate in the file: assume 25 fps
    position = interpolate_over_time(position, max_gap=max_gap)
    ds = ds.assign(position=position)
    if "body_center" not in names:
        pair = ["nose", "tail_base"]
        centre = ds.position.sel(keypoints=pair).mean("keypoints", skipna=False).expand_dims(keypoints=["body_center"])
        confidence = ds.confidence.sel(keypoints=pair).min("keypoints").expand_dims(keypoints=["body_center"])
        ds = xr.Dataset(
            {"position": xr.concat([ds.position, centre.transpose(*ds.position.dims)], dim="keypoints"),
             "confidence": xr.concat([ds.confidence, confidence.transpose(*ds.confidence.dims)], dim="keypoints")},
            attrs=ds.attrs,
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


def to_dlc_csv(ds: xr.Dataset, path: str | Path) -> None:
    """Write poses as a DeepLabCut CSV (readable back by DeepLabCut and ``movement``)."""
    save_poses.to_dlc_file(ds, path, split_individuals=False)
