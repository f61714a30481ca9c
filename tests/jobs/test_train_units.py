"""Fast checks of training's pure parts (no Ray, no rendering, no model): scenes, labels,
augmentation, captions, tokens, batches, the DeepSpeed config and the model card, which must
follow the config and constants it describes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from jobs.train import card
from jobs.train.augment import Augmentation, augment, jitter_crops, wobble
from jobs.train.captions import build_captions, caption_text
from jobs.train.config import TrainConfig
from jobs.train.deepspeed_config import deepspeed_config
from jobs.train.evaluate import training_metrics
from jobs.train.scenes import training_scenes
from jobs.train.sessions import most_common_value, window_labels
from jobs.train.tensors import batch_tensors, label_weights, validation_split
from jobs.train.tokens import build_vocab, encode_tokens
from mousegpt.describe.tiny import FACT_FEATURES, SEQUENCE_FEATURES, SPECIAL_TOKENS
from mousegpt.segments import Window

NOTHING = Augmentation(
    no_crops=0.0,
    no_sequence=0.0,
    no_head_yaw=0.0,
    sway=0.0,
    turn_sd_deg=0.0,
    shift_sd_px=0.0,
    scale_sd=0.0,
    contrast=(1.0, 1.0),
    sequence_noise_sd=0.0,
    fact_noise_sd=0.0,
)
"""An augmentation that changes nothing."""
SEQ = {name: i for i, name in enumerate(SEQUENCE_FEATURES)}
FACT = {name: i for i, name in enumerate(FACT_FEATURES)}
WIDTH = len(SEQUENCE_FEATURES) + 4


class MeanPlusSpread:
    """A stand-in generator whose normal draw is its mean plus ``times`` its spread."""

    def __init__(self, times: float = 1.0):
        self.times = times

    def normal(self, loc=0.0, scale=1.0, size=None):
        value = loc + self.times * scale
        return value if size is None else np.full(size, value, dtype=float)


def batch(n: int = 3, frames: int = 2, size: int = 8, steps: int = 4):
    """Crops (integer grey levels), a kinematic sequence and facts of ``n`` segments."""
    crops = (np.arange(n * frames * size * size) % 200).reshape(n, frames, size, size).astype(np.float32)
    sequence = (np.arange(n * steps * WIDTH) % 7 + 1).reshape(n, steps, WIDTH).astype(np.float32) / 10
    facts = (np.arange(n * len(FACT_FEATURES)) % 5 + 1).reshape(n, -1).astype(np.float32) / 10
    return crops, sequence, facts


# ---------------------------------------------------------------- scenes and labels


def test_training_scenes_take_every_view_fur_and_arena_in_turn():
    plans = training_scenes(13, seed=2)
    assert [p[0] for p in plans[:2]] == ["train_0000", "train_0001"]
    assert [p[1] for p in plans[:4]] == ["control", "stim", "anx", "control"]
    assert [p[2] for p in plans[:2]] == [3_000_009, 3_000_010]  # 1_000_003 * (seed + 1) + i
    first, second, third = (p[3] for p in plans[:3])
    assert (first.view, first.fur, first.arena) == ("top", "black", "square")
    assert (second.view, second.fur, second.arena) == ("top", "black", "circle")
    assert (third.view, third.fur, third.arena) == ("top", "white", "square")
    assert (plans[6][3].view, plans[6][3].fur) == ("bottom", "black")
    assert (plans[12][3].view, plans[12][3].fur, plans[12][3].arena) == ("top", "black", "square")
    for _, _, _, scene in plans:
        assert scene.arena_mm in (360.0, 400.0) and scene.fps in (25.0, 30.0)
        assert 0.6 <= scene.lighting <= 1.2 and 1.0 <= scene.noise_sigma <= 2.5
    assert training_scenes(13, seed=2) == plans


def test_a_window_takes_its_most_common_behaviour_and_that_behaviour_s_variant():
    assert most_common_value(np.array(["b", "a", "b"])) == "b"
    assert most_common_value(np.array(["b", "a"])) == "a"  # a tie: the first in sorted order
    behavior = np.array(["walk", "walk", "rear", "rear", "rear", "groom", "groom"])
    variant = np.array(["", "", "supported", "unsupported", "supported", "face", "body"])
    labels, variants = window_labels(behavior, variant, [Window(0, 0, 5), Window(1, 4, 7)])
    assert labels == ["rear", "groom"]
    assert variants == ["supported", "body"]  # groom: face and body tie, body sorts first


# ---------------------------------------------------------------- augmentation


def test_an_augmentation_that_changes_nothing_leaves_the_batch_as_it_was():
    crops, sequence, facts = batch()
    out = augment(crops.copy(), sequence.copy(), facts.copy(), np.random.default_rng(0), NOTHING)
    for before, after in zip((crops, sequence, facts), out):
        np.testing.assert_array_equal(after, before)


def test_every_segment_can_lose_its_crops_sequence_or_head_yaw():
    crops, sequence, facts = batch()
    gone = replace(NOTHING, no_crops=1.0, no_sequence=1.0)
    new_crops, new_sequence, new_facts = augment(
        crops.copy(), sequence.copy(), facts.copy(), np.random.default_rng(0), gone
    )
    assert not new_crops.any() and not new_sequence.any()
    np.testing.assert_array_equal(new_facts, facts)

    no_yaw = replace(NOTHING, no_head_yaw=1.0)
    _, new_sequence, new_facts = augment(
        crops.copy(), sequence.copy(), facts.copy(), np.random.default_rng(0), no_yaw
    )
    yaw = SEQ["head_yaw_deg"]
    assert not new_sequence[:, :, yaw].any()
    np.testing.assert_array_equal(np.delete(new_sequence, yaw, axis=2), np.delete(sequence, yaw, axis=2))
    fact_yaw = [FACT["head_yaw_std_deg"], FACT["head_yaw_abs_deg"], FACT["head_motion_hz"]]
    assert not new_facts[:, fact_yaw].any()
    np.testing.assert_array_equal(np.delete(new_facts, fact_yaw, axis=1), np.delete(facts, fact_yaw, axis=1))


def test_contrast_scales_the_crops_and_stays_within_grey_levels():
    crops = np.full((1, 1, 4, 4), 100.0, np.float32)
    crops[0, 0, 0, 0] = 200.0
    doubled = replace(NOTHING, contrast=(2.0, 2.0))
    out, _, _ = augment(
        crops,
        np.ones((1, 2, WIDTH), np.float32),
        np.ones((1, len(FACT_FEATURES)), np.float32),
        np.random.default_rng(0),
        doubled,
    )
    assert out[0, 0, 1, 1] == 200.0 and out[0, 0, 0, 0] == 255.0  # 400 clipped


def test_crops_are_turned_about_their_centre():
    crops = np.zeros((1, 2, 8, 8), np.float32)
    crops[:, :, 4, 6] = 255.0  # row 4, column 6: right of the centre (4, 4)
    quarter_turn = replace(NOTHING, turn_sd_deg=90.0)
    out = jitter_crops(crops, MeanPlusSpread(), quarter_turn)
    # 90 degrees anticlockwise on screen (y down): right of the centre goes above it, to row 2, column 4.
    assert out[0, 0, 2, 4] == pytest.approx(255.0) and out[0, 1, 2, 4] == pytest.approx(255.0)
    assert out.sum() == pytest.approx(2 * 255.0)


def test_the_sway_keeps_body_centre_speed_consistent_with_its_parts():
    sequence = np.zeros((2, 3, WIDTH), np.float32)
    sequence[:, :, SEQ["forward_speed_mm_s"]] = 0.5  # 100 mm/s (scale 200 mm/s)
    sequence[:, :, SEQ["left_speed_mm_s"]] = 0.6  # 60 mm/s (scale 100 mm/s)
    sequence[:, :, SEQ["head_speed_mm_s"]] = -0.2
    before = sequence.copy()
    wobble(sequence, np.array([1]), MeanPlusSpread(times=0.0))  # no sway drawn: only the bookkeeping
    np.testing.assert_array_equal(sequence[0], before[0])  # a row not asked for is untouched
    # sqrt(100^2 + 60^2) = 116.6 mm/s, 0.583 of the 200 mm/s scale; a speed is never negative
    np.testing.assert_allclose(sequence[1, :, SEQ["speed_mm_s"]], 0.5831, atol=1e-4)
    np.testing.assert_allclose(sequence[1, :, SEQ["head_speed_mm_s"]], 0.2, atol=1e-6)


# ---------------------------------------------------------------- captions and tokens


def test_captions_follow_the_label_or_the_annotator_s_words():
    from mousegpt.describe.captions import CAPTIONS

    data = {
        "facts": pd.DataFrame([{"zone": "wall"}, {"zone": "centre"}, {"zone": "corner"}]),
        "label": np.array(["rear", "", "rear"]),
        "variant": np.array(["supported", "", "supported"]),
        "description": np.array(["", "The mouse nibbles a pellet", "stands tall"]),
    }
    sets, keys = build_captions(data, seed=0, per_segment=3)
    assert keys == ["rear/supported", "annotation:The mouse nibbles a pellet", "annotation:stands tall"]
    assert [len(s) for s in sets] == [3, 3, 3]
    for fields in sets[0]:
        assert fields["overall"] in CAPTIONS["rear/supported"]["overall"]
        assert fields["keywords"].endswith(", wall")
    assert sets[1][0] == {
        "overall": "The mouse nibbles a pellet",
        "head": "",
        "limbs": "",
        "torso": "",
        "keywords": "",
    }
    assert sets[2][0]["overall"] == "stands tall" and sets[2][0]["keywords"].endswith(", corner")
    assert build_captions(data, seed=0, per_segment=3) == (sets, keys)


def test_a_caption_reads_as_one_text_with_its_slots_filled():
    fields = {
        "overall": "The mouse walks <where> at <speed> mm/s.",
        "head": "",
        "limbs": "Its legs move.",
        "torso": "",
        "keywords": "walking, wall",
    }
    text = caption_text(fields, {"zone": "wall", "speed_mean_mm_s": 52.3})
    assert text == "The mouse walks along the wall at 52 mm/s. Its legs move. Keywords: walking, wall."


def test_tokens_are_framed_cut_and_padded():
    index = {t: i for i, t in enumerate([*SPECIAL_TOKENS, "The", "mouse", "walk"])}  # pad 0 ... unk 4
    fields = {"overall": "The mouse walks", "head": "", "limbs": "", "torso": "", "keywords": "walk"}
    # bos, The, mouse, walks (unknown), four <sep>, walk, eos, then padding
    assert encode_tokens(fields, index, 12).tolist() == [1, 5, 6, 4, 3, 3, 3, 3, 7, 2, 0, 0]
    assert encode_tokens(fields, index, 6).tolist() == [1, 5, 6, 4, 3, 2]


def test_the_vocabulary_starts_with_the_special_tokens_and_learns_annotation_words():
    fields = {"overall": "The mouse nibbles a pellet", "head": "", "limbs": "", "torso": "", "keywords": ""}
    vocab = build_vocab([[fields]])
    assert vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert len(vocab) == len(set(vocab))
    assert {"nibbles", "pellet", "wall", "centre", "corner"} <= set(vocab)


# ---------------------------------------------------------------- arrays and batches


def test_rare_behaviours_weigh_more():
    weights = label_weights(np.array([0, 0, 0, 0, 1, -1]))  # walk 4 times, run once, one unlabelled
    # 1/sqrt(4) and 1/sqrt(1), scaled so the two present average 1: 2/3 and 4/3
    np.testing.assert_allclose(weights[:2], [2 / 3, 4 / 3], rtol=1e-6)
    assert not weights[2:].any()


def test_validation_holds_out_whole_sessions():
    sessions = np.array(["a", "a", "b", "c", "c", "c"])
    train, val = validation_split(sessions, 1 / 3, seed=0)
    assert len(set(sessions[val])) == 1 and set(sessions[val]).isdisjoint(sessions[train])
    assert sorted([*train, *val]) == list(range(6))
    train, val = validation_split(np.array(["a", "a"]), 0.5, seed=0)
    assert train.tolist() == [0, 1] and val.tolist() == []


def arrays() -> dict:
    crops, sequence, facts = batch()
    text = np.zeros((2, 5, 3), np.float32)
    text += (100 * np.arange(2))[:, None, None] + np.arange(5)[None, :, None]  # group * 100 + pooled
    return {
        "crops": crops.astype(np.uint8),
        "sequence": sequence,
        "facts": facts,
        "labels": np.array([0, 1, -1]),
        "text": text,
        "text_group": np.array([0, 1, 1]),
        "tokens": 10 * np.arange(3)[:, None, None] + np.arange(2)[None, :, None] + np.zeros((1, 1, 6), int),
        "groups": np.array([5, 6, 7]),
        "label_weights": np.ones(8, np.float32),
    }


def test_a_batch_holds_its_rows_and_their_own_captions():
    data = arrays()
    rows = np.array([2, 0])
    b = batch_tensors(data, rows, "cpu")
    np.testing.assert_array_equal(b["facts"].numpy(), data["facts"][rows])
    np.testing.assert_array_equal(b["crops"].numpy(), data["crops"][rows])
    assert b["labels"].tolist() == [-1, 0] and b["caption_groups"].tolist() == [7, 5]
    assert (b["text_embeddings"][:, 0].numpy() // 100).tolist() == [1, 0]  # each row's text group
    assert (b["tokens"][:, 0].numpy() // 10).tolist() == [2, 0]  # each row's own captions
    again = batch_tensors(data, rows, "cpu")
    assert all((again[k] == b[k]).all() for k in b)  # without a generator: the same every time


def test_augmenting_a_batch_leaves_the_training_arrays_alone():
    data = arrays()
    kept = {k: v.copy() for k, v in data.items()}
    b = batch_tensors(data, np.array([0, 1, 2]), "cpu", np.random.default_rng(1))
    assert b["sequence"].shape == (3, 4, WIDTH) and b["crops"].dtype.is_floating_point
    assert not np.array_equal(b["facts"].numpy(), data["facts"])  # augmented
    for key, value in kept.items():
        np.testing.assert_array_equal(data[key], value)


def test_deepspeed_splits_the_batch_and_warms_up_a_tenth_of_the_steps_at_most_200():
    config = TrainConfig(out="x", batch_size=128, lr=1e-3, weight_decay=0.02, zero_stage=2)
    ds = deepspeed_config(config, steps=1000, world_size=2)
    assert ds["train_micro_batch_size_per_gpu"] == 64
    assert ds["optimizer"]["params"]["lr"] == 1e-3 and ds["optimizer"]["params"]["weight_decay"] == 0.02
    assert ds["scheduler"]["params"] == {"total_num_steps": 1000, "warmup_num_steps": 100}
    assert deepspeed_config(config, 5000, 1)["scheduler"]["params"]["warmup_num_steps"] == 200
    assert deepspeed_config(config, 1, 1)["scheduler"]["params"] == {
        "total_num_steps": 2,
        "warmup_num_steps": 1,
    }
    assert ds["zero_optimization"] == {"stage": 2} and ds["bf16"] == {"enabled": False}
    assert deepspeed_config(TrainConfig(out="x", gpu=True), 10, 1)["bf16"] == {"enabled": True}


def test_training_metrics_count_segments_and_leave_out_the_paths():
    config = TrainConfig(out="ckpt", annotations="mine.jsonl", epochs=3)
    data = {
        "label": np.array(["walk", "rear", "walk", "run"]),
        "source": np.array(["video", "pose", "video", ""]),
    }
    metrics = training_metrics(
        config,
        data,
        np.array([0, 1, 2]),
        np.array([3]),
        (0.51234, {"run": 0.51234}),
        {"data": 1.04, "training": 2.06, "total": 3.14},
        10,
    )
    assert metrics["segments"] == {"train": 3, "validation": 1}
    assert metrics["segments_by_source"] == {"": 1, "pose": 1, "video": 2}
    assert metrics["train_label_counts"]["walk"] == 2 and metrics["train_label_counts"]["run"] == 0
    assert metrics["validation_macro_f1"] == 0.5123 and metrics["validation_f1"] == {"run": 0.5123}
    assert metrics["seconds"] == {"data": 1.0, "training": 2.1, "total": 3.1}
    assert "out" not in metrics["config"] and "annotations" not in metrics["config"]
    assert metrics["config"]["epochs"] == 3 and metrics["parameters"] == 10


# ---------------------------------------------------------------- the model card


def card_metrics(**config) -> dict:
    return {
        "config": {
            "sessions": 4,
            "seconds": 30.0,
            "seed": 7,
            "epochs": 3,
            "batch_size": 64,
            "lr": 0.001,
            "weight_decay": 0.02,
            "zero_stage": 2,
            "workers": 0,
            "gpu": False,
            "validation_fraction": 0.1,
            "emphasis": {"jump": 8.0},
            "pose_sessions": 5,
            "threads": 4,
            **config,
        },
        "train_label_counts": {"walk": 10, "rear": 3},
        "validation_f1": {"walk": 0.9, "rear": 0.8},
        "validation_macro_f1": 0.85,
        "segments": {"train": 13, "validation": 4},
        "segments_by_source": {"pose": 5, "video": 8},
        "seconds": {"data": 60.0, "training": 120.0, "total": 185.0},
        "parameters": 890_000,
    }


def prose(text: str) -> str:
    """The card's words with its line breaks as spaces."""
    return " ".join(text.split())


