"""Pose files in, platform keypoints out: DeepLabCut, SLEAP, NWB and LightningPose via ``movement``.

Every pose source ends as a ``movement`` poses dataset (dims time, space, keypoints,
individuals; positions in pixels, x right, y down) whose keypoint names are the
platform's (nose, body_center, tail_base, ...). Positions are kept as the file has them:
``qc.clean`` drops unlikely points, repairs swaps and fills short gaps.
``pose_export.save`` writes poses out again as DeepLabCut CSV or NWB (ndx-pose).
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import xarray as xr
from movement.io import load_poses

from mousegpt import landmarks, sources
from mousegpt.errors import InputError
from mousegpt.qc import DERIVED_CENTRE

READ_FORMATS: dict[str, tuple[str, ...]] = {
    "DeepLabCut": (".csv", ".h5"),
    "LightningPose": (".csv",),
    "SLEAP": (".slp", ".analysis.h5"),
    "NWB": (".nwb",),
}
"""Formats ``read`` understands, by ``movement``'s source_software name, with their suffixes."""

POSE_SUFFIXES = tuple(sorted({suffix for suffixes in READ_FORMATS.values() for suffix in suffixes}))

PLATFORM_KEYPOINTS = (
    "nose",
    "head",
    "left_ear",
    "right_ear",
    "neck",
    "body_center",
    "left_hip",
    "right_hip",
    "tail_base",
    "tail_mid",
    "tail_tip",
)
"""Body parts the platform knows. Kinematics read nose, body_center and tail_base."""

_SPELLINGS: dict[str, tuple[str, ...]] = {
    "nose": ("nose", "snout", "nosetip", "nose_tip", "tipofnose"),
    "head": ("head", "headcentre", "headcenter", "head_centre", "head_center", "headmid", "headcentroid"),
    "left_ear": ("leftear", "left_ear", "earl", "ear_l", "earleft", "ear_left", "l_ear", "lear"),
    "right_ear": ("rightear", "right_ear", "earr", "ear_r", "earright", "ear_right", "r_ear"),
    "neck": ("neck", "nape"),
    "body_center": (
        "center",
        "centre",
        "bodycenter",
        "bodycentre",
        "body_center",
        "body_centre",
        "centroid",
        "mid",
        "midback",
        "mid_back",
        "middle",
        "midbody",
        "mid_body",
        "bodymid",
        "spine",
        "back",
    ),
    "left_hip": ("lefthip", "left_hip", "hipl", "hip_l", "hipleft", "hip_left", "l_hip", "lhip"),
    "right_hip": ("righthip", "right_hip", "hipr", "hip_r", "hipright", "hip_right", "r_hip", "rhip"),
    "tail_base": (
        "tailbase",
        "tail_base",
        "tailroot",
        "tail_root",
        "tailstart",
        "baseoftail",
        "base_of_tail",
    ),
    "tail_mid": (
        "tailcentre",
        "tailcenter",
        "tail_centre",
        "tail_center",
        "midtail",
        "mid_tail",
        "tailmid",
        "tail_mid",
        "tailmiddle",
        "tail_middle",
    ),
    "tail_tip": ("tailtip", "tail_tip", "tailend", "tail_end", "endoftail", "tipoftail"),
}
KEYPOINT_ALIASES: dict[str, str] = {
    spelling: name for name, spellings in _SPELLINGS.items() for spelling in spellings
}
"""Source keypoint names, normalised (``normalise``), mapped to the platform's names; a name
is looked up as it is and then without underscores (``Mid-Back`` -> ``mid_back`` -> ``midback``).
Numbered spine points (``spine1``, ``spine_2``, ...) are mapped by ``platform_names``: the middle
one is the body centre. Override per call with ``keypoint_map``."""

IGNORE = ("ignore", "none", "-")
"""Keypoint-map targets that leave a source keypoint out."""

REQUIRED_KEYPOINTS = ("nose", "tail_base")
"""Without these the body axis is unknown; ``head`` stands in for a missing nose."""

_SPINE = re.compile(r"^spine_?(\d+)$")
OFF_AXIS_BODY_LENGTHS = 0.5
"""A part farther than this from the nose-tail line in most frames is probably misnamed."""


