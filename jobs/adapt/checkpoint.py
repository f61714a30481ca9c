"""The adapted checkpoint written whole or not at all, with its figures and a short model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def write_checkpoint(out: Path, source: Path, model, report: dict) -> None:
    """The checkpoint, its figures and a short model card into ``out``, through a staging folder."""
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    for name in ("vocabulary_facts.parquet",):  # novelty detection reads it beside the checkpoint
        if (source / name).is_file():
            shutil.copy2(source / name, staging / name)
    (staging / "adaptation.json").write_text(json.dumps(report, indent=1) + "\n")
    added = report["new_behaviors"]
    lines = [
        "# MouseGPT-tiny, adapted",
        "",
        f"`{report['base']}` fine-tuned by `mousegpt adapt` on {report['annotations']['bouts']} bouts in "
        f"{report['annotations']['recordings']} recording(s) "
        f"({report['segments']['labelled']} labelled segments, "
        f"{report['segments']['none_of_these']} in none of them).",
        "",
        "Classes added: "
        + (", ".join(f"{n} (from {e['parent'] or 'the mean of all'})" for n, e in added.items()) or "none")
        + ".",
        f"Training fit (labelled segments): accuracy {report['before']['accuracy']:.2f} before "
        f"(a new class's parent counted as right), {report['after']['accuracy']:.2f} after; "
        f"{report['steps']} steps, seed "
        f"{report['seed']}, {report['seconds']['training']:.0f} s.",
        "",
        "These figures are on the training bouts themselves: check the adapted model on recordings "
        "it was not adapted on before trusting its rates.",
    ]
    (staging / "README.md").write_text("\n".join(lines) + "\n")
    if out.exists():
        shutil.rmtree(out)
    staging.replace(out)
