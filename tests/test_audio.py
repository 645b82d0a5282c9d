import numpy as np
import pytest
import soundfile as sf

from ctcasr.audio import duration, iter_chunks, load
from ctcasr.augment import AugmentConfig, WaveAugment, add_noise, apply_gain, speed_perturb
from ctcasr.errors import UserError


def test_load_resamples_and_mixes_to_mono(tmp_path, an4_items):
    wave = load(an4_items["test"][0].audio_filepath, 16000)
    stereo = np.stack([wave, wave * 0.5], axis=1)
    path = tmp_path / "stereo_8k.wav"
    sf.write(path, stereo[::2], 8000)
    out = load(path, 16000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size - wave.size) <= 2
    assert duration(path) == pytest.approx(wave.size / 16000, abs=1e-3)


def test_chunks_cover_the_file(an4_items):
    path = an4_items["test"][0].audio_filepath
    whole = load(path, 16000)
    pieces = list(iter_chunks(path, 16000, 0.5))
    assert len(pieces) > 1
    np.testing.assert_allclose(np.concatenate(pieces), whole)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "does not exist"),
    (b"RIFF\x00\x00garbage that is not audio", "cannot read audio"),
])
def test_bad_audio_is_a_user_error(tmp_path, content, problem):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=problem) as err:
        load(path)
    assert str(path) in str(err.value)


def test_zero_length_audio_is_a_user_error(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(UserError, match="empty"):
        load(path)


def test_speed_perturbation_changes_length():
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    assert speed_perturb(wave, 1.1, 16000).size == pytest.approx(16000 / 1.1, abs=2)
    assert speed_perturb(wave, 0.9, 16000).size == pytest.approx(16000 / 0.9, abs=2)


def test_gain_and_noise_at_the_requested_snr():
    rng = np.random.default_rng(0)
    wave = (0.1 * np.sin(np.arange(32000) / 10)).astype(np.float32)
    assert np.abs(apply_gain(wave, 6.0)).max() == pytest.approx(0.1 * 10 ** (6 / 20), rel=1e-3)
    for color in ("white", "pink", "brown"):
        noisy = add_noise(wave, 10.0, color, rng)
        snr = 10 * np.log10(np.mean(wave**2) / np.mean((noisy - wave) ** 2))
        assert snr == pytest.approx(10.0, abs=0.1)


def test_wave_augment_applies_each_kind_when_certain():
    config = AugmentConfig(speed_prob=1.0, speeds=[1.2, 1.2], gain_prob=1.0, gain_db=[-3, -3], noise_prob=1.0,
                           noise_snr_db=[30, 30])
    wave = (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32)
    out = WaveAugment(config, 16000, seed=0)(wave)
    assert out.size == pytest.approx(16000 / 1.2, abs=2)
    assert not np.allclose(out, speed_perturb(wave, 1.2, 16000))
