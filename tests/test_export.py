"""`ctcasr export`: ONNX and TorchScript folders that `--model DIR` runs, with the same numbers as PyTorch."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, assert_user_error, run_cli

pytest.importorskip("onnxruntime")

SHIPPED = REPO / "models" / "an4_ds2.pt"


def _waves(items, count: int) -> list[np.ndarray]:
    from ctcasr.audio import load

    return [load(u.audio_filepath, 16000) for u in items[:count]]


def _torch_log_probs(model_path, waves):
    from ctcasr.acoustic import TorchAcoustic
    from ctcasr.checkpoint import load_model

    return TorchAcoustic(load_model(model_path)).log_probs(waves)


def _max_difference(a, b) -> float:
    (lp_a, n_a), (lp_b, n_b) = a, b
    assert np.array_equal(n_a, n_b)
    return max(float(np.abs(lp_a[i, :n] - lp_b[i, :n]).max()) for i, n in enumerate(n_a))


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    from ctcasr.export import export_model

    out = tmp_path_factory.mktemp("onnx")
    export_model(SHIPPED, "onnx", out)
    return out


def test_onnx_matches_pytorch_on_an4_batched_and_alone(onnx_dir, an4_items):
    from ctcasr.decoding.greedy import greedy_decode
    from ctcasr.export import open_export

    waves = _waves(an4_items["test"], 12)
    exported = open_export(onnx_dir)
    reference = _torch_log_probs(SHIPPED, waves)
    assert _max_difference(exported.log_probs(waves), reference) <= 1e-4  # padded in one batch
    for i in (0, 5):  # and alone
        alone = exported.log_probs([waves[i]])
        assert float(np.abs(alone[0][0, : alone[1][0]] - reference[0][i, : alone[1][0]]).max()) <= 1e-4
    assert greedy_decode(*exported.log_probs(waves)) == greedy_decode(*reference)


def test_sidecar_and_decoding_travel_with_the_network(onnx_dir):
    sidecar = json.loads((onnx_dir / "ctcasr-export.json").read_text())
    assert sidecar["runtime"] == "onnx" and sidecar["sample_rate"] == 16000
    assert sidecar["tokenizer"]["alphabet"] == " 'abcdefghijklmnopqrstuvwxyz"
    assert sidecar["frame_seconds"] == pytest.approx(0.02)
    decoding = (onnx_dir / "model.decoding.yaml").read_text()
    lm = decoding.split("lm: ")[1].split()[0]
    assert (onnx_dir / lm).is_file()  # the tuned LM was copied beside it, relative path kept


def test_cli_runs_the_onnx_folder_without_pytorch(onnx_dir, an4_items):
    """`--model DIR` through onnxruntime in a process where importing torch fails."""
    import subprocess

    audio = an4_items["test"][0].audio_filepath
    code = ("import sys; sys.modules['torch'] = None\n"
            "from ctcasr.cli import main\n"
            f"sys.exit(main(['transcribe', '--model', {str(onnx_dir)!r}, {audio!r}, '--format', 'json', "
            "'--decoder', 'greedy']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["words"] and all(0 <= w["confidence"] <= 1 for w in data["words"])
    from ctcasr import load

    offline = load(SHIPPED, decoder="greedy").transcribe(audio)
    assert data["text"] == offline.text


def test_torchscript_matches_pytorch(tmp_path, an4_items):
    from ctcasr.export import export_model, open_export

    export_model(SHIPPED, "torchscript", tmp_path / "ts")
    waves = _waves(an4_items["test"][20:], 6)  # other lengths than the traced example
    assert _max_difference(open_export(tmp_path / "ts").log_probs(waves), _torch_log_probs(SHIPPED, waves)) <= 1e-5


@pytest.mark.parametrize("settings", [["model.rnn_type=lstm", "model.bidirectional=false"],
                                      ["model.rnn_layers=0", "model.activation=relu"],
                                      ["model.chunk=4", "model.right_context=2", "model.rnn_layers=2"]])
def test_other_deepspeech2_shapes_export(tmp_path, settings):
    from ctcasr.checkpoint import save_checkpoint
    from ctcasr.config import load_recipe
    from ctcasr.export import export_model, open_export
    from ctcasr.training import build_asr_model

    torch.manual_seed(1)
    model = build_asr_model(load_recipe(None, ["model.preset=ds2_tiny", *settings])).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    export_model(tmp_path / "m.pt", "onnx", tmp_path / "out")
    rng = np.random.default_rng(0)
    waves = [rng.normal(0, 0.1, n).astype(np.float32) for n in (16000, 9000, 23456)]
    assert _max_difference(open_export(tmp_path / "out").log_probs(waves),
                           _torch_log_probs(tmp_path / "m.pt", waves)) <= 1e-4


def test_int8_quantises_the_encoder_and_still_recognises(tmp_path, an4_items):
    import onnx

    from ctcasr import load
    from ctcasr.evaluation import word_errors
    from ctcasr.export import export_model

    export_model(SHIPPED, "onnx", tmp_path / "q", quantize="int8")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "q" / "model.onnx")).graph.node}
    assert ops & {"ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"}
    items = an4_items["test"][:20]
    hyps = [load(tmp_path / "q", decoder="greedy").transcribe(u.audio_filepath).text for u in items]
    refs = [u.text for u in items]
    assert word_errors(refs, hyps).rate <= 25.0


def test_bad_export_folders(tmp_path, onnx_dir, an4_items):
    import shutil

    audio = an4_items["test"][0].audio_filepath
    (tmp_path / "empty").mkdir()
    assert_user_error(run_cli("transcribe", "--model", tmp_path / "empty", audio), "not a model")
    other = tmp_path / "other"
    shutil.copytree(onnx_dir, other)
    sidecar = json.loads((other / "ctcasr-export.json").read_text())
    sidecar["sha256"] = "0" * 64
    (other / "ctcasr-export.json").write_text(json.dumps(sidecar))
    assert_user_error(run_cli("transcribe", "--model", other, audio), "describes another model")
    (other / "ctcasr-export.json").write_text("{not json")
    assert_user_error(run_cli("transcribe", "--model", other, audio), "not valid JSON")
    assert_user_error(run_cli("export", "--model", onnx_dir, "--out", tmp_path / "again"), "already an exported")
    assert_user_error(run_cli("export", "--model", SHIPPED, "--format", "torchscript", "--quantize", "int8",
                              "--out", tmp_path / "x"), "--quantize int8 is for --format onnx")
    assert_user_error(run_cli("export", "--model", "no-such-model", "--out", tmp_path / "y"), "known names")


@pytest.mark.parametrize("arch", ["quartznet", "conformer"])
def test_every_family_exports_with_the_same_numbers(arch, tmp_path):
    from ctcasr.checkpoint import save_checkpoint
    from ctcasr.config import load_recipe
    from ctcasr.export import export_model, open_export
    from ctcasr.training import build_asr_model

    torch.manual_seed(0)
    model = build_asr_model(load_recipe(None, [f"model.arch={arch}", f"model.preset={arch}_tiny"])).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    rng = np.random.default_rng(0)
    for fmt in ("onnx", "torchscript"):
        export_model(tmp_path / "m.pt", fmt, tmp_path / fmt)
        exported = open_export(tmp_path / fmt, "cpu")
        for n in (7000, 41000):  # lengths unlike the trace's example
            waves = [rng.standard_normal(n).astype(np.float32) * 0.1, rng.standard_normal(5000).astype(np.float32)]
            assert _max_difference(exported.log_probs(waves), _torch_log_probs(tmp_path / "m.pt", waves)) < 1e-4
