"""The large-model backend on a tiny, randomly initialised vision-language model built here
(no download): loading, prompting with frames, and robust parsing of its answers."""

import numpy as np
import pandas as pd
import pytest

from mousegpt.describe import load_model
from mousegpt.describe.hf import parse_answer
from mousegpt.errors import MouseGPTError

FACTS = pd.DataFrame([{
    "segment_index": i, "start_s": i * 0.5, "end_s": i * 0.5 + 1, "speed_mean_mm_s": speed, "speed_max_mm_s": speed + 30,
    "displacement_mm": speed * 0.9, "body_length_mm": 88.0, "body_length_ratio": 0.97, "body_length_ratio_min": 0.95,
    "heading_change_deg": 5.0, "angular_speed_deg_s": 10.0, "head_yaw_std_deg": 5.0, "head_yaw_abs_deg": 4.0,
    "head_motion_hz": 1.0, "head_speed_mm_s": 6.0, "immobile_fraction": 0.0, "wall_distance_mm": 10.0, "zone": "wall",
    "visible_fraction": 1.0} for i, speed in enumerate((90.0, 100.0, 2.0))])


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A LLaVA-style model (CLIP vision tower, Llama text model) with a word-level tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (AutoModelForImageTextToText, CLIPImageProcessor, CLIPVisionConfig, LlamaConfig,
                              LlavaConfig, LlavaProcessor, PreTrainedTokenizerFast)

    words = ["<unk>", "<pad>", "<s>", "</s>", "<image>", *'{}":,[]', "overall", "head", "limbs", "torso", "mouse", "walks"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        bos_token="<s>", eos_token="</s>", extra_special_tokens={"image_token": "<image>"})
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=32, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2),
        image_token_index=words.index("<image>"))
    path = tmp_path_factory.mktemp("tiny-vlm")
    AutoModelForImageTextToText.from_config(config).save_pretrained(path)
    LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                   tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default", image_token="<image>",
                   num_additional_image_tokens=1).save_pretrained(path)
    return path


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
    monkeypatch.setattr(model, "_generate", lambda prompts, frames: seen.extend(frames) or ["{}"] * len(prompts))
    crops = np.stack([np.full((8, 64, 64), 30 * i, np.uint8) for i in range(len(FACTS))])
    model.describe(FACTS, crops=crops)
    assert len(seen) == len(FACTS) and all(len(images) == model.crops_per_segment for images in seen)
    assert all(image.shape == (64, 64, 3) and image.dtype == np.uint8 for images in seen for image in images)
    assert seen[2][0][0, 0, 0] == 60  # each segment gets its own crops


def test_a_valid_answer_is_kept_and_a_contradicting_one_is_not(tiny_checkpoint, monkeypatch):
    model = load_model(f"hf:{tiny_checkpoint}")
    answer = ('Sure! {"overall": "The mouse walks along the wall.", "head": "Head forward.", "limbs": "Steady steps.", '
              '"torso": "Stretched out.", "keywords": "walking, wall"} Hope this helps.')
    monkeypatch.setattr(model, "_generate", lambda prompts, frames: [answer] * len(prompts))
    walking, _, resting = model.describe(FACTS)
    assert walking.overall == "The mouse walks along the wall." and walking.keywords == ["walking", "wall"]
    assert resting.overall == load_model("kinematic").describe(FACTS)[2].overall  # "walks" while still: not trusted
    assert model.warnings == ["segment 2: the model's answer says walking but the mouse was still; "
                              "kept the facts-only description"]


@pytest.mark.parametrize("text, expected", [
    ('{"overall": "a", "head": "b", "limbs": "c", "torso": "d", "keywords": ["x", " y "]}', ["x", "y"]),
    ('```json\n{"overall": "a", "head": "b", "limbs": "c", "torso": "d", "keywords": "x, y"}\n```', ["x", "y"]),
    ('{"overall": "a", "head": "b"} then {"overall": "a", "head": "b", "limbs": "c", "torso": "d"}', []),
])
def test_answers_are_parsed_from_surrounding_prose(text, expected):
    assert parse_answer(text)["keywords"] == expected


@pytest.mark.parametrize("text", ["", "no json here", '{"overall": 3, "head": "b", "limbs": "c", "torso": "d"}',
                                  '{"overall": "a", "head": "b", "limbs": "c", "torso": "d", "keywords": 7}'])
def test_malformed_answers_are_refused(text):
    assert parse_answer(text) is None


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(MouseGPTError, match="not a transformers checkpoint folder"):
        load_model(f"hf:{tmp_path}")
