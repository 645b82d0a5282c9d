"""Acoustic backends: waveforms -> CTC log-probs, from a PyTorch checkpoint or an exported model folder.

Every backend gives the Recognizer the same things: `tokenizer`, `sample_rate`, `frame_seconds`, `min_samples`
and `log_probs(waves) -> ((B, T, V) float32 log-probs, (B,) frame lengths)` as NumPy arrays, so decoding, word
times and outputs never depend on the runtime. The ONNX backend needs onnxruntime and NumPy only (no PyTorch).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from ctcasr.errors import UserError
from ctcasr.units import Tokenizer


class Acoustic(Protocol):
    tokenizer: Tokenizer
    sample_rate: int
    frame_seconds: float
    min_samples: int  # shorter pieces of audio give no frame worth decoding
    metadata: dict
    description: str

    def log_probs(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...

    def threads(self) -> int: ...


def pad_waves(waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(B, N) float32 zero-padded batch and (B,) int64 lengths."""
    lengths = np.array([w.size for w in waves], dtype=np.int64)
    batch = np.zeros((len(waves), int(lengths.max()) if waves else 0), dtype=np.float32)
    for i, w in enumerate(waves):
        batch[i, : w.size] = w
    return batch, lengths


class TorchAcoustic:
    """A ctcasr checkpoint run with PyTorch (CPU or CUDA)."""

    def __init__(self, model):
        self.model = model.eval()
        self.tokenizer = model.tokenizer
        self.sample_rate = model.sample_rate
        self.frame_seconds = model.frame_seconds
        self.min_samples = model.features.config.win_length
        self.metadata = getattr(model, "metadata", {})
        self.description = f"pytorch ({model.arch})"

    def log_probs(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from ctcasr.inference import log_probs_of

        out, frames = log_probs_of(self.model, [torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
                                                for w in waves])
        return out.float().cpu().numpy(), frames.cpu().numpy()

    def threads(self) -> int:
        import torch

        return torch.get_num_threads()


def open_acoustic(path: str | os.PathLike, device: str = "auto", runtime: str | None = "torch") -> Acoustic:
    """The backend for `path`: an exported model folder (`ctcasr export`) or a checkpoint file, which `runtime`
    "onnx" or "auto" (None: $CTCASR_RUNTIME, else auto) runs through its cached ONNX export (`onnx_cache.py`)."""
    from ctcasr.export import open_export

    path = Path(path)
    if path.is_dir():
        return open_export(path, device)
    if path.is_file():
        from ctcasr.onnx_cache import export_for

        folder = export_for(path, device, runtime)
        if folder is not None:
            return open_export(folder, device)
    from ctcasr.checkpoint import load_model
    from ctcasr.inference import pick_device

    return TorchAcoustic(load_model(path, pick_device(device)))


def batched_log_probs(acoustic: Acoustic, paths: list[str], durations: list[float], batch_seconds: float
                      ) -> Iterator[tuple[list[int], np.ndarray, np.ndarray, float]]:
    """(indices into `paths`, (B, T, V) log-probs, frame lengths, audio seconds) for batches of similar duration."""
    from ctcasr.audio import load

    if not paths:
        return
    if not np.isfinite(batch_seconds) or batch_seconds <= 0:
        raise UserError(f"--batch-seconds must be a positive number, got {batch_seconds}")
    from ctcasr.data.batching import duration_batches

    for indices in duration_batches(durations, batch_seconds):
        waves = [load(paths[i], acoustic.sample_rate) for i in indices]
        log_probs, lengths = acoustic.log_probs(waves)
        yield indices, log_probs, lengths, sum(w.size for w in waves) / acoustic.sample_rate
