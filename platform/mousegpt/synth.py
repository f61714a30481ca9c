"""Procedural top-view videos of one mouse performing scripted behaviours, with ground truth.

A session is simulated first (cheap: a few numbers per frame, in mm and radians), then
rendered frame by frame straight into the encoder, so no video is ever held in memory.

Coordinates: arena millimetres with the origin at the arena's top-left corner, x to the
right, y down (image convention); the camera looks straight down (top view).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd

from movement.io import save_poses

from mousegpt.errors import InputError
from mousegpt.vocabulary import BEHAVIORS

KEYPOINTS = ("nose", "body_center", "tail_base")
"""Keypoints written to the truth table, as ``<keypoint>_x`` / ``<keypoint>_y`` in pixels."""

BODY_LENGTH_MM = 90.0
"""Nose to tail base of an adult mouse, stretched out."""

# Bout durations (s) per behaviour: uniform between the two bounds.
BOUT_SECONDS = {
    "walk": (1.0, 3.0), "run": (0.6, 1.5), "rear": (1.0, 2.5), "groom": (2.0, 5.0),
    "rest": (2.0, 6.0), "turn": (0.6, 1.2), "sniff": (1.0, 3.0), "jump": (0.3, 0.5),
}

NOVEL_BEHAVIORS = {"circling": (2.0, 4.0), "head_twitch": (0.3, 0.6)}
"""Behaviours outside the core vocabulary (bout seconds), planted only when asked for, to
test novel-behaviour discovery: tight repeated rotations, and brief rapid head rotations."""

NOVEL_RATE = 0.08
"""Rate of each planted novel behaviour, relative to the condition's core rates (which sum to 1)."""

# Relative rates of choosing each behaviour for the next bout, per condition. Conditions
# differ measurably: `stim` moves more and rests less, `anx` rears and freezes more.
CONDITION_RATES = {
    "control": {"walk": .24, "run": .06, "rear": .12, "groom": .14, "rest": .14, "turn": .12, "sniff": .15, "jump": .03},
    "stim": {"walk": .30, "run": .22, "rear": .10, "groom": .08, "rest": .04, "turn": .12, "sniff": .10, "jump": .04},
    "anx": {"walk": .18, "run": .04, "rear": .22, "groom": .12, "rest": .22, "turn": .10, "sniff": .10, "jump": .02},
}


@dataclass(frozen=True)
class Scene:
    """Camera and arena settings of one synthetic session."""

    width: int = 400
    height: int = 300
    fps: float = 25.0
    arena_mm: float = 400.0
    """Side of the square arena."""
    floor_grey: int = 205
    mouse_grey: int = 35
    noise_sigma: float = 4.0

    @property
    def px_per_mm(self) -> float:
        return 0.92 * min(self.width, self.height) / self.arena_mm

    @property
    def origin_px(self) -> tuple[float, float]:
        side = self.arena_mm * self.px_per_mm
        return (self.width - side) / 2, (self.height - side) / 2


@dataclass
class Trajectory:
    """Per-frame simulated state: centre (mm), heading and head yaw (rad), length scale."""

    behavior: list[str] = field(default_factory=list)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    heading: list[float] = field(default_factory=list)
    head_yaw: list[float] = field(default_factory=list)
    length_scale: list[float] = field(default_factory=list)


def _check_novel(novel: tuple[str, ...]) -> None:
    unknown = [n for n in novel if n not in NOVEL_BEHAVIORS]
    if unknown:
        raise InputError(f"unknown novel behaviour(s) {unknown}; known: {', '.join(NOVEL_BEHAVIORS)}")


def behavior_program(seconds: float, condition: str, rng: np.random.Generator,
                     novel: tuple[str, ...] = ()) -> list[tuple[str, float]]:
    """A Markov chain of bouts ``(behaviour, duration_s)`` filling ``seconds``.

    The next behaviour is drawn from the condition's rates, never repeating the current one;
    behaviours named in ``novel`` join the chain at ``NOVEL_RATE`` each.
    """
    if condition not in CONDITION_RATES:
        known = ", ".join(CONDITION_RATES)
        raise InputError(f"unknown synthetic condition {condition!r}; known: {known}")
    _check_novel(novel)
    rates = CONDITION_RATES[condition] | {n: NOVEL_RATE for n in novel}
    bouts: list[tuple[str, float]] = []
    total, current = 0.0, None
    while total < seconds:
        names = [b for b in rates if b != current]
        p = np.array([rates[b] for b in names])
        current = str(rng.choice(names, p=p / p.sum()))
        duration = float(rng.uniform(*(BOUT_SECONDS | NOVEL_BEHAVIORS)[current]))
        bouts.append((current, duration))
        total += duration
    return bouts


