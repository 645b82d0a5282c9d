"""The original's two-stage recipe (LJSpeech -> LibriSpeech, init_from) end to end on the mirror, tiny model."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, require_mirror

from ctcasr.checkpoint import load_model


@pytest.mark.slow
def test_two_stage_smoke_run(tmp_path):
    mirror = require_mirror("LJSpeech-1.1.tar.bz2")
    env = {**os.environ, "CTCASR": f"{sys.executable} -m ctcasr.cli", "OMP_NUM_THREADS": "2"}
    result = subprocess.run(["bash", str(REPO / "scripts" / "smoke_two_stage.sh"), str(tmp_path), str(mirror)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "stage2" / "eval_test-clean.json").read_text())
    assert report["num_utterances"] == 4
    assert "wer" in report and "cer" in report
    stage2 = load_model(tmp_path / "stage2" / "best.pt").metadata
    stage1_file = tmp_path / "stage1" / "best.pt"
    digest = hashlib.sha256(stage1_file.read_bytes()).hexdigest()
    assert stage2["init_from"] == {"path": str(stage1_file), "sha256": digest}
    assert "test-clean: WER" in result.stdout