def test_the_card_states_the_run_s_config():
    text = prose(card.model_card(card_metrics()))
    for phrase in (
        "4 synthetic sessions of 30 s (`mousegpt.synth`, seed 7)",
        "; jump bouts 8x as often as the conditions' rates.",
        "5 more synthetic sessions",
        "about 3 minutes on 4 CPU cores",
        "--sessions 4 --pose-sessions 5 --seconds 30 --seed 7 --epochs 3 --batch-size 64 --lr 0.001 "
        "--zero-stage 2",
        "DeepSpeed AdamW (weight decay 0.02), warmup then cosine, ZeRO stage 2, 3 epochs of batch 64;",
        "Training segments per label: walk 10, rear 3.",
        "macro-F1 0.850; per class: walk 0.90, rear 0.80.",
        "Segments by source: pose 5, video 8.",
        "Took 60 s for data and 120 s for training.",
        "0.89 M parameters.",
    ):
        assert phrase in text, phrase
    changed = prose(card.model_card(card_metrics(epochs=9, lr=0.0005, emphasis={"jump": 3.0}, threads=1)))
    assert "9 epochs of batch 64" in changed and "--lr 0.0005" in changed
    assert "jump bouts 3x as often" in changed and "on 1 CPU core)" in changed
    assert "Calibration (" not in text


