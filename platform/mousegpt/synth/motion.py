"""Simulating one session: a behaviour program turned into per-frame posture and position.

Coordinates: arena millimetres seen from above, origin at the arena's bounding box's
top-left corner, x right, y down; angles in radians (see ``body``). The simulation is cheap
(a few numbers per frame) and fully determined by its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mousegpt.synth.body import Posture, skeleton
from mousegpt.synth.program import VARIANTS, behavior_program, check_condition

ARENA_SHAPES = ("square", "circle")


@dataclass(frozen=True)
class ArenaGeometry:
    """A square arena of side ``size_mm`` or a circular one of that diameter."""

    shape: str = "square"
    size_mm: float = 400.0

    @property
    def centre(self) -> tuple[float, float]:
        """The arena's centre (x, y) in mm from its bounding box's top-left corner."""
        return self.size_mm / 2, self.size_mm / 2

    def wall(self, x: float, y: float) -> tuple[float, float]:
        """Distance (mm) to the nearest wall, and the direction (rad) pointing at it."""
        cx, cy = self.centre
        if self.shape == "circle":
            r = math.hypot(x - cx, y - cy)
            return self.size_mm / 2 - r, math.atan2(y - cy, x - cx)
        walls = ((x, math.pi), (self.size_mm - x, 0.0), (y, -math.pi / 2), (self.size_mm - y, math.pi / 2))
        return min(walls)

    def clamp(self, points: np.ndarray, margin_mm: float = 1.0) -> np.ndarray:
        """Points (..., 2) moved inside the arena, ``margin_mm`` from its wall."""
        if self.shape == "circle":
            centre = np.array(self.centre)
            offset = points - centre
            r = np.linalg.norm(offset, axis=-1, keepdims=True)
            limit = self.size_mm / 2 - margin_mm
            return np.where(r > limit, centre + offset * limit / np.maximum(r, 1e-9), points)
        return np.clip(points, margin_mm, self.size_mm - margin_mm)


@dataclass
class Trajectory:
    """One session's simulated truth: labels and posture per frame, plus the animal's size."""

    behavior: list[str]
    variant: list[str]
    posture: Posture
    body_length_mm: float
    arena: ArenaGeometry
    fps: float

    def __len__(self) -> int:
        return len(self.behavior)

    def skeleton(self) -> dict[str, np.ndarray]:
        """Body points (mm) per frame, with the tail kept inside the arena."""
        points = skeleton(self.posture, self.body_length_mm)
        points["tail"] = self.arena.clamp(points["tail"])
        points["tail_mid"] = points["tail"][:, points["tail"].shape[1] // 2]
        points["tail_tip"] = points["tail"][:, -1]
        return points


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _along_wall(
    arena: ArenaGeometry, x: float, y: float, wall_dir: float, heading: float, length: float
) -> float:
    """Direction along the wall at ``wall_dir``: the one closer to ``heading`` unless it runs
    into another wall (a corner) sooner than the other.
    """
    options = sorted((wall_dir + math.pi / 2, wall_dir - math.pi / 2), key=lambda a: abs(_wrap(a - heading)))
    room = [arena.wall(x + length * math.cos(a), y + length * math.sin(a))[0] for a in options]
    return options[1] if room[1] > room[0] + 0.2 * length else options[0]


def _open_field_point(
    arena: ArenaGeometry, rng: np.random.Generator, x: float, y: float, heading: float
) -> tuple[float, float]:
    """A random place in the arena's inner 70% (across), preferably ahead of the mouse: a
    walking mouse curves toward where it goes rather than spinning round.
    """
    cx, cy = arena.centre
    point = (cx, cy)
    for _ in range(20):
        dx, dy = rng.uniform(-0.35, 0.35, size=2) * arena.size_mm
        if arena.shape == "circle" and math.hypot(dx, dy) > 0.35 * arena.size_mm:
            continue
        point = (cx + dx, cy + dy)
        if abs(_wrap(math.atan2(point[1] - y, point[0] - x) - heading)) < math.radians(75):
            break
    return point


REAR_PEAK = (0.35, 0.7)
"""Range of a rear's height (``Posture.rear`` at its top), drawn per bout. Seen from above, a
rear at 0.35-0.7 looks 0.66-0.83 of the stretched nose-to-tail-base length: the shortest 5% of
frames in real DeepLabCut open-field files (their poses alone, no labels) are 0.69-0.81 of the
session's 85th percentile, where a fully upright mouse (1.0) would look 0.52."""


