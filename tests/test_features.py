"""Log-mel features against an independent NumPy computation, batching invariance, SpecAugment."""

import numpy as np
import pytest
import torch

from ctcasr.audio import load
from ctcasr.features import FeatureConfig, LogMel, SpecAugment, SpecAugmentConfig, mel_filterbank


def reference_filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """HTK mel triangles written out loop by loop."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = [hz(m) for m in np.linspace(mel(0.0), mel(sr / 2), n_mels + 2)]
    bins = np.arange(n_fft // 2 + 1) * sr / n_fft
    fb = np.zeros((n_mels, bins.size))
    for m in range(n_mels):
        lo, centre, hi = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(bins):
            if lo < f <= centre:
                fb[m, k] = (f - lo) / (centre - lo)
            elif centre < f < hi:
                fb[m, k] = (hi - f) / (hi - centre)
    return fb


def reference_logmel(wave: np.ndarray, c: FeatureConfig) -> np.ndarray:
    padded = np.pad(wave.astype(np.float64), c.n_fft // 2)
    n = np.arange(c.win_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / c.win_length)  # periodic Hann
    offset = (c.n_fft - c.win_length) // 2
    frames = []
    for start in range(0, padded.size - c.n_fft + 1, c.hop_length):
        segment = np.zeros(c.n_fft)
        segment[offset:offset + c.win_length] = padded[start + offset:start + offset + c.win_length] * window
        frames.append(np.abs(np.fft.rfft(segment)) ** 2)
    power = np.array(frames).T
    logmel = np.log(reference_filterbank(c.sample_rate, c.n_fft, c.n_mels) @ power + 1e-6)
    return (logmel - logmel.mean(1, keepdims=True)) / np.sqrt(logmel.var(1, keepdims=True) + 1e-5)


def test_filterbank_matches_reference():
    ours = mel_filterbank(16000, 512, 64, 0.0, 8000.0).numpy()
    np.testing.assert_allclose(ours, reference_filterbank(16000, 512, 64), atol=1e-5)


def test_logmel_matches_reference_on_real_speech(an4_items):
    config = FeatureConfig()
    wave = load(an4_items["test"][0].audio_filepath, 16000)
    feats, frames = LogMel(config)(torch.from_numpy(wave)[None], torch.tensor([wave.size]))
    expected = reference_logmel(wave, config)
    assert feats.shape == (1, 64, expected.shape[1])
    assert int(frames[0]) == expected.shape[1]
    np.testing.assert_allclose(feats[0].numpy(), expected, atol=2e-3)


def test_batched_features_equal_single_features(an4_items):
    lm = LogMel(FeatureConfig())
    waves = [torch.from_numpy(load(u.audio_filepath, 16000)) for u in an4_items["dev"][:3]]
    lengths = torch.tensor([w.numel() for w in waves])
    batch = torch.zeros(3, int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, : w.numel()] = w
    feats, frames = lm(batch, lengths)
    for i, w in enumerate(waves):
        single, n = lm(w[None], lengths[i : i + 1])
        assert int(frames[i]) == int(n[0])
        torch.testing.assert_close(feats[i, :, : n[0]], single[0], atol=1e-4, rtol=1e-4)
        assert torch.all(feats[i, :, n[0]:] == 0)


def test_specaugment_masks_in_training_only():
    torch.manual_seed(0)
    feats = torch.randn(4, 64, 300) + 10
    lengths = torch.tensor([300, 250, 200, 100])
    aug = SpecAugment(SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=2, time_width=0.1))
    masked = aug.train()(feats, lengths)
    assert (masked == 0).any()
    assert (masked == 0).float().mean() < 0.5
    assert torch.equal(aug.eval()(feats, lengths), feats)


@pytest.mark.parametrize("n_mels", [40, 80])
def test_other_sizes(n_mels):
    feats, _ = LogMel(FeatureConfig(n_mels=n_mels))(torch.randn(2, 16000), torch.tensor([16000, 8000]))
    assert feats.shape == (2, n_mels, 101)