def _readable_formats() -> str:
    return ", ".join(f"{name} ({', '.join(suffixes)})" for name, suffixes in READ_FORMATS.items())


def _is_lightning_pose_csv(path: Path) -> bool:
    """Whether a CSV is LightningPose output: DeepLabCut's single-animal table whose scorer
    is LightningPose's "<model type>_tracker" (heatmap_tracker, heatmap_mhcrnn_tracker,
    ensemble-kalman_tracker, ...) instead of a DeepLabCut network name.
    """
    try:
        with path.open(newline="") as f:
            scorer, level = f.readline().rstrip("\r\n").split(","), f.readline().split(",")[0]
    except (OSError, UnicodeDecodeError):
        return False  # movement's reader gives the clearer error
    return (
        scorer[0] == "scorer"
        and level == "bodyparts"
        and len(scorer) > 1
        and all(name.endswith("_tracker") for name in scorer[1:])
    )


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


def _has_index_column(path: Path) -> bool:
    """Whether a DeepLabCut CSV was saved by pandas with its row index as an extra first column
    (the header rows then start with an empty cell and "scorer"), not in DeepLabCut's own layout.
    """
    try:
        with path.open(newline="") as f:
            first = f.readline().split(",")
    except (OSError, UnicodeDecodeError):
        return False
    return len(first) > 2 and first[0].strip() == "" and first[1].strip() == "scorer"


def _read_indexed_dlc_csv(path: Path, fps: float | None) -> xr.Dataset:
    """A DeepLabCut table saved by pandas with an extra leading index column."""
    table = pd.read_csv(path, header=None, dtype=str, keep_default_na=False).iloc[:, 1:]
    levels = list(table.iloc[:, 0])
    if "coords" not in levels[:4]:
        raise InputError(f"{path}: no 'coords' header row; not a DeepLabCut table")
    n_header = levels.index("coords") + 1
    header = table.iloc[:n_header, 1:].to_numpy()
    # pandas wrote repeated scorer names as "name.1", "name.2", ...: one scorer again.
    header[0] = [re.sub(r"\.\d+$", "", str(v)) for v in header[0]]
    columns = pd.MultiIndex.from_arrays(list(header), names=levels[:n_header])
    data = table.iloc[n_header:, 1:].replace("", np.nan).astype(float)
    data.columns = columns
    return load_poses.from_dlc_style_df(data.reset_index(drop=True), fps=fps)


def read(path: str | Path, fps: float | None = None, source_software: str | None = None) -> xr.Dataset:
    """Read a pose file as it is (source keypoint names, positions in pixels), through ``movement``.

    The format comes from the file name and, for a CSV, its scorer row (LightningPose or
    DeepLabCut; a DeepLabCut table saved by pandas with an extra index column is read too);
    ``source_software`` (a key of ``READ_FORMATS``) overrides that. With ``fps``
    time is in seconds, without it in frames; NWB files carry their own frame rate.
    Missing points are NaN. A URL (``sources``) is read from this machine's copy of it.
    """
    if sources.is_url(path):
        with sources.as_local(path) as copy:
            return read(copy, fps=fps, source_software=source_software)
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if source_software is not None and source_software not in READ_FORMATS:
        raise InputError(
            f"{path}: unknown pose format {source_software!r}; readable formats: {_readable_formats()}"
        )
    software = source_software or _source_software(path)
    if software == "DeepLabCut" and path.suffix == ".h5" and not _has_dlc_key(path):
        return _read_dlc_style_hdf(path, fps)
    if software == "DeepLabCut" and path.suffix == ".csv" and _has_index_column(path):
        try:
            return _read_indexed_dlc_csv(path, fps)
        except (ValueError, KeyError) as exc:
            raise InputError(f"{path}: not a readable DeepLabCut table ({exc})") from None
    try:
        return load_poses.from_file(path, source_software=software, fps=fps)
    except Exception as exc:  # movement raises ValueError, OSError, KeyError... per format
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(f"{path}: not a readable {software} pose file ({message})") from None


