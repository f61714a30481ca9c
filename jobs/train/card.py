"""The model card of a checkpoint (``README.md``): what it reads and gives, its data, recipe,
metrics and limits. Every number it states comes from the run's metrics and config or from the
constants training used (scenes, captions, augmentation, the vocabulary reference), never
retyped here."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from jobs.train.augment import AUGMENTATION, Augmentation
from jobs.train.captions import CAPTIONS_PER_SEGMENT
from jobs.train.scenes import (
    ARENA_MM,
    ARENA_SHAPES,
    CONDITIONS,
    FURS,
    LIGHTING,
    NOISE_SIGMA,
    POSE_FPS,
    SCENE_FPS,
    VIEWS,
)
from mousegpt.describe.captions import FIELDS
from mousegpt.describe.model import UNCERTAIN_BELOW
from mousegpt.describe.tiny import MouseGPTTinyConfig
from mousegpt.segments import WINDOW_S
from mousegpt.synth.program import BOUT_SECONDS
from mousegpt.vocabulary import BEHAVIORS

_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_SHARE_WORDS = {1 / 2: "half", 1 / 3: "a third", 1 / 4: "a quarter", 1 / 5: "a fifth", 1 / 10: "a tenth"}
_ARENA_WORDS = {"circle": "circular"}


def count_in_words(n: int) -> str:
    """``n`` as a word up to ten ("five"), else in digits."""
    return _COUNT_WORDS[n] if 0 <= n < len(_COUNT_WORDS) else str(n)


def share_in_words(rate: float) -> str:
    """A share as words where there are some ("a quarter", "a tenth", "half"), else a percentage."""
    return next((word for share, word in _SHARE_WORDS.items() if math.isclose(rate, share)), f"{rate:.0%}")


def listing(items: Iterable, last: str = "and") -> str:
    """``a, b and c`` (numbers as ``:g``)."""
    words = [f"{x:g}" if isinstance(x, float) else str(x) for x in items]
    return f" {last} ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def span(bounds: tuple[float, float]) -> str:
    """A range as ``low-high``."""
    return f"{bounds[0]:g}-{bounds[1]:g}"


def _intro(metrics: dict) -> list[str]:
    model = MouseGPTTinyConfig()
    size = f"{model.crop_size}x{model.crop_size}"
    return [
        "A small vision-language model of mouse behaviour (after MouseGPT, arXiv 2503.10212). "
        f"Per {WINDOW_S:g} s segment it reads",
        f"{model.crop_frames} mouse-centred, heading-aligned {size} crops (when there is video), "
        "the per-frame kinematic sequence and the",
        f"segment's kinematic facts, and gives behaviour probabilities over {', '.join(BEHAVIORS)};",
        "a motion embedding in all-MiniLM-L6-v2's text space; "
        f"and a {count_in_words(len(FIELDS))}-field description ({', '.join(FIELDS)})",
        f"whose measured values are filled in from the facts. {metrics['parameters'] / 1e6:.2f} M "
        "parameters.",
    ]


def _data(metrics: dict) -> list[str]:
    from mousegpt.discover import REFERENCE_PER_BEHAVIOR  # discover loads faiss and duckdb

    c = metrics["config"]
    counts = ", ".join(f"{b} {n}" for b, n in metrics["train_label_counts"].items())
    arenas = listing(_ARENA_WORDS.get(s, s) for s in ARENA_SHAPES)
    emphasis = "".join(
        f"; {b} bouts {m:g}x as often as the conditions' rates" for b, m in c.get("emphasis", {}).items()
    )
    return [
        "## Data",
        "",
        f"{c['sessions']} synthetic sessions of {c['seconds']:g} s (`mousegpt.synth`, seed {c['seed']}): "
        f"{listing(VIEWS)} views,",
        f"{listing(FURS)} fur, {arenas} arenas of {listing(ARENA_MM, 'or')} mm, {listing(SCENE_FPS, 'or')} "
        "fps, "
        f"lighting {span(LIGHTING)} and",
        f"sensor noise {span(NOISE_SIGMA)} grey levels, conditions {'/'.join(CONDITIONS)}; no novel "
        "behaviours" + emphasis + ". Each video is tracked with the",
        "built-in tracker and cut into segments exactly as `mousegpt analyze` does; a segment's label is "
        "its majority",
        "ground-truth behaviour. Captions are paraphrased per behaviour (and per rearing and grooming "
        "variant),",
        f"{CAPTIONS_PER_SEGMENT} per segment. Training segments per label: {counts}.",
        "`vocabulary_facts.parquet` holds the facts of every training segment "
        f"(up to {REFERENCE_PER_BEHAVIOR:,} per behaviour) of each pose source",
        "(tracked video; the same sessions' true keypoints read as pose files): the vocabulary in "
        "kinematic terms,",
        "which `mousegpt discover` measures novelty against. The weights do not depend on it: `mousegpt "
        "train OUT",
        "--reference-only` rebuilds it from the same sessions when the facts change.",
        "",
        f"{c.get('pose_sessions', 0)} more synthetic sessions (other seeds, the same scenes) are seen as a "
        "lab's "
        "pose file",
        "would see them (`mousegpt.synth.estimator`): the true keypoints with a pose estimator's jitter "
        "and slow drift,",
        "lost and wild points, and the body-centre point some labs track, others place on the mid-back and "
        "others",
        f"lack; at {', '.join(f'{f:g}' for f in POSE_FPS)} fps; analysed as `analyze` analyses a pose file "
        "alone "
        "(the scale",
        "estimated from the mouse's length); no crops. The synthetic world's rears are calibrated to real "
        "top-view",
        "DeepLabCut files from their poses alone, never their labels: a rear's top looks 0.66-0.83 of the "
        "stretched",
        "length from above, and against a wall the hind paws step up to it (`synth.motion.REAR_PEAK`, "
        "`REAR_CLIMB`).",
        "Segments by source: "
        + ", ".join(f"{k or 'annotations'} {v}" for k, v in metrics.get("segments_by_source", {}).items())
        + ".",
    ]


def _recipe(metrics: dict, augmentation: Augmentation) -> list[str]:
    c, a = metrics["config"], augmentation
    cores = f"{c['threads']} CPU core" + ("s" if c["threads"] != 1 else "")
    return [
        "## Recipe",
        "",
        f"Reproduce with (about {max(1, round(metrics['seconds']['total'] / 60))} minutes on {cores}):",
        "",
        "```",
        f"mousegpt train OUT --sessions {c['sessions']} --pose-sessions {c.get('pose_sessions', 0)} "
        f"--seconds {c['seconds']:g} --seed {c['seed']} "
        f"--epochs {c['epochs']} --batch-size {c['batch_size']} --lr {c['lr']:g} --zero-stage "
        f"{c['zero_stage']}",
        "```",
        "",
        "Loss: behaviour cross-entropy + CLIP-style contrastive loss (same-behaviour captions are "
        "positives) + the",
        f"decoder's token cross-entropy. DeepSpeed AdamW (weight decay {c['weight_decay']:g}), warmup then "
        "cosine, "
        "ZeRO stage",
        f"{c['zero_stage']}, {c['epochs']} epochs of batch {c['batch_size']}; "
        f"augmentation: {share_in_words(a.no_crops)} of segments lose their",
        f"crops (pose-only input), {share_in_words(a.no_sequence)} their kinematic sequence (facts only), "
        f"{share_in_words(a.no_head_yaw)} their head yaw (pose files whose",
        f"body centre is derived); crops are turned (sd {a.turn_sd_deg:g} deg), shifted (sd "
        f"{a.shift_sd_px:g} px) "
        f"and scaled (sd {a.scale_sd:.0%}), their contrast varies",
        f"{span(a.contrast)}; kinematic features get a little noise, and {a.sway:.0%} of sequences a slow "
        "sway of "
        "forward and sideways speed,",
        "turning and head speed (a real body centre sways and a tracker's axis swings with the head; on "
        "the real "
        "openfield",
        "video forward speed is half the body-centre speed). At inference the behaviour probabilities "
        "average "
        "three views",
        "(crops + kinematics + facts, kinematics + facts, facts).",
        f"Took {metrics['seconds']['data']:.0f} s for data and {metrics['seconds']['training']:.0f} s for "
        "training.",
    ]


def _metrics(metrics: dict, bench: dict | None, real: dict | None) -> list[str]:
    per_class = ", ".join(f"{b} {v:.2f}" for b, v in metrics["validation_f1"].items())
    lines = ["## Metrics", ""]
    if real:
        lines += [
            "Real mice (`benchmarks/real_validity.py`: `analyze` with default settings on real DeepLabCut "
            "files "
            "labelled by",
            "people, `../shared/data/real-labelled`; never trained on):",
            "",
            *[f"- {line}" for line in real.get("summary", [])],
            "",
        ]
    lines += [
        f"Validation (held-out training sessions, {metrics['segments']['validation']} segments): macro-F1 "
        f"{metrics['validation_macro_f1']:.3f}; per class: {per_class}.",
        "",
    ]
    if "calibration" in metrics:
        calibration = metrics["calibration"]
        lines += [
            f"Calibration (`jobs.train.calibrate`, {calibration['segments']} segments of held-out synthetic "
            f"sessions): temperature {calibration['temperature']:g}; expected calibration error "
            f"{calibration['ece_before']:.3f} before, {calibration['ece_after']:.3f} after; "
            f"{calibration['uncertain_share']:.1%} of segments below {UNCERTAIN_BELOW:.0%} confidence "
            "(uncertain).",
            "",
        ]
    if bench:
        lines += [
            "Quality benchmark (`benchmarks/describer_quality.py`: unseen seeds and scene settings):",
            "",
            *[f"- {line}" for line in bench.get("summary", [])],
            "",
        ]
    return lines


def _limits() -> list[str]:
    return [
        "## Limits",
        "",
        "- Trained on synthetic mice only (unless annotations were given): real fur, bedding, occlusion and "
        "lighting",
        "  differ; check its behaviour labels against a few hand-scored minutes of your own video before "
        "trusting "
        "rates.",
        "- On real mice labelled by people (Metrics) it finds about half the rears and half the freezing "
        "of the "
        "raters;",
        "  a still mouse whose pose jitters (high frame rates) is read as grooming now and then. `mousegpt "
        "adapt` "
        "takes",
        "  your own labels; segments it is unsure of say so and are left out of profiles and discovery by "
        "default.",
        "- One mouse per crop: in group housing the crop of one animal can contain another.",
        f"- Jumps last {span(BOUT_SECONDS['jump'])} s, so few {WINDOW_S:g} s segments have a jump as their "
        "majority "
        "behaviour (about one in a",
        "  thousand at the conditions' own rates). Training plants them more often (see Data), yet jump "
        "stays the",
        "  weakest class; the quality benchmark plants them as often as training does, so that the class has",
        "  enough segments to be measured at all.",
        "- On real video its labels depend on the pose source more than the rules' do (agreement above): "
        "real",
        "  kinematics sway more than synthetic ones, and slow walking is read as turning or resting now "
        "and then.",
        "- The description's words come from a closed paraphrase vocabulary; numbers, side and zone come "
        "from the "
        "facts.",
        "- Behaviours outside the vocabulary (e.g. circling, head twitches) get the nearest known label; use",
        "  `mousegpt discover` to find them.",
    ]


def model_card(
    metrics: dict,
    bench: dict | None = None,
    real: dict | None = None,
    augmentation: Augmentation = AUGMENTATION,
) -> str:
    """A checkpoint's ``README.md`` text from its training ``metrics`` (and the quality and
    real-mice benchmarks' figures, when given), ``augmentation`` being the one training used."""
    lines = [
        "---",
        "library_name: transformers",
        "tags: [mouse, behaviour, mousegpt]",
        "---",
        "",
        "# MouseGPT-tiny",
        "",
        *_intro(metrics),
        "",
        *_data(metrics),
        "",
        *_recipe(metrics, augmentation),
        "",
        *_metrics(metrics, bench, real),
        *_limits(),
    ]
    return "\n".join(lines) + "\n"


def write_model_card(out: str | Path, metrics: dict) -> Path:
    """``README.md`` of a checkpoint: data, recipe, metrics (and the quality benchmark's, when
    ``benchmark.json`` is there, and the real mice's, when ``real_validity.json`` is), limits."""
    out = Path(out)
    bench_path, real_path = out / "benchmark.json", out / "real_validity.json"
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else None
    real = json.loads(real_path.read_text()) if real_path.exists() else None
    path = out / "README.md"
    path.write_text(model_card(metrics, bench, real))
    return path
