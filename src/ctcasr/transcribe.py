"""`ctcasr transcribe`: files or folders -> text. Long files are read and decoded in chunks cut at quiet points."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ctcasr.audio import audio_files, iter_chunks
from ctcasr.checkpoint import load_model
from ctcasr.decoding import Decoder, DecoderConfig, describe
from ctcasr.decoding.beam import Hypothesis
from ctcasr.errors import UserError
from ctcasr.inference import log_probs_of, pick_device
from ctcasr.models.asr import ASRModel


@dataclass
class Transcript:
    path: str
    text: str
    duration: float
    decoder: str = "greedy"
    segments: list[dict] = field(default_factory=list)  # beam decoders: per chunk, the n-best with word times


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given; folders searched recursively for files with audio extensions, in sorted order."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = audio_files(path)
            if not found:
                raise UserError("folder has no audio files", path)
            out += found
        elif path.is_file():
            out.append(path)
        else:
            raise UserError("no such file or folder", path)
    return out


def quiet_split(wave: np.ndarray, search: int, frame: int) -> int:
    """Index in the last `search` samples of `wave` at the start of its quietest `frame`-long window."""
    start = max(0, wave.size - search)
    tail = wave[start:]
    if tail.size < frame:
        return wave.size
    energy = np.convolve(tail**2, np.ones(frame), mode="valid")[::frame // 4 or 1]
    return start + int(np.argmin(energy)) * (frame // 4 or 1) + frame // 2


def chunks_at_pauses(path: str | os.PathLike, sample_rate: int, chunk_seconds: float) -> Iterator[np.ndarray]:
    """Segments of at most `chunk_seconds`, each cut at the quietest 20 ms in its last quarter."""
    limit = int(chunk_seconds * sample_rate)
    buffer = np.zeros(0, dtype=np.float32)
    for block in iter_chunks(path, sample_rate, chunk_seconds / 4):
        buffer = np.concatenate([buffer, block])
        while buffer.size >= limit:
            cut = quiet_split(buffer[:limit], limit // 4, int(0.02 * sample_rate))
            yield buffer[:cut]
            buffer = buffer[cut:]
    if buffer.size:
        yield buffer


def transcribe_file(model: ASRModel, path: str | os.PathLike, chunk_seconds: float = 20.0,
                    decoder: Decoder | None = None) -> Transcript:
    decoder = decoder or Decoder(DecoderConfig(), model.tokenizer)
    texts, segments, samples = [], [], 0
    for piece in chunks_at_pauses(path, model.sample_rate, chunk_seconds):
        start = samples / model.sample_rate
        samples += piece.size
        if piece.size < model.features.config.win_length:
            continue
        log_probs, lengths = log_probs_of(model, [torch.from_numpy(np.ascontiguousarray(piece))])
        if decoder.config.decoder == "greedy":
            texts += decoder(log_probs, lengths)
            continue
        hyps = decoder.nbest(log_probs, lengths)[0]
        texts.append(model.tokenizer.decode(hyps[0].tokens))
        segments.append({"start": round(start, 3), "end": round(samples / model.sample_rate, 3),
                         "nbest": [_hypothesis(model, decoder, h, start) for h in hyps]})
    return Transcript(str(path), " ".join(t for t in texts if t), samples / model.sample_rate,
                      describe(decoder.config), segments)


def _hypothesis(model: ASRModel, decoder: Decoder, hyp: Hypothesis, offset: float) -> dict:
    step = model.frame_seconds
    words = [{"word": w, "start": round(offset + first * step, 3), "end": round(offset + (last + 1) * step, 3)}
             for w, first, last in hyp.words(model.tokenizer.alphabet, decoder.space)]
    return {"text": model.tokenizer.decode(hyp.tokens), "score": round(hyp.score, 4),
            "acoustic": round(hyp.acoustic, 4), "lm": round(hyp.lm, 4), "words": words}


def check_chunk_seconds(seconds: float) -> None:
    if not math.isfinite(seconds) or not 1.0 < seconds <= 600.0:
        raise UserError(f"--chunk-seconds must be more than 1 and at most 600 seconds, got {seconds}")


def transcribe_paths(model_path: str, paths: list[str], chunk_seconds: float = 20.0, device: str = "auto",
                     decoding: DecoderConfig | None = None) -> Iterator[Transcript]:
    check_chunk_seconds(chunk_seconds)
    files = expand_paths(paths)
    model = load_model(model_path, pick_device(device))
    decoder = Decoder(decoding or DecoderConfig(), model.tokenizer)
    for path in files:
        yield transcribe_file(model, path, chunk_seconds, decoder)


def format_result(result: Transcript, fmt: str) -> str:
    if fmt == "json":
        data = {"path": result.path, "text": result.text, "duration": round(result.duration, 3),
                "decoder": result.decoder}
        if result.segments:
            data["segments"] = result.segments
        return json.dumps(data, ensure_ascii=False)
    return f"{result.path}\t{result.text}"