def test_the_card_states_the_augmentation_training_used():
    text = prose(card.model_card(card_metrics()))
    assert (
        "augmentation: a quarter of segments lose their crops (pose-only input), a tenth their kinematic "
        "sequence (facts only), a fifth their head yaw" in text
    )
    assert "turned (sd 8 deg), shifted (sd 2 px) and scaled (sd 5%), their contrast varies 0.7-1.3;" in text
    assert "and 30% of sequences a slow sway" in text
    other = Augmentation(no_crops=0.5, no_sequence=0.15, sway=0.4, contrast=(0.8, 1.25), turn_sd_deg=10.0)
    text = prose(card.model_card(card_metrics(), augmentation=other))
    assert (
        "augmentation: half of segments lose their crops (pose-only input), 15% their kinematic sequence"
        in text
    )
    assert "turned (sd 10 deg)" in text and "contrast varies 0.8-1.25;" in text
    assert "and 40% of sequences a slow sway" in text


def test_the_card_states_the_scenes_and_reference_size_from_their_constants(monkeypatch):
    import mousegpt.discover

    text = prose(card.model_card(card_metrics()))
    assert (
        "top and bottom views, black, white and agouti fur, square and circular arenas of 360 or 400 mm, "
        "25 or 30 fps, lighting 0.6-1.2 and sensor noise 1-2.5 grey levels, conditions control/stim/anx"
        in text
    )
    assert "(up to 5,000 per behaviour)" in text
    assert "Per 1 s segment it reads 8 mouse-centred, heading-aligned 64x64 crops" in text
    assert "a five-field description (overall, head, limbs, torso, keywords)" in text
    assert "Jumps last 0.3-0.5 s, so few 1 s segments" in text
    monkeypatch.setattr(card, "ARENA_MM", (300.0, 350.0, 420.0))
    monkeypatch.setattr(card, "LIGHTING", (0.5, 1.5))
    monkeypatch.setattr(mousegpt.discover, "REFERENCE_PER_BEHAVIOR", 12_000)
    monkeypatch.setitem(card.BOUT_SECONDS, "jump", (0.2, 0.4))
    text = prose(card.model_card(card_metrics()))
    assert "arenas of 300, 350 or 420 mm" in text and "lighting 0.5-1.5 and" in text
    assert "(up to 12,000 per behaviour)" in text and "Jumps last 0.2-0.4 s" in text


