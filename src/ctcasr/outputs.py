"""Transcripts as text, JSON, SRT and WebVTT subtitles, or TSV word tables.

Subtitle cues group words: a new cue starts after a pause of `PAUSE` seconds, or when a cue would pass
`MAX_CUE_SECONDS` or `MAX_CUE_CHARS`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the recognizer pulls in torch; formatting does not need it
    from ctcasr.recognizer import Transcript
    from ctcasr.words import Word

FORMATS = ("text", "json", "srt", "vtt", "tsv")
EXTENSIONS = {"text": ".txt", "json": ".json", "srt": ".srt", "vtt": ".vtt", "tsv": ".tsv"}
PAUSE, MAX_CUE_SECONDS, MAX_CUE_CHARS = 0.8, 6.0, 42


def cues(words: list[Word]) -> list[tuple[float, float, str]]:
    """(start, end, text) subtitle cues."""
    out: list[tuple[float, float, list[str]]] = []
    for w in words:
        if out:
            start, end, text = out[-1]
            fits = (w.start - end < PAUSE and w.end - start <= MAX_CUE_SECONDS
                    and len(" ".join([*text, w.word])) <= MAX_CUE_CHARS)
            if fits:
                out[-1] = (start, w.end, [*text, w.word])
                continue
        out.append((w.start, w.end, [w.word]))
    return [(s, e, " ".join(t)) for s, e, t in out]


def timestamp(seconds: float, separator: str) -> str:
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(t: Transcript) -> str:
    blocks = [f"{i}\n{timestamp(s, ',')} --> {timestamp(e, ',')}\n{text}\n" for i, (s, e, text) in
              enumerate(cues(t.words), start=1)]
    return "\n".join(blocks)


def to_vtt(t: Transcript) -> str:
    blocks = [f"{timestamp(s, '.')} --> {timestamp(e, '.')}\n{text}\n" for s, e, text in cues(t.words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_tsv(t: Transcript) -> str:
    """One word per line: start and end in milliseconds (whisper's convention), word, confidence."""
    rows = ["start\tend\tword\tconfidence"]
    rows += [f"{int(round(w.start * 1000))}\t{int(round(w.end * 1000))}\t{w.word}\t{w.confidence:.3f}"
             for w in t.words]
    return "\n".join(rows) + "\n"


def render(t: Transcript, fmt: str, with_path: bool = True) -> str:
    """`t` in format `fmt`; `text` prints `path<TAB>text` when `with_path` (several inputs on one stream)."""
    if fmt == "json":
        return json.dumps(t.to_dict(), ensure_ascii=False)
    if fmt == "srt":
        return to_srt(t)
    if fmt == "vtt":
        return to_vtt(t)
    if fmt == "tsv":
        return to_tsv(t)
    return f"{t.path}\t{t.text}" if with_path else t.text
