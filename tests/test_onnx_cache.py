"""Checkpoints decoded on the CPU run through a cached ONNX export: same transcripts, no PyTorch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, assert_user_error, run_cli

pytest.importorskip("onnxruntime")

SHIPPED = REPO / "models" / "an4_ds2.pt"


def _evaluate(an4, out, home, *flags):
    result = run_cli("evaluate", "--model", SHIPPED, "--manifest", an4["test"], "--decoder", "greedy",
                     "--out", out, *flags, env={"CTCASR_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())


def _entries(home):
    return sorted(p.name for p in (home / "onnx").iterdir()) if (home / "onnx").is_dir() else []


def test_evaluate_exports_once_and_gives_pytorchs_transcripts(an4, tmp_path):
    from ctcasr.data.download import file_digest

    home = tmp_path / "home"
    torch_report = _evaluate(an4, tmp_path / "torch.json", home, "--runtime", "torch")
    assert torch_report["runtime"].startswith("pytorch") and _entries(home) == []
    first = _evaluate(an4, tmp_path / "first.json", home)
    assert first["runtime"].startswith("onnx")
    [entry] = _entries(home)
    sidecar = json.loads((home / "onnx" / entry / "ctcasr-export.json").read_text())
    assert sidecar["source"]["sha256"] == file_digest(SHIPPED, "sha256")
    assert not (home / "onnx" / entry / "model.decoding.yaml").exists()  # decoding comes from beside the .pt
    made = (home / "onnx" / entry / "model.onnx").stat().st_mtime_ns
    second = _evaluate(an4, tmp_path / "second.json", home)
    assert (home / "onnx" / entry / "model.onnx").stat().st_mtime_ns == made  # reused, not exported again
    hyps = [[u["hypothesis"] for u in r["utterances"]] for r in (torch_report, first, second)]
    assert hyps[0] == hyps[1] == hyps[2]
    assert first["wer"] == torch_report["wer"]


def test_a_cached_checkpoint_runs_without_pytorch(an4_items, tmp_path):
    home = tmp_path / "home"
    audio = an4_items["test"][3].audio_filepath
    assert run_cli("transcribe", "--model", SHIPPED, audio, env={"CTCASR_HOME": str(home)}).returncode == 0
    code = ("import sys; sys.modules['torch'] = None\n"  # importing torch now fails
            "from ctcasr.cli import main\n"
            f"sys.exit(main(['transcribe', '--model', {str(SHIPPED)!r}, {audio!r}, '--decoder', 'greedy']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "CTCASR_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    from ctcasr import load

    assert result.stdout.split("\t")[-1].strip() == load(SHIPPED, decoder="greedy").transcribe(audio).text


def test_a_damaged_cache_entry_is_made_again(an4, tmp_path):
    home = tmp_path / "home"
    _evaluate(an4, tmp_path / "a.json", home)
    [entry] = _entries(home)
    network = home / "onnx" / entry / "model.onnx"
    network.write_bytes(network.read_bytes()[:1000])
    report = _evaluate(an4, tmp_path / "b.json", home)
    assert report["runtime"].startswith("onnx") and network.stat().st_size > 1_000_000


def test_no_cache_folder_means_pytorch_unless_onnx_is_asked_for(an4, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go\n")
    report = _evaluate(an4, tmp_path / "r.json", blocker)
    assert report["runtime"].startswith("pytorch")
    result = run_cli("evaluate", "--model", SHIPPED, "--manifest", an4["test"], "--runtime", "onnx",
                     env={"CTCASR_HOME": str(blocker)})
    assert_user_error(result, "an4_ds2.pt", "cannot run it with onnxruntime", "cache folder")
    assert_user_error(run_cli("evaluate", "--model", SHIPPED, "--manifest", an4["test"],
                              env={"CTCASR_HOME": str(tmp_path), "CTCASR_RUNTIME": "tensorflow"}),
                      "unknown runtime 'tensorflow'")


def test_an_export_that_disagrees_is_noted_and_not_used(small_checkpoint, tmp_path, monkeypatch):
    from ctcasr import onnx_cache

    monkeypatch.setenv("CTCASR_HOME", str(tmp_path))
    monkeypatch.setattr(onnx_cache, "TOLERANCE", -1.0)  # no export can be that close
    assert onnx_cache.cached_export(small_checkpoint) is None
    [note] = (tmp_path / "onnx").glob("*.failed")
    assert "differ from PyTorch's" in note.read_text()
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == [note.name]  # no export left behind
    monkeypatch.setattr(onnx_cache, "TOLERANCE", 1e-3)
    assert onnx_cache.cached_export(small_checkpoint) is None  # the note is read, not tried again
    note.unlink()
    assert (onnx_cache.cached_export(small_checkpoint) / "model.onnx").is_file()


def test_the_python_api_takes_the_runtime(an4_items, tmp_path, monkeypatch):
    from ctcasr import UserError, load

    monkeypatch.setenv("CTCASR_HOME", str(tmp_path))
    audio = an4_items["test"][7].audio_filepath
    exported, native = load(SHIPPED, decoder="greedy", runtime="auto"), load(SHIPPED, decoder="greedy")
    assert exported.acoustic.description.startswith("onnx") and native.acoustic.description.startswith("pytorch")
    assert exported.transcribe(audio).text == native.transcribe(audio).text
    with pytest.raises(UserError, match="exported model"):
        exported.model  # noqa: B018 - the property raises
