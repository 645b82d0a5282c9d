"""The whole recogniser: waveform -> log-mel features -> acoustic model -> CTC log-probs, plus its tokenizer."""

from __future__ import annotations

import torch
from torch import nn

from ctcasr.features import FeatureConfig, LogMel
from ctcasr.models import build_model
from ctcasr.models.deepspeech2 import DeepSpeech2Config
from ctcasr.text import CharTokenizer


class ASRModel(nn.Module):
    def __init__(self, arch: str, model_config: DeepSpeech2Config, features: FeatureConfig,
                 tokenizer: CharTokenizer):
        super().__init__()
        self.arch = arch
        self.tokenizer = tokenizer
        self.features = LogMel(features)
        self.encoder = build_model(arch, model_config, features.n_mels, len(tokenizer))

    @property
    def sample_rate(self) -> int:
        return self.features.config.sample_rate

    @property
    def frame_seconds(self) -> float:
        """Seconds between two output (log-prob) frames: the feature hop times the encoder's time strides."""
        return self.features.config.hop_length * self.encoder.time_stride / self.sample_rate

    def forward(self, waves: torch.Tensor, wave_lens: torch.Tensor, spec_augment: nn.Module | None = None,
                warp: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        feats, frames = self.features(waves, wave_lens, warp)
        if spec_augment is not None:
            feats = spec_augment(feats, frames)
        return self.encoder(feats, frames)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
