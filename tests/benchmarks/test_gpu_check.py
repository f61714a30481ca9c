"""benchmarks/gpu_check.py runs on a machine without a GPU too: every check's CPU side, small."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO

ROOT = REPO


def test_the_gpu_check_runs_every_check_on_a_cpu_and_prints_one_table():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "platform"), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "gpu_check.py"),
            "--small",
            "--segments",
            "96",
            "--hf-segments",
            "4",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip()
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| check")
    }
    assert rows["device"] == "no CUDA device: CPU only"
    assert rows["bf16 training: every loss fell over 10 steps"].startswith("yes")
    assert float(rows["bf16 training, batch 16: ms per step"]) > 0
    shipped = json.loads((ROOT / "platform/mousegpt/describe/weights/mousegpt-tiny/config.json").read_text())
    assert float(rows["probability temperature"]) == round(shipped["probability_temperature"], 3)
    assert float(rows["model alone, batch 64: segments/s"].replace(",", "")) > 0
    assert "of the model alone" in rows["describe() end to end on facts, batch 64: segments/s"]
    hf = [k for k in rows if k.startswith("hf: random LLaVA")]
    assert len(hf) == 1 and "float32" in hf[0] and float(rows[hf[0]].replace(",", "")) > 0  # fp32 on a CPU
    assert rows["FAISS on GPU"].endswith("skipped")
