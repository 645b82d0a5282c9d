"""QuartzNet / Jasper (Kriman et al. 2020; Li et al. 2019): blocks of 1-D convolutions over time.

A block repeats `repeat` times [depthwise conv over time (or a full conv when `separable` is false), pointwise
conv, BatchNorm, ReLU, dropout]; its input, through a pointwise conv and BatchNorm, is added before the last ReLU.
The encoder is a prolog block (strided), the body blocks (each repeated `block_repeat` times: QuartzNet 15x5 is
5 blocks x 3), and the epilog blocks. Inputs are zeroed past each utterance's length before every convolution
over time, so an utterance's output does not depend on its batch.
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
class BlockConfig:
    channels: int = field(default=256, metadata=limits(1))
    kernel: int = field(default=33, metadata=limits(1))
    repeat: int = field(default=5, metadata=limits(1))  # R: sub-blocks in the block
    stride: int = field(default=1, metadata=limits(1))
    dilation: int = field(default=1, metadata=limits(1))
    separable: bool = True  # depthwise + pointwise (QuartzNet) or one full convolution (Jasper)
    residual: bool = True
    dropout: float = field(default=0.0, metadata=limits(0, 1, high_open=True))


def _default_body() -> list[BlockConfig]:
    return [BlockConfig(256, 33), BlockConfig(256, 39), BlockConfig(512, 51), BlockConfig(512, 63),
            BlockConfig(512, 75)]


@dataclass
class QuartzNetConfig:
    prolog: BlockConfig = field(default_factory=lambda: BlockConfig(256, 33, 1, stride=2, residual=False))
    body: list[BlockConfig] = field(default_factory=_default_body)
    block_repeat: int = field(default=1, metadata=limits(1))  # S: each body block is repeated S times
    epilog: list[BlockConfig] = field(default_factory=lambda: [
        BlockConfig(512, 87, 1, dilation=2, residual=False), BlockConfig(1024, 1, 1, residual=False)])

    def validate(self) -> None:
        for i, block in enumerate([self.prolog, *self.body, *self.epilog]):
            if block.kernel % 2 == 0:
                raise UserError(f"model.encoder: block {i} has an even kernel ({block.kernel}); QuartzNet's "
                                "'same' padding needs odd kernels")
        if any(b.stride > 1 for b in [*self.body, *self.epilog]):
            raise UserError("model.encoder: only the prolog may stride (body and epilog blocks keep the frame rate)")


class SubBlock(nn.Module):
    """Conv over time (depthwise + pointwise, or full) and BatchNorm; activation left to the caller."""

    def __init__(self, c_in: int, c_out: int, block: BlockConfig):
        super().__init__()
        self.kernel, self.stride, self.dilation = block.kernel, block.stride, block.dilation
        padding = block.dilation * (block.kernel - 1) // 2
        if block.separable:
            self.conv = nn.Sequential(
                nn.Conv1d(c_in, c_in, block.kernel, block.stride, padding, block.dilation, groups=c_in, bias=False),
                nn.Conv1d(c_in, c_out, 1, bias=False))
        else:
            self.conv = nn.Conv1d(c_in, c_out, block.kernel, block.stride, padding, block.dilation, bias=False)
        self.norm = nn.BatchNorm1d(c_out, eps=1e-3, momentum=0.1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.masked_fill(~length_mask(lengths, x.shape[-1])[:, None, :], 0.0)
        lengths = conv_lengths(lengths, self.kernel, self.stride, dilation=self.dilation)
        return self.norm(self.conv(x)), lengths


class Block(nn.Module):
    def __init__(self, c_in: int, block: BlockConfig):
        super().__init__()
        self.subs = nn.ModuleList(SubBlock(c_in if i == 0 else block.channels, block.channels, block)
                                  for i in range(block.repeat))
        self.residual = nn.Sequential(nn.Conv1d(c_in, block.channels, 1, bias=False),
                                      nn.BatchNorm1d(block.channels, eps=1e-3)) if block.residual else None
        self.dropout = nn.Dropout(block.dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = x
        for i, sub in enumerate(self.subs):
            x, lengths = sub(x, lengths)
            if i == len(self.subs) - 1 and self.residual is not None:
                x = x + self.residual(skip)
            x = self.dropout(torch.relu(x))
        return x, lengths


class QuartzNet(Encoder):
    def __init__(self, config: QuartzNetConfig, n_mels: int):
        super().__init__()
        self.config = config
        specs = [config.prolog, *[b for b in config.body for _ in range(config.block_repeat)], *config.epilog]
        self.blocks = nn.ModuleList()
        channels = n_mels
        for spec in specs:
            self.blocks.append(Block(channels, spec))
            channels = spec.channels
        self.output_size = channels
        self._convs = [(s.kernel, s.stride, s.dilation) for s in specs for _ in range(s.repeat)]
        self.time_stride = math.prod(s for _, s, _ in self._convs)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for kernel, stride, dilation in self._convs:
            lengths = conv_lengths(lengths, kernel, stride, dilation=dilation)
        return lengths

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = feats
        for block in self.blocks:
            x, lengths = block(x, lengths)
        x = x.masked_fill(~length_mask(lengths, x.shape[-1])[:, None, :], 0.0)
        return x.transpose(1, 2), lengths