def normalise(name: str) -> str:
    """A source keypoint name in lower case, spaces and dashes as underscores, without an
    individual prefix such as ``ind1_``.
    """
    return re.sub(r"^ind\d+_", "", str(name).strip().lower().replace(" ", "_").replace("-", "_"))


def platform_name(name: str, keypoint_map: dict[str, str] | None = None) -> str:
    """The platform's name for a source keypoint name (unknown names are kept, normalised)."""
    if keypoint_map and name in keypoint_map:
        return keypoint_map[name]
    key = normalise(name)
    return KEYPOINT_ALIASES.get(key, KEYPOINT_ALIASES.get(key.replace("_", ""), key))


def platform_names(names: list[str], keypoint_map: dict[str, str] | None = None) -> list[str]:
    """``platform_name`` of each source name; of numbered spine points (``spine1`` ... ``spineN``),
    the middle one (the lower of two) becomes body_center when nothing else is.
    """
    mapped = [platform_name(n, keypoint_map) for n in names]
    spine = sorted((int(m.group(1)), i) for i, n in enumerate(mapped) if (m := _SPINE.match(n)))
    if spine and "body_center" not in mapped:
        mapped[spine[(len(spine) - 1) // 2][1]] = "body_center"
    return mapped


def _distance_to_axis(point: np.ndarray, nose: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """Per frame, the distance (px) from ``point`` to the nose-tail_base segment; NaN where any is."""
    axis = nose - tail
    with np.errstate(invalid="ignore", divide="ignore"):  # nose on the tail base: NaN, never far
        along = np.einsum("td,td->t", point - tail, axis) / np.einsum("td,td->t", axis, axis)
    closest = tail + np.clip(along, 0, 1)[:, None] * axis
    return np.linalg.norm(point - closest, axis=1)


def skeleton_warnings(ds: xr.Dataset, source: str | Path, renamed: dict[str, str]) -> list[str]:
    """Parts of a standardised dataset (platform names) that sit implausibly on the body: more
    than ``OFF_AXIS_BODY_LENGTHS`` from the nose-tail line in most frames where both are seen
    (tail points, named ``tail...``, are left out: a tail curls).
    ``renamed`` gives each platform name's source name, for the message.
    """
    one = ds.position.isel(individuals=0).transpose("time", "keypoints", "space")
    nose, tail = one.sel(keypoints="nose").values, one.sel(keypoints="tail_base").values
    limit = OFF_AXIS_BODY_LENGTHS * np.nanmedian(np.linalg.norm(nose - tail, axis=1))
    out = []
    for name in map(str, one.keypoints.values):
        if name in REQUIRED_KEYPOINTS or name.startswith("tail") or not np.isfinite(limit):
            continue
        distance = _distance_to_axis(one.sel(keypoints=name).values, nose, tail)
        seen = np.isfinite(distance)
        if seen.sum() >= 10 and (far := float(np.mean(distance[seen] > limit))) > 0.5:
            source_name = renamed.get(name, name)
            out.append(
                f"{source}: keypoint {source_name!r}"
                + (f" (read as {name})" if source_name != name else "")
                + f" lies more than {OFF_AXIS_BODY_LENGTHS:g} body length from the nose-tail line "
                f"in {far:.0%} "
                "of frames; is it on the mouse? Map it with --keypoint-map NAME=PART or NAME=ignore"
            )
    return out


def _not_found(source: str | Path, found: list[str], left_out: list[str], missing: list[str]) -> InputError:
    needed = "; ".join(
        f"{k} (or {', '.join([s for s in _SPELLINGS[k] if s != k][:3])}, ...)" for k in missing
    )
    also = f" (arena landmarks left out: {', '.join(left_out)})" if left_out else ""
    return InputError(
        f"{source}: cannot find the mouse's {' and '.join(missing)} among keypoints [{', '.join(found)}]"
        f"{also}; needed: {needed}; name yours with --keypoint-map, e.g. Snout=nose,TailRoot=tail_base"
    )


def standardize(ds: xr.Dataset, source: str | Path, keypoint_map: dict[str, str] | None = None) -> xr.Dataset:
    """Rename keypoints to the platform's and set aside the points that are not the animal;
    positions and confidences are kept as they are (``qc.clean`` filters them).

    Arena landmarks (``mousegpt.landmarks``: named so, or still while the animal moves) are
    removed; their median positions (pixels) are kept in ``attrs["landmarks"]``. Keypoints a
    ``keypoint_map`` sends to ``ignore`` are removed too. A missing nose is stood in for by the
    head. When the source has no body_center it is the midpoint of nose and tail_base (NaN when
    either is), with the lower of their confidences, and ``attrs["body_center"]`` says so.
    Warnings for the user (a still point taken for a landmark, a part far off the body axis)
    are in ``attrs["pose_warnings"]``.
    """
    keypoint_map = keypoint_map or {}
    source_names = [str(k) for k in ds.keypoints.values]
    mapped = platform_names(source_names, keypoint_map)
    found = landmarks.find(ds, [normalise(k) for k in source_names])
    found = {k: why for k, why in found.items() if k not in keypoint_map}  # the user's map wins
    warnings = [
        f"{source}: keypoint {k!r} stays put while the animal moves: taken as an arena landmark, "
        f"not the mouse's {m}"
        for k, m in zip(source_names, mapped)
        if found.get(k) == "still" and m in PLATFORM_KEYPOINTS
    ]
    where = landmarks.positions(ds.sel(keypoints=list(found))) if found else {}
    keep = [i for i, (k, m) in enumerate(zip(source_names, mapped)) if k not in found and m not in IGNORE]
    ds = ds.isel(keypoints=keep)
    names = [mapped[i] for i in keep]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{source}: several keypoints map to {duplicates}; pass an explicit keypoint map")
    renamed = {m: source_names[i] for i, m in zip(keep, names)}
    ds = ds.assign_coords(keypoints=names)
    if "nose" not in names and "head" in names:
        ds = _with_copy(ds, "head", "nose")
        names = list(ds.keypoints.values)
    missing = [k for k in REQUIRED_KEYPOINTS if k not in names]
    if missing:
        raise _not_found(source, [renamed.get(n, n) for n in names], list(found), missing)
    if "body_center" not in names:
        pair = ["nose", "tail_base"]
        centre = (
            ds.position.sel(keypoints=pair)
            .mean("keypoints", skipna=False)
            .expand_dims(keypoints=["body_center"])
        )
        confidence = ds.confidence.sel(keypoints=pair).min("keypoints").expand_dims(keypoints=["body_center"])
        ds = xr.Dataset(
            {
                "position": xr.concat([ds.position, centre.transpose(*ds.position.dims)], dim="keypoints"),
                "confidence": xr.concat(
                    [ds.confidence, confidence.transpose(*ds.confidence.dims)], dim="keypoints"
                ),
            },
            attrs=ds.attrs | {"body_center": DERIVED_CENTRE},
        )
    warnings += skeleton_warnings(ds, source, renamed)
    return ds.assign_attrs(landmarks=where, pose_warnings=warnings)


def _with_copy(ds: xr.Dataset, name: str, as_name: str) -> xr.Dataset:
    """``ds`` with keypoint ``name`` also present as ``as_name`` (position and confidence)."""
    copy = ds.sel(keypoints=[name]).assign_coords(keypoints=[as_name])
    return xr.concat([ds, copy], dim="keypoints", combine_attrs="override")


def load(
    path: str | Path, fps: float | None = None, keypoint_map: dict[str, str] | None = None
) -> xr.Dataset:
    """Read and standardize a pose file; the returned dataset uses platform keypoint names."""
    return standardize(read(path, fps=fps), source=path, keypoint_map=keypoint_map)


def n_frames(ds: xr.Dataset) -> int:
    """The number of frames (the length of the ``time`` dimension) in a pose dataset."""
    return int(ds.sizes["time"])


def positions(ds: xr.Dataset, individual: int = 0) -> dict[str, np.ndarray]:
    """Arrays (frame, xy) in pixels for each keypoint of one individual."""
    one = ds.position.isel(individuals=individual).transpose("time", "keypoints", "space")
    return {str(k): one.sel(keypoints=k).values.astype(float) for k in one.keypoints.values}
