"""Conformer (Gulati et al. 2020) for CTC: convolutional subsampling, then blocks of macaron feed-forward,
relative-position multi-head self-attention (Transformer-XL style), a convolution module and a final LayerNorm.

Padding: attention never looks at keys past an utterance's length, the convolution module zeroes padded frames
before its depthwise convolution, and the subsampling's valid outputs read only valid inputs, so an utterance gives
the same output alone or in a batch. `attention.left_context`/`right_context` limit what a frame attends to
(-1: unlimited).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ctcasr.errors import UserError
from ctcasr.models.encoder import Encoder, conv_lengths, length_mask
from ctcasr.schema import limits


@dataclass
class SubsamplingConfig:
    channels: int = field(default=144, metadata=limits(1))
    layers: int = field(default=2, metadata=limits(1, 3))  # each a 3x3 Conv2d striding 2 in time and frequency


@dataclass
class AttentionConfig:
    heads: int = field(default=4, metadata=limits(1))
    dropout: float = field(default=0.1, metadata=limits(0, 1, high_open=True))
    left_context: int = field(default=-1, metadata=limits(-1))  # frames to the left a frame sees; -1: all
    right_context: int = field(default=-1, metadata=limits(-1))  # frames to the right; -1: all


@dataclass
class ConformerConfig:
    d_model: int = field(default=144, metadata=limits(1))
    layers: int = field(default=16, metadata=limits(1))
    ff_mult: int = field(default=4, metadata=limits(1))
    conv_kernel: int = field(default=31, metadata=limits(1))
    dropout: float = field(default=0.1, metadata=limits(0, 1, high_open=True))
    subsampling: SubsamplingConfig = field(default_factory=SubsamplingConfig)
    attention: AttentionConfig = field(default_factory=AttentionConfig)

    def validate(self) -> None:
        if self.d_model % self.attention.heads:
            raise UserError(f"model.encoder.d_model ({self.d_model}) must be a multiple of "
                            f"model.encoder.attention.heads ({self.attention.heads})")
        if self.conv_kernel % 2 == 0:
            raise UserError(f"model.encoder.conv_kernel must be odd, got {self.conv_kernel}")


class Subsampling(nn.Module):
    """(B, F, T) features -> (B, T', d): Conv2d(3x3, stride 2) + ReLU layers, then a linear projection."""

    def __init__(self, config: SubsamplingConfig, n_mels: int, d_model: int):
        super().__init__()
        layers, channels, freq = [], 1, n_mels
        for _ in range(config.layers):
            layers += [nn.Conv2d(channels, config.channels, 3, 2), nn.ReLU()]
            channels, freq = config.channels, (freq - 3) // 2 + 1
        if freq < 1:
            raise UserError(f"model.encoder.subsampling: {config.layers} layers leave no frequency bins of "
                            f"{n_mels} mel bands")
        self.convs = nn.Sequential(*layers)
        self.layers = config.layers
        self.project = nn.Linear(channels * freq, d_model)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for _ in range(self.layers):
            lengths = conv_lengths(lengths, 3, 2, padding=0)
        return lengths

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.convs(feats.unsqueeze(1))  # (B, C, F', T')
        b, c, f, t = x.shape
        return self.project(x.permute(0, 3, 1, 2).reshape(b, t, c * f)), self.output_lengths(lengths)


def relative_positions(steps: int, d_model: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal encodings (2T-1, d) of relative positions T-1, T-2, ..., -(T-1)."""
    positions = torch.arange(steps - 1, -steps, -1, device=device, dtype=torch.float32)[:, None]
    freqs = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(1e4) / d_model))
    enc = torch.zeros(2 * steps - 1, d_model, device=device)
    enc[:, 0::2] = torch.sin(positions * freqs)
    enc[:, 1::2] = torch.cos(positions * freqs)[:, : d_model // 2]
    return enc


class RelPositionAttention(nn.Module):
    """Multi-head self-attention with relative position scores and the learned biases u, v of Transformer-XL."""

    def __init__(self, d_model: int, config: AttentionConfig):
        super().__init__()
        self.heads, self.dk = config.heads, d_model // config.heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.pos = nn.Linear(d_model, d_model, bias=False)
        self.bias_u = nn.Parameter(torch.zeros(self.heads, self.dk))
        self.bias_v = nn.Parameter(torch.zeros(self.heads, self.dk))
        nn.init.xavier_uniform_(self.bias_u)
        nn.init.xavier_uniform_(self.bias_v)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """x (B, T, d), pos (2T-1, d), allowed (B, T, T): True where query t may attend to key s."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.dk).unbind(2)  # each (B, T, H, dk)
        k, v = k.transpose(1, 2), v.transpose(1, 2)
        p = self.pos(pos).view(2 * t - 1, self.heads, self.dk).permute(1, 2, 0)  # (H, dk, 2T-1)
        content = ((q + self.bias_u).transpose(1, 2)) @ k.transpose(-2, -1)  # (B, H, T, T)
        position = ((q + self.bias_v).transpose(1, 2)) @ p  # (B, H, T, 2T-1), column c = relative T-1-c
        steps = torch.arange(t, device=x.device)
        index = (t - 1 - steps[:, None] + steps[None, :]).expand(b, self.heads, t, t)  # relative i - j
        scores = (content + position.gather(-1, index)) / math.sqrt(self.dk)
        scores = scores.masked_fill(~allowed[:, None], torch.finfo(scores.dtype).min)
        weights = self.dropout(scores.softmax(-1).masked_fill(~allowed[:, None], 0.0))
        return self.out((weights @ v).transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    def __init__(self, d_model: int, mult: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, mult * d_model), nn.SiLU(),
                                 nn.Dropout(dropout), nn.Linear(mult * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    """LayerNorm, pointwise conv + GLU, depthwise conv over time, BatchNorm, SiLU, pointwise conv, dropout."""

    def __init__(self, d_model: int, kernel: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.expand = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = nn.Conv1d(d_model, d_model, kernel, padding=kernel // 2, groups=d_model)
        self.batch_norm = nn.BatchNorm1d(d_model)
        self.project = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        y = nn.functional.glu(self.expand(self.norm(x).transpose(1, 2)), dim=1)
        y = y.masked_fill(~valid[:, None, :], 0.0)
        y = nn.functional.silu(self.batch_norm(self.depthwise(y)))
        return self.dropout(self.project(y).transpose(1, 2))


class ConformerBlock(nn.Module):
    def __init__(self, config: ConformerConfig):
        super().__init__()
        d = config.d_model
        self.ff1 = FeedForward(d, config.ff_mult, config.dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = RelPositionAttention(d, config.attention)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.conv = ConvModule(d, config.conv_kernel, config.dropout)
        self.ff2 = FeedForward(d, config.ff_mult, config.dropout)
        self.out_norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, allowed: torch.Tensor, valid: torch.Tensor):
        x = x + 0.5 * self.ff1(x)
        x = x + self.attn_dropout(self.attn(self.attn_norm(x), pos, allowed))
        x = x + self.conv(x, valid)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x)


class Conformer(Encoder):
    def __init__(self, config: ConformerConfig, n_mels: int):
        super().__init__()
        self.config = config
        self.subsampling = Subsampling(config.subsampling, n_mels, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(ConformerBlock(config) for _ in range(config.layers))
        self.output_size = config.d_model
        self.time_stride = 2 ** config.subsampling.layers

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.subsampling.output_lengths(lengths)

    def attention_mask(self, lengths: torch.Tensor, steps: int) -> torch.Tensor:
        """(B, T, T): valid keys, within the configured left and right context of each query."""
        allowed = length_mask(lengths, steps)[:, None, :].expand(-1, steps, -1)
        left, right = self.config.attention.left_context, self.config.attention.right_context
        if left >= 0 or right >= 0:
            index = torch.arange(steps, device=lengths.device)
            offset = index[None, :] - index[:, None]  # key - query
            band = torch.ones(steps, steps, dtype=torch.bool, device=lengths.device)
            if left >= 0:
                band &= offset >= -left
            if right >= 0:
                band &= offset <= right
            allowed = allowed & band
        return allowed

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = self.subsampling(feats, lengths)
        x = self.dropout(x)
        steps = x.shape[1]
        pos = relative_positions(steps, self.config.d_model, x.device).to(x.dtype)
        valid = length_mask(lengths, steps)
        allowed = self.attention_mask(lengths, steps)
        for block in self.blocks:
            x = block(x, pos, allowed, valid)
        return x.masked_fill(~valid[:, :, None], 0.0), lengths
