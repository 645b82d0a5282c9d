"""Waveform augmentations applied per utterance in the data loader: speed, gain, additive noise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import soxr

from ctcasr.features import SpecAugmentConfig


@dataclass
class AugmentConfig:
    speed_prob: float = 0.0
    speeds: list[float] = field(default_factory=lambda: [0.9, 1.1])  # uniform range [min, max]
    gain_prob: float = 0.0
    gain_db: list[float] = field(default_factory=lambda: [-6.0, 6.0])
    noise_prob: float = 0.0
    noise_snr_db: list[float] = field(default_factory=lambda: [10.0, 40.0])
    noise_colors: list[str] = field(default_factory=lambda: ["white", "pink", "brown"])
    spec_augment: SpecAugmentConfig | None = field(default_factory=SpecAugmentConfig)


def speed_perturb(wave: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Play `factor` times faster (tempo and pitch together, like sox `speed`)."""
    if abs(factor - 1.0) < 1e-3:
        return wave
    return soxr.resample(wave, sample_rate * factor, sample_rate, quality="MQ").astype(np.float32, copy=False)


def apply_gain(wave: np.ndarray, gain_db: float) -> np.ndarray:
    return np.clip(wave * (10.0 ** (gain_db / 20.0)), -1.0, 1.0).astype(np.float32, copy=False)


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) noise of unit power."""
    white = rng.standard_normal(n)
    if color != "white":
        spectrum = np.fft.rfft(white)
        f = np.arange(1, spectrum.size + 1, dtype=np.float64)
        spectrum /= np.sqrt(f) if color == "pink" else f
        white = np.fft.irfft(spectrum, n)
    return white / (np.sqrt(np.mean(white**2)) + 1e-12)


def add_noise(wave: np.ndarray, snr_db: float, color: str, rng: np.random.Generator) -> np.ndarray:
    signal_power = float(np.mean(wave**2)) + 1e-10
    noise = colored_noise(wave.size, color, rng) * np.sqrt(signal_power / 10.0 ** (snr_db / 10.0))
    return (wave + noise).astype(np.float32)


class WaveAugment:
    """Applies the configured augmentations with their probabilities; one instance per data loader worker."""

    def __init__(self, config: AugmentConfig, sample_rate: int, seed: int | None = None):
        self.config = config
        self.sample_rate = sample_rate
        self.rng = np.random.default_rng(seed)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        c, rng = self.config, self.rng
        if c.speed_prob and rng.random() < c.speed_prob:
            wave = speed_perturb(wave, rng.uniform(*c.speeds), self.sample_rate)
        if c.gain_prob and rng.random() < c.gain_prob:
            wave = apply_gain(wave, rng.uniform(*c.gain_db))
        if c.noise_prob and rng.random() < c.noise_prob:
            wave = add_noise(wave, rng.uniform(*c.noise_snr_db), str(rng.choice(c.noise_colors)), rng)
        return wave
