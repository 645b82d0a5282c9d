"""A folder of your own recordings: `DIR/audio/<stem>.<ext>` with `DIR/transcriptions/<stem>.txt`.

A folder without `transcriptions/` (audio files anywhere below it) gives a manifest with empty texts, for
transcription only.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from ctcasr.audio import audio_files, duration
from ctcasr.data.manifest import Utterance, write_manifest
from ctcasr.errors import UserError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _read_text(path: Path) -> str:
    try:
        return " ".join(path.read_text(encoding="utf-8").split())
    except UnicodeDecodeError:
        raise UserError("transcription is not valid UTF-8", path) from None


def _duration(path: Path) -> float:
    seconds = duration(path)
    if seconds == 0:
        raise UserError("audio file is empty (zero samples)", path)
    return round(seconds, 4)


def check_name(name: str) -> str:
    """A manifest name from the command line: a plain file name, so it can never leave the output folder."""
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise UserError(f"--name must be a plain name (letters, digits, '.', '_', '-'; no folders), got {name!r}")
    return name


def split_dev(items: list[Utterance], fraction: float) -> tuple[list[Utterance], list[Utterance]]:
    """(train, dev): about `fraction` of the utterances as dev, whole speakers when speakers are known
    (every k-th speaker in sorted order), else every k-th utterance."""
    step = max(2, round(1 / fraction))
    speakers = sorted({u.speaker for u in items if u.speaker})
    if len(speakers) >= 2:
        held = set(speakers[step // 2 :: step]) or {speakers[-1]}
        dev = [u for u in items if u.speaker in held]
    else:
        dev = items[step // 2 :: step]
    chosen = {id(u) for u in dev}
    return [u for u in items if id(u) not in chosen], dev


def prepare(out_dir: str | os.PathLike, folder: str | os.PathLike, name: str | None = None,
            allow_missing: bool = False, dev_fraction: float = 0.0) -> dict[str, Path]:
    """Write `out_dir/custom/NAME.jsonl` (and NAME-dev.jsonl with `dev_fraction`). Files in per-speaker
    sub-folders (`audio/SPEAKER/x.wav`) get that folder as their speaker."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("not a folder", folder)
    if not (math.isfinite(dev_fraction) and 0.0 <= dev_fraction < 0.5):
        raise UserError(f"--dev-fraction must be at least 0 and below 0.5, got {dev_fraction}")
    name = check_name(name if name is not None else folder.resolve().name)
    transcripts = folder / "transcriptions"
    audio_root = folder / "audio" if (folder / "audio").is_dir() else folder
    files = audio_files(audio_root)
    if not files:
        raise UserError("no audio files found", audio_root)
    items = []
    if transcripts.is_dir():
        missing = [p for p in files if not (transcripts / f"{p.stem}.txt").is_file()]
        if missing and not allow_missing:
            raise UserError(f"{len(missing)} of {len(files)} audio files have no transcription "
                            f"(e.g. {missing[0].name} needs transcriptions/{missing[0].stem}.txt); "
                            "--allow-missing skips them", folder)
        if missing:
            print(f"skipping {len(missing)} audio files without a transcription, e.g. {missing[0].name}")
        for path in files:
            if path not in missing:
                text = _read_text(transcripts / f"{path.stem}.txt")
                items.append(Utterance(str(path.resolve()), _duration(path), text, path.stem,
                                       _speaker(path, audio_root)))
    else:
        items = [Utterance(str(p.resolve()), _duration(p), "", p.stem, _speaker(p, audio_root)) for p in files]
    out = {}
    if dev_fraction > 0:
        items, dev = split_dev(items, dev_fraction)
        if not items or not dev:
            raise UserError(f"too few utterances ({len(items) + len(dev)}) to hold out a dev set", folder)
        out[f"{name}-dev"] = Path(out_dir) / "custom" / f"{name}-dev.jsonl"
        write_manifest(out[f"{name}-dev"], dev, relative=False)
    out[name] = Path(out_dir) / "custom" / f"{name}.jsonl"
    write_manifest(out[name], items, relative=False)
    return dict(reversed(out.items()))


def _speaker(path: Path, root: Path) -> str:
    """The first sub-folder below the audio root, if the file is in one."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else ""
