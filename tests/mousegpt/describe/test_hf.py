"""The large-model backend on a tiny, randomly initialised vision-language model built here
(no download): loading, prompting with frames, and robust parsing of its answers."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from mousegpt.describe import load_model
from mousegpt.describe.hf import parse_answer
from mousegpt.errors import MouseGPTError
from tests.conftest import REPO

FACTS = pd.DataFrame(
    [
        {
            "segment_index": i,
            "start_s": i * 0.5,
            "end_s": i * 0.5 + 1,
            "speed_mean_mm_s": speed,
            "speed_max_mm_s": speed + 30,
            "displacement_mm": speed * 0.9,
            "body_length_mm": 88.0,
            "body_length_ratio": 0.97,
            "body_length_ratio_min": 0.95,
            "heading_change_deg": 5.0,
            "angular_speed_deg_s": 10.0,
            "head_yaw_std_deg": 5.0,
            "head_yaw_abs_deg": 4.0,
            "head_motion_hz": 1.0,
            "head_speed_mm_s": 6.0,
            "immobile_fraction": 0.0,
            "wall_distance_mm": 10.0,
            "zone": "wall",
            "visible_fraction": 1.0,
        }
        for i, speed in enumerate((90.0, 100.0, 2.0))
    ]
)


def _benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A LLaVA-style model (CLIP vision tower, Llama text model) with a word-level tokenizer,
    built as benchmarks/gpu_check.py builds it."""
    return _benchmark("gpu_check").random_llava(tmp_path_factory.mktemp("tiny-vlm"))


def test_a_random_model_s_answers_are_replaced_by_grounded_descriptions(tiny_checkpoint):
    model = load_model(f"hf:{tiny_checkpoint}")
    model.max_new_tokens = 8
    frames = [[np.full((64, 64, 3), 40 * i, np.uint8)] * 2 for i in range(len(FACTS))]
    described = model.describe(FACTS, frames=frames)
    facts_only = load_model("kinematic").describe(FACTS)
    assert [d.fields() for d in described] == [d.fields() for d in facts_only]
    assert [d.behavior for d in described] == [d.behavior for d in facts_only]
    assert len(model.warnings) == len(FACTS) and all("not the five-field JSON" in w for w in model.warnings)
    assert len(model.describe(FACTS)) == len(FACTS)  # pose-only input: text alone


def test_segment_crops_reach_the_model_as_rgb_images(tiny_checkpoint, monkeypatch):
    model = load_model(f"hf:{tiny_checkpoint}")
    seen = []
    monkeypatch.setattr(
        model, "_generate", lambda prompts, frames: seen.extend(frames) or ["{}"] * len(prompts)
    )
    crops = np.stack([np.full((8, 64, 64), 30 * i, np.uint8) for i in range(len(FACTS))])
    model.describe(FACTS, crops=crops)
    assert len(seen) == len(FACTS) and all(len(images) == model.crops_per_segment for images in seen)
    assert all(image.shape == (64, 64, 3) and image.dtype == np.uint8 for images in seen for image in images)
    assert seen[2][0][0, 0, 0] == 60  # each segment gets its own crops


def test_a_valid_answer_is_kept_and_a_contradicting_one_is_not(tiny_checkpoint, monkeypatch):
    model = load_model(f"hf:{tiny_checkpoint}")
    answer = (
        'Sure! {"overall": "The mouse walks along the wall.", "head": "Head forward.", '
        '"limbs": "Steady steps.", "torso": "Stretched out.", "keywords": "walking, wall"} Hope this helps.'
    )
    monkeypatch.setattr(model, "_generate", lambda prompts, frames: [answer] * len(prompts))
    walking, _, resting = model.describe(FACTS)
    assert walking.overall == "The mouse walks along the wall." and walking.keywords == ["walking", "wall"]
    assert (
        resting.overall == load_model("kinematic").describe(FACTS)[2].overall
    )  # "walks" while still: not trusted
    assert model.warnings == [
        "segment 2: the model's answer says walking but the mouse was still; kept the facts-only description"
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"overall": "a", "head": "b", "limbs": "c", "torso": "d", "keywords": ["x", " y "]}', ["x", "y"]),
        (
            '```json\n{"overall": "a", "head": "b", "limbs": "c", "torso": "d", "keywords": "x, y"}\n```',
            ["x", "y"],
        ),
        ('{"overall": "a", "head": "b"} then {"overall": "a", "head": "b", "limbs": "c", "torso": "d"}', []),
    ],
)
def test_answers_are_parsed_from_surrounding_prose(text, expected):
    assert parse_answer(text)["keywords"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no json here",
        '{"overall": 3, "head": "b", "limbs": "c", "torso": "d"}',
        '{"overall": "a", "head": "b", "limbs": "c", "torso": "d", "keywords": 7}',
    ],
)
def test_malformed_answers_are_refused(text):
    assert parse_answer(text) is None


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(MouseGPTError, match="not a transformers checkpoint folder"):
        load_model(f"hf:{tmp_path}")


def test_dtype_and_batch_size_are_options_of_the_model_spec(tiny_checkpoint):
    import torch

    default = load_model(f"hf:{tiny_checkpoint}")
    assert default.dtype == torch.float32 and default.batch_size == 4  # on CPU
    model = load_model(f"hf:{tiny_checkpoint}?dtype=bf16&batch_size=2&max_new_tokens=4")
    assert model.batch_size == 2 and model.max_new_tokens == 4
    assert {p.dtype for p in model.model.parameters()} == {torch.bfloat16}
    frames = [[np.full((64, 64, 3), 40 * i, np.uint8)] for i in range(len(FACTS))]
    described = model.describe(FACTS, frames=frames)  # bf16 pixels and weights generate together
    assert [d.behavior for d in described] == [d.behavior for d in load_model("kinematic").describe(FACTS)]


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("?dtype=int8", "unknown dtype 'int8'"),
        ("?batch=3", "unknown option 'batch'"),
        ("?batch_size=many", "batch_size must be a whole number"),
    ],
)
def test_a_bad_option_is_one_clear_error(tiny_checkpoint, spec, problem):
    with pytest.raises(MouseGPTError, match=problem):
        load_model(f"hf:{tiny_checkpoint}{spec}")


def test_an_instruction_tuned_model_is_prompted_through_its_chat_template(tiny_checkpoint, monkeypatch):
    model = load_model(f"hf:{tiny_checkpoint}")
    assert model.chat("Describe.", 2) == "<image><image>\nDescribe."  # no template: the raw prompt
    model.processor.chat_template = (
        "{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}"
        "{% if add_generation_prompt %} ASSISTANT:{% endif %}"
    )
    assert model.chat("Describe.", 2) == "USER: <image><image>Describe. ASSISTANT:"
    sent = []
    real = model.processor.__call__
    monkeypatch.setattr(
        type(model.processor), "__call__", lambda self, **kw: sent.extend(kw["text"]) or real(**kw)
    )
    model.max_new_tokens = 2
    model.describe(FACTS, frames=[[np.zeros((32, 32, 3), np.uint8)]] * len(FACTS))
    assert len(sent) == len(FACTS) and all(
        t.startswith("USER: <image>You see") and t.endswith(" ASSISTANT:") for t in sent
    )
