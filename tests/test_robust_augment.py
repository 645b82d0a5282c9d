"""Channel and speaker augmentations: each does what it claims on real AN4 audio."""

import numpy as np
import pytest
import torch

from ctcasr.augment import (
    AugmentConfig,
    WaveAugment,
    codec,
    mu_law,
    random_eq,
    reverberate,
    room_impulse,
    speech_span,
    telephone_band,
    trim_silence,
)
from ctcasr.features import FeatureConfig, LogMel, warp_frequencies

SR = 16000


@pytest.fixture(scope="module")
def wave(an4_items):
    from ctcasr.audio import load

    return load(an4_items["dev"][0].audio_filepath, SR)


def band_energy(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_telephone_band_removes_energy_above_4khz(wave):
    out = telephone_band(wave, SR)
    assert out.shape == wave.shape
    assert band_energy(wave, 4200, 8000) > 1e-3 * band_energy(wave, 0, 8000)
    assert band_energy(out, 4200, 8000) < 1e-4 * band_energy(out, 0, 8000)
    assert band_energy(out, 300, 3400) == pytest.approx(band_energy(wave, 300, 3400), rel=0.1)


def test_telephone_high_pass_removes_the_lows(wave):
    out = telephone_band(wave, SR, highpass_hz=300)
    assert band_energy(out, 0, 140) < 0.02 * band_energy(wave, 0, 140)


@pytest.mark.parametrize("name", ["mulaw", "gsm"])
def test_codecs_distort_but_keep_the_speech(wave, name):
    out = codec(wave, SR, name)
    assert out.shape == wave.shape and np.isfinite(out).all()
    narrow = telephone_band(wave, SR)
    error = np.mean((out - narrow) ** 2) / np.mean(narrow**2)
    assert 1e-5 < error < 0.5  # changed, yet mostly the same signal


def test_mu_law_has_256_levels():
    x = np.linspace(-1, 1, 10000, dtype=np.float32)
    assert len(np.unique(mu_law(x))) <= 256


def test_reverb_smears_energy_in_time(wave):
    rng = np.random.default_rng(0)
    rir = room_impulse(SR, 0.6, rng)
    assert rir[0] == rir.max() and rir.size == int(0.6 * SR)
    out = reverberate(wave, rir)
    assert out.shape == wave.shape
    assert np.mean(out**2) == pytest.approx(np.mean(wave**2), rel=1e-3)
    first, last = speech_span(wave, SR)
    tail = slice(last, min(last + SR // 5, wave.size))
    assert np.mean(out[tail] ** 2) > 2 * np.mean(wave[tail] ** 2)


def test_eq_changes_band_levels_within_its_limit(wave):
    edges = [100, 200, 400, 800, 1600, 3200, 6400]
    for seed in range(3):
        out = random_eq(wave, SR, 6.0, np.random.default_rng(seed))
        change_db = [10 * np.log10(band_energy(out, lo, hi) / band_energy(wave, lo, hi))
                     for lo, hi in zip(edges, edges[1:], strict=False)]
        assert max(abs(c) for c in change_db) > 1.0
        assert max(abs(c) for c in change_db) <= 6.5


def test_trim_keeps_the_speech_and_drops_the_silence(wave):
    padded = np.concatenate([np.zeros(SR, np.float32), wave, np.zeros(SR, np.float32)])
    out = trim_silence(padded, SR, (0.05, 0.05))
    first, last = speech_span(padded, SR)
    assert out.size <= last - first + int(0.1 * SR) + 1
    assert out.size >= last - first


def test_vtlp_moves_energy_up_the_spectrum(wave):
    feats = LogMel(FeatureConfig(normalize="none"))
    x = torch.from_numpy(wave)[None]
    lengths = torch.tensor([wave.size])
    spec = torch.stft(x, 512, 160, 400, torch.hann_window(400), return_complex=True).abs() ** 2
    up = warp_frequencies(spec, torch.tensor([1.2]))
    bins = torch.arange(spec.shape[1], dtype=torch.float32)[None, :, None]
    centroid = lambda s: float((s * bins).sum() / s.sum())  # noqa: E731
    assert centroid(up) > centroid(spec) * 1.05
    same = warp_frequencies(spec, torch.tensor([1.0]))
    assert torch.allclose(same, spec)
    plain, _ = feats(x, lengths)
    warped, _ = feats(x, lengths, torch.tensor([1.1]))
    assert plain.shape == warped.shape and not torch.allclose(plain, warped)


def test_every_augmentation_at_once_is_finite_and_seeded(wave):
    config = AugmentConfig(speed_prob=1, gain_prob=1, noise_prob=1, telephone_prob=1, codec_prob=0.5, eq_prob=1,
                           reverb_prob=1, trim_prob=1, vtlp_prob=1)
    a, b = WaveAugment(config, SR, seed=3), WaveAugment(config, SR, seed=3)
    out_a, out_b = a(wave), b(wave)
    assert np.isfinite(out_a).all() and np.array_equal(out_a, out_b)
    assert 0.9 <= a.vtlp_factor() <= 1.1


def test_short_single_word_input_gives_frames(small_checkpoint):
    """0.3 s of audio (a tightly cut word) goes through features and model."""
    from ctcasr.checkpoint import load_model
    from ctcasr.inference import log_probs_of

    model = load_model(small_checkpoint)
    log_probs, lengths = log_probs_of(model, [torch.randn(int(0.3 * SR)) * 0.1])
    assert int(lengths[0]) >= 10 and torch.isfinite(log_probs).all()
