"""The encoder interface every model family implements, the CTC head, and padding helpers.

An encoder maps features (B, F, T) with lengths to encodings (B, T', D) with lengths T'; `time_stride` is how many
feature frames one encoding frame covers and `output_size` is D. The CTC head (a linear projection and a
log-softmax) is separate, so a family never knows the vocabulary. Padding must never change an utterance's
output: every time-mixing layer sees zeros (or a mask) past each utterance's length.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Encoder(nn.Module):
    """Base class of the model families; subclasses set `config`, `output_size`, `time_stride`."""

    config: Any
    output_size: int
    time_stride: int

    @property
    def streamable(self) -> bool:
        """Whether every output frame depends on a bounded future (for `ctcasr transcribe --stream`)."""
        return False

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class CTCHead(nn.Module):
    """Encodings (B, T, D) -> CTC log-probabilities (B, T, V), float32 whatever the autocast."""

    def __init__(self, size: int, vocab_size: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(size, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(x)).float().log_softmax(dim=-1)


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, steps) True where a frame is inside its utterance."""
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def conv_lengths(lengths: torch.Tensor, kernel: int, stride: int = 1, padding: int | None = None,
                 dilation: int = 1) -> torch.Tensor:
    """Output lengths of a 1-D convolution ("same" padding unless given)."""
    padding = dilation * (kernel - 1) // 2 if padding is None else padding
    return torch.div(lengths + 2 * padding - dilation * (kernel - 1) - 1, stride, rounding_mode="floor") + 1
