"""Each model family behind the encoder interface: shapes and output lengths, batching invariance, checkpoint round
trips, overfitting a few real AN4 utterances, nested config overrides, and old DeepSpeech2 checkpoints."""

import copy

import pytest
import torch

from ctcasr.checkpoint import load_model, read_checkpoint, save_checkpoint
from ctcasr.config import load_recipe
from ctcasr.decoding.greedy import greedy_decode
from ctcasr.errors import UserError
from ctcasr.models import PRESETS, model_config
from ctcasr.models.deepspeech2 import conv_output_length
from ctcasr.training import build_asr_model

TINY = {"deepspeech2": "ds2_tiny", "quartznet": "quartznet_tiny", "conformer": "conformer_tiny"}
SMALL = [(arch, preset) for arch, presets in PRESETS.items() for preset in presets
         if preset.endswith(("tiny", "an4_cpu"))]


def tiny(arch: str, *overrides: str):
    return build_asr_model(load_recipe(None, [f"model.arch={arch}", f"model.preset={TINY[arch]}", *overrides]))


@pytest.mark.parametrize(("arch", "preset"), SMALL)
def test_output_lengths_match_the_frames_produced(arch, preset):
    model = build_asr_model(load_recipe(None, [f"model.arch={arch}", f"model.preset={preset}"])).eval()
    lengths = torch.tensor([16000, 12345, 4000])
    waves = torch.randn(3, 16000) * 0.1
    with torch.no_grad():
        log_probs, out_lens = model(waves, lengths)
    frames = model.features.frame_lengths(lengths)
    assert torch.equal(out_lens, model.encoder.output_lengths(frames))
    assert log_probs.shape == (3, int(out_lens.max()), len(model.tokenizer))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(log_probs.shape[:2]), atol=1e-4)
    stride = model.encoder.time_stride
    assert abs(int(out_lens[0]) - 101 / stride) <= 2  # 1 s of audio: 101 feature frames / the time stride


def test_published_sizes():
    sizes = {(a, p): build_asr_model(load_recipe(None, [f"model.arch={a}", f"model.preset={p}"])).num_parameters()
             for a, p in [("quartznet", "quartznet5x5"), ("quartznet", "quartznet15x5"),
                          ("conformer", "conformer_small")]}
    assert 6.6e6 < sizes["quartznet", "quartznet5x5"] < 6.8e6  # QuartzNet 5x5: 6.7 M
    assert 18.8e6 < sizes["quartznet", "quartznet15x5"] < 19.0e6  # QuartzNet 15x5: 18.9 M
    assert 12e6 < sizes["conformer", "conformer_small"] < 14e6  # Conformer-CTC small: about 13 M
    config = model_config("deepspeech2", "ds2_openseq2seq", {})
    assert config.rnn_layers == 5 and config.rnn_hidden == 800 and config.bidirectional


@pytest.mark.parametrize(("arch", "overrides"), [(arch, []) for arch in sorted(TINY)] + [
    ("deepspeech2", ["model.chunk=5", "model.right_context=3"])])