def simulate(seconds: float, condition: str, seed: int, scene: Scene, novel: tuple[str, ...] = ()) -> Trajectory:
    """Simulate one session's kinematics frame by frame."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / scene.fps
    n_frames = int(round(seconds * scene.fps))
    margin = 0.3 * BODY_LENGTH_MM  # the body centre can come this close to a wall
    x, y = rng.uniform(margin, scene.arena_mm - margin, size=2)
    heading = rng.uniform(-np.pi, np.pi)
    yaw, scale = 0.0, 1.0
    traj = Trajectory()
    for behavior, duration in behavior_program(seconds, condition, rng, novel):
        n = max(1, int(round(duration * scene.fps)))
        speed = {"walk": rng.uniform(50, 90), "run": rng.uniform(180, 260), "turn": 12.0,
                 "sniff": 4.0, "jump": rng.uniform(380, 450), "circling": rng.uniform(90, 120)}.get(behavior, 0.0)
        turn_rate = np.deg2rad(rng.uniform(160, 240)) * rng.choice([-1, 1])
        phase = rng.uniform(0, 2 * np.pi)
        for i in range(n):
            t = i * dt
            target_yaw, target_scale = 0.0, 1.0
            if behavior in ("walk", "run"):
                heading += rng.normal(0, np.deg2rad(40)) * dt
            elif behavior == "turn":
                heading += turn_rate * dt
            elif behavior == "rest":
                target_scale = 0.85 + 0.01 * np.sin(2 * np.pi * 2.5 * t + phase)  # breathing
            elif behavior == "groom":
                target_scale = 0.8
                target_yaw = 0.35 * np.sin(2 * np.pi * 6.0 * t + phase)
            elif behavior == "rear":
                ramp = min(1.0, t / 0.3, (duration - t) / 0.3)
                target_scale = 1.0 - 0.4 * max(ramp, 0.0)
            elif behavior == "sniff":
                target_yaw = 0.5 * np.sin(2 * np.pi * 1.5 * t + phase)
            elif behavior == "jump":
                target_scale = 1.15
            elif behavior == "circling":
                # Tight circles of about 35 mm radius: turning rate = speed / radius.
                heading += np.sign(turn_rate) * speed / 35.0 * dt
                target_scale, target_yaw = 0.9, 0.3 * np.sign(turn_rate)
            elif behavior == "head_twitch":
                target_yaw = 0.7 * np.sin(2 * np.pi * 10.0 * t + phase)
            # Posture follows its target quickly but not instantly, as a body would.
            yaw += (target_yaw - yaw) * (0.8 if behavior in ("groom", "sniff", "head_twitch") else 0.3)
            scale += (target_scale - scale) * 0.3
            x += speed * np.cos(heading) * dt
            y += speed * np.sin(heading) * dt
            if not (margin <= x <= scene.arena_mm - margin and margin <= y <= scene.arena_mm - margin):
                # At a wall the mouse turns back toward the centre instead of passing through.
                x = float(np.clip(x, margin, scene.arena_mm - margin))
                y = float(np.clip(y, margin, scene.arena_mm - margin))
                to_centre = np.arctan2(scene.arena_mm / 2 - y, scene.arena_mm / 2 - x)
                heading += 0.25 * np.angle(np.exp(1j * (to_centre - heading)))
            traj.behavior.append(behavior)
            traj.x.append(float(x))
            traj.y.append(float(y))
            traj.heading.append(float(heading))
            traj.head_yaw.append(float(yaw))
            traj.length_scale.append(float(scale))
            if len(traj.x) == n_frames:
                return traj
    return traj


def _unit(angle: float) -> np.ndarray:
    return np.array([np.cos(angle), np.sin(angle)])


def body_points_mm(x: float, y: float, heading: float, yaw: float, scale: float) -> dict[str, np.ndarray]:
    """Keypoints (mm) of the articulated body for one frame."""
    length = BODY_LENGTH_MM * scale
    centre = np.array([x, y])
    neck = centre + 0.25 * length * _unit(heading)
    return {
        "nose": neck + 0.30 * length * _unit(heading + yaw),
        "body_center": centre,
        "tail_base": centre - 0.45 * length * _unit(heading),
        "neck": neck,
    }


def truth_table(traj: Trajectory, scene: Scene) -> pd.DataFrame:
    """One row per frame: frame, time_s, behavior, and keypoints in pixels."""
    ox, oy = scene.origin_px
    k = scene.px_per_mm
    rows: dict[str, list] = {f"{name}_{axis}": [] for name in KEYPOINTS for axis in "xy"}
    for state in zip(traj.x, traj.y, traj.heading, traj.head_yaw, traj.length_scale):
        points = body_points_mm(*state)
        for name in KEYPOINTS:
            rows[f"{name}_x"].append(ox + k * points[name][0])
            rows[f"{name}_y"].append(oy + k * points[name][1])
    n = len(traj.x)
    table = pd.DataFrame({"frame": np.arange(n), "time_s": np.arange(n) / scene.fps, "behavior": traj.behavior})
    return pd.concat([table, pd.DataFrame(rows)], axis=1)


def _background(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Floor with a gentle lighting gradient, darker walls outside the arena."""
    yy, xx = np.mgrid[0:scene.height, 0:scene.width]
    gradient = 12 * (xx / scene.width - 0.5) + 8 * (yy / scene.height - 0.5) * rng.choice([-1, 1])
    image = np.full((scene.height, scene.width), 110.0)
    ox, oy = scene.origin_px
    side = scene.arena_mm * scene.px_per_mm
    inside = (xx >= ox) & (xx < ox + side) & (yy >= oy) & (yy < oy + side)
    image[inside] = scene.floor_grey + gradient[inside]
    return image.astype(np.float32)


