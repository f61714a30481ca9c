"""What a describer reads and writes, as bytes: the body of Serve's binary ``POST /describe``
and of the pipeline's calls to Serve replicas (``describe.served``).

A request is an ``.npz`` archive (numpy's zip of arrays; ``application/x-npz``):

- ``facts``: the segments' facts table as Arrow IPC bytes (``segments.FACT_COLUMNS``, units as
  there), one row per segment;
- ``kinematics`` (optional): the per-frame kinematics table the facts were computed from, as
  Arrow IPC bytes (or sent beside the body: ``table_bytes``), with ``windows``: (segment, 2)
  int64 first and end (exclusive) frames of each segment in it;
- ``crops`` (optional): (segment, frame, y, x) uint8, the model's crops around the mouse.

An answer is one JSON-able dict per segment (``to_dict``): the behaviour, its probabilities and
confidence, the five fields, and the motion embedding where the model learns one.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa

from mousegpt.describe.model import Description
from mousegpt.errors import InputError
from mousegpt.segments import Window

MAX_BYTES = 256 * 2**20
"""Largest request body accepted (256 MiB: about 1,000 segments of 16 frames of 64x64 crops,
16 times over)."""


def _table_bytes(table: pd.DataFrame) -> np.ndarray:
    sink = io.BytesIO()
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    with pa.ipc.new_stream(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return np.frombuffer(sink.getvalue(), np.uint8)


def _table(data: np.ndarray) -> pd.DataFrame:
    return pa.ipc.open_stream(pa.py_buffer(data.tobytes())).read_all().to_pandas()


def pack(
    facts: pd.DataFrame,
    kinematics: pd.DataFrame | None = None,
    crops: np.ndarray | None = None,
    windows: list[Window] | None = None,
) -> bytes:
    """A describe request as bytes (see the module's docstring)."""
    arrays = {"facts": _table_bytes(facts)}
    if kinematics is not None:
        arrays["kinematics"] = _table_bytes(kinematics)
    if windows:
        arrays["windows"] = np.array([(w.start_frame, w.end_frame) for w in windows], np.int64)
    if crops is not None:
        arrays["crops"] = np.ascontiguousarray(crops)  # checked by unpack: the model reads uint8
    sink = io.BytesIO()
    np.savez(sink, **arrays)  # not compressed: crops are noisy, and the model's time matters more
    return sink.getvalue()


def table_bytes(table: pd.DataFrame) -> bytes:
    """A table as Arrow IPC bytes: a session's kinematics, sent once beside many requests."""
    return _table_bytes(table).tobytes()


def unpack(body: bytes, kinematics: bytes | None = None) -> dict:
    """The describer's arguments from a request: ``facts``, ``kinematics``, ``crops``,
    ``windows`` (None where not sent). ``kinematics`` (``table_bytes``) comes beside the body
    when many requests share one session's. A body that is not such a request raises InputError.
    """
    if len(body) > MAX_BYTES:
        raise InputError(
            f"describe request of {len(body) / 2**20:.0f} MiB: the limit is {MAX_BYTES // 2**20} MiB"
        )
    try:
        archive = np.load(io.BytesIO(body), allow_pickle=False)
        names = set(archive.files)
        if "facts" not in names:
            raise InputError("describe request has no 'facts' table")
        facts = _table(archive["facts"])
        windows = crops = None
        if "kinematics" in names:
            kinematics = archive["kinematics"]
        kinematics = (
            None
            if kinematics is None
            else _table(np.frombuffer(kinematics, np.uint8) if isinstance(kinematics, bytes) else kinematics)
        )
        if kinematics is not None and "windows" in names:
            bounds = archive["windows"]
            if bounds.ndim != 2 or bounds.shape != (len(facts), 2):
                raise InputError(f"describe request: windows must be ({len(facts)}, 2), got {bounds.shape}")
            windows = [Window(i, int(a), int(b)) for i, (a, b) in enumerate(bounds)]
        if "crops" in names:
            crops = archive["crops"]
            if crops.ndim != 4 or len(crops) != len(facts) or crops.dtype != np.uint8:
                raise InputError(
                    f"describe request: crops must be uint8 (segment, frame, y, x) for {len(facts)} "
                    f"segments, got {crops.dtype} {crops.shape}"
                )
    except InputError:
        raise
    except Exception as exc:  # not a zip, an array that is not there, a table that is not Arrow
        raise InputError(
            "describe request is not an .npz of facts, kinematics and crops "
            f"({exc.__class__.__name__}: {exc})"
        ) from None
    return {"facts": facts, "kinematics": kinematics, "crops": crops, "windows": windows}


def to_dict(d: Description) -> dict:
    """One description as JSON-able values."""
    return {
        "behavior": d.behavior,
        "probs": d.probs,
        "confidence": d.confidence,
        "uncertain": d.uncertain,
        "description": d.fields(),
        "motion": None if d.motion is None else [float(v) for v in d.motion],
    }


def from_dict(answer: dict) -> Description:
    """``to_dict``'s inverse."""
    fields = answer["description"]
    motion = answer.get("motion")
    return Description(
        behavior=answer["behavior"],
        probs=answer["probs"],
        overall=fields["overall"],
        head=fields["head"],
        limbs=fields["limbs"],
        torso=fields["torso"],
        keywords=list(fields["keywords"]),
        motion=None if motion is None else np.asarray(motion, np.float32),
        confidence=answer["confidence"],
    )
