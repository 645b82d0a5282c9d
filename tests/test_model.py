import pytest
import torch

from ctcasr.config import load_recipe
from ctcasr.decoding.greedy import greedy_decode
from ctcasr.models import PRESETS, model_config
from ctcasr.training import build_asr_model


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_output_lengths_match_the_frames_produced(preset):
    model = build_asr_model(load_recipe(None, [f"model.preset={preset}"])).eval()
    lengths = torch.tensor([16000, 12345, 4000])
    waves = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        log_probs, out_lens = model(waves, lengths)
    frames = model.features.frame_lengths(lengths)
    assert torch.equal(out_lens, model.encoder.output_lengths(frames))
    assert log_probs.shape[:2] == (3, int(out_lens.max()))
    assert log_probs.shape[2] == len(model.tokenizer)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]), atol=1e-4)
    assert int(out_lens[0]) == (101 - 1) // 2 + 1  # time stride 2


def test_openseq2seq_preset_has_the_published_shape():
    config = model_config("deepspeech2", "ds2_openseq2seq", {})
    assert config.rnn_layers == 5 and config.rnn_hidden == 800 and config.bidirectional
    assert len(config.conv_channels) == 2


def test_batching_does_not_change_an_utterance_output():
    torch.manual_seed(0)
    model = build_asr_model(load_recipe(None, ["model.preset=ds2_tiny", "model.rnn_type=lstm"])).eval()
    short, long = torch.randn(8000) * 0.1, torch.randn(16000) * 0.1
    batch = torch.zeros(2, 16000)
    batch[0, :8000], batch[1] = short, long
    with torch.no_grad():
        both, lens = model(batch, torch.tensor([8000, 16000]))
        alone, alone_lens = model(short[None], torch.tensor([8000]))
    assert int(lens[0]) == int(alone_lens[0])
    torch.testing.assert_close(both[0, : lens[0]], alone[0], atol=1e-4, rtol=1e-4)


def test_greedy_collapses_repeats_and_drops_blanks():
    # frames: a a _ a b b _ _ | padding
    ids = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3, 3]])
    log_probs = torch.nn.functional.one_hot(ids, 4).float().log_softmax(-1)
    assert greedy_decode(log_probs, torch.tensor([8])) == [[1, 1, 2]]
    assert greedy_decode(log_probs, torch.tensor([10])) == [[1, 1, 2, 3]]
    two = torch.cat([log_probs, log_probs.flip(1)])
    assert greedy_decode(two, torch.tensor([10, 3])) == [[1, 1, 2, 3], [3]]
