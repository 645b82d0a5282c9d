"""DeepSpeech2 (Amodei et al., 2016): 2-D convolutions striding over time, then (bi)directional RNNs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ctcasr.errors import UserError
from ctcasr.models.encoder import Encoder, length_mask
from ctcasr.schema import limits


@dataclass
class DeepSpeech2Config:
    conv_channels: list[int] = field(default_factory=lambda: [32, 32], metadata=limits(1))
    conv_kernels: list[list[int]] = field(default_factory=lambda: [[41, 11], [21, 11]])  # (freq, time)
    conv_strides: list[list[int]] = field(default_factory=lambda: [[2, 2], [2, 1]])
    activation: str = field(default="hardtanh", metadata=limits(choices=("hardtanh", "relu")))  # hardtanh: 0..20
    rnn_type: str = field(default="gru", metadata=limits(choices=("gru", "lstm")))
    rnn_hidden: int = field(default=800, metadata=limits(1))
    rnn_layers: int = field(default=5, metadata=limits(0))
    bidirectional: bool = True
    rnn_norm: str = field(default="layer", metadata=limits(choices=("layer", "none")))  # before each RNN layer
    dropout: float = field(default=0.0, metadata=limits(0, 1, high_open=True))
    lookahead: int = field(default=0, metadata=limits(0, 100))  # frames of future context after the RNNs (a
    #                       row convolution, DeepSpeech2 paper section 3.5); for unidirectional, streaming models
    chunk: int = field(default=0, metadata=limits(0, 1000))  # bidirectional GRUs whose backward direction sees
    #                       only its chunk of this many output frames plus `right_context` (latency-controlled
    #                       BRNN, Zhang et al. 2016): streamable with bounded look-ahead; 0 = the whole utterance
    right_context: int = field(default=0, metadata=limits(0, 1000))  # frames past each chunk, in every layer

    def validate(self) -> None:
        """Checks across fields: one kernel and one stride pair per conv layer, all positive."""
        n = len(self.conv_channels)
        if n == 0 or len(self.conv_kernels) != n or len(self.conv_strides) != n:
            raise UserError(f"model: conv_channels, conv_kernels and conv_strides need one entry per conv layer "
                            f"(got {n}, {len(self.conv_kernels)}, {len(self.conv_strides)})")
        for name, pairs in (("conv_kernels", self.conv_kernels), ("conv_strides", self.conv_strides)):
            if any(len(p) != 2 or min(p) < 1 for p in pairs):
                raise UserError(f"model.{name} must be [frequency, time] pairs of positive whole numbers, "
                                f"got {pairs}")
        if self.chunk and not (self.bidirectional and self.rnn_type == "gru"):
            raise UserError("model.chunk needs bidirectional GRUs (model.bidirectional: true, model.rnn_type: gru)")
        if self.right_context and not self.chunk:
            raise UserError("model.right_context needs model.chunk (the chunk it is the future of)")


def conv_output_length(lengths: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    padding = kernel // 2
    return torch.div(lengths + 2 * padding - kernel, stride, rounding_mode="floor") + 1


class ConvFrontEnd(nn.Module):
    """Conv2d + BatchNorm + activation blocks; each block's output is zeroed past every utterance's length,
    so an utterance gives the same output alone or padded in a batch."""

    def __init__(self, config: DeepSpeech2Config, n_mels: int):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.time_kernels, self.time_strides = [], []
        channels, freq = 1, n_mels
        for out, (kf, kt), (sf, st) in zip(config.conv_channels, config.conv_kernels, config.conv_strides,
                                           strict=True):
            self.blocks.append(nn.Sequential(
                nn.Conv2d(channels, out, (kf, kt), (sf, st), (kf // 2, kt // 2), bias=False),
                nn.BatchNorm2d(out), _activation(config.activation)))
            channels = out
            freq = (freq + 2 * (kf // 2) - kf) // sf + 1
            self.time_kernels.append(kt)
            self.time_strides.append(st)
        self.output_size = channels * freq
        # oneDNN runs these convs 2-3x faster channels-last on CPU (the first one too, given its weight in that
        # format; same maths): the weights are stored channels-last and every block's input is made so
        self.blocks.to(memory_format=torch.channels_last)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for kernel, stride in zip(self.time_kernels, self.time_strides, strict=True):
            lengths = conv_output_length(lengths, kernel, stride)
        return lengths

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = feats.unsqueeze(1)  # (B, 1, F, T)
        for block, kernel, stride in zip(self.blocks, self.time_kernels, self.time_strides, strict=True):
            x = block(x.contiguous(memory_format=torch.channels_last))
            lengths = conv_output_length(lengths, kernel, stride)
            mask = torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]
            x = x.masked_fill(~mask[:, None, None, :], 0.0)
        b, c, f, t = x.shape
        return x.reshape(b, c * f, t).transpose(1, 2), lengths  # (B, T', C*F')


def _activation(name: str) -> nn.Module:
    return nn.Hardtanh(0.0, 20.0, inplace=True) if name == "hardtanh" else nn.ReLU(inplace=True)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of (B, T, D) within its own length; padding stays at the end (an involution)."""
    steps = torch.arange(x.shape[1], device=x.device)[None, :]
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2]))


