import pytest
import torch

from ctcasr.checkpoint import load_model, save_checkpoint
from ctcasr.config import load_recipe
from ctcasr.errors import UserError
from ctcasr.training import build_asr_model


def test_round_trip_reproduces_outputs_exactly(tmp_path):
    torch.manual_seed(0)
    recipe = load_recipe(None, ["model.preset=ds2_tiny", "features.n_mels=40", "text.alphabet=' abc'"])
    model = build_asr_model(recipe)
    with torch.no_grad():  # give BatchNorm non-default running statistics
        model.train()(torch.randn(2, 8000), torch.tensor([8000, 6000]))
    model.eval()
    waves, lengths = torch.randn(3, 12000) * 0.1, torch.tensor([12000, 9000, 5000])
    with torch.no_grad():
        expected, expected_lens = model(waves, lengths)
    save_checkpoint(tmp_path / "m.pt", model, {"epoch": 3})
    loaded = load_model(tmp_path / "m.pt")
    assert loaded.metadata == {"epoch": 3}
    assert loaded.tokenizer.alphabet == " abc" and loaded.features.config.n_mels == 40
    with torch.no_grad():
        got, got_lens = loaded(waves, lengths)
    assert torch.equal(got_lens, expected_lens)
    assert torch.equal(got, expected)
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("kind", ["text", "torch-dict", "missing", "truncated"])
def test_not_a_ctcasr_checkpoint(tmp_path, kind, small_checkpoint):
    path = tmp_path / "x.pt"
    if kind == "text":
        path.write_text("hello")
    elif kind == "torch-dict":
        torch.save({"state_dict": {}}, path)
    elif kind == "truncated":
        path.write_bytes(small_checkpoint.read_bytes()[:1000])
    with pytest.raises(UserError) as err:
        load_model(path)
    assert str(path) in str(err.value)
    assert ("not a ctcasr checkpoint" if kind != "missing" else "does not exist") in str(err.value)
