"""MouseGPT-tiny: the model's contract (save/load, absent inputs, learning), its grounding in
the facts, and the shipped checkpoint's quality on sessions it never saw."""

import re

import numpy as np
import pandas as pd
import pytest
import torch

from mousegpt.describe import captions
from mousegpt.describe.model import DEFAULT_MODEL, WEIGHTS, load_model
from mousegpt.describe.prompt import contradictions
from mousegpt.describe.tiny import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    MouseGPTTiny,
    MouseGPTTinyConfig,
    caption_tokens,
    detokenize,
    fact_features,
    in_dtype,
    sequence_features,
    tokenize,
)
from mousegpt.errors import MouseGPTError
from mousegpt.segments import windows
from tests.conftest import truth_label


def tiny_config(**changes) -> MouseGPTTinyConfig:
    vocab = list(SPECIAL_TOKENS) + ["the", "mouse", "walks", "."]
    return MouseGPTTinyConfig(
        vocab=vocab, d_model=16, hidden=32, token_dim=8, decoder_hidden=16, max_tokens=12, **changes
    )


def batch(config: MouseGPTTinyConfig, n: int = 6, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "facts": torch.randn(n, config.fact_dim, generator=g),
        "sequence": torch.randn(n, config.n_steps, config.sequence_dim, generator=g),
        "crops": torch.randint(
            0, 256, (n, config.crop_frames, config.crop_size, config.crop_size), generator=g
        ).to(torch.uint8),
    }


def test_a_saved_model_loads_back_and_gives_the_same_outputs(tmp_path):
    model = MouseGPTTiny(tiny_config()).eval()
    inputs = batch(model.config)
    model.save_pretrained(tmp_path)
    loaded = MouseGPTTiny.from_pretrained(tmp_path).eval()
    assert loaded.config.vocab == model.config.vocab
    for a, b in zip(model.encode(**inputs), loaded.encode(**inputs)):
        torch.testing.assert_close(a, b)


def test_absent_crops_or_sequence_use_the_learned_stand_ins():
    model = MouseGPTTiny(tiny_config()).eval()
    inputs = batch(model.config)
    logits, motion = model.encode(inputs["facts"])  # facts only
    assert logits.shape == (6, len(model.config.behaviors)) and motion.shape == (6, model.config.text_dim)
    torch.testing.assert_close(motion.norm(dim=-1), torch.ones(6))
    no_crops = model.encode(inputs["facts"], inputs["sequence"])[0]
    zero_crops = model.encode(inputs["facts"], inputs["sequence"], torch.zeros_like(inputs["crops"]))[0]
    torch.testing.assert_close(no_crops, zero_crops)  # an all-zero crop stack (no position) counts as absent
    assert not torch.allclose(no_crops, model.encode(**inputs)[0])


def test_training_steps_lower_every_loss():
    torch.manual_seed(0)
    model = MouseGPTTiny(tiny_config())
    inputs = batch(model.config)
    targets = {
        "labels": torch.tensor([0, 1, 2, 0, 1, 2]),
        "caption_groups": torch.tensor([0, 1, 2, 0, 1, 2]),
        "text_embeddings": torch.randn(3, model.config.text_dim)[[0, 1, 2, 0, 1, 2]],
        "tokens": torch.tensor([[BOS, 5, 6, 7, 8, EOS]] * 6),
    }
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = model(**inputs, **targets).losses
    for _ in range(100):
        optimizer.zero_grad()
        model(**inputs, **targets).loss.backward()
        optimizer.step()
    last = model(**inputs, **targets).losses
    assert set(first) == {"behavior", "contrastive", "text"}
    assert all(last[k] < 0.5 * first[k] for k in first), (first, last)
    model.eval()
    logits, motion = model.encode(**inputs)
    assert model.generate_tokens(motion, logits, inputs["facts"])[0] == [5, 6, 7, 8]


def test_a_bf16_model_trains_on_uint8_crops_as_the_gpu_training_loop_feeds_it():
    # `mousegpt train --gpu` runs the model in bf16 under DeepSpeed; its first step used to fail
    # because the crops reached the frame encoder as float32.
    torch.manual_seed(0)
    model = MouseGPTTiny(tiny_config()).to(torch.bfloat16)
    feed = in_dtype(
        {
            **batch(model.config),
            "labels": torch.tensor([0, 1, 2, 0, 1, 2]),
            "caption_groups": torch.tensor([0, 1, 2, 0, 1, 2]),
            "text_embeddings": torch.randn(6, model.config.text_dim),
            "tokens": torch.tensor([[BOS, 5, 6, 7, 8, EOS]] * 6),
            "label_weights": torch.ones(len(model.config.behaviors)),
        },
        torch.bfloat16,
    )
    assert feed["crops"].dtype == torch.uint8 and feed["tokens"].dtype == torch.long
    assert feed["facts"].dtype == torch.bfloat16 and feed["label_weights"].dtype == torch.float32
    out = model(**feed)
    assert out.logits.dtype == torch.bfloat16 and set(out.losses) == {"behavior", "contrastive", "text"}
    out.loss.backward()
    grads = [p.grad for p in model.frame_encoder.parameters()]
    assert all(g is not None and g.dtype == torch.bfloat16 and torch.isfinite(g.float()).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)  # the crops reached the loss


