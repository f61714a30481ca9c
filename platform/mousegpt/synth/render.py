"""Drawing a simulated session: scene, camera, lighting, the mouse, and sensor effects.

The floor (lighting gradient, texture, walls, reflections) is drawn once per session; each
frame then copies it, composites the mouse in a small patch around the animal (soft
shading, shadow, motion blur), converts to YUV 4:2:0 and adds sensor noise to the luma.
Only the patch is redrawn, which is what makes rendering fast enough to be a load generator.

Camera: ``top`` looks down on the back; ``bottom`` looks up through a clear floor at the
belly and paws, so the image is the top view mirrored left-right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mousegpt.errors import InputError
from mousegpt.synth.body import KEYPOINTS
from mousegpt.synth.motion import ARENA_SHAPES, ArenaGeometry, Trajectory

VIEWS = ("top", "bottom")

# Colours (BGR) per fur: back, dorsal highlight, belly, ears, paws/nose/tail skin, eyes.
FUR = {
    "black": dict(
        back=(38, 36, 40),
        highlight=(72, 70, 74),
        belly=(62, 60, 64),
        ear=(70, 68, 92),
        skin=(84, 88, 118),
        tail=(70, 74, 92),
        eye=(20, 20, 20),
    ),
    "agouti": dict(
        back=(52, 78, 104),
        highlight=(86, 116, 142),
        belly=(150, 172, 192),
        ear=(96, 110, 160),
        skin=(150, 160, 215),
        tail=(118, 128, 160),
        eye=(15, 15, 15),
    ),
    "white": dict(
        back=(222, 226, 230),
        highlight=(246, 247, 249),
        belly=(236, 238, 240),
        ear=(175, 180, 232),
        skin=(178, 184, 238),
        tail=(178, 188, 228),
        eye=(60, 40, 170),
    ),
}
"""Mouse coat colours: black (C57BL/6), agouti (wild-type brown) and white (albino, red eyes)."""


@dataclass(frozen=True)
class Scene:
    """Camera, arena and image settings of one synthetic session."""

    width: int = 640
    height: int = 480
    fps: float = 25.0
    arena: str = "square"
    """``square`` (side ``arena_mm``) or ``circle`` (diameter ``arena_mm``)."""
    arena_mm: float = 400.0
    view: str = "top"
    fur: str = "black"
    lighting: float = 1.0
    """Strength of the lighting gradient and vignetting (0 = flat)."""
    noise_sigma: float = 1.5
    """Sensor noise, grey levels (standard deviation) on the luma."""
    crf: int = 23
    """H.264 constant-rate factor: higher compresses harder."""
    shadows: bool = True
    motion_blur: bool = True
    distractors: bool = True
    """Faeces dropped over time, and reflections of the lights on the floor."""
    reflection: float = 0.0
    """Transparent walls: how strongly (0-1, the mirror image's opacity) the mouse is
    reflected in a wall it is near, as a faint mirrored copy beyond that wall; 0 for opaque
    walls (no reflection). It fades out as the mouse moves a body length from the wall."""

    def __post_init__(self):
        problems = []
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            problems.append(f"frame size must be even and at least 64x64, got {self.width}x{self.height}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            problems.append(f"fps must be positive, got {self.fps}")
        if self.arena not in ARENA_SHAPES:
            problems.append(f"arena must be one of {', '.join(ARENA_SHAPES)}, got {self.arena!r}")
        if self.view not in VIEWS:
            problems.append(f"view must be top or bottom, got {self.view!r}")
        if self.fur not in FUR:
            problems.append(f"fur must be one of {', '.join(FUR)}, got {self.fur!r}")
        if not 0 <= self.crf <= 51:
            problems.append(f"crf must be 0-51, got {self.crf}")
        if not 0 <= self.reflection <= 1:
            problems.append(f"reflection must be 0-1, got {self.reflection}")
        if problems:
            raise InputError("; ".join(problems))

    @property
    def px_per_mm(self) -> float:
        """Image scale (px per arena mm): the arena spans 92% of the frame's shorter side."""
        return 0.92 * min(self.width, self.height) / self.arena_mm

    @property
    def origin_px(self) -> tuple[float, float]:
        """Pixel position of the arena's bounding box's top-left corner."""
        side = self.arena_mm * self.px_per_mm
        return (self.width - side) / 2, (self.height - side) / 2

    @property
    def geometry(self) -> ArenaGeometry:
        """The arena's shape and size in mm, as the motion simulation uses it."""
        return ArenaGeometry(self.arena, self.arena_mm)

    def to_px(self, points_mm: np.ndarray) -> np.ndarray:
        """Arena mm (as seen from above) to image pixels of this camera; (..., 2)."""
        ox, oy = self.origin_px
        x, y = points_mm[..., 0], points_mm[..., 1]
        if self.view == "bottom":
            x = self.arena_mm - x  # seen from below, left and right swap
        return np.stack([ox + self.px_per_mm * x, oy + self.px_per_mm * y], axis=-1)


def apparent_scale(scene: Scene, lift: np.ndarray) -> np.ndarray:
    """Size as seen by the camera relative to on the floor: a jumping mouse comes closer to a
    top camera (looks larger) and moves away from a bottom one (looks smaller).
    """
    return 1 + (0.15 if scene.view == "top" else -0.12) * lift


def project(traj: Trajectory, scene: Scene) -> dict[str, np.ndarray]:
    """Every body point of every frame in image pixels, as this scene's camera sees it
    (scaled about the body centre by ``apparent_scale``): where the drawn parts are.
    """
    points = traj.skeleton()
    centre = scene.to_px(points["body_center"])
    grow = apparent_scale(scene, traj.posture.lift)
    out = {}
    for name in (*KEYPOINTS, "tail", "paws"):
        px = scene.to_px(points[name])
        c, g = (centre[:, None], grow[:, None, None]) if px.ndim == 3 else (centre, grow[:, None])
        out[name] = c + g * (px - c)
    return out


def _lighting_field(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative illumination: a tilted gradient and a vignette, float32 (y, x)."""
    yy, xx = np.mgrid[0 : scene.height, 0 : scene.width].astype(np.float32)
    u, v = xx / scene.width - 0.5, yy / scene.height - 0.5
    tilt = rng.uniform(-0.1, 0.1, size=2) * scene.lighting
    return (1 + tilt[0] * u + tilt[1] * v - 0.25 * scene.lighting * (u**2 + v**2)).astype(np.float32)


def _floor_colours(scene: Scene) -> tuple[float, float]:
    """Floor and surround grey levels, chosen as an experimenter would: contrast with the fur."""
    light_animal = scene.fur == "white" if scene.view == "top" else scene.fur != "black"
    return (48.0, 125.0) if light_animal else (205.0, 110.0)


def _background(scene: Scene, field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The empty arena as this camera sees it, BGR uint8."""
    floor, surround = _floor_colours(scene)
    k = scene.px_per_mm
    ox, oy = scene.origin_px
    side = scene.arena_mm * k
    mask = np.zeros((scene.height, scene.width), np.uint8)
    if scene.arena == "circle":
        cv2.circle(
            mask,
            (int(round((ox + side / 2) * 16)), int(round((oy + side / 2) * 16))),
            int(side / 2 * 16),
            255,
            -1,
            cv2.LINE_AA,
            4,
        )
    else:
        cv2.rectangle(
            mask,
            (int(round(ox)), int(round(oy))),
            (int(round(ox + side)) - 1, int(round(oy + side)) - 1),
            255,
            -1,
        )
    inside = mask.astype(np.float32) / 255
    # The inner faces of the walls, seen in perspective, are a slightly darker rim.
    rim = cv2.GaussianBlur(inside, (0, 0), max(1.0, 2.5 * k)) < 0.97
    grey = surround + (floor - surround) * inside
    grey = np.where(rim & (inside > 0.5), grey - 10, grey)
    # Fixed-pattern texture of the floor (scratches, bedding dust), low-pass so it looks like a surface.
    texture = cv2.GaussianBlur(rng.normal(0, 6, grey.shape).astype(np.float32), (0, 0), 1.2)
    grey = grey + texture * inside
    if scene.distractors and scene.view == "top":
        for _ in range(int(rng.integers(1, 3))):  # reflections of the ceiling lights
            spot = np.zeros_like(grey)
            centre = (
                int(rng.uniform(ox + 0.2 * side, ox + 0.8 * side)),
                int(rng.uniform(oy + 0.2 * side, oy + 0.8 * side)),
            )
            axes = (int(rng.uniform(12, 30) * k), int(rng.uniform(6, 14) * k))
            cv2.ellipse(spot, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
            grey = grey + 18 * cv2.GaussianBlur(spot, (0, 0), 4 * k) * inside
    grey = grey * field
    tint = np.array([1.0, 1.0, 0.98] if scene.view == "top" else [1.0, 0.99, 0.97], np.float32)
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)


class Renderer:
    """Frames of one simulated session, drawn in order; deterministic for a seed."""

    SHIFT = 4  # cv2 draws with sub-pixel precision in fixed point (this many fraction bits)

    def __init__(self, traj: Trajectory, scene: Scene, seed: int):
        rng = np.random.default_rng(seed + 1_000_003)
        self.traj, self.scene = traj, scene
        self.points = project(traj, scene)
        self.field = _lighting_field(scene, rng)
        self.plate = _background(scene, self.field, rng)
        self.colours = {k: np.array(v, np.float64) for k, v in FUR[scene.fur].items()}
        self.length_px = traj.body_length_mm * scene.px_per_mm
        pad = 32
        # One noise field, read at a random offset each frame; split by sign for saturating uint8 arithmetic.
        bank = rng.normal(0, scene.noise_sigma, (scene.height + pad, scene.width + pad))
        self.noise_up = np.clip(bank, 0, 255).astype(np.uint8)
        self.noise_down = np.clip(-bank, 0, 255).astype(np.uint8)
        self.noise_offsets = rng.integers(0, pad, size=(len(traj), 2))
        self.droppings = self._droppings(rng) if scene.distractors else {}

    def _droppings(self, rng: np.random.Generator) -> dict[int, np.ndarray]:
        """Frame -> where (px) a faecal pellet is dropped: behind the tail base, every ~40 s."""
        n = len(self.traj)
        frames = np.flatnonzero(rng.random(n) < 1 / (40 * self.scene.fps))
        return {int(f): self.points["tail_base"][f] for f in frames}

    def _drop(self, where: np.ndarray, angle: float) -> None:
        k = self.scene.px_per_mm
        centre = tuple(int(round(c * 16)) for c in where)
        axes = (max(16, int(2.0 * k * 16)), max(12, int(1.0 * k * 16)))
        cv2.ellipse(self.plate, centre, axes, angle, 0, 360, (25, 35, 45), -1, cv2.LINE_AA, self.SHIFT)

    def bgr(self, i: int) -> np.ndarray:
        """Frame ``i`` in BGR without sensor noise. Droppings stay on the floor from the frame
        they fall, so frames skipped before it miss them.
        """
        if i in self.droppings:
            self._drop(self.droppings[i], math.degrees(self.traj.posture.heading[i]))
        frame = self.plate.copy()
        self._composite_mouse(frame, i)
        return frame

    def i420(self, i: int) -> np.ndarray:
        """Frame ``i`` as the camera delivers it: YUV 4:2:0 planar with sensor noise on the luma."""
        yuv = cv2.cvtColor(self.bgr(i), cv2.COLOR_BGR2YUV_I420)
        if self.scene.noise_sigma > 0:
            luma = yuv[: self.scene.height]
            dy, dx = self.noise_offsets[i]
            h, w = luma.shape
            cv2.add(luma, self.noise_up[dy : dy + h, dx : dx + w], dst=luma)
            cv2.subtract(luma, self.noise_down[dy : dy + h, dx : dx + w], dst=luma)
        return yuv

    def _composite_mouse(self, frame: np.ndarray, i: int) -> None:
        pts = {name: self.points[name][i] for name in self.points}
        everything = np.concatenate([np.stack([pts[k] for k in KEYPOINTS]), pts["tail"], pts["paws"]])
        blur = self._blur_kernel(i)
        pad = int(0.25 * self.length_px) + (blur.shape[0] if blur is not None else 0) + 8
        x0, y0 = np.floor(everything.min(axis=0)).astype(int) - pad
        x1, y1 = np.ceil(everything.max(axis=0)).astype(int) + pad
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.scene.width), min(y1, self.scene.height)
        if x1 <= x0 or y1 <= y0:
            return
        colour = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
        alpha = np.zeros((y1 - y0, x1 - x0), np.uint8)
        self._draw_mouse(colour, alpha, {k: v - (x0, y0) for k, v in pts.items()}, i)
        # Fur has no hard edge; the same blur on colour and coverage keeps them consistent.
        colour, alpha = cv2.GaussianBlur(colour, (3, 3), 0), cv2.GaussianBlur(alpha, (3, 3), 0)
        if blur is not None:
            colour, alpha = cv2.filter2D(colour, -1, blur), cv2.filter2D(alpha, -1, blur)
        light = self.field[
            int(np.clip(pts["body_center"][1], 0, self.scene.height - 1)),
            int(np.clip(pts["body_center"][0], 0, self.scene.width - 1)),
        ]
        if self.scene.reflection > 0:  # drawn first: the mouse's own patch may reach over them
            for line, strength in self._mirrors(pts["body_center"]):
                self._reflect(frame, colour, alpha, (x0, y0), line, strength * light)
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        a = alpha.astype(np.float32) * np.float32(1 / 255)
        if self.scene.shadows and self.scene.view == "top":
            # Light from the upper left: a soft shadow down and to the right of the body.
            dx = dy = max(1, int(round(0.03 * self.length_px)))
            shadow = np.zeros_like(a)
            shadow[dy:, dx:] = a[:-dy, :-dx]
            shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, 0.04 * self.length_px))
            roi *= (1 - 0.18 * shadow)[..., None]
        roi = roi * (1 - a)[..., None] + colour.astype(np.float32) * np.float32(light)
        frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)

    def _mirrors(self, centre: np.ndarray) -> list[tuple[tuple[np.ndarray, float], float]]:
        """The walls that reflect a mouse whose body centre is at ``centre`` (px): each as its
        line ``(n, c)`` (the points q with n . q = c, n the unit normal pointing out of the
        arena) and the reflection's opacity there. A wall reflects what is within about a body
        length of it: a mouse farther away is seen in it only at angles the camera misses.
        """
        scene = self.scene
        side = scene.arena_mm * scene.px_per_mm
        ox, oy = scene.origin_px
        if scene.arena == "circle":
            middle = np.array([ox + side / 2, oy + side / 2])
            offset = centre - middle
            n = offset / max(1e-6, float(np.hypot(*offset)))  # the tangent nearest the mouse
            walls = [(n, float(n @ middle) + side / 2)]
        else:
            walls = [
                (np.array([-1.0, 0.0]), -ox),
                (np.array([1.0, 0.0]), ox + side),
                (np.array([0.0, -1.0]), -oy),
                (np.array([0.0, 1.0]), oy + side),
            ]
        mirrors = []
        for n, c in walls:
            fade = 1 - (c - float(n @ centre)) / self.length_px
            if fade > 0:
                mirrors.append(((n, c), self.scene.reflection * min(1.0, fade)))
        return mirrors

    def _reflect(
        self,
        frame: np.ndarray,
        colour: np.ndarray,
        alpha: np.ndarray,
        corner: tuple[int, int],
        line: tuple[np.ndarray, float],
        opacity: float,
    ) -> None:
        """Composite the mouse's patch (premultiplied ``colour`` and ``alpha``, top-left at
        ``corner`` in the frame) mirrored across ``line``, at ``opacity``, where it lands.
        """
        n, c = line
        mirror = np.eye(2) - 2 * np.outer(n, n)
        shift = 2 * c * n
        h, w = alpha.shape
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) + corner
        landed = corners @ mirror.T + shift
        x0, y0 = np.maximum(np.floor(landed.min(axis=0)).astype(int), 0)
        x1 = min(int(np.ceil(landed[:, 0].max())), self.scene.width)
        y1 = min(int(np.ceil(landed[:, 1].max())), self.scene.height)
        if x1 <= x0 or y1 <= y0:
            return
        # Patch coordinates to the destination window's: mirror, then move to the window.
        affine = np.hstack([mirror, (mirror @ np.asarray(corner, np.float64) + shift - (x0, y0))[:, None]])
        size = (x1 - x0, y1 - y0)
        mirrored = cv2.warpAffine(colour, affine, size, flags=cv2.INTER_LINEAR).astype(np.float32)
        cover = cv2.warpAffine(alpha, affine, size, flags=cv2.INTER_LINEAR).astype(np.float32) * np.float32(
            opacity / 255
        )
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        roi = roi * (1 - cover)[..., None] + mirrored * np.float32(opacity)
        frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)

    def _blur_kernel(self, i: int) -> np.ndarray | None:
        """A line kernel along the body's motion during half a frame's exposure, or None."""
        if not self.scene.motion_blur or i == 0:
            return None
        step = self.points["body_center"][i] - self.points["body_center"][i - 1]
        reach = 0.5 * float(np.hypot(*step))
        if reach < 1.0:
            return None
        size = 2 * int(math.ceil(reach)) + 1
        kernel = np.zeros((size, size), np.float32)
        c = size // 2
        d = step / np.hypot(*step) * reach / 2
        cv2.line(
            kernel,
            (int(round((c - d[0]) * 16)), int(round((c - d[1]) * 16))),
            (int(round((c + d[0]) * 16)), int(round((c + d[1]) * 16))),
            1.0,
            1,
            cv2.LINE_AA,
            self.SHIFT,
        )
        return kernel / kernel.sum()

    def _draw_mouse(self, colour: np.ndarray, alpha: np.ndarray, p: dict[str, np.ndarray], i: int) -> None:
        """Draw the body parts in the patch: premultiplied colour and coverage (alpha)."""
        c = self.colours
        posture = self.traj.posture
        bottom = self.scene.view == "bottom"
        L = self.length_px
        L_drawn = L * apparent_scale(self.scene, posture.lift[i])
        fx = lambda q: (int(q[0] * 16 + 0.5), int(q[1] * 16 + 0.5))  # noqa: E731  (patch coordinates are >= 0)

        def ellipse(centre, half_long, half_short, along, tone, cover=True):
            angle = math.degrees(math.atan2(along[1], along[0]))
            axes = (max(1, int(half_long * 16)), max(1, int(half_short * 16)))
            cv2.ellipse(colour, fx(centre), axes, angle, 0, 360, tuple(tone), -1, cv2.LINE_AA, self.SHIFT)
            if cover:
                cv2.ellipse(alpha, fx(centre), axes, angle, 0, 360, 255, -1, cv2.LINE_AA, self.SHIFT)

        def disc(centre, radius, tone, cover=True):
            cv2.circle(colour, fx(centre), max(1, int(radius * 16)), tuple(tone), -1, cv2.LINE_AA, self.SHIFT)
            if cover:
                cv2.circle(alpha, fx(centre), max(1, int(radius * 16)), 255, -1, cv2.LINE_AA, self.SHIFT)

        def direction(a, b):
            v = b - a
            n = float(np.hypot(*v))
            return v / n if n > 1e-6 else np.array([1.0, 0.0]), n

        # Tail first: the body covers its root. It tapers from the base to the tip.
        tail = p["tail"]
        for s in range(len(tail) - 1):
            width = max(1, int(round(L_drawn * (0.055 - 0.045 * s / (len(tail) - 1)))))
            cv2.line(colour, fx(tail[s]), fx(tail[s + 1]), tuple(c["tail"]), width, cv2.LINE_AA, self.SHIFT)
            cv2.line(alpha, fx(tail[s]), fx(tail[s + 1]), 255, width, cv2.LINE_AA, self.SHIFT)
        paws = p["paws"]
        paw_r = 0.035 * L_drawn
        if not bottom:  # from above, hind feet peek out beside the hips
            for paw in paws[2:]:
                disc(paw, paw_r, c["skin"])
        body_tone = c["belly"] if bottom else c["back"]
        rear_dir, rear_len = direction(p["tail_base"], p["body_center"])
        front_dir, front_len = direction(p["body_center"], p["neck"])
        head_dir, head_len = direction(p["neck"], p["nose"])
        girth = 1 / math.sqrt(max(posture.stretch[i], 0.5))  # a curled mouse is rounder
        # The rump ends where the tail leaves it, at the tail_base keypoint.
        rear_c = (p["tail_base"] + p["body_center"]) / 2 + 0.05 * L_drawn * rear_dir
        front_c = (p["body_center"] + p["neck"]) / 2
        ellipse(rear_c, rear_len / 2 + 0.06 * L_drawn, 0.19 * L_drawn * girth, rear_dir, body_tone)
        ellipse(
            front_c,
            front_len / 2 + 0.14 * L_drawn * (1 - 0.7 * posture.rear[i]),
            0.165 * L_drawn * girth,
            front_dir,
            body_tone,
        )
        # The head: a rounded cranium behind a tapering snout that ends at the nose. Rearing
        # brings head and shoulders toward a top camera, so they look broader.
        side = np.array([-head_dir[1], head_dir[0]])
        broad = 1 + 0.1 * posture.rear[i] * (not bottom)
        cranium = p["neck"] + 0.3 * head_len * head_dir
        disc(cranium, 0.11 * L_drawn * broad, body_tone)
        half = 0.1 * L_drawn * broad
        tip = p["nose"] - 0.012 * L_drawn * head_dir  # the rounded tip's centre: its edge is the nose
        snout = np.array(
            [cranium + half * side, tip + 0.3 * half * side, tip - 0.3 * half * side, cranium - half * side]
        )
        cv2.fillConvexPoly(
            colour, np.round(snout * 16).astype(np.int32), tuple(body_tone), cv2.LINE_AA, self.SHIFT
        )
        cv2.fillConvexPoly(alpha, np.round(snout * 16).astype(np.int32), 255, cv2.LINE_AA, self.SHIFT)
        disc(tip, 0.3 * half, c["skin"] if bottom or self.scene.fur != "black" else body_tone)
        if not bottom:
            # A soft dorsal highlight along the spine, lit from the upper left.
            shine = np.array([-1.0, -1.0]) * 0.02 * L_drawn
            spine_dir, spine_len = direction(p["tail_base"], p["neck"])
            ellipse(
                (p["tail_base"] + p["neck"]) / 2 + shine,
                spine_len / 2,
                0.08 * L_drawn * girth,
                spine_dir,
                (c["back"] + 2 * c["highlight"]) / 3,
                False,
            )
            for ear in ("left_ear", "right_ear"):
                disc(p[ear], 0.055 * L_drawn, c["ear"])
            for s in (-1, 1):
                disc(
                    p["neck"] + 0.55 * head_len * head_dir + s * 0.05 * L_drawn * side,
                    0.016 * L_drawn,
                    c["eye"],
                    False,
                )
        # Forepaws show from above only when raised (rearing, grooming); from below always.
        if bottom or posture.forepaws_up[i] > 0.3:
            for paw in paws[:2]:
                disc(paw, 0.8 * paw_r, c["skin"])
        if bottom:
            for paw in paws[2:]:
                ellipse(paw, 1.4 * paw_r, 0.9 * paw_r, rear_dir, c["skin"])


def render(traj: Trajectory, scene: Scene, seed: int):
    """Rendered BGR frames of a trajectory exactly as they are encoded, one at a time."""
    renderer = Renderer(traj, scene, seed)
    for i in range(len(traj)):
        yield cv2.cvtColor(renderer.i420(i), cv2.COLOR_YUV2BGR_I420)
