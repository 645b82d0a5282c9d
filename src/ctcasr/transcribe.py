"""`ctcasr transcribe`: files, folders or stdin -> text, JSON, subtitles or word tables, through the Recognizer.

Long files are read and decoded in chunks cut at quiet points (`chunks_at_pauses`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ctcasr.audio import audio_files, duration, iter_chunks
from ctcasr.errors import UserError, one_line
from ctcasr.outputs import EXTENSIONS, render


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


def check_chunk_seconds(seconds: float) -> None:
    if not math.isfinite(seconds) or not 1.0 < seconds <= 600.0:
        raise UserError(f"--chunk-seconds must be more than 1 and at most 600 seconds, got {seconds}")


@dataclass
class RunSummary:
    ok: int = 0
    failed: list[str] = field(default_factory=list)  # "path: problem"

    def line(self) -> str:
        text = f"{self.ok} ok, {len(self.failed)} failed"
        return text + (": " + "; ".join(self.failed[:10]) + (" ..." if len(self.failed) > 10 else "")
                       if self.failed else "")


def output_path(source: str, roots: list[Path], out_dir: Path, fmt: str) -> Path:
    """OUT_DIR/<path relative to the folder it was found in>.<format extension> (stdin: stdin.<ext>)."""
    if source == "-":
        return out_dir / f"stdin{EXTENSIONS[fmt]}"
    path = Path(source)
    for root in roots:
        if root.is_dir() and path.is_relative_to(root):
            return out_dir / path.relative_to(root).with_suffix(EXTENSIONS[fmt])
    return out_dir / path.with_suffix(EXTENSIONS[fmt]).name


def transcribe_inputs(recognizer, inputs: list[str], fmt: str = "text", out_dir: str | None = None,
                      stdin=None, emit=print) -> RunSummary:
    """Transcribe files, folders and `-` (stdin); one bad file does not stop the run. Each result is printed
    (`emit`) or written atomically to `out_dir`; the summary counts what worked and names what did not."""
    from ctcasr.files import check_output_dir, write_text

    if out_dir:
        check_output_dir(out_dir)
    sources, summary = expand_inputs(inputs), RunSummary()
    roots = [Path(p) for p in inputs if p != "-"]
    total = sum(_seconds(p) for p in sources if p != "-")
    with tqdm(total=round(total), unit="audio s", desc="transcribe", leave=False,
              disable=None if total > 60 else True) as bar:  # a bar on a terminal, for long runs only
        for source in sources:
            try:
                audio = (stdin or sys.stdin.buffer).read() if source == "-" else source
                result = recognizer.transcribe(audio)
            except UserError as exc:
                if len(sources) == 1:
                    raise
                summary.failed.append(one_line(exc))
                print(f"error: {one_line(exc)}", file=sys.stderr)
                continue
            result.path = "-" if source == "-" else source
            bar.update(round(result.duration))
            summary.ok += 1
            text = render(result, fmt, with_path=fmt == "text" and (len(sources) > 1 or not out_dir))
            if out_dir:
                target = output_path(source, roots, Path(out_dir), fmt)
                write_text(target, text if text.endswith("\n") else text + "\n")
            else:
                emit(text)
    return summary


def expand_inputs(inputs: list[str]) -> list[str]:
    """Paths as given ("-" is stdin); folders become the audio files below them. A missing path is kept, to be
    reported as that file's failure."""
    out: list[str] = []
    for raw in inputs:
        if raw != "-" and Path(raw).is_dir():
            found = audio_files(raw)
            if not found:
                raise UserError("folder has no audio files", raw)
            out += [str(p) for p in found]
        else:
            out.append(raw)
    return out


def _seconds(path: str) -> float:
    try:
        return duration(path)
    except UserError:
        return 0.0  # reported when the file itself is read