def render_frame(background: np.ndarray, state: tuple, scene: Scene, t: float, rng: np.random.Generator) -> np.ndarray:
    """Draw the mouse (body, head, ears, tapering tail) on the background; grey uint8 frame."""
    x, y, heading, yaw, scale = state
    k = scene.px_per_mm
    ox, oy = scene.origin_px
    to_px = lambda p: (ox + k * p[0], oy + k * p[1])  # noqa: E731
    points = body_points_mm(x, y, heading, yaw, scale)
    length = BODY_LENGTH_MM * scale
    frame = background.copy()
    colour = float(scene.mouse_grey)
    sub = 4  # cv2 draws with sub-pixel precision in fixed point (shift bits)

    def fixed(p):
        return int(round(p[0] * (1 << sub))), int(round(p[1] * (1 << sub)))

    # Tail: a wavy polyline from the tail base, thinner toward the tip.
    tail_dir = heading + np.pi
    tail = [points["tail_base"]]
    for i in range(1, 9):
        bend = 0.25 * np.sin(2 * np.pi * (0.6 * t + i / 8))
        tail.append(tail[-1] + (0.95 * BODY_LENGTH_MM / 8) * _unit(tail_dir + bend * i / 8))
    for i in range(8):
        thickness = max(1, int(round(k * (4.0 - 2.5 * i / 8))))
        cv2.line(frame, fixed(to_px(tail[i])), fixed(to_px(tail[i + 1])), colour, thickness, cv2.LINE_AA, sub)
    body_centre = points["body_center"] - 0.08 * length * _unit(heading)
    axes = (k * 0.37 * length, k * 0.17 * BODY_LENGTH_MM)
    cv2.ellipse(frame, fixed(to_px(body_centre)), (int(axes[0] * 16), int(axes[1] * 16)),
                np.rad2deg(heading), 0, 360, colour, -1, cv2.LINE_AA, sub)
    head_dir = heading + yaw
    head_centre = points["neck"] + 0.14 * length * _unit(head_dir)
    head_axes = (k * 0.17 * length, k * 0.10 * BODY_LENGTH_MM)
    cv2.ellipse(frame, fixed(to_px(head_centre)), (int(head_axes[0] * 16), int(head_axes[1] * 16)),
                np.rad2deg(head_dir), 0, 360, colour, -1, cv2.LINE_AA, sub)
    for side in (-1, 1):
        ear = points["neck"] + 0.04 * length * _unit(head_dir) + side * 0.09 * BODY_LENGTH_MM * _unit(head_dir + np.pi / 2)
        cv2.circle(frame, fixed(to_px(ear)), int(k * 0.05 * BODY_LENGTH_MM * 16), colour + 25, -1, cv2.LINE_AA, sub)
    frame += rng.normal(0, scene.noise_sigma, frame.shape).astype(np.float32)
    return np.clip(frame, 0, 255).astype(np.uint8)