def test_unknown_labels_and_padding_are_ignored():
    model = MouseGPTTiny(tiny_config())
    inputs = batch(model.config, n=2)
    out = model(
        **inputs, labels=torch.tensor([-1, -1]), tokens=torch.tensor([[BOS, 5, EOS, PAD], [BOS, 6, 7, EOS]])
    )
    assert "behavior" not in out.losses and torch.isfinite(out.losses["text"])


def test_features_scale_fill_and_resample():
    kin = pd.DataFrame(
        {
            "speed_mm_s": [100.0] * 50,
            "forward_speed_mm_s": [100.0] * 50,
            "left_speed_mm_s": 0.0,
            "angular_speed_deg_s": 0.0,
            "head_yaw_deg": np.r_[[np.nan] * 10, [45.0] * 40],
            "head_speed_mm_s": 10.0,
            "body_length_mm": 90.0,
            "wall_distance_mm": 50.0,
            "zone": ["wall"] * 50,
            "x_mm": np.r_[[np.nan] * 10, np.ones(40)],
        }
    )
    seq = sequence_features(kin, windows(50, 25.0), n_steps=4)
    assert seq.shape == (3, 4, MouseGPTTinyConfig().sequence_dim) and np.isfinite(seq).all()
    assert seq[0, 0, 0] == pytest.approx(0.5)  # 100 mm/s over its 200 mm/s scale
    assert seq[0, 0, 4] == 0 and seq[0, -1, 4] == pytest.approx(0.5)  # NaN yaw -> 0; 45 deg over 90
    assert seq[0, 0, -1] == 0 and seq[0, -1, -1] == 1  # the position flag
    facts = pd.DataFrame(
        [{"speed_mean_mm_s": 50.0, "zone": "corner"}, {"speed_mean_mm_s": np.nan, "zone": None}]
    )
    f = fact_features(facts)
    assert f[0, 0] == pytest.approx(0.25) and f[1, 0] == 0
    assert list(f[0, -3:]) == [0, 0, 1] and list(f[1, -3:]) == [0, 0, 0]


def test_every_caption_entry_has_every_field_and_survives_tokenising():
    rng = np.random.default_rng(0)
    for key in captions.CAPTIONS:
        fields = captions.sample(key, rng, zone="wall")
        assert set(fields) == set(captions.FIELDS) and fields["keywords"].endswith("wall")
        back = detokenize(caption_tokens(fields))
        for name in captions.FIELDS:
            assert captions.fill(back[name], {}) == captions.fill(fields[name], {})


def test_slots_are_filled_from_the_facts():
    facts = {
        "zone": "corner",
        "speed_mean_mm_s": 87.4,
        "heading_change_deg": -95.0,
        "body_length_ratio": 0.61,
    }
    assert (
        captions.fill("The mouse walks <where> at <speed> mm/s .", facts)
        == "The mouse walks in a corner at 87 mm/s."
    )
    assert (
        captions.fill("Turns to the <side> , <turn> degrees ( <ratio> ) .", facts)
        == "Turns to the left, 95 degrees (61%)."
    )
    unknown = {"zone": None, "speed_max_mm_s": float("nan"), "heading_change_deg": 12.0}
    assert (
        captions.fill("It jumps <where> , at up to <speed_max> mm / s { <side> } .", unknown)
        == "It jumps, at up to ? mm/s { right }."
    )