REST_HEAD_TURN = 1.0
"""Largest head turn (rad, about 57 degrees) a resting or freezing mouse holds. Freezing is
defined by immobility, not posture: a mouse freezes in whatever pose it was in, head straight
or turned well to a side. A resting mouse that only ever held its head near straight taught
the model that a turned head means grooming."""

HEAD_SCAN = {"walk": 0.45, "run": 0.25, "rear": 0.6}
"""Amplitude (rad) of the slow side-to-side head scanning (0.7-1 Hz) of an exploring mouse:
it sweeps its head as it walks and, up on its hind legs, sniffs the air and the wall. A
synthetic mouse that held its head straight through walks and rears made every head movement
look like grooming or sniffing."""


REAR_CLIMB = 0.15
"""A supported rear's body centre ends this many body lengths from the wall, seen from above:
the hind paws step up to the wall and the front climbs it. The raised head then shows over the
wall's foot, as a camera above sees it in perspective. In the real open-field DeepLabCut file
with floor corners (``sturman_oft``, its poses alone, no labels), the body centre is within 0.15
body lengths of the floor's edge in 19% of frames and the nose is over the edge in 29% (by up to
29 mm at the 5th percentile); walking with its nose at the wall, the centre is 0.58 away."""


def _rearing_centre(
    origin: tuple[float, float, float, float],
    ramp: float,
    t: float,
    variant: str,
    length: float,
    phase: float,
    shuffle_hz: float,
) -> tuple[float, float]:
    """The body centre of a rearing mouse (mm), seen from above. Against a wall it moves to the
    wall as the mouse rises (``ramp`` 0..1) and back as it comes down (``origin``: x, y where
    the rear began, the nearest wall's direction and distance); up on its hind legs a mouse
    shifts its weight and shuffles, 5-15 mm either way at about half a hertz (along the wall).
    """
    x0, y0, wall_dir, wall_mm = origin
    climb = ramp * max(0.0, wall_mm - REAR_CLIMB * length) if variant == "supported" else 0.0
    amplitude = 5.0 + 10.0 * (shuffle_hz - 5.0) / 2.0  # from the bout's groom rate, already drawn: 5-15 mm
    sway = ramp * amplitude * math.sin(2 * math.pi * 0.5 * t + phase)
    along = wall_dir + math.pi / 2
    return (
        x0 + climb * math.cos(wall_dir) + sway * math.cos(along),
        y0 + climb * math.sin(wall_dir) + sway * math.sin(along),
    )


