"""The whole recogniser: waveform -> log-mel features -> encoder -> CTC head -> log-probs, plus its tokenizer."""

from __future__ import annotations

import torch
from torch import nn

from ctcasr.features import FeatureConfig, LogMel
from ctcasr.models import CTCHead, build_encoder


class ASRModel(nn.Module):
    def __init__(self, arch: str, model_config, features: FeatureConfig, tokenizer):
        super().__init__()
        self.arch = arch
        self.tokenizer = tokenizer
        self.features = LogMel(features)
        self.encoder = build_encoder(arch, model_config, features.n_mels)
        self.head = CTCHead(self.encoder.output_size, len(tokenizer))

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
        encodings, lengths = self.encoder(feats, frames)
        return self.head(encodings), lengths

    def weights(self) -> dict[str, torch.Tensor]:
        """The trained tensors (encoder and head; the features have no trained parameters)."""
        return {k: v.detach().cpu() for k, v in self.state_dict().items() if not k.startswith("features.")}

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
