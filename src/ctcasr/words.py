"""Words from decoded tokens: text, start / end times that bracket the word's audio, and a confidence.

CTC emits each character as a short spike, so the spikes alone give word "durations" of a frame or two. A word's
start and end are therefore widened from its first and last spike over the neighbouring frames that still hold
speech energy (and at most half-way to the neighbouring word), so they bracket the word's audio.
Confidence is the geometric mean of the posteriors of the word's characters at their spikes: in [0, 1], low when
the model hesitated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ctcasr.units import Tokenizer


@dataclass
class Word:
    word: str
    start: float  # seconds
    end: float
    confidence: float

    def to_dict(self) -> dict:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def frame_energy_db(wave: np.ndarray, hop: int) -> np.ndarray:
    """Log energy of each `hop`-sample frame (dB, 0 = the loudest frame)."""
    count = max(1, int(np.ceil(wave.size / hop)))
    padded = np.zeros(count * hop, dtype=np.float64)
    padded[: wave.size] = wave
    energy = 10 * np.log10(np.mean(padded.reshape(count, hop) ** 2, axis=1) + 1e-10)
    return energy - energy.max()


def words_from_tokens(tokens: list[int], frames: list[int], log_probs: np.ndarray, tokenizer: Tokenizer,
                      frame_seconds: float, offset: float = 0.0, wave: np.ndarray | None = None,
                      sample_rate: int = 16000, speech_db: float = -35.0,
                      texts: tuple[str, ...] | None = None) -> list[Word]:
    """Words with times and confidences. `frames[i]` is the output frame where token i was emitted;
    `log_probs` (T, V) gives the confidences; `wave` (optional) lets times widen over the word's audio;
    `texts` are the words when a lexicon search chose them (else they are spelled from the tokens)."""
    groups = tokenizer.spelling.segments(tokens)
    if texts is None:
        texts = tuple(tokenizer.word([tokens[i] for i in g]) for g in groups)
    kept = [(g, t) for g, t in zip(groups, texts, strict=False) if t]
    groups, texts = [g for g, _ in kept], [t for _, t in kept]
    if not groups:
        return []
    energy = None
    if wave is not None and wave.size:
        hop = max(1, int(round(frame_seconds * sample_rate)))
        energy = frame_energy_db(wave, hop)
    spans = [(frames[g[0]], frames[g[-1]]) for g in groups]
    words = []
    total = log_probs.shape[0]
    for n, (group, (first, last)) in enumerate(zip(groups, spans, strict=True)):
        low = (spans[n - 1][1] + first) // 2 + 1 if n else 0  # never past half-way to the neighbours
        high = (last + spans[n + 1][0]) // 2 if n + 1 < len(spans) else total - 1
        start, end = first, last
        if energy is not None:
            while start > low and start - 1 < energy.size and energy[start - 1] > speech_db:
                start -= 1
            while end < high and end + 1 < energy.size and energy[end + 1] > speech_db:
                end += 1
        text = texts[n]
        logp = [float(log_probs[frames[i], tokens[i]]) for i in group]
        confidence = float(np.exp(np.mean(logp)))
        words.append(Word(text, offset + start * frame_seconds, offset + (end + 1) * frame_seconds,
                          min(max(confidence, 0.0), 1.0)))
    return words


def hypothesis_text(hypothesis, tokenizer: Tokenizer) -> str:
    """A hypothesis' transcript: the words a lexicon search chose, else the tokenizer's decoding."""
    if hypothesis.texts is not None:
        return " ".join(t for t in hypothesis.texts if t)
    return tokenizer.decode(hypothesis.tokens)
