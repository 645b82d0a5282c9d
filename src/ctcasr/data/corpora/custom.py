"""A folder of your own recordings: `DIR/audio/<stem>.<ext>` with `DIR/transcriptions/<stem>.txt`.

A folder without `transcriptions/` (audio files anywhere below it) gives a manifest with empty texts, for
transcription only.
"""

from __future__ import annotations

import os
from pathlib import Path

from ctcasr.audio import audio_files, duration
from ctcasr.data.manifest import Utterance, write_manifest
from ctcasr.errors import UserError


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


def prepare(out_dir: str | os.PathLike, folder: str | os.PathLike, name: str | None = None,
            allow_missing: bool = False) -> dict[str, Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("not a folder", folder)
    name = name or folder.resolve().name
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
                items.append(Utterance(str(path.resolve()), _duration(path), text, path.stem))
    else:
        items = [Utterance(str(p.resolve()), _duration(p), "", p.stem) for p in files]
    manifest = Path(out_dir) / "custom" / f"{name}.jsonl"
    write_manifest(manifest, items, relative=False)
    return {name: manifest}
