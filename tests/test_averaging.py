"""`ctcasr average`: the weighted mean of checkpoints of one network."""

import torch
from conftest import assert_user_error, run_cli

from ctcasr.checkpoint import load_model, save_checkpoint
from ctcasr.config import load_recipe
from ctcasr.training import build_asr_model


def tiny(seed: int, *overrides: str):
    torch.manual_seed(seed)
    return build_asr_model(load_recipe(None, ["model.preset=ds2_tiny", *overrides])).eval()


def test_average_is_the_weighted_mean_and_loads(tmp_path):
    a, b = tiny(0), tiny(1)
    save_checkpoint(tmp_path / "a.pt", a, {"epoch": 4})
    save_checkpoint(tmp_path / "b.pt", b, {"epoch": 5})
    result = run_cli("average", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--weights", "1,3",
                     "--out", str(tmp_path / "mean.pt"))
    assert result.returncode == 0, result.stderr
    assert "the mean of 2 checkpoints (weights 0.25, 0.75)" in result.stdout
    mean = load_model(tmp_path / "mean.pt")
    for name, tensor in mean.weights().items():
        wa, wb = a.weights()[name], b.weights()[name]
        expected = 0.25 * wa.double() + 0.75 * wb.double() if tensor.is_floating_point() else wa
        assert torch.allclose(tensor.double(), expected.double(), atol=1e-6), name
    assert [e["epoch"] for e in mean.metadata["averaged_from"]] == [4, 5]


def test_average_refuses_checkpoints_of_other_networks_or_units(tmp_path):
    save_checkpoint(tmp_path / "a.pt", tiny(0))
    save_checkpoint(tmp_path / "wide.pt", tiny(0, "model.rnn_hidden=48"))
    result = run_cli("average", str(tmp_path / "a.pt"), str(tmp_path / "wide.pt"), "--out", str(tmp_path / "x.pt"))
    assert_user_error(result, "wide.pt", "cannot average: its model settings differ")
    result = run_cli("average", str(tmp_path / "a.pt"), str(tmp_path / "a.pt"), "--weights", "1,0",
                     "--out", str(tmp_path / "x.pt"))
    assert_user_error(result, "--weights needs one positive number per checkpoint")
    assert not (tmp_path / "x.pt").exists()
