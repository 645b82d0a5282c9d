"""Live transcription of one audio stream: `Recognizer.stream()` -> `StreamSession`.

`accept(samples)` takes audio pieces of any size (any sample rate, resampled on the fly) and returns the events
they caused: a `partial` whenever the best hypothesis changed, and a `final` segment at each endpoint (the model
has heard only blank for `endpoint_seconds` after some words). `finish()` flushes the end and returns the last
final event. Without endpoints, the final text is exactly what offline decoding of the same model gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ctcasr.errors import UserError
from ctcasr.words import Word, hypothesis_text, words_from_tokens


@dataclass
class StreamEvent:
    kind: str  # "partial" | "final"
    start: float  # seconds from the start of the stream
    end: float
    text: str
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"type": self.kind, "start": round(self.start, 3), "end": round(self.end, 3), "text": self.text,
                "words": [w.to_dict() for w in self.words]}


class _Buffer:
    """An array that grows at its end in amortised O(1) per item (capacity doubles) and drops its start."""

    def __init__(self, width: int | None = None):
        self.shape = (0,) if width is None else (0, width)
        self.data = np.zeros((1024, *self.shape[1:]), dtype=np.float32)
        self.size = 0

    def extend(self, items: np.ndarray) -> None:
        need = self.size + items.shape[0]
        if need > self.data.shape[0]:
            grown = np.zeros((max(need, 2 * self.data.shape[0]), *self.shape[1:]), dtype=np.float32)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size: need] = items
        self.size = need

    def drop(self, count: int) -> None:
        """Forget the first `count` items."""
        count = min(max(count, 0), self.size)
        self.data[: self.size - count] = self.data[count: self.size]
        self.size -= count

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class StreamSession:
    """One stream through a streamable model: acoustic frames as they become final, decoded incrementally."""

    def __init__(self, recognizer, sample_rate: int | None = None, endpoint_seconds: float | None = 0.8):
        from ctcasr.streaming import AcousticStream

        if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, int)
                                        or not 4000 <= sample_rate <= 192000):
            raise UserError(f"stream sample rate must be a whole number of Hz in [4000, 192000], got {sample_rate!r}")
        if endpoint_seconds is not None and not endpoint_seconds > 0:
            raise UserError(f"endpoint_seconds must be positive (or None for no endpoints), got {endpoint_seconds}")
        self.recognizer = recognizer
        self.acoustic = AcousticStream(recognizer.model)
        self.rate = recognizer.sample_rate
        self.frame_seconds = recognizer.acoustic.frame_seconds
        self.resampler = None
        if sample_rate and sample_rate != self.rate:
            import soxr

            self.resampler = soxr.ResampleStream(sample_rate, self.rate, 1, dtype="float32")
        self.endpoint_frames = None if endpoint_seconds is None else max(1, round(endpoint_seconds /
                                                                                  self.frame_seconds))
        self.finals: list[StreamEvent] = []
        self._begin(0)
        self.audio = _Buffer()  # the current segment's audio (word times widen over it)
        self.closed = False

    def _begin(self, frame: int) -> None:
        self.decoding = self.recognizer.decoder.stream()
        self.segment_frame = frame  # the stream frame where the current segment starts
        self.frames = _Buffer(len(self.recognizer.tokenizer))  # the segment's log-prob frames
        self.count = 0  # frames in the current segment
        self.blank_run = 0  # trailing frames whose best token is blank
        self.last_text = ""

    @property
    def start(self) -> float:
        return self.segment_frame * self.frame_seconds

    def accept(self, samples: np.ndarray) -> list[StreamEvent]:
        """Feed the next samples (float in [-1, 1] or int16), mono."""
        if self.closed:
            raise UserError("this stream is finished; start a new one")
        samples = np.asarray(samples)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768.0
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(samples)):
            raise UserError("stream audio holds NaN or infinite samples")
        if self.resampler is not None:
            samples = self.resampler.resample_chunk(samples)
        self.audio.extend(samples)
        return self._consume(self.acoustic.accept(samples), end=False)

    def finish(self) -> list[StreamEvent]:
        """The end of the stream: the last frames, then the last final segment (if it has words)."""
        if self.closed:
            return []
        tail = self.resampler.resample_chunk(np.zeros(0, np.float32), last=True) if self.resampler else None
        if tail is not None and tail.size:
            self.audio.extend(tail)
            events = self._consume(self.acoustic.accept(tail), end=False)
        else:
            events = []
        events += self._consume(self.acoustic.finish(), end=True)
        self.closed = True
        return events

    def _consume(self, log_probs: np.ndarray, end: bool) -> list[StreamEvent]:
        events = []
        if log_probs.shape[0]:
            self.decoding.advance(log_probs)
            self.frames.extend(log_probs)
            self.count += log_probs.shape[0]
            spoken = np.flatnonzero(log_probs.argmax(axis=1) != 0)
            self.blank_run = self.blank_run + log_probs.shape[0] if spoken.size == 0 else \
                int(log_probs.shape[0] - 1 - spoken[-1])
        if end:
            if self.count and self.decoding.partial().tokens:
                events.append(self._final())
            return events
        partial = self._event("partial", self.decoding.partial())
        if partial.text != self.last_text:
            self.last_text = partial.text
            events.append(partial)
        if self.endpoint_frames and self.blank_run >= self.endpoint_frames and self.last_text:
            events.append(self._final())  # a pause after words: this segment is done
        return events

    def _event(self, kind: str, hyp) -> StreamEvent:
        tok = self.recognizer.tokenizer
        array = self.frames.view()
        first = round(self.start * self.rate) - (self.acoustic.samples - self.audio.size)
        wave = self.audio.view()[max(0, first):]
        words = words_from_tokens(list(hyp.tokens), list(hyp.frames), array, tok, self.frame_seconds, self.start,
                                  wave, self.rate, texts=hyp.texts)
        return StreamEvent(kind, self.start, self.start + self.count * self.frame_seconds,
                           hypothesis_text(hyp, tok), words)

    def _final(self) -> StreamEvent:
        event = self._event("final", self.decoding.finalize()[0])
        self.finals.append(event)
        next_frame = self.segment_frame + self.count
        keep_from = round(next_frame * self.frame_seconds * self.rate) - (self.acoustic.samples - self.audio.size)
        self.audio.drop(keep_from)
        self._begin(next_frame)
        return event

    @property
    def text(self) -> str:
        """Every final segment's text so far."""
        return " ".join(e.text for e in self.finals if e.text)


def replay(recognizer, path: str, realtime: bool = True, chunk_ms: float = 100.0,
           endpoint_seconds: float | None = 0.8, emit=print) -> list[StreamEvent]:
    """Stream a file through `recognizer` in `chunk_ms` pieces, in real time (or as fast as possible), passing
    each event to `emit`; returns the final events."""
    import math
    import time

    from ctcasr.audio import load

    if not math.isfinite(chunk_ms) or not 1.0 <= chunk_ms <= 10000.0:
        raise UserError(f"--chunk-ms must be between 1 and 10000, got {chunk_ms}")
    wave = load(path, recognizer.sample_rate)
    session = recognizer.stream(endpoint_seconds=endpoint_seconds)
    step = max(1, round(chunk_ms / 1000 * recognizer.sample_rate))
    started = time.perf_counter()
    for i in range(0, wave.size, step):
        if realtime:  # the audio of this chunk has not "arrived" before its end time
            time.sleep(max(0.0, (i + step) / recognizer.sample_rate - (time.perf_counter() - started)))
        for event in session.accept(wave[i:i + step]):
            emit(event)
    for event in session.finish():
        emit(event)
    return session.finals
