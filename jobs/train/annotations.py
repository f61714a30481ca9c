"""Real annotations (JSONL lines ``{"video", "start_s", "end_s", "description"}``): checked line
by line (``read_annotations``), and turned into tracked segments whose target text is the
annotator's description (``annotation_examples``); the core behaviour a description names
(``behavior_from_text``) is their label."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from jobs.train.sessions import concatenate
from jobs.train.tracked_video import video_segments
from mousegpt.describe.tiny import sequence_features
from mousegpt.errors import InputError

_BEHAVIOR_WORDS = {
    "rear": r"\b(rear\w*|hind legs|upright|stands? up)\b",
    "groom": r"\b(groom\w*|wash\w*|lick\w*|clean\w*|scratch\w*)\b",
    "jump": r"\b(jump\w*|leap\w*|hop\w*)\b",
    "run": r"\b(run\w*|dash\w*|sprint\w*|scurr\w*|rac\w+)\b",
    "turn": r"\b(turn\w*|rotat\w*|pivot\w*)\b",
    "sniff": r"\b(sniff\w*|investigat\w*)\b",
    "rest": r"\b(rest\w*|immobil\w*|still|sleep\w*|freez\w*|motionless)\b",
    "walk": r"\b(walk\w*|locomot\w*)\b",
}


def behavior_from_text(text: str) -> str | None:
    """The core behaviour a free-text annotation names (the first one found in this order), or None."""
    lowered = text.lower()
    return next((b for b, pattern in _BEHAVIOR_WORDS.items() if re.search(pattern, lowered)), None)


def read_annotations(path: str | Path) -> pd.DataFrame:
    """Annotation lines ``{"video", "start_s", "end_s", "description"}``; video paths relative
    to the file's folder.

    Raises InputError naming the file and line of the first bad one."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
        missing = [k for k in ("video", "start_s", "end_s", "description") if k not in row]
        if not isinstance(row, dict) or missing:
            raise InputError(f"{path}:{number}: missing {', '.join(missing) or 'fields'}")
        try:
            start, end = float(row["start_s"]), float(row["end_s"])
        except (TypeError, ValueError):
            raise InputError(f"{path}:{number}: start_s and end_s must be numbers") from None
        if not (0 <= start < end):
            raise InputError(f"{path}:{number}: need 0 <= start_s < end_s, got {start} and {end}")
        if not str(row["description"]).strip():
            raise InputError(f"{path}:{number}: empty description")
        video = (path.parent / row["video"]).resolve()
        if not video.exists():
            raise InputError(f"{path}:{number}: video {row['video']} not found")
        rows.append(
            {
                "video": str(video),
                "start_s": start,
                "end_s": end,
                "description": str(row["description"]).strip(),
                "px_per_mm": row.get("px_per_mm"),
                "view": row.get("view", "top"),
            }
        )
    if not rows:
        raise InputError(f"{path}: no annotations")
    return pd.DataFrame(rows)


def annotation_examples(path: str | Path, n_steps: int) -> dict:
    """Segments of the annotated videos whose middle falls inside an annotation, with its text."""
    table = read_annotations(path)
    parts = []
    for (video_path, px, view), group in table.groupby(["video", "px_per_mm", "view"], dropna=False):
        seg = video_segments(video_path, None if pd.isna(px) else float(px), view)
        middles = (seg["facts"]["start_s"] + seg["facts"]["end_s"]).to_numpy() / 2
        sequence = sequence_features(seg["kinematics"], seg["windows"], n_steps)
        for row in group.itertuples():
            inside = np.flatnonzero(
                (middles >= row.start_s)
                & (middles <= row.end_s)
                & (seg["facts"]["visible_fraction"].to_numpy() >= 0.5)
            )
            label = behavior_from_text(row.description) or ""
            parts.append(
                {
                    "session": np.full(len(inside), Path(video_path).name),
                    "view": np.full(len(inside), view),
                    "facts": seg["facts"].iloc[inside].reset_index(drop=True),
                    "sequence": sequence[inside],
                    "crops": seg["crops"][inside],
                    "label": np.full(len(inside), label),
                    "variant": np.full(len(inside), ""),
                    "description": np.full(len(inside), row.description),
                }
            )
    return concatenate(parts)