def test_the_card_adds_calibration_and_benchmarks_when_there_are_some(tmp_path):
    metrics = card_metrics()
    metrics["calibration"] = {
        "segments": 40,
        "temperature": 0.6,
        "ece_before": 0.04,
        "ece_after": 0.01,
        "uncertain_share": 0.025,
    }
    (tmp_path / "benchmark.json").write_text(json.dumps({"summary": ["top view macro-F1 0.9"]}))
    (tmp_path / "real_validity.json").write_text(json.dumps({"summary": ["rearing F1 0.6"]}))
    text = card.write_model_card(tmp_path, metrics).read_text()
    assert "\n- top view macro-F1 0.9\n" in text and "\n- rearing F1 0.6\n" in text
    assert (
        "temperature 0.6; expected calibration error 0.040 before, 0.010 after; "
        "2.5% of segments below 50% confidence (uncertain)." in prose(text)
    )
    assert text.startswith("---\nlibrary_name: transformers\n") and text.endswith("find them.\n")


def test_words_for_shares_counts_and_lists():
    assert [card.share_in_words(r) for r in (0.5, 0.25, 0.2, 0.1, 0.3)] == [
        "half",
        "a quarter",
        "a fifth",
        "a tenth",
        "30%",
    ]
    assert card.count_in_words(5) == "five" and card.count_in_words(12) == "12"
    assert card.listing(["top", "bottom"]) == "top and bottom"
    assert card.listing((25.0, 30.0, 50.0), "or") == "25, 30 or 50" and card.listing(["a"]) == "a"
    assert card.span((1.0, 2.5)) == "1-2.5"


def test_the_shipped_card_is_what_its_metrics_generate():
    from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS

    folder = WEIGHTS / DEFAULT_MODEL
    if not (folder / "metrics.json").exists():
        pytest.skip("no shipped checkpoint")
    metrics = json.loads((folder / "metrics.json").read_text())
    bench = (
        json.loads((folder / "benchmark.json").read_text()) if (folder / "benchmark.json").exists() else None
    )
    real = (
        json.loads((folder / "real_validity.json").read_text())
        if (folder / "real_validity.json").exists()
        else None
    )
    assert prose(card.model_card(metrics, bench, real)) == prose((folder / "README.md").read_text())
