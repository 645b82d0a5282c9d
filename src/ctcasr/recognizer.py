"""One inference path: `ctcasr.load(path_or_name, **decoding) -> Recognizer`.

A Recognizer holds the model (features + encoder + tokenizer), the decoder built from the settings precedence
(explicit arguments > the decoding file > the model's own `MODEL.decoding.yaml` > greedy), and the chunking of long
audio. `transcribe(audio)` takes a path, a NumPy array (with `sample_rate`) or encoded bytes, and returns a
`Transcript` with the text, words (start, end, confidence), segments (one per chunk, with the n-best list when
asked). The CLI's transcribe and evaluate use it. Calls are serialised by a lock, so one Recognizer may be shared
by several threads (the server's worker threads, say); use several Recognizers for parallel decoding.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ctcasr.acoustic import Acoustic, TorchAcoustic, open_acoustic
from ctcasr.audio import check_samples, load_bytes, resample
from ctcasr.decoding import Decoder, DecoderConfig, describe
from ctcasr.decoding.greedy import as_array, collapse_path
from ctcasr.decoding.settings import load_decoding, model_decoding_path, without_unavailable_lm
from ctcasr.errors import UserError
from ctcasr.words import Word, hypothesis_text, words_from_tokens


@dataclass
class Segment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    nbest: list[dict] = field(default_factory=list)  # when asked: text, scores and words per hypothesis

    def to_dict(self) -> dict:
        out = {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
               "words": [w.to_dict() for w in self.words]}
        if self.nbest:
            out["nbest"] = self.nbest
        return out


@dataclass
class Transcript:
    text: str
    duration: float
    words: list[Word] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    decoder: str = "greedy"
    path: str = ""

    def to_dict(self) -> dict:
        return {"path": self.path, "text": self.text, "duration": round(self.duration, 3), "decoder": self.decoder,
                "words": [w.to_dict() for w in self.words], "segments": [s.to_dict() for s in self.segments]}


def resolve_model(path_or_name: str | os.PathLike) -> Path:
    """A checkpoint path, an exported model folder (`ctcasr export`), or the name of a registered model
    (`ctcasr download --list`)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    if path.is_dir():
        from ctcasr.export import SIDECAR

        if (path / SIDECAR).is_file():
            return path
        raise UserError(f"a folder is not a model (expected a .pt checkpoint, an exported model folder with "
                        f"{SIDECAR}, or a registered model name)", path)
    from ctcasr.artifacts import fetch_artifact, load_registry, model_cache_dir

    models = {name: a for name, a in load_registry().items() if a.kind == "model"}
    if str(path_or_name) in models:
        return fetch_artifact(str(path_or_name), model_cache_dir())
    raise UserError(f"no such model file or registered model name; known names: {', '.join(models)}",
                    path_or_name)


