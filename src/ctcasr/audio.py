"""Audio I/O: anything libsndfile reads, mixed to mono float32 and resampled with soxr."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ctcasr.errors import UserError

AUDIO_EXTENSIONS = {f".{ext.lower()}" for ext in sf.available_formats()} | {".wav", ".flac", ".ogg", ".mp3"}


def audio_files(folder: str | os.PathLike) -> list[Path]:
    """Files with an audio extension anywhere below `folder`, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _open(path: str | os.PathLike) -> sf.SoundFile:
    if not os.path.exists(path):
        raise UserError("audio file does not exist", path)
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise UserError(f"cannot read audio ({exc})", path) from None


def _mono(data: np.ndarray) -> np.ndarray:
    return data.mean(axis=1) if data.ndim == 2 else data


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return wave.astype(np.float32, copy=False)
    return soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def load(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Read a whole file as a mono float32 array at `sample_rate`."""
    with _open(path) as f:
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise UserError(f"cannot decode audio ({exc})", path) from None
        orig_sr = f.samplerate
    if data.shape[0] == 0:
        raise UserError("audio file is empty (zero samples)", path)
    return resample(_mono(data), orig_sr, sample_rate)


def duration(path: str | os.PathLike) -> float:
    with _open(path) as f:
        return f.frames / f.samplerate


def iter_chunks(path: str | os.PathLike, sample_rate: int, chunk_s: float) -> Iterator[np.ndarray]:
    """Yield consecutive mono chunks of about `chunk_s` seconds without reading the whole file."""
    with _open(path) as f:
        if f.frames == 0:
            raise UserError("audio file is empty (zero samples)", path)
        block = max(1, int(chunk_s * f.samplerate))
        for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            yield resample(_mono(data), f.samplerate, sample_rate)

