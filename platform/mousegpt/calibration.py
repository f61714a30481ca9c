"""Where an input's numbers come from: its frame rate, its poses, its scale and its floor.

``analyze`` and ``adapt`` calibrate an input the same way (``calibrate``): the floor from a
pose file's arena corners (the poses rectified to it), then px_per_mm from what the user gave,
the arena's real size, or the mouse's body length, with a warning where a user should check.
"""

from __future__ import annotations

import attrs
import xarray as xr

from mousegpt import arena as arena_mod
from mousegpt import kinematics, landmarks, pipeline, pose, video
from mousegpt.errors import InputError
from mousegpt.inputs import InputSpec


def frame_rate(spec: InputSpec, info: video.VideoInfo | None, warnings: list[str]) -> float | None:
    """The frame rate to use (frames/s): the one given, else the container's (a given one that
    differs from the container's by over 1% is warned of); None for a pose file without one
    given (its own is read with its poses).
    """
    if info is None:
        return spec.fps
    if spec.fps is not None and abs(spec.fps - info.fps) > 0.01 * info.fps:
        warnings.append(
            f"{spec.video}: given fps {spec.fps:g} differs from the container's {info.fps:.3f}; "
            f"using {spec.fps:g}"
        )
    return spec.fps or info.fps


def imported_poses(spec: InputSpec, info: video.VideoInfo | None, fps: float | None, warnings: list[str]):
    """The pose file's poses (platform keypoints, px) and the frame rate to use (frames/s):
    ``fps`` when given, else the file's own. A pose file whose frame count differs from its
    video's, or without a frame rate when none is given, is an ``InputError``.
    """
    ds = pose.load(spec.pose, fps=fps, keypoint_map=spec.keypoint_map)
    if info is not None and pose.n_frames(ds) != info.n_frames:
        # Container headers can be off by a frame or two: count the real frames before refusing.
        decoded = video.count_frames(spec.video)
        if pose.n_frames(ds) != decoded:
            raise InputError(
                f"{spec.pose}: pose file has {pose.n_frames(ds)} frames but video {spec.video} has {decoded}"
            )
    if fps is None:
        fps = ds.attrs.get("fps") if ds.attrs.get("time_unit") == "seconds" else None
        if not fps:
            raise InputError(f"{spec.pose}: pose file has no frame rate; pass --fps")
        fps = float(fps)
        if fps < 5:
            warnings.append(
                f"{spec.pose}: the file's frame rate is {fps:g} fps, implausible for behaviour video; "
                "pass --fps if it is wrong"
            )
    return ds, fps


def scale(
    spec: InputSpec,
    ds,
    arena: arena_mod.Arena | None,
    warnings: list[str],
    floor: landmarks.Floor | None = None,
) -> tuple[float, str]:
    """px_per_mm and where it came from: given, the arena's real size (its corner landmarks in
    a pose file, or its walls in the video), or the mouse's length.
    """
    if spec.px_per_mm is not None:
        problem = kinematics.implausible_scale(ds, spec.px_per_mm)
        if problem:
            warnings.append(f"{spec.name}: {problem}")
        return spec.px_per_mm, "given"
    if spec.arena_mm is not None:
        measured = None
        if floor is not None:
            measured = (
                floor.arena.width,
                f"arena corners {', '.join(floor.corners)} "
                f"({spec.arena_mm:g} mm, {floor.arena.width:.0f} px)",
            )
        elif arena is not None and spec.video is not None:
            measured = arena.width, f"arena ({spec.arena_mm:g} mm, {arena.width:.0f} px)"
        if measured is not None:
            px_per_mm = measured[0] / spec.arena_mm
            problem = kinematics.implausible_scale(ds, px_per_mm)
            if problem:
                warnings.append(
                    f"{spec.name}: arena {spec.arena_mm:g} mm wide and {measured[0]:.0f} px: {problem}"
                )
            return px_per_mm, measured[1]
        warnings.append(
            f"{spec.name}: no arena walls found in the video or arena corners in the pose file to measure "
            "against --arena-mm; px_per_mm estimated from the mouse's body length"
        )
    px_per_mm = kinematics.estimate_px_per_mm(ds)
    warnings.append(f"{spec.name}: px_per_mm estimated as {px_per_mm:.3f} from the mouse's body length")
    return px_per_mm, "estimated from body length"


def floor(spec: InputSpec, ds, corners: dict, warnings: list[str]) -> landmarks.Floor | None:
    """The arena floor from the pose file's corner landmarks (``corners``: name -> (x, y) px), when
    four of them enclose the mouse's path; with ``--arena-mm`` the floor is square.
    """
    if len(corners) < 4:
        return None
    centre = ds.position.sel(keypoints="body_center").transpose("space", ...).values.reshape(2, -1)
    found = landmarks.floor(corners, centre[0], centre[1], square=spec.arena_mm is not None)
    if found is not None and spec.arena_mm is not None and abs(found.stretch - 1) > 0.1:
        warnings.append(
            f"{spec.name}: arena corners {', '.join(found.corners)} "
            f"look {found.stretch:.2f} times wider than "
            f"tall; taken as a square floor {spec.arena_mm:g} mm on a side, and the poses rectified to it"
        )
    return found


@attrs.frozen
class Calibration:
    """An input's poses on its floor, and their scale.

    Attributes
    ----------
    poses : xarray.Dataset
        The cleaned poses, rectified to the floor when its corners are known (px).
    floor : landmarks.Floor or None
        The floor found from the pose file's corner landmarks.
    px_per_mm : float
        Pixels per mm.
    px_per_mm_source : str
        Where the scale came from ("given", the arena's size, "estimated from body length").
    """

    poses: xr.Dataset
    floor: landmarks.Floor | None
    px_per_mm: float
    px_per_mm_source: str

    def walls(self, arena: arena_mod.Arena | None, individual: int = 0) -> arena_mod.Arena | None:
        """The walls an individual's wall distance and zones are measured from: the floor's,
        else the video's ``arena``, else the extent of the individual's path.
        """
        if self.floor is not None:
            return self.floor.arena
        return arena or pipeline.arena_from_path(self.poses.isel(individuals=[individual]))


def calibrate(
    spec: InputSpec, ds: xr.Dataset, arena: arena_mod.Arena | None, corners: dict, warnings: list[str]
) -> Calibration:
    """The floor and the scale of cleaned poses ``ds`` (``floor``, then ``scale``).

    Parameters
    ----------
    spec : InputSpec
        The input, with what its user gave (px_per_mm, arena_mm).
    ds : xarray.Dataset
        Cleaned poses, px.
    arena : Arena or None
        The walls found in the video's background, if any.
    corners : dict
        The pose file's arena-corner landmarks, name -> (x, y) px.
    warnings : list of str
        What a user should check is appended here.
    """
    found = floor(spec, ds, corners, warnings)
    on_floor = found.rectify(ds) if found else ds
    px_per_mm, source = scale(spec, on_floor, arena, warnings, found)
    return Calibration(on_floor, found, px_per_mm, source)