def decoding_for(model_path: Path, decoding_file: str | os.PathLike | None = None, **overrides) -> DecoderConfig:
    """Settings precedence: `overrides` (non-None) > `decoding_file` > MODEL.decoding.yaml beside the model >
    greedy. `decoder="greedy"` alone ignores the files (greedy has no other settings)."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("decoder") == "greedy":
        return DecoderConfig(**overrides)
    if decoding_file:
        return load_decoding(decoding_file, **overrides)
    own = model_decoding_path(model_path)
    if own.is_file():
        config = load_decoding(own, **overrides)
        return config if overrides.get("lm") else without_unavailable_lm(config, own)
    if (overrides.get("lm") or overrides.get("hotwords")) and "decoder" not in overrides:
        overrides["decoder"] = "beam"
    return DecoderConfig(**overrides)


class Recognizer:
    """Acoustic model (PyTorch, ONNX or TorchScript; see `acoustic.py`) + decoder + chunking. Build it with
    `ctcasr.load`."""

    def __init__(self, model: Acoustic, decoding: DecoderConfig | None = None, chunk_seconds: float = 20.0,
                 verbose: bool = True):
        """`model`: an acoustic backend, or an `ASRModel` (run with PyTorch)."""
        from ctcasr.transcribe import check_chunk_seconds

        check_chunk_seconds(chunk_seconds)
        self.acoustic = model if hasattr(model, "log_probs") else TorchAcoustic(model)
        self.tokenizer = self.acoustic.tokenizer
        self.decoder = Decoder(decoding or DecoderConfig(), self.tokenizer, verbose=verbose)
        self.chunk_seconds = chunk_seconds
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self.acoustic.sample_rate

    @property
    def model(self):
        """The PyTorch model (PyTorch backend only)."""
        if not isinstance(self.acoustic, TorchAcoustic):
            raise UserError(f"this recognizer runs an exported model ({self.acoustic.description}), not PyTorch")
        return self.acoustic.model

    @property
    def config(self) -> DecoderConfig:
        return self.decoder.config

    def transcribe(self, audio: str | os.PathLike | np.ndarray | bytes, sample_rate: int | None = None,
                   nbest: int | None = None, decoder: Decoder | None = None) -> Transcript:
        """Text, words and segments of `audio`: a file path, an array (`sample_rate` required; samples as rows,
        channels as columns when 2-D) or encoded bytes of any readable format. `nbest` > 0 adds that many
        hypotheses to each segment (beam decoders; default: the decoder's `nbest` setting). `decoder`: another
        decoder for this call (see `decoder_for`)."""
        decoder = decoder or self.decoder
        nbest = decoder.config.nbest if nbest is None else nbest
        with self._lock:
            if isinstance(audio, str | os.PathLike):
                from ctcasr.transcribe import chunks_at_pauses

                pieces = chunks_at_pauses(audio, self.sample_rate, self.chunk_seconds)
                return self._decode_pieces(pieces, nbest, str(audio), decoder)
            if isinstance(audio, bytes | bytearray | memoryview):
                wave = load_bytes(bytes(audio), self.sample_rate)
            else:
                wave = self._array(audio, sample_rate)
            return self._decode_pieces(self._split(wave), nbest, "", decoder)

    def decoder_for(self, **overrides) -> Decoder:
        """A decoder with some settings changed (decoder=, beam=, alpha=, beta=, ...); it shares nothing with
        this recognizer's own, so the LM is loaded again when it is not dropped."""
        import dataclasses

        changes = {k: v for k, v in overrides.items() if v is not None}
        if changes.get("decoder") == "greedy":
            return Decoder(DecoderConfig(), self.tokenizer, verbose=False)
        return Decoder(dataclasses.replace(self.config, **changes), self.tokenizer, verbose=False)

    def _array(self, audio, sample_rate: int | None) -> np.ndarray:
        if not isinstance(audio, np.ndarray):
            raise UserError(f"audio must be a path, bytes or a NumPy array, got {type(audio).__name__}")
        if sample_rate is None or isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) \
                or sample_rate <= 0:
            raise UserError(f"an array needs its sample_rate as a positive whole number, got {sample_rate!r}")
        if audio.ndim not in (1, 2) or audio.size == 0:
            raise UserError(f"audio array must be 1-D (samples) or 2-D (samples, channels), got shape {audio.shape}")
        if audio.dtype.kind == "i":
            audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max)
        elif audio.dtype.kind != "f":
            raise UserError(f"audio array must hold floats or integers, got {audio.dtype}")
        wave = audio.mean(axis=1) if audio.ndim == 2 else audio
        wave = check_samples(wave.astype(np.float32), "<array>")
        return resample(wave, int(sample_rate), self.sample_rate)

    def _split(self, wave: np.ndarray) -> Iterator[np.ndarray]:
        from ctcasr.transcribe import quiet_split

        limit = int(self.chunk_seconds * self.sample_rate)
        while wave.size > limit:
            cut = quiet_split(wave[:limit], limit // 4, int(0.02 * self.sample_rate))
            yield wave[:cut]
            wave = wave[cut:]
        yield wave

    def _decode_pieces(self, pieces, nbest: int, path: str, decoder: Decoder) -> Transcript:
        segments, samples = [], 0
        for piece in pieces:
            start = samples / self.sample_rate
            samples += piece.size
            if piece.size < self.acoustic.min_samples:
                continue
            log_probs, lengths = self.acoustic.log_probs([np.ascontiguousarray(piece, dtype=np.float32)])
            segments.append(self.segment(log_probs[0, : int(lengths[0])], start, piece, nbest, decoder))
        words = [w for s in segments for w in s.words]
        return Transcript(" ".join(s.text for s in segments if s.text), samples / self.sample_rate, words,
                          segments, describe(decoder.config), path)

    def segment(self, log_probs, start: float, wave: np.ndarray | None = None, nbest: int = 0,
                decoder: Decoder | None = None) -> Segment:
        """Decode one chunk's (T, V) log-probs (NumPy or torch) into a segment that starts at `start` seconds."""
        decoder = decoder or self.decoder
        array = as_array(log_probs).astype(np.float32, copy=False)
        kw = {"frame_seconds": self.acoustic.frame_seconds, "offset": start, "wave": wave,
              "sample_rate": self.sample_rate}
        tok = self.tokenizer
        if decoder.config.decoder == "greedy":
            tokens, frames = collapse_path(array.argmax(axis=1).tolist())
            words = words_from_tokens(list(tokens), list(frames), array, tok, **kw)
            return Segment(start, start + array.shape[0] * kw["frame_seconds"], tok.decode(tokens), words)
        hyps = decoder.nbest(array[None], np.array([array.shape[0]]))[0]
        best = hyps[0]
        words = words_from_tokens(list(best.tokens), list(best.frames), array, tok, texts=best.texts, **kw)
        listed = [{"text": hypothesis_text(h, tok), "score": round(h.score, 4), "acoustic": round(h.acoustic, 4),
                   "lm": round(h.lm, 4), "words": [w.to_dict() for w in words_from_tokens(
                       list(h.tokens), list(h.frames), array, tok, texts=h.texts, **kw)]} for h in hyps[:nbest]]
        return Segment(start, start + array.shape[0] * kw["frame_seconds"], hypothesis_text(best, tok), words,
                       listed)

    def stream(self, sample_rate: int | None = None, endpoint_seconds: float | None = 0.8):
        """A live session for one audio stream (a streamable model): `accept(samples)` -> partial and final
        events, `finish()`. `sample_rate`: of the samples you will feed (default: the model's)."""
        from ctcasr.session import StreamSession

        return StreamSession(self, sample_rate, endpoint_seconds)

    def texts(self, log_probs, lengths) -> list[str]:
        """Transcripts of a batch of (B, T, V) log-probs (evaluate's batched path)."""
        return self.decoder(log_probs, lengths)


def load(path_or_name: str | os.PathLike, decoding: str | os.PathLike | None = None, device: str = "auto",
         chunk_seconds: float = 20.0, verbose: bool = True, runtime: str | None = "torch",
         **overrides) -> Recognizer:
    """A Recognizer for a checkpoint path, an exported model folder or a registered model name. Decoding
    settings: `overrides` (decoder=, beam=, lm=, alpha=, beta=, ...) > the `decoding` file > the model's own
    decoding file. `runtime`: a checkpoint runs with PyTorch ("torch", the default: `.model` is the network),
    or through its cached ONNX export ("onnx", or "auto" as the CLI does; `onnx_cache.py`)."""
    path = resolve_model(path_or_name)
    unknown = sorted(set(overrides) - set(DecoderConfig.__dataclass_fields__))
    if unknown:
        raise UserError(f"unknown decoding setting {unknown[0]!r}; known: "
                        f"{', '.join(sorted(DecoderConfig.__dataclass_fields__))}")
    config = decoding_for(path, decoding, **overrides)
    return Recognizer(open_acoustic(path, device, runtime), config, chunk_seconds, verbose)


__all__ = ["Recognizer", "Segment", "Transcript", "Word", "load"]