def test_batching_does_not_change_an_utterance_output(arch, overrides):
    torch.manual_seed(0)
    model = tiny(arch, *overrides).eval()
    for module in model.modules():  # BatchNorm with non-trivial statistics, so padding would show
        if isinstance(module, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    short, long = torch.randn(8000) * 0.1, torch.randn(16000) * 0.1
    batch = torch.zeros(2, 16000)
    batch[0, :8000], batch[1] = short, long
    with torch.no_grad():
        both, lens = model(batch, torch.tensor([8000, 16000]))
        alone, alone_lens = model(short[None], torch.tensor([8000]))
    assert int(lens[0]) == int(alone_lens[0])
    torch.testing.assert_close(both[0, : lens[0]], alone[0], atol=1e-4, rtol=1e-4)


def test_channels_last_conv_weights_change_neither_outputs_nor_gradients():
    """DeepSpeech2 keeps its conv weights channels-last (oneDNN's fast CPU kernels); the same weights in the plain
    layout give the same outputs and parameter gradients."""
    torch.manual_seed(3)
    model = tiny("deepspeech2", "model.conv_channels=[8,8]").train()
    plain = copy.deepcopy(model)
    plain.encoder.conv.blocks.to(memory_format=torch.contiguous_format)
    for fast, slow in zip(model.encoder.conv.blocks, plain.encoder.conv.blocks, strict=True):
        assert fast[0].weight.stride() != slow[0].weight.stride()  # (the first conv has one input channel)
    waves, lengths = torch.randn(2, 12000) * 0.1, torch.tensor([12000, 7000])
    outputs = []
    for m in (model, plain):
        log_probs, _ = m(waves, lengths)
        log_probs.sum().backward()
        outputs.append((log_probs.detach(), {n: p.grad for n, p in m.named_parameters()}))
    torch.testing.assert_close(outputs[0][0], outputs[1][0], atol=1e-5, rtol=1e-5)
    for name, grad in outputs[0][1].items():
        scale = float(grad.abs().max())  # summation order differs between the kernels: ~1e-6 of the largest
        torch.testing.assert_close(grad, outputs[1][1][name], atol=1e-5 * scale, rtol=1e-4, msg=name)


@pytest.mark.parametrize("arch", sorted(TINY))
def test_checkpoint_round_trip(arch, tmp_path):
    torch.manual_seed(1)
    model = tiny(arch).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_model(tmp_path / "m.pt")
    assert again.arch == arch and again.encoder.config == model.encoder.config
    waves = torch.randn(2, 12000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(model(waves, torch.tensor([12000, 9000]))[0],
                                   again(waves, torch.tensor([12000, 9000]))[0], atol=0, rtol=0)


def test_version_1_deepspeech2_checkpoint_loads_with_identical_outputs(tmp_path):
    """Before the encoder interface, checkpoints held DeepSpeech2's tensors unprefixed, its output layer inside."""
    torch.manual_seed(2)
    model = tiny("deepspeech2").eval()
    save_checkpoint(tmp_path / "new.pt", model)
    data = read_checkpoint(tmp_path / "new.pt")
    data["version"] = 1
    data["state_dict"] = {k.removeprefix("encoder.").replace("head.output.", "output."): v
                          for k, v in data["state_dict"].items()}
    torch.save(data, tmp_path / "old.pt")
    old = load_model(tmp_path / "old.pt")
    waves = torch.randn(1, 16000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(old(waves, torch.tensor([16000]))[0], model(waves, torch.tensor([16000]))[0],
                                   atol=0, rtol=0)


def test_the_shipped_version_1_model_still_transcribes(an4_items):
    from ctcasr import load

    recognizer = load("models/an4_ds2.pt", decoder="greedy")
    items = an4_items["test"][:5]
    texts = [recognizer.transcribe(u.audio_filepath).text for u in items]
    assert sum(t == u.text for t, u in zip(texts, items, strict=True)) >= 4


@pytest.mark.parametrize(("arch", "overrides", "steps"), [
    ("deepspeech2", ["model.encoder.rnn_hidden=96", "model.encoder.conv_channels=[8, 8]"], 120),
    ("quartznet", ["model.encoder.prolog.channels=64", "model.encoder.body=[{channels: 64, kernel: 11, repeat: 2}, "
                   "{channels: 64, kernel: 13, repeat: 2}]", "model.encoder.epilog=[{channels: 96, kernel: 1, "
                   "repeat: 1, residual: false}]"], 120),
    ("conformer", ["model.encoder.d_model=64", "model.encoder.layers=2", "model.encoder.subsampling.channels=32",
                   "model.encoder.dropout=0.0"], 120),
])
def test_each_family_overfits_four_an4_utterances(arch, overrides, steps, an4_items):
    from ctcasr.audio import load
    from ctcasr.data.dataset import pad_batch

    torch.manual_seed(0)
    model = tiny(arch, *overrides, "features.n_mels=40").train()
    items = [u for u in an4_items["train"] if u.duration < 2.5][:4]
    waves, lengths = pad_batch([torch.from_numpy(load(u.audio_filepath, 16000)) for u in items])
    targets = [torch.tensor(model.tokenizer.encode(u.text)) for u in items]
    flat, target_lens = torch.cat(targets), torch.tensor([len(t) for t in targets])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    for _ in range(steps):
        log_probs, out_lens = model(waves, lengths)
        loss = ctc(log_probs.transpose(0, 1), flat, out_lens, target_lens)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        log_probs, out_lens = model(waves, lengths)
    texts = [model.tokenizer.decode(ids) for ids in greedy_decode(log_probs, out_lens)]
    assert texts == [u.text for u in items], (float(loss), texts)


def test_nested_overrides_reach_the_config_and_wrong_types_are_named():
    recipe = load_recipe(None, ["model.arch=conformer", "model.preset=conformer_an4_cpu",
                                "model.encoder.attention.heads=8", "model.encoder.layers=3"])
    _, config = recipe.model_settings()
    assert config.attention.heads == 8 and config.layers == 3 and config.d_model == 144  # the preset's
    with pytest.raises(UserError, match="model.encoder.layers"):
        load_recipe(None, ["model.arch=conformer", "model.encoder.layers=many"])
    with pytest.raises(UserError, match="model.encoder.attention.head"):
        load_recipe(None, ["model.arch=conformer", "model.encoder.attention.head=2"])
    with pytest.raises(UserError, match="conformer preset"):
        load_recipe(None, ["model.preset=conformer_tiny"])
    with pytest.raises(UserError, match="multiple"):
        load_recipe(None, ["model.arch=conformer", "model.encoder.d_model=30", "model.encoder.attention.heads=4"])


def test_greedy_collapses_repeats_and_drops_blanks():
    # frames: a a _ a b b _ _ | padding
    ids = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3, 3]])
    log_probs = torch.nn.functional.one_hot(ids, 4).float().log_softmax(-1)
    assert greedy_decode(log_probs, torch.tensor([8])) == [[1, 1, 2]]
    assert greedy_decode(log_probs, torch.tensor([10])) == [[1, 1, 2, 3]]
    two = torch.cat([log_probs, log_probs.flip(1)])
    assert greedy_decode(two, torch.tensor([10, 3])) == [[1, 1, 2, 3], [3]]


