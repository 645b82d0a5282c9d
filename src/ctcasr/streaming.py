"""Streaming acoustic model: audio arrives in pieces of any size, CTC log-prob frames leave as soon as they are
final, and the frames equal those of the offline forward pass over the whole utterance (to float rounding).

Works for streamable DeepSpeech2 models (unidirectional or chunked bidirectional RNNs, features without
per-utterance statistics): every
stage before the RNNs is local in time, so a frame is final once the audio its receptive field covers has
arrived. Features are computed for new final frames from the audio they need; the convolutions run on the
feature frames their new outputs need (a window aligned to the total stride, so strides line up with the offline
pass); the RNNs continue from their saved state (chunked ones once a chunk and its right context have arrived);
the look-ahead row convolution waits for its future frames.
`finish()` flushes the end with the offline pass's zero padding and masks.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ctcasr.errors import UserError


def _layers(model) -> list[tuple[int, int]]:
    """(kernel, stride) in time of each convolution of the front end."""
    conv = model.encoder.conv
    return list(zip(conv.time_kernels, conv.time_strides, strict=True))


def check_streamable(model) -> None:
    """A UserError naming what stops `model` from streaming."""
    if model.arch != "deepspeech2" or not model.encoder.streamable:
        kind = "bidirectional" if model.arch == "deepspeech2" else "not a streaming architecture"
        raise UserError(f"this model ({model.arch}, {kind}) needs the whole utterance; streaming needs a "
                        "unidirectional or chunked (model.chunk) DeepSpeech2 model (e.g. recipes/an4_stream.yaml, "
                        "shipped as an4_stream)")
    if model.features.config.normalize != "none":
        raise UserError("this model normalises features per utterance (features.normalize: utterance), which "
                        "needs the whole utterance; streaming models use features.normalize: none")


def lookahead_seconds(model) -> float:
    """Algorithmic look-ahead: how much audio past a frame's own must arrive before the frame is final."""
    c = model.features.config
    conv_right = 0
    for kernel, stride in reversed(_layers(model)):
        conv_right = conv_right * stride + kernel // 2
    m = model.encoder.config
    lookahead = m.lookahead * model.frame_seconds
    if m.chunk:  # the first frame of a chunk waits for the rest of it and its right context
        lookahead += (m.chunk - 1 + m.right_context) * model.frame_seconds
    return (c.n_fft // 2 + conv_right * c.hop_length) / c.sample_rate + lookahead


class AcousticStream:
    """`accept(samples)` -> new final (T, V) log-prob frames; `finish()` -> the rest. One utterance per object."""

    def __init__(self, model):
        check_streamable(model)
        self.model = model.eval()
        self.config = model.features.config
        self.layers = _layers(model)
        self.stride = math.prod(s for _, s in self.layers)
        self.device = next(model.parameters()).device
        self.audio = np.zeros(0, dtype=np.float32)
        self.audio_start = 0  # global index of self.audio[0]
        self.samples = 0  # samples received
        self.feats = torch.zeros(self.config.n_mels, 0)  # feature frames kept (for the convolutions' context)
        self.feats_start = 0  # global index of self.feats[:, 0]
        self.conv_done = 0  # conv output frames already passed on
        self.states: list = [None] * len(model.encoder.rnns)
        self.unchunked = torch.zeros(0, model.encoder.conv.output_size)  # conv frames waiting for a whole chunk
        self.pending = torch.zeros(0, 0)  # RNN outputs waiting for the look-ahead's future frames
        self.pending_start = 0
        self.emitted = 0  # log-prob frames returned
        self.finished = False

    # ---- the receptive field of the convolutions, in feature frames
    def _span(self, j: int) -> tuple[int, int]:
        """First and last feature frame that conv output j depends on."""
        low = high = j
        for kernel, stride in reversed(self.layers):
            low, high = low * stride - kernel // 2, high * stride + kernel // 2
        return low, high

    def accept(self, samples: np.ndarray) -> np.ndarray:
        if self.finished:
            raise UserError("this stream is finished; start a new one")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.audio = np.concatenate([self.audio, samples])
        self.samples += samples.size
        c = self.config
        ready = (self.samples - c.n_fft // 2) // c.hop_length + 1 if self.samples >= c.n_fft // 2 else 0
        return self._advance(ready, end=False)

    def finish(self) -> np.ndarray:
        """The remaining frames, computed with the zero padding and masks of the offline pass at the end."""
        if self.finished:
            return np.zeros((0, len(self.model.tokenizer)), dtype=np.float32)
        out = self._advance(self.samples // self.config.hop_length + 1, end=True)
        self.finished = True
        return out

    @torch.inference_mode()
    def _advance(self, feature_frames: int, end: bool) -> np.ndarray:
        self._features_until(feature_frames, end)
        total = self.feats_start + self.feats.shape[1]
        if end:
            lengths = torch.tensor([total])
            last = int(self.model.encoder.conv.output_lengths(lengths)[0])
        else:
            last = self.conv_done
            while self._span(last)[1] < total:
                last += 1
        frames = self._conv(self.conv_done, last, total, end)
        self.conv_done = last
        x = frames
        if self.model.encoder.config.chunk:
            x = self._chunks(frames[0], end)
        elif x.shape[1] == 0:
            x = torch.zeros(1, 0, self.model.encoder.output_size)
        else:
            for i, layer in enumerate(self.model.encoder.rnns):
                x, self.states[i] = layer.step(x, self.states[i])
        return self._head(x[0], end)

    def _chunks(self, frames: torch.Tensor, end: bool) -> torch.Tensor:
        """Chunked bidirectional RNNs: (1, T, D) outputs for every chunk whose right context has arrived."""
        chunk, right = self.model.encoder.config.chunk, self.model.encoder.config.right_context
        waiting = torch.cat([self.unchunked, frames])
        outputs = [torch.zeros(0, self.model.encoder.output_size)]
        while waiting.shape[0] >= chunk + right or (end and waiting.shape[0] > 0):
            x, context = waiting[None, :chunk], waiting[chunk: chunk + right]
            lengths = torch.tensor([x.shape[1] + context.shape[0]])
            context = torch.nn.functional.pad(context, (0, 0, 0, right - context.shape[0]))[None, None]
            for i, layer in enumerate(self.model.encoder.rnns):
                x, context, self.states[i] = layer.chunked(x, context, lengths, chunk, self.states[i])
            outputs.append(x[0])
            waiting = waiting[chunk:]
        self.unchunked = waiting
        return torch.cat(outputs)[None]

    def _features_until(self, count: int, end: bool) -> None:
        """Compute feature frames up to `count` (global) from the audio they need."""
        c = self.config
        have = self.feats_start + self.feats.shape[1]
        if count <= have:
            return
        context = -(-(c.n_fft // 2) // c.hop_length)  # frames whose window starts before the segment
        first = max(0, have - context)
        start = first * c.hop_length  # a hop boundary: segment frame m is global frame first + m
        if start < self.audio_start:
            raise RuntimeError("audio needed for a feature frame was dropped")  # an internal invariant
        segment = torch.from_numpy(self.audio[start - self.audio_start:]).to(self.device)
        feats, _ = self.model.features(segment[None], torch.tensor([segment.numel()], device=self.device))
        feats = feats[0, :, have - first: count - first].cpu()
        self.feats = torch.cat([self.feats, feats], dim=1)
        # keep only what later frames need: audio from the next frame's context, features for the convolutions
        keep_audio = max(0, (count - context) * c.hop_length)
        self.audio = self.audio[max(0, keep_audio - self.audio_start):]
        self.audio_start = max(self.audio_start, keep_audio)
        if not end:
            keep = max(0, self._span(self.conv_done)[0] // self.stride * self.stride - self.feats_start)
            keep = min(keep, self.feats.shape[1])
            self.feats, self.feats_start = self.feats[:, keep:], self.feats_start + keep

    def _conv(self, first: int, last: int, total: int, end: bool) -> torch.Tensor:
        """Conv outputs [first, last) as (1, T, D), from a window of feature frames aligned to the stride."""
        conv = self.model.encoder.conv
        if last <= first:
            return torch.zeros(1, 0, conv.output_size)
        low = max(0, self._span(first)[0])
        start = low // self.stride * self.stride
        stop = total if end else min(total, self._span(last - 1)[1] + 1)
        window = self.feats[:, start - self.feats_start: stop - self.feats_start].to(self.device)
        out, _ = conv(window[None], torch.tensor([window.shape[1]], device=self.device))
        offset = start // self.stride
        return out[:, first - offset: last - offset]

    def _output(self, x: torch.Tensor) -> np.ndarray:
        """Encoder outputs (T, D) -> log-probs (T, V): the encoder's last normalisation, then the CTC head."""
        if x.shape[0] == 0:
            return np.zeros((0, len(self.model.tokenizer)), dtype=np.float32)
        return self.model.head(self.model.encoder.out_norm(x[None]))[0].cpu().numpy()

    def _head(self, x: torch.Tensor, end: bool) -> np.ndarray:
        """Look-ahead (when the model has one) and output layer for the frames whose future has arrived."""
        lookahead = self.model.encoder.lookahead
        if lookahead is None:
            return self._output(x)
        pending = x if self.pending.numel() == 0 else torch.cat([self.pending, x])
        ready = pending.shape[0] if end else max(0, pending.shape[0] - lookahead.frames)
        if ready == 0:
            self.pending = pending
            return np.zeros((0, len(self.model.tokenizer)), dtype=np.float32)
        mixed = lookahead(pending[None])[0, :ready]  # zero past the end: exact for final frames and at the end
        self.pending = pending[ready:] if not end else pending[:0]
        return self._output(mixed)
