"""JSONL manifests (NeMo-compatible keys: audio_filepath, duration, text, speaker, id), read and written safely.

An optional `words` key holds each word's [start, end] seconds (as `ctcasr align` writes them); training uses it to
cut word-aligned crops out of utterances (`augment.crop_prob`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ctcasr.errors import UserError
from ctcasr.files import atomic_path

REQUIRED_KEYS = ("audio_filepath", "duration", "text")


@dataclass
class Utterance:
    audio_filepath: str
    duration: float
    text: str
    id: str = ""
    speaker: str = ""
    source: str = field(default="", compare=False)  # "manifest:line" it was read from; not written
    words: list[list[float]] | None = None  # [start, end] seconds of each word of `text`, when aligned

    @property
    def where(self) -> str:
        """Where to point a user at when this utterance is bad."""
        return self.source or self.audio_filepath


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read a manifest; relative audio paths are resolved against the manifest's folder."""
    path = Path(path)
    if not path.is_file():
        raise UserError("manifest does not exist", path)
    root = path.resolve().parent
    items: list[Utterance] = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise UserError("manifest line is not valid UTF-8", where) from None
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"manifest line is not valid JSON ({exc.msg})", where) from None
            except RecursionError:
                raise UserError("manifest line is nested too deeply to be a manifest entry", where) from None
            if not isinstance(row, dict) or any(k not in row for k in REQUIRED_KEYS):
                raise UserError(f"manifest line needs the keys {', '.join(REQUIRED_KEYS)}", where)
            duration = row["duration"]
            if isinstance(duration, bool) or not isinstance(duration, int | float):
                raise UserError(f"duration is not a number: {_short(duration)}", where)
            if not math.isfinite(duration) or duration <= 0:
                raise UserError(f"duration must be a positive number of seconds, got {duration!r}", where)
            for key in ("audio_filepath", "text"):
                if not isinstance(row[key], str):
                    raise UserError(f"{key} must be a string, got {_short(row[key])}", where)
            if not row["audio_filepath"].strip():
                raise UserError("audio_filepath is empty", where)
            audio = str(row["audio_filepath"])
            if not os.path.isabs(audio):
                audio = str(root / audio)
            words = _word_times(row["words"], duration, where) if "words" in row else None
            items.append(Utterance(audio, duration, str(row["text"]), str(row.get("id", "")),
                                   str(row.get("speaker", "")), source=where, words=words))
    if not items:
        raise UserError("manifest has no utterances", path)
    return items


def _word_times(value, duration: float, where: str) -> list[list[float]]:
    """A `words` value checked: [start, end] pairs of seconds, in order, inside the utterance."""
    if not isinstance(value, list) or not all(
            isinstance(pair, list) and len(pair) == 2
            and all(isinstance(t, int | float) and not isinstance(t, bool) and math.isfinite(t) for t in pair)
            for pair in value):
        raise UserError(f"words must be a list of [start, end] seconds, got {_short(value)}", where)
    previous = 0.0
    for start, end in value:
        if not previous <= start <= end <= duration + 0.05:
            raise UserError(f"words: [{start}, {end}] is out of order or outside the {duration} s utterance", where)
        previous = start
    return [[float(start), float(end)] for start, end in value]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def write_manifest(path: str | os.PathLike, items: Iterable[Utterance | dict], relative: bool = True) -> None:
    """Write atomically; audio paths under the manifest's folder are stored relative to it."""
    path = Path(path)
    root = Path(os.path.abspath(path.parent))
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for item in items:
            row = dict(item.__dict__) if isinstance(item, Utterance) else dict(item)
            audio = Path(os.path.abspath(row["audio_filepath"]))
            row["audio_filepath"] = str(audio.relative_to(root) if relative and audio.is_relative_to(root) else audio)
            row = {k: v for k, v in row.items() if k in REQUIRED_KEYS or (v not in ("", None) and k != "source")}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def summarize(items: list[Utterance]) -> str:
    hours = sum(u.duration for u in items) / 3600
    speakers = len({u.speaker for u in items if u.speaker})
    return f"{len(items)} utterances, {hours:.2f} h, {speakers} speakers"
