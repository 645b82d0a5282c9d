"""Batched recognition of waveforms with a loaded model: padding, device, decoding."""

from __future__ import annotations

import torch

from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.models.asr import ASRModel


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pad_batch(waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([w.numel() for w in waves])
    padded = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        padded[i, : w.numel()] = w
    return padded, lengths


@torch.inference_mode()
def recognize(model: ASRModel, waves: list[torch.Tensor], decoder: Decoder | None = None) -> list[str]:
    """Transcripts of a batch of mono waveforms at the model's sample rate (greedy unless `decoder`)."""
    decoder = decoder or Decoder(DecoderConfig(), model.tokenizer)
    device = next(model.parameters()).device
    padded, lengths = pad_batch(waves)
    log_probs, out_lens = model(padded.to(device), lengths.to(device))
    return decoder(log_probs, out_lens)
