"""Audio I/O: anything libsndfile reads, mixed to mono float32 and resampled with soxr."""

from __future__ import annotations

import os
import stat
import struct
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


MAX_PEAK = 32.0  # float samples beyond this many times full scale are garbage, not loud audio
UNKNOWN_LENGTH = 2**62  # libsndfile reports a huge frame count for streams of unknown length


def _open(path: str | os.PathLike) -> sf.SoundFile:
    if not os.path.exists(path):
        raise UserError("audio file does not exist", path)
    if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO or device would block or never end
        raise UserError("not a regular file", path)
    try:
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise UserError(f"cannot read audio ({_message(exc)})", path) from None


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def wav_shortfall(path: str | os.PathLike) -> int:
    """Bytes a RIFF/WAVE file's `data` chunk promises beyond the end of the file (0 when complete or not WAV).
    libsndfile quietly reads what is there, so a cut-off WAV would otherwise pass for a short one."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        size = os.fstat(f.fileno()).st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                if length in (0, 0xFFFFFFFF):  # streamed WAV: length not recorded
                    return 0
                return max(0, f.tell() + length - size)
            f.seek(length + (length & 1), 1)


def _refuse_short_wav(path: str | os.PathLike) -> None:
    short = wav_shortfall(path)
    if short:
        raise UserError(f"audio is truncated: the WAV header promises {short} more bytes than the file holds", path)


def check_samples(data: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """Refuse NaN/inf samples and float samples far beyond full scale; clip small overshoots to [-1, 1]."""
    if not np.isfinite(data).all():
        raise UserError("audio has NaN or infinite samples", path)
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > MAX_PEAK:
        raise UserError(f"audio samples reach {peak:.3g}, far beyond full scale (1.0): not audio, or wrongly scaled",
                        path)
    return np.clip(data, -1.0, 1.0) if peak > 1.0 else data


def _mono(data: np.ndarray) -> np.ndarray:
    return data.mean(axis=1) if data.ndim == 2 else data


def resample(wave: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    if orig_sr == target_sr:
        return wave.astype(np.float32, copy=False)
    return soxr.resample(wave, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def load(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """Read a whole file as a mono float32 array at `sample_rate`."""
    with _open(path) as f:
        _refuse_short_wav(path)
        expected = f.frames
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            raise UserError(f"cannot decode audio ({_message(exc)})", path) from None
        orig_sr = f.samplerate
    if data.shape[0] == 0:
        raise UserError("audio file is empty (zero samples)", path)
    if 0 < expected < UNKNOWN_LENGTH and data.shape[0] < expected:
        raise UserError(f"audio is truncated: the header promises {expected} samples, the file holds "
                        f"{data.shape[0]}", path)
    return resample(check_samples(_mono(data), path), orig_sr, sample_rate)


def duration(path: str | os.PathLike) -> float:
    with _open(path) as f:
        return f.frames / f.samplerate


def iter_chunks(path: str | os.PathLike, sample_rate: int, chunk_s: float) -> Iterator[np.ndarray]:
    """Yield consecutive mono chunks of about `chunk_s` seconds without reading the whole file."""
    with _open(path) as f:
        _refuse_short_wav(path)
        if f.frames == 0:
            raise UserError("audio file is empty (zero samples)", path)
        block = max(1, int(chunk_s * f.samplerate))
        read = 0
        blocks = f.blocks(blocksize=block, dtype="float32", always_2d=True)
        while True:
            try:
                data = next(blocks)
            except StopIteration:
                break
            except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot decode audio after {read / f.samplerate:.1f} s ({_message(exc)})",
                                path) from None
            read += data.shape[0]
            yield resample(check_samples(_mono(data), path), f.samplerate, sample_rate)
        if 0 < f.frames < UNKNOWN_LENGTH and read < f.frames:
            raise UserError(f"audio is truncated: the header promises {f.frames} samples, the file holds {read}",
                            path)

