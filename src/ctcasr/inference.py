"""Batched recognition of waveforms with a loaded model: padding, device, decoding."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ctcasr.audio import load
from ctcasr.data.dataset import DurationBatchSampler, pad_batch
from ctcasr.data.manifest import Utterance
from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.errors import UserError
from ctcasr.models.asr import ASRModel


def pick_device(device: str = "auto") -> torch.device:
    """`auto` (a GPU when there is one), `cpu`, `cuda` or `cuda:N`; anything unusable is a UserError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA devices")
    elif chosen.type != "cpu":
        raise UserError(f"--device {device}: only cpu and cuda are supported")
    return chosen


@torch.inference_mode()
def log_probs_of(model: ASRModel, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, V) CTC log-probs and frame lengths of a batch of mono waveforms at the model's sample rate."""
    device = next(model.parameters()).device
    padded, lengths = pad_batch(waves)
    return model(padded.to(device), lengths.to(device))


def recognize(model: ASRModel, waves: list[torch.Tensor], decoder: Decoder | None = None) -> list[str]:
    """Transcripts of a batch of mono waveforms at the model's sample rate (greedy unless `decoder`)."""
    decoder = decoder or Decoder(DecoderConfig(), model.tokenizer)
    return decoder(*log_probs_of(model, waves))


class AudioFiles(Dataset):
    def __init__(self, paths: list[str], sample_rate: int):
        self.paths, self.sample_rate = paths, sample_rate

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        return index, torch.from_numpy(load(self.paths[index], self.sample_rate))


@torch.inference_mode()
def batched_log_probs(model: ASRModel, items: list[Utterance], batch_seconds: float = 120.0
                      ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, float]]:
    """(manifest indices, (B, T, V) log-probs, frame lengths, audio seconds) for batches of similar duration."""
    durations = np.array([u.duration for u in items])
    loader = DataLoader(AudioFiles([u.audio_filepath for u in items], model.sample_rate),
                        batch_sampler=DurationBatchSampler(durations, batch_seconds, shuffle=False, pad=False),
                        collate_fn=lambda batch: batch, num_workers=0)
    device = next(model.parameters()).device
    for batch in loader:
        indices, waves = zip(*batch, strict=True)
        padded, lengths = pad_batch(list(waves))
        log_probs, out_lens = model(padded.to(device), lengths.to(device))
        yield list(indices), log_probs, out_lens, float(lengths.sum()) / model.sample_rate