def simulate(
    seconds: float,
    condition: str,
    seed: int,
    fps: float = 25.0,
    arena: ArenaGeometry = ArenaGeometry(),
    novel: tuple[str, ...] = (),
    body_length_mm: float | None = None,
    program: list[tuple] | None = None,
    start: tuple[float, float, float] | None = None,
    emphasis: dict[str, float] | None = None,
) -> Trajectory:
    """Simulate a session of ``seconds`` at ``fps``: bouts from the condition's Markov chain,
    each with its own kinematics; the walls keep the mouse in and draw it along them as
    much as the condition's wall affinity says.

    ``body_length_mm`` (nose to tail base, stretched out) is drawn from 80-100 mm when None.
    ``program`` replaces the Markov chain with fixed bouts ``(behaviour, seconds[, variant])``
    and ``start`` sets the first position and heading ``(x_mm, y_mm, rad)``; both are for
    showing a chosen behaviour (the contact sheet). ``emphasis`` multiplies the chain's rates of
    the behaviours it names (``behavior_program``).
    """
    wall_affinity = check_condition(condition).wall_affinity
    rng = np.random.default_rng(seed)
    length = float(body_length_mm or rng.uniform(80, 100))
    dt = 1.0 / fps
    n_frames = int(round(seconds * fps))
    cx, cy = arena.centre
    # Start somewhere in the middle half of the arena, facing anywhere.
    x, y = cx + rng.uniform(-0.25, 0.25) * arena.size_mm, cy + rng.uniform(-0.25, 0.25) * arena.size_mm
    heading = rng.uniform(-math.pi, math.pi)
    if start is not None:
        x, y, heading = start
    bend = yaw = rear = lift = up = 0.0
    stretch, stride, tail_wave = 1.0, 0.0, rng.uniform(0, 2 * math.pi)
    keys = (
        "x",
        "y",
        "heading",
        "bend",
        "head_yaw",
        "rear",
        "stretch",
        "lift",
        "forepaws_up",
        "stride",
        "tail_wave",
    )
    out: dict[str, list[float]] = {k: [] for k in keys}
    behaviors: list[str] = []
    variants: list[str] = []

    # A little extra program, so rounding bouts to whole frames never leaves the session short.
    bouts = (
        program if program is not None else behavior_program(seconds + 2.0, condition, rng, novel, emphasis)
    )
    for behavior, duration, *forced in bouts:
        n = max(1, int(round(duration * fps)))
        wall_mm, wall_dir = arena.wall(x, y)
        variant = ""
        if forced:
            variant = forced[0]
        elif behavior == "rear":
            variant = "supported" if wall_mm < 0.9 * length else "unsupported"
        elif behavior in VARIANTS:
            variant = str(rng.choice(VARIANTS[behavior], p=[0.6, 0.4] if behavior == "groom" else None))
        side = -1.0 if variant == "left" else 1.0  # the animal's left is a decreasing heading
        speed = {
            "walk": rng.uniform(50, 90),
            "run": rng.uniform(180, 260),
            "turn": 12.0,
            "sniff": 4.0,
            "jump": rng.uniform(380, 450),
            "circling": rng.uniform(90, 120),
        }.get(behavior, 0.0)
        turn_rate = math.radians(rng.uniform(160, 240)) * side
        groom_hz, groom_side = rng.uniform(5.0, 7.0), float(rng.choice([-1.0, 1.0]))
        phase = rng.uniform(0, 2 * math.pi)
        scan_hz = (
            groom_hz / 7.0
        )  # head scanning at 0.7-1 Hz, from a rate already drawn (seeds keep their sessions)
        # How far up this rear goes (the body's pitch). Taken from the phase, not a new draw, so
        # every other random choice of a seeded session stays as it was.
        rear_peak = REAR_PEAK[0] + (REAR_PEAK[1] - REAR_PEAK[0]) * phase / (2 * math.pi)
        # Locomotion either follows the walls (as often as the condition's wall affinity says)
        # or crosses the open field toward a random place.
        goal = None if rng.random() < wall_affinity else _open_field_point(arena, rng, x, y, heading)
        # A rear against a wall starts with walking up to it, nose to the wall (labelled walk).
        approach_frames = int(2 * fps) if variant == "supported" else 0
        # Where the rear proper starts: (x, y, direction of the nearest wall, distance to it).
        rear_origin: tuple[float, float, float, float] | None = None
        i = 0
        while i < n:
            t = i * dt
            target = {"yaw": 0.0, "bend": 0.0, "rear": 0.0, "stretch": 1.0, "lift": 0.0, "up": 0.0}
            step_speed = speed
            label = behavior
            if approach_frames:
                wall_mm, wall_dir = arena.wall(x, y)
                nose_gap = arena.wall(
                    x + 0.58 * length * math.cos(heading), y + 0.58 * length * math.sin(heading)
                )[0]
                if nose_gap > 3.0:
                    label, step_speed, approach_frames = "walk", 60.0, approach_frames - 1
                    heading += 0.3 * _wrap(wall_dir - heading)
                else:
                    approach_frames = 0
            if label != behavior:
                pass  # walking up to the wall: the default, level posture
            elif behavior in ("walk", "run"):
                wall_mm, wall_dir = arena.wall(x, y)
                if goal is None:  # thigmotaxis: far from a wall, head for it; near one, follow it
                    if wall_mm > 0.8 * length:
                        desired = wall_dir
                    else:
                        along = min(
                            (wall_dir + math.pi / 2, wall_dir - math.pi / 2),
                            key=lambda a: abs(_wrap(a - heading)),
                        )
                        closer = float(
                            np.clip((wall_mm - 0.25 * length) / (0.5 * length), -1, 1)
                        ) * math.radians(35)
                        desired = along + closer * math.copysign(1.0, _wrap(wall_dir - along))
                else:  # exploring: head for a place in the open field
                    desired = math.atan2(goal[1] - y, goal[0] - x)
                    if math.hypot(goal[0] - x, goal[1] - y) < 0.5 * length:
                        goal = _open_field_point(arena, rng, x, y, heading)
                # Walking mice steer gently (a sharp change of direction is a turn bout).
                limit = math.radians(50 if behavior == "walk" else 70)
                turning = float(
                    np.clip(1.5 * _wrap(desired - heading) + rng.normal(0, math.radians(40)), -limit, limit)
                )
                heading += turning * dt
                target["bend"] = float(np.clip(0.25 * turning, -0.5, 0.5))
                target["stretch"] = 1.05 if behavior == "run" else 1.0
                target["yaw"] = HEAD_SCAN[behavior] * math.sin(2 * math.pi * scan_hz * t + phase)
            elif behavior == "turn":
                heading += turn_rate * dt
                target["bend"] = 0.55 * side
            elif behavior == "rest":
                target["stretch"] = 0.8 + 0.012 * math.sin(2 * math.pi * 2.5 * t + phase)  # breathing
                target["bend"] = 0.5 * math.sin(phase)  # curled toward the turned head
                # A resting or freezing mouse holds its head where it was, often turned to a side
                # (up to REST_HEAD_TURN; from the bout's phase, already drawn).
                target["yaw"] = REST_HEAD_TURN * math.sin(phase)
            elif behavior == "groom":
                target["stretch"], target["up"] = 0.8, 1.0
                stroke = math.sin(2 * math.pi * groom_hz * t + phase)
                if variant == "face":  # forepaws stroke the face; the head bobs with them
                    target["yaw"], target["rear"] = 0.45 * stroke, 0.15 + 0.08 * stroke
                    target["up"] = 0.75 + 0.25 * stroke
                else:  # licking a flank: the head turns back along the body and strokes it, rocking the body
                    target["yaw"], target["bend"] = (
                        groom_side * (0.9 + 0.3 * stroke),
                        groom_side * (0.5 + 0.2 * stroke),
                    )
            elif behavior == "rear":
                ramp = max(0.0, min(1.0, t / 0.3, (duration - t) / 0.3))
                target["rear"], target["up"] = ramp * rear_peak, ramp
                target["yaw"] = HEAD_SCAN["rear"] * math.sin(2 * math.pi * scan_hz * t + phase)
                if rear_origin is None:
                    rear_origin = (x, y, *reversed(arena.wall(x, y)))
            elif behavior == "sniff":
                target["yaw"] = 0.5 * math.sin(2 * math.pi * 1.5 * t + phase)
                target["rear"] = 0.08 + 0.04 * math.sin(2 * math.pi * 8.0 * t)  # whisking nose bob
            elif behavior == "jump":
                target["lift"], target["stretch"] = math.sin(math.pi * min(1.0, t / max(duration, dt))), 1.1
            elif behavior == "circling":
                heading += side * speed / 35.0 * dt  # a circle of about 35 mm radius
                target["bend"], target["yaw"] = 0.7 * side, 0.3 * side
            elif behavior == "head_twitch":
                target["yaw"] = 0.7 * math.sin(2 * math.pi * 10.0 * t + phase)
            # Posture follows its target quickly but not instantly, as a body would.
            quick = behavior in ("groom", "sniff", "head_twitch")
            yaw += (target["yaw"] - yaw) * (0.8 if quick else 0.3)
            rear += (target["rear"] - rear) * (0.8 if quick else 0.4)
            bend += (target["bend"] - bend) * (0.8 if quick else 0.3)
            stretch += (target["stretch"] - stretch) * 0.3
            up += (target["up"] - up) * (0.8 if quick else 0.4)
            lift = target["lift"]
            x_new = x + step_speed * math.cos(heading) * dt
            y_new = y + step_speed * math.sin(heading) * dt
            if rear_origin is not None and label == "rear":
                x_new, y_new = _rearing_centre(rear_origin, ramp, t, variant, length, phase, groom_hz)
            # The whole body stays inside: a nose that reaches a wall stops the mouse, which then
            # turns along the wall; a rump swung into a wall pushes the body away from it.
            front, head, back = heading + bend / 2, heading + bend / 2 + yaw, heading - bend / 2
            neck_mm, snout_mm = (
                length * stretch * 0.30 * (1 - 0.6 * rear),
                length * stretch * 0.28 * (1 - 0.7 * rear),
            )
            nose_gap, nose_wall = arena.wall(
                x_new + neck_mm * math.cos(front) + snout_mm * math.cos(head),
                y_new + neck_mm * math.sin(front) + snout_mm * math.sin(head),
            )
            rump_gap, rump_wall = arena.wall(
                x_new - 0.45 * length * stretch * math.cos(back),
                y_new - 0.45 * length * stretch * math.sin(back),
            )
            if nose_gap < 2.0 and label != "rear":  # reared up the wall, the raised head shows over its foot
                x_new -= (2.0 - nose_gap) * math.cos(nose_wall)
                y_new -= (2.0 - nose_gap) * math.sin(nose_wall)
                if behavior not in ("rear", "groom", "rest"):
                    heading += 0.3 * _wrap(
                        _along_wall(arena, x_new, y_new, nose_wall, heading, length) - heading
                    )
            if rump_gap < 2.0:
                x_new -= (2.0 - rump_gap) * math.cos(rump_wall)
                y_new -= (2.0 - rump_gap) * math.sin(rump_wall)
            # The body centre keeps clear of the wall even side-on.
            wall_mm, wall_dir = arena.wall(x_new, y_new)
            if wall_mm < 0.15 * length:
                x_new -= (0.15 * length - wall_mm) * math.cos(wall_dir)
                y_new -= (0.15 * length - wall_mm) * math.sin(wall_dir)
            step_mm_s = math.hypot(x_new - x, y_new - y) / dt
            x, y = x_new, y_new
            stride += 2 * math.pi * (step_mm_s / (0.45 * length)) * dt
            tail_wave += 2 * math.pi * (0.6 + step_mm_s / 150) * dt
            for key, value in zip(
                keys, (x, y, heading, bend, yaw, rear, stretch, lift, up, stride, tail_wave)
            ):
                out[key].append(value)
            behaviors.append(label)
            variants.append(variant if label == behavior else "")
            i += label == behavior
            if len(behaviors) == n_frames:
                break
        if len(behaviors) == n_frames:
            break
    posture = Posture(**{k: np.asarray(v) for k, v in out.items()})
    return Trajectory(behaviors, variants, posture, length, arena, fps)