class RNNLayer(nn.Module):
    """LayerNorm + a (bi)directional GRU or LSTM over padded batches.

    No packed sequences: the forward direction runs over the padded batch (trailing padding cannot reach the
    valid frames of a causal RNN) and the backward direction over each utterance reversed within its length,
    so outputs equal the packed computation while the CPU backward pass avoids per-step zero-filled gradients of
    the whole packed tensor (2x faster on CPU). Outputs past each utterance's length are zero.
    """

    def __init__(self, input_size: int, config: DeepSpeech2Config):
        super().__init__()
        self.norm = nn.LayerNorm(input_size) if config.rnn_norm == "layer" else nn.Identity()
        rnn = nn.GRU if config.rnn_type == "gru" else nn.LSTM
        self.rnn = rnn(input_size, config.rnn_hidden, batch_first=True)
        self.rnn_reverse = rnn(input_size, config.rnn_hidden, batch_first=True) if config.bidirectional else None
        self.dropout = nn.Dropout(config.dropout)
        self._register_load_state_dict_pre_hook(self._from_bidirectional)

    @staticmethod
    def _from_bidirectional(state_dict, prefix, *args) -> None:
        """Checkpoints written before the split kept both directions in one module (`rnn.*_reverse`)."""
        for key in [k for k in state_dict if k.startswith(prefix + "rnn.") and k.endswith("_reverse")]:
            name = key[len(prefix + "rnn."):-len("_reverse")]
            state_dict[f"{prefix}rnn_reverse.{name}"] = state_dict.pop(key)

    def step(self, x: torch.Tensor, state: torch.Tensor | tuple | None) -> tuple[torch.Tensor, object]:
        """Unidirectional layers only: the next frames (B, T, D) of a stream, given the state the previous
        frames left (None at the start); returns the outputs and the new state."""
        out, state = self.rnn(self.norm(x), state)
        return self.dropout(out), state

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        out, _ = self.rnn(x)
        if self.rnn_reverse is not None:
            back, _ = self.rnn_reverse(reverse_padded(x, lengths))
            out = torch.cat([out, reverse_padded(back, lengths)], dim=-1)
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
        return self.dropout(out.masked_fill(~mask[:, :, None], 0.0))

    def chunked(self, x: torch.Tensor, context: torch.Tensor, lengths: torch.Tensor, chunk: int,
                state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latency-controlled bidirectional layer over frames x (B, T, D) cut into chunks of `chunk` frames,
        with each chunk's right context (B, K, R, D) as the layer below computed it for that chunk.

        The forward direction runs over x from `state` (a stream's carried state; None = zeros), and over each
        chunk's context from the state at the chunk's end; the backward direction runs over each chunk plus its
        context from zeros. Returns the outputs for x, the outputs for the contexts (the next layer's
        contexts) and the forward state after x. A stream that feeds one chunk at a time gets what one call
        over the whole utterance gives.
        """
        batch, steps, _ = x.shape
        count, right = context.shape[1], context.shape[2]
        lengths = lengths.to(x.device)
        x, context = self.norm(x), self.norm(context)
        forward, last = self.rnn(x, state)
        hidden = forward.shape[-1]
        starts = torch.arange(count, device=x.device) * chunk
        # constant padding (enough for any length), so an exported graph keeps every shape symbolic
        windows = _frames(x, starts, chunk, chunk).reshape(batch, count, chunk, -1)
        windows = torch.cat([windows, context], dim=2).reshape(batch * count, chunk + right, -1)
        valid = (lengths[:, None] - starts).clamp(0, chunk + right).reshape(-1)
        back, _ = self.rnn_reverse(reverse_padded(windows, valid))
        back = reverse_padded(back, valid).reshape(batch, count, chunk + right, hidden)
        out = torch.cat([forward, back[:, :, :chunk].reshape(batch, count * chunk, hidden)[:, :steps]], dim=-1)
        out = out.masked_fill(~length_mask(lengths, steps)[:, :, None], 0.0)
        if right:
            start_state = _frames(forward, starts + chunk - 1, 1, chunk).reshape(1, batch * count, hidden)
            ahead, _ = self.rnn(context.reshape(batch * count, right, -1), start_state.contiguous())
            ahead = torch.cat([ahead.reshape(batch, count, right, hidden), back[:, :, chunk:]], dim=-1)
            positions = (starts[:, None] + chunk + torch.arange(right, device=x.device)).reshape(-1)
            inside = positions[None, :] < lengths[:, None]
            context = ahead.masked_fill(~inside.reshape(batch, count, right, 1), 0.0)
        else:
            context = torch.zeros(batch, count, 0, 2 * hidden, device=x.device)
        return self.dropout(out), self.dropout(context), last


def _frames(x: torch.Tensor, starts: torch.Tensor, width: int, pad: int) -> torch.Tensor:
    """(B, T, D) -> (B, len(starts) * width, D): frames starts[k] .. starts[k] + width - 1 for each k, zeros past
    the end (at most `pad` frames past it)."""
    index = (starts[:, None] + torch.arange(width, device=x.device)[None, :]).reshape(-1)
    return nn.functional.pad(x, (0, 0, 0, pad)).index_select(1, index)


def chunk_contexts(x: torch.Tensor, chunk: int, right: int) -> torch.Tensor:
    """(B, T, D) -> (B, K, R, D): the `right` frames after each of the K = ceil(T / chunk) chunks (zeros past
    the end), the right contexts of a latency-controlled bidirectional RNN's first layer."""
    batch, steps, size = x.shape
    count = (steps + chunk - 1) // chunk
    starts = torch.arange(count, device=x.device) * chunk + chunk
    return _frames(x, starts, right, chunk + right).reshape(batch, count, right, size)


class Lookahead(nn.Module):
    """Row convolution: output t mixes inputs t .. t + `frames` channel by channel (zero past the end)."""

    def __init__(self, channels: int, frames: int):
        super().__init__()
        self.frames = frames
        self.conv = nn.Conv1d(channels, channels, frames + 1, groups=channels, bias=False)
        nn.init.zeros_(self.conv.weight)
        with torch.no_grad():
            self.conv.weight[:, 0, 0] = 1.0  # starts as the identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C); inputs past each utterance's length must already be zero."""
        padded = nn.functional.pad(x.transpose(1, 2), (0, self.frames))
        return self.conv(padded).transpose(1, 2)


class DeepSpeech2(Encoder):
    """Features (B, F, T) with lengths -> encodings (B, T', D) with lengths T' (layer-normalised RNN outputs)."""

    def __init__(self, config: DeepSpeech2Config, n_mels: int):
        super().__init__()
        self.config = config
        self.conv = ConvFrontEnd(config, n_mels)
        size = self.conv.output_size
        directions = 2 if config.bidirectional else 1
        self.rnns = nn.ModuleList()
        for _ in range(config.rnn_layers):
            self.rnns.append(RNNLayer(size, config))
            size = config.rnn_hidden * directions
        self.lookahead = Lookahead(size, config.lookahead) if config.lookahead else None
        self.out_norm = nn.LayerNorm(size) if config.rnn_norm == "layer" else nn.Identity()
        self.output_size = size

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.conv.output_lengths(lengths)

    @property
    def time_stride(self) -> int:
        """Feature frames per output frame."""
        return math.prod(self.conv.time_strides)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = self.conv(feats, lengths)
        if self.config.chunk:
            context = chunk_contexts(x, self.config.chunk, self.config.right_context)
            for layer in self.rnns:
                x, context, _ = layer.chunked(x, context, lengths, self.config.chunk)
        else:
            for layer in self.rnns:
                x = layer(x, lengths)
        if self.lookahead is not None:
            x = self.lookahead(x)
        return self.out_norm(x), lengths

    @property
    def streamable(self) -> bool:
        """Unidirectional or chunked: every output frame sees a bounded future (convolutions, chunk, look-ahead)."""
        return not self.config.bidirectional or self.config.chunk > 0
