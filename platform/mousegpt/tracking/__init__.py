"""Weight-free single-mouse tracker: background model, segmentation, body axis, nose vs tail.

Works on top- or bottom-view video of one mouse whose fur contrasts with the floor (dark
on light or light on dark; the polarity is detected). The result is a ``movement`` poses
dataset with keypoints nose, body_center, tail_base and tail_tip in pixels of the image as
the camera saw it (x right, y down; a bottom view is mirrored), one individual, and a
confidence in [0, 1] per keypoint; beside the poses, the body ellipse of each frame
(``BODY_ELLIPSE``: length, width, area and orientation of the body without its tail).
Frames where no mouse is found are NaN everywhere; tail_tip alone is NaN, with confidence
0, in frames where no tail is seen.

The background is a per-pixel percentile of frames sampled across the whole video, so a
mouse resting in one place for most of a session stays foreground; each frame's overall
brightness is matched to it first, so lights that drift or a camera's automatic exposure
do not turn the floor into foreground. A mouse that stays still through (nearly) all of a
clip is in the percentile too: it is found there as a mouse-sized blob that differs from
the floor around it, and replaced by the floor (``estimate_background``); or the user gives
an image of the empty arena. Reflections of the mouse in a clear floor or a transparent wall
are fainter than the mouse and lie beyond the arena's floor: they lose to it
(``segmentation._mouse_outline``).

The package's modules, in the order a frame goes through them:

- ``config``: the keypoints and body-ellipse variables tracked, and ``TrackerConfig``;
- ``lighting``: a frame's overall brightness against a reference;
- ``background``: the background model (``Background``, ``estimate_background``);
- ``empty_arena``: a user's image of the empty arena in place of the estimate;
- ``floor``: the arena's floor in a background image;
- ``resting``: a mouse that rested through a clip, found in its background;
- ``segmentation``: the mouse in one frame;
- ``keypoints``, ``tail``, ``snout``: its keypoints and body ellipse;
- ``shapes``: mask and point-set helpers they share;
- ``parts``: frames in parts, tracked and joined (``track_part``, ``stitch``);
- ``tracker``: a whole video to a poses dataset (``track``, ``poses_dataset``).
"""

from mousegpt.tracking.background import Background, estimate_background
from mousegpt.tracking.config import BODY_ELLIPSE, TRACKED_KEYPOINTS, TrackerConfig
from mousegpt.tracking.empty_arena import read_empty_arena
from mousegpt.tracking.parts import TrackedPart, part_bounds, stitch, track_part
from mousegpt.tracking.tracker import poses_dataset, track

__all__ = [
    "BODY_ELLIPSE",
    "TRACKED_KEYPOINTS",
    "Background",
    "TrackedPart",
    "TrackerConfig",
    "estimate_background",
    "part_bounds",
    "poses_dataset",
    "read_empty_arena",
    "stitch",
    "track",
    "track_part",
]