def test_describing_a_batch_gives_each_segment_what_describing_it_alone_gives():
    # describe() decodes, tidies and checks each distinct generated wording once for the whole
    # batch; no segment may get another's numbers, place or fallback.
    rng = np.random.default_rng(3)
    n = 60
    facts = pd.DataFrame(
        {
            "speed_mean_mm_s": rng.choice([2.0, 15.0, 60.0, 180.0], n) * rng.uniform(0.8, 1.2, n),
            "displacement_mm": rng.uniform(0, 100, n),
            "body_length_mm": rng.uniform(50, 100, n),
            "body_length_ratio": rng.uniform(0.55, 1.05, n),
            "heading_change_deg": rng.uniform(-200, 200, n),
            "angular_speed_deg_s": rng.uniform(0, 400, n),
            "head_yaw_std_deg": rng.uniform(0, 30, n),
            "head_yaw_abs_deg": rng.uniform(0, 60, n),
            "head_motion_hz": rng.uniform(0, 8, n),
            "head_speed_mm_s": rng.uniform(0, 40, n),
            "immobile_fraction": rng.uniform(0, 1, n),
            "wall_distance_mm": rng.uniform(0, 200, n),
            "zone": rng.choice(["wall", "corner", "centre", None], n),
            "visible_fraction": rng.choice([1.0, 1.0, 1.0, 0.2], n),
        }
    )
    facts["speed_max_mm_s"] = facts["speed_mean_mm_s"] * 1.6
    facts["body_length_ratio_min"] = facts["body_length_ratio"] - 0.05
    facts.loc[5, "head_motion_hz"] = np.nan  # not measured
    describer = load_model(DEFAULT_MODEL)
    together = describer.describe(facts)
    alone = [describer.describe(facts.iloc[[i]].reset_index(drop=True))[0] for i in range(n)]
    assert together[5].behavior is None and "not measured" in together[5].keywords
    assert sum(d.behavior is None for d in together) >= 5  # the invisible ones too
    for a, b in zip(together, alone):
        assert (a.behavior, a.fields()) == (b.behavior, b.fields())
        assert a.probs == pytest.approx(b.probs, abs=1e-5)
    # One wording for every segment: it is kept for the running mice and replaced for the still
    # ones, each with its own numbers.
    vocab = describer.model.config.vocab
    ids = [
        vocab.index(t)
        for t in tokenize(
            "The mouse runs <where> at <speed> mm/s. <sep> Head low. <sep> Legs fast. "
            "<sep> Body long (<length> mm). <sep> running, fast"
        )
    ]
    probs = np.full((n, len(describer.model.config.behaviors)), 0.01, np.float32)
    probs[:, describer.model.config.behaviors.index("run")] = 0.9
    motion = np.zeros((n, describer.model.config.text_dim), np.float32)
    same = describer._descriptions(facts, probs, motion, [ids] * n)
    singles = [
        describer._descriptions(facts.iloc[[i]].reset_index(drop=True), probs[[i]], motion[[i]], [ids])[0]
        for i in range(n)
    ]
    assert [d.fields() for d in same] == [d.fields() for d in singles]
    kept = [d for d, speed in zip(same, facts["speed_mean_mm_s"]) if d.overall.startswith("The mouse runs")]
    assert 0 < len(kept) < n - 5 and all(
        f"at {speed:.0f} mm/s" in d.overall for d, speed in zip(same, facts["speed_mean_mm_s"]) if d in kept
    )


def test_a_missing_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(MouseGPTError, match="no MouseGPT-tiny checkpoint here"):
        load_model(f"tiny:{tmp_path}")


# ---------------------------------------------------------------- the shipped checkpoint

shipped = pytest.mark.skipif(
    not (WEIGHTS / DEFAULT_MODEL / "config.json").exists(), reason="no shipped checkpoint"
)


@shipped
def test_the_shipped_checkpoint_is_small_and_has_a_model_card():
    folder = WEIGHTS / DEFAULT_MODEL
    assert sum(p.stat().st_size for p in folder.iterdir()) < 30e6
    card = (folder / "README.md").read_text()
    for section in ("## Data", "## Recipe", "## Metrics", "## Limits"):
        assert section in card
    assert "mousegpt train" in card


@pytest.fixture(scope="module")
def described(analyzed):
    """The analysed synthetic sessions (never trained on), as the default model stored them."""
    ws, _ = analyzed
    with ws.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT s.*, ss.video, ss.model FROM segments s JOIN sessions ss USING (session_id)"
        ).fetchdf()
    rows["truth"] = [truth_label(r.video, r.start_s, r.end_s) for r in rows.itertuples()]
    return rows


@shipped
def test_analyze_uses_the_learned_model_by_default_and_it_beats_chance_by_far(described):
    from jobs.train import macro_f1

    assert set(described["model"]) == {"mousegpt-tiny:mousegpt-tiny"}
    f1, per_class = macro_f1(described["truth"].to_numpy(), described["behavior"].to_numpy())
    assert f1 >= 0.8, per_class


@shipped
def test_stored_descriptions_never_contradict_their_facts(described):
    for row in described.to_dict("records"):
        fields = {k: row[k] for k in ("overall", "head", "limbs", "torso")} | {
            "keywords": list(row["keywords"])
        }
        assert contradictions(fields, row) == [], fields
        quoted = re.search(r"at (\d+) mm/s", row["overall"])
        if quoted:  # any speed quoted is the measured one
            assert int(quoted.group(1)) in (round(row["speed_mean_mm_s"]), round(row["speed_max_mm_s"]))


@shipped
def test_pose_only_and_facts_only_inputs_still_classify(described):
    from mousegpt.segments import FACT_COLUMNS

    model = load_model()
    facts = described[list(FACT_COLUMNS)]
    facts_only = [d.behavior for d in model.describe(facts)]
    assert np.mean(np.asarray(facts_only) == described["truth"].to_numpy()) >= 0.7