def render(traj: Trajectory, scene: Scene, seed: int):
    """Rendered grey frames of a trajectory, one at a time (deterministic for a seed)."""
    rng = np.random.default_rng(seed + 1_000_003)
    background = _background(scene, rng)
    states = zip(traj.x, traj.y, traj.heading, traj.head_yaw, traj.length_scale)
    for i, state in enumerate(states):
        yield render_frame(background, state, scene, i / scene.fps, rng)


def truth_poses(truth: pd.DataFrame, fps: float):
    """The truth keypoints as a ``movement`` poses dataset (one individual, confidence 1)."""
    from movement.io import load_poses

    position = np.stack([truth[[f"{k}_x", f"{k}_y"]].to_numpy() for k in KEYPOINTS], axis=-1)[..., None]
    return load_poses.from_numpy(position, np.ones((len(truth), len(KEYPOINTS), 1)), individual_names=["mouse"],
                                 keypoint_names=list(KEYPOINTS), fps=fps, source_software="mousegpt-synth")


def write_session(out_dir: Path, name: str, seconds: float, condition: str, seed: int, scene: Scene,
                  novel: tuple[str, ...] = ()) -> pd.DataFrame:
    """Simulate, render and encode one session; write its mp4 and truth files.

    The same seed gives the same truth and the same video bytes.
    """
    traj = simulate(seconds, condition, seed, scene, novel)
    truth = truth_table(traj, scene)
    video_path = out_dir / f"{name}.mp4"
    tmp_path = out_dir / f".{name}.tmp.mp4"
    with av.open(str(tmp_path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(scene.fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
        # x264's lookahead and macroblock tree make its output differ from run to run;
        # without them the same seed gives the same bytes.
        stream.options = {"preset": "veryfast", "crf": "20", "x264-params": "mbtree=0:rc-lookahead=0"}
        for grey in render(traj, scene, seed):
            frame = av.VideoFrame.from_ndarray(grey, format="gray").reformat(format="yuv420p")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    tmp_path.replace(video_path)
    truth.to_parquet(out_dir / f"{name}.truth.parquet", index=False)
    save_poses.to_dlc_file(truth_poses(truth, scene.fps), out_dir / f"{name}.truth_dlc.csv", split_individuals=False)
    return truth


def synth_dataset(
    out: str | Path,
    sessions: int = 4,
    seconds: float = 30.0,
    seed: int = 0,
    conditions: tuple[str, ...] = ("control", "stim"),
    scene: Scene | None = None,
    novel: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Write ``sessions`` videos (conditions assigned in turn), their truth (``.truth.parquet``
    and a DeepLabCut-format ``.truth_dlc.csv``) and ``manifest.csv``.

    ``novel`` plants behaviours from NOVEL_BEHAVIORS in every session. Returns the manifest;
    paths in it are relative to ``out``.
    """
    if sessions < 1:
        raise InputError(f"--sessions must be at least 1, got {sessions}")
    if seconds <= 0:
        raise InputError(f"--seconds must be positive, got {seconds}")
    unknown = [c for c in conditions if c not in CONDITION_RATES]
    if not conditions or unknown:
        raise InputError(f"unknown synthetic condition(s) {unknown or '(none given)'}; known: {', '.join(CONDITION_RATES)}")
    _check_novel(novel)
    scene = scene or Scene()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(sessions):
        condition = conditions[i % len(conditions)]
        name = f"{condition}_m{i + 1:02d}"
        session_seed = seed * 10_007 + i
        write_session(out, name, seconds, condition, session_seed, scene, novel)
        rows.append({"video": f"{name}.mp4", "animal": f"m{i + 1:02d}", "condition": condition,
                     "fps": scene.fps, "px_per_mm": round(scene.px_per_mm, 6), "view": "top", "seed": session_seed})
    manifest = pd.DataFrame(rows)
    manifest.to_csv(out / "manifest.csv", index=False)
    return manifest