def test_deepspeech2_convolutions_compute_the_same_channels_last_as_in_nchw():
    """The front end runs multi-channel convolutions channels-last for speed: the same maths as plain NCHW."""
    model = build_asr_model(load_recipe(None, ["model.preset=ds2_an4_cpu"])).eval()
    front = model.encoder.conv
    feats, lengths = torch.randn(3, 64, 240), torch.tensor([240, 180, 90])
    with torch.no_grad():
        fast, fast_lengths = front(feats, lengths)
        x = feats.unsqueeze(1)
        for block, kernel, stride in zip(front.blocks, front.time_kernels, front.time_strides, strict=True):
            x = block(x.contiguous())
            lengths = conv_output_length(lengths, kernel, stride)
            x = x.masked_fill(~(torch.arange(x.shape[-1])[None, :] < lengths[:, None])[:, None, None, :], 0.0)
            assert x.is_contiguous()
    reference = x.reshape(3, -1, x.shape[-1]).transpose(1, 2)
    assert torch.equal(fast_lengths, lengths)
    assert torch.allclose(fast, reference, atol=1e-4, rtol=1e-4)


def test_a_chunked_deepspeech2_sees_a_bounded_future():
    """Latency-controlled BRNN: output frames before a change in the audio stay the same once the change is past
    their chunk, its right context and the convolutions' reach; a whole-utterance BRNN's all change."""
    torch.manual_seed(0)
    wave = torch.randn(1, 32000) * 0.1
    changed = wave.clone()
    changed[0, 24000:] = torch.randn(8000) * 0.1  # from frame ~75 of 20 ms on
    for chunk, bounded in ((4, True), (0, False)):
        torch.manual_seed(0)
        model = tiny("deepspeech2", f"model.chunk={chunk}", f"model.right_context={2 if chunk else 0}",
                     "features.normalize=none").eval()
        with torch.no_grad():
            before, after = (model(w, torch.tensor([32000]))[0][0] for w in (wave, changed))
        same = (before - after).abs().amax(dim=-1) < 1e-6
        assert bool(same[:60].all()) is bounded
        assert not bool(same[-20:].any())


def test_chunked_deepspeech2_settings_are_checked():
    with pytest.raises(UserError, match="model.chunk"):
        tiny("deepspeech2", "model.chunk=4", "model.rnn_type=lstm")
    with pytest.raises(UserError, match="model.right_context"):
        tiny("deepspeech2", "model.right_context=2")
