"""The describer's bytes (``mousegpt.describe.wire``): what goes in comes out, bad bodies are one
clear error."""

import io

import numpy as np
import pandas as pd
import pytest

from mousegpt.describe import wire
from mousegpt.describe.model import Description
from mousegpt.errors import InputError
from mousegpt.segments import Window


def _request():
    facts = pd.DataFrame({"speed_mean_mm_s": [2.0, np.nan], "zone": ["wall", None]})
    kinematics = pd.DataFrame({"speed_mm_s": np.arange(40, dtype=float), "zone": ["centre"] * 40})
    crops = np.arange(2 * 3 * 8 * 8, dtype=np.uint8).reshape(2, 3, 8, 8)
    return facts, kinematics, crops, [Window(0, 0, 25), Window(1, 12, 37)]


def test_a_request_comes_back_as_it_was_sent():
    facts, kinematics, crops, windows = _request()
    back = wire.unpack(wire.pack(facts, kinematics, crops, windows))
    pd.testing.assert_frame_equal(back["facts"], facts)
    pd.testing.assert_frame_equal(back["kinematics"], kinematics)
    assert np.array_equal(back["crops"], crops) and back["crops"].dtype == np.uint8
    assert [(w.start_frame, w.end_frame) for w in back["windows"]] == [(0, 25), (12, 37)]


def test_kinematics_sent_beside_the_body_are_read_with_it():
    facts, kinematics, crops, windows = _request()
    back = wire.unpack(wire.pack(facts, None, None, windows), wire.table_bytes(kinematics))
    pd.testing.assert_frame_equal(back["kinematics"], kinematics)
    assert back["crops"] is None and len(back["windows"]) == 2


def test_facts_alone_are_a_request():
    facts, *_ = _request()
    back = wire.unpack(wire.pack(facts))
    assert back["kinematics"] is None and back["windows"] is None and back["crops"] is None


def test_a_description_survives_the_trip():
    motion = np.random.default_rng(0).normal(size=384).astype(np.float32)
    d = Description(
        "rear",
        {"rear": 0.9, "walk": 0.1},
        "The mouse rears.",
        "Head up.",
        "Hind legs.",
        "Upright.",
        ["rear", "wall"],
        motion / np.linalg.norm(motion),
        0.9,
    )
    back = wire.from_dict(wire.to_dict(d))
    assert back.fields() == d.fields() and (back.behavior, back.probs, back.confidence) == (
        "rear",
        d.probs,
        0.9,
    )
    assert np.array_equal(back.motion, d.motion)


@pytest.mark.parametrize(
    "body, problem",
    [
        (b"PK\x03\x04 not really a zip", "not an .npz"),
        ("no facts", "no 'facts' table"),
        ("crops of floats", "crops must be uint8"),
        ("windows for one segment", "windows must be (2, 2)"),
    ],
)
def test_a_bad_body_is_one_clear_error(body, problem):
    facts, kinematics, crops, windows = _request()
    if body == "no facts":
        sink = io.BytesIO()
        np.savez(sink, crops=crops)
        body = sink.getvalue()
    elif body == "crops of floats":
        body = wire.pack(facts, None, crops.astype(np.float32))
    elif body == "windows for one segment":
        body = wire.pack(facts, kinematics, None, windows[:1])
    with pytest.raises(InputError, match="describe request") as err:
        wire.unpack(body)
    assert problem in str(err.value)


def test_a_body_over_the_limit_is_refused_before_it_is_read(monkeypatch):
    monkeypatch.setattr(wire, "MAX_BYTES", 100)
    with pytest.raises(InputError, match="the limit is"):
        wire.unpack(b"x" * 101)
