"""Audio I/O: anything libsndfile reads, mixed to mono float32 and resampled with soxr."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ctcasr.errors import UserError
from ctcasr.files import quiet_stderr

AUDIO_EXTENSIONS = {f".{ext.lower()}" for ext in sf.available_formats()} | {".wav", ".flac", ".ogg", ".mp3",
                                                                            ".opus", ".oga"}
FFMPEG_EXTENSIONS = {".m4a", ".aac", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wma", ".3gp", ".amr"}


def audio_files(folder: str | os.PathLike) -> list[Path]:
    """Files with an audio (or, when ffmpeg is installed, a video/AAC) extension anywhere below `folder`, sorted."""
    known = AUDIO_EXTENSIONS | (FFMPEG_EXTENSIONS if ffmpeg() else set())
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in known)


def ffmpeg() -> str | None:
    """The ffmpeg program when it is on PATH: it decodes what libsndfile cannot (AAC/m4a, video containers)."""
    return shutil.which("ffmpeg")


def decode_with_ffmpeg(source: str | os.PathLike | bytes, sample_rate: int, where: str | os.PathLike,
                       max_seconds: float | None = None) -> np.ndarray:
    """Mono float32 at `sample_rate` through ffmpeg (a path, or bytes on its standard input); with
    `max_seconds`, longer audio is refused without decoding all of it."""
    program = ffmpeg()
    if program is None:
        raise UserError("cannot read audio: libsndfile does not know this format; installing ffmpeg would let "
                        "ctcasr decode it (m4a/AAC, mp4 and other containers)", where)
    name = "pipe:0" if isinstance(source, bytes) else str(source)
    command = [program, "-nostdin" if not isinstance(source, bytes) else "-hide_banner", "-v", "error", "-i", name,
               "-vn", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le"]
    command += ["-t", f"{max_seconds + 1:.3f}"] if max_seconds else []
    command += ["pipe:1"]
    try:
        done = subprocess.run(command, input=source if isinstance(source, bytes) else None, capture_output=True,
                              timeout=600)
    except subprocess.TimeoutExpired:
        raise UserError("ffmpeg took more than 10 minutes to decode it", where) from None
    if done.returncode != 0 or not done.stdout:
        detail = " ".join(done.stderr.decode(errors="replace").split())[-160:] or "no audio stream"
        raise UserError(f"cannot read audio, also not with ffmpeg ({detail})", where)
    wave = np.frombuffer(done.stdout, dtype="<f4").copy()
    if max_seconds and wave.size > max_seconds * sample_rate:
        raise AudioTooLong(max_seconds, where)
    return check_samples(wave, where)


class AudioTooLong(UserError):
    def __init__(self, max_seconds: float, where: str | os.PathLike):
        super().__init__(f"audio is longer than the limit of {max_seconds:g} s", where)


def load_bytes(data: bytes, sample_rate: int = 16000, where: str = "<bytes>",
               max_seconds: float | None = None) -> np.ndarray:
    """Encoded audio in memory (any libsndfile format, else through ffmpeg) as mono float32 at `sample_rate`.
    With `max_seconds`, longer audio raises `AudioTooLong` before it is decoded."""
    if not data:
        raise UserError("no audio data (0 bytes)", where)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            if max_seconds and f.frames != UNKNOWN_LENGTH and f.frames > max_seconds * f.samplerate:
                raise AudioTooLong(max_seconds, where)
            wave, rate = f.read(dtype="float32", always_2d=True), f.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return decode_with_ffmpeg(data, sample_rate, where, max_seconds)
    if max_seconds and wave.shape[0] > max_seconds * rate:
        raise AudioTooLong(max_seconds, where)
    if wave.shape[0] == 0:
        raise UserError("audio is empty (zero samples)", where)
    return resample(check_samples(_mono(wave), where), rate, sample_rate)


MAX_PEAK = 32.0  # float samples beyond this many times full scale are garbage, not loud audio
UNKNOWN_LENGTH = 2**62  # libsndfile reports a huge frame count for streams of unknown length


def _open(path: str | os.PathLike) -> sf.SoundFile:
    _check_regular(path)  # a FIFO or device would block or never end
    try:
        with quiet_stderr():  # mpg123 prints resync notes for damaged MP3s; the exception says what failed
            return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise UserError(f"cannot read audio ({_message(exc)})", path) from None


def _needs_ffmpeg(path: str | os.PathLike) -> bool:
    """A regular file that libsndfile cannot open but whose extension ffmpeg decodes."""
    if Path(path).suffix.lower() not in FFMPEG_EXTENSIONS:
        return False
    _check_regular(path)
    try:
        sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return True
    return False


def _check_regular(path: str | os.PathLike) -> None:
    if not os.path.exists(path):
        raise UserError("audio file does not exist", path)
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise UserError("not a regular file", path)


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
    """Read a whole file as a mono float32 array at `sample_rate` (through ffmpeg for what libsndfile lacks)."""
    if _needs_ffmpeg(path):
        return decode_with_ffmpeg(path, sample_rate, path)
    with _open(path) as f:
        _refuse_short_wav(path)
        expected = f.frames
        try:
            with quiet_stderr():
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
    if _needs_ffmpeg(path):  # decoded whole by ffmpeg, then cut
        wave = decode_with_ffmpeg(path, sample_rate, path)
        step = max(1, int(chunk_s * sample_rate))
        for start in range(0, wave.size, step):
            yield wave[start : start + step]
        return
    with _open(path) as f:
        _refuse_short_wav(path)
        if f.frames == 0:
            raise UserError("audio file is empty (zero samples)", path)
        block = max(1, int(chunk_s * f.samplerate))
        read = 0
        blocks = f.blocks(blocksize=block, dtype="float32", always_2d=True)
        while True:
            try:
                with quiet_stderr():
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

