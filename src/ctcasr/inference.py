"""Batched recognition of waveforms with a loaded model: padding, device, decoding."""

from __future__ import annotations

import torch

from ctcasr.data.dataset import pad_batch
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
