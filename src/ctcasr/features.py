"""Log-mel features and SpecAugment as batched torch modules (CPU or GPU)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ctcasr.schema import limits


@dataclass
class FeatureConfig:
    sample_rate: int = field(default=16000, metadata=limits(1000, 192000))
    n_mels: int = field(default=64, metadata=limits(1, 512))
    n_fft: int = field(default=512, metadata=limits(16, 16384))
    win_length: int = field(default=400, metadata=limits(16, 16384))  # 25 ms at 16 kHz
    hop_length: int = field(default=160, metadata=limits(1, 16384))  # 10 ms at 16 kHz
    f_min: float = field(default=0.0, metadata=limits(0))
    f_max: float | None = field(default=None, metadata=limits(0, low_open=True))
    normalize: str = field(default="utterance", metadata=limits(choices=("utterance", "none")))  # per band


def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """HTK-scale triangular filters, shape (n_mels, n_fft // 2 + 1), peak 1."""
    fft_freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mels = torch.linspace(hz_to_mel(torch.tensor(f_min)), hz_to_mel(torch.tensor(f_max)), n_mels + 2,
                          dtype=torch.float64)
    hz = mel_to_hz(mels)
    lower, centre, upper = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (fft_freqs - lower) / (centre - lower)
    falling = (upper - fft_freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()


class LogMel(nn.Module):
    """Waveforms (B, N) with lengths -> log-mel features (B, n_mels, T) with frame lengths."""

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        f_max = config.f_max or config.sample_rate / 2
        fb = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, config.f_min, f_max)
        self.register_buffer("filterbank", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(config.win_length), persistent=False)
        self.dft: nn.Conv1d | None = None  # set by `use_dft_conv` (export): the STFT as a strided convolution

    def frame_lengths(self, num_samples: torch.Tensor) -> torch.Tensor:
        return num_samples // self.config.hop_length + 1

    @torch.autocast("cuda", enabled=False)
    @torch.autocast("cpu", enabled=False)
    def forward(self, waves: torch.Tensor, lengths: torch.Tensor, warp: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """`warp` (B,): vocal-tract-length factors for training (1.0 = none)."""
        c = self.config
        power = self._power(waves.float())
        if warp is not None:
            power = warp_frequencies(power, warp.to(power.device, power.dtype))
        feats = torch.log(torch.matmul(self.filterbank, power) + 1e-6)
        frames = self.frame_lengths(lengths)
        mask = torch.arange(feats.shape[-1], device=feats.device)[None, :] < frames[:, None]
        if c.normalize == "utterance":
            feats = masked_normalize(feats, mask)
        return feats.masked_fill(~mask[:, None, :], 0.0), frames


    def _power(self, waves: torch.Tensor) -> torch.Tensor:
        """|STFT|^2, (B, n_fft // 2 + 1, T). Zero padding at both ends: an utterance gets the same features alone
        or padded in a batch."""
        c = self.config
        if self.dft is not None:
            padded = nn.functional.pad(waves[:, None, :], (c.n_fft // 2, c.n_fft // 2))
            parts = self.dft(padded)  # (B, 2 * bins, T): real parts, then imaginary parts
            bins = c.n_fft // 2 + 1
            return parts[:, :bins].square() + parts[:, bins:].square()
        spec = torch.stft(waves, c.n_fft, c.hop_length, c.win_length, self.window, center=True,
                          pad_mode="constant", return_complex=True)
        return spec.real.square() + spec.imag.square()

    def use_dft_conv(self) -> None:
        """Compute the STFT as a convolution with windowed DFT kernels: the same numbers (to float rounding)
        through operators every exporter knows (ONNX has no complex STFT output)."""
        c = self.config
        window = torch.zeros(c.n_fft, dtype=torch.float64)
        offset = (c.n_fft - c.win_length) // 2  # torch.stft centres a shorter window in the FFT frame
        window[offset: offset + c.win_length] = torch.hann_window(c.win_length, dtype=torch.float64)
        n = torch.arange(c.n_fft, dtype=torch.float64)
        k = torch.arange(c.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * torch.pi * k * n[None, :] / c.n_fft
        kernels = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window
        self.dft = nn.Conv1d(1, kernels.shape[0], c.n_fft, stride=c.hop_length, bias=False)
        self.dft.weight.data = kernels[:, None, :].float().to(self.window.device)
        self.dft.requires_grad_(False)


def warp_frequencies(power: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Vocal tract length perturbation: bin f of utterance b takes the power at f / factors[b] (linear
    interpolation), so a factor above 1 moves formants up. (B, F, T) in, (B, F, T) out."""
    bins = power.shape[1]
    source = torch.arange(bins, device=power.device, dtype=power.dtype)[None, :] / factors[:, None]
    source = source.clamp(0, bins - 1)
    low = source.floor().long()
    high = (low + 1).clamp(max=bins - 1)
    frac = (source - low.to(power.dtype))[:, :, None]
    take = lambda index: power.gather(1, index[:, :, None].expand(-1, -1, power.shape[2]))  # noqa: E731
    return take(low) * (1 - frac) + take(high) * frac


def masked_normalize(feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per (utterance, band) over the valid frames."""
    m = mask[:, None, :].to(feats.dtype)
    count = m.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (feats * m).sum(-1, keepdim=True) / count
    var = (((feats - mean) * m) ** 2).sum(-1, keepdim=True) / count
    return (feats - mean) / torch.sqrt(var + 1e-5)


@dataclass
class SpecAugmentConfig:
    freq_masks: int = field(default=2, metadata=limits(0))
    freq_width: int = field(default=15, metadata=limits(0))
    time_masks: int = field(default=2, metadata=limits(0))
    time_width: float = field(default=0.05, metadata=limits(0, 1))  # maximum width, fraction of the frames
    time_width_max: int = field(default=40, metadata=limits(0))  # and at most this many frames


class SpecAugment(nn.Module):
    """Frequency and time masking (Park et al., 2019), per utterance, batched; identity in eval mode."""

    def __init__(self, config: SpecAugmentConfig):
        super().__init__()
        self.config = config

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return feats
        c = self.config
        b, f, t = feats.shape
        keep = torch.ones_like(feats, dtype=torch.bool)
        bands = torch.arange(f, device=feats.device)[None, :]
        frames = torch.arange(t, device=feats.device)[None, :]
        for _ in range(c.freq_masks):
            width = torch.randint(0, c.freq_width + 1, (b, 1), device=feats.device)
            start = (torch.rand(b, 1, device=feats.device) * (f - width + 1)).long()
            keep &= ~((bands >= start) & (bands < start + width))[:, :, None]
        max_t = torch.clamp((lengths.float() * c.time_width).long(), max=c.time_width_max)[:, None]
        for _ in range(c.time_masks):
            width = (torch.rand(b, 1, device=feats.device) * (max_t + 1).float()).long()
            start = (torch.rand(b, 1, device=feats.device) * (lengths[:, None] - width + 1).clamp(min=1)).long()
            keep &= ~((frames >= start) & (frames < start + width))[:, None, :]
        return feats.masked_fill(~keep, 0.0)
