"""LibriTTS (OpenSLR 60): LibriSpeech's audiobooks re-cut at sentence breaks for speech synthesis, 24 kHz WAV.

Each utterance `<spk>_<chapter>_<para>_<sent>.wav` has `.normalized.txt` (numbers and abbreviations spelled
out) beside it; the manifests use that text. Audio stays at 24 kHz on disk and is resampled when loaded.
Licence: CC BY 4.0. Archives are checked against the SHA-256 digests recorded below (as published with
torchaudio's LibriTTS loader); from a mirror folder, where they are `libritts/<part>.tar.gz` (the names clash
with LibriSpeech's), against that folder's MD5SUMS.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ctcasr.audio import duration
from ctcasr.data.download import extract, fetch
from ctcasr.data.manifest import Utterance, write_manifest
from ctcasr.errors import UserError

URL = "https://www.openslr.org/resources/60/{part}.tar.gz"
SHA256 = {
    "dev-clean": "da0864e1bd26debed35da8a869dd5c04dfc27682921936de7cff9c8a254dbe1a",
    "dev-other": "d413eda26f3a152ac7c9cf3658ef85504dfb1b625296e5fa83727f5186cca79c",
    "test-clean": "234ea5b25859102a87024a4b9b86641f5b5aaaf1197335c95090cde04fe9a4f5",
    "test-other": "33a5342094f3bba7ccc2e0500b9e72d558f72eb99328ac8debe1d9080402f10d",
    "train-clean-100": "c5608bf1ef74bb621935382b8399c5cdd51cd3ee47cec51f00f885a64c6c7f6b",
    "train-clean-360": "ce7cff44dcac46009d18379f37ef36551123a1dc4e5c8e4eb73ae57260de4886",
    "train-other-500": "e35f7e34deeb2e2bdfe4403d88c8fdd5fbf64865cae41f027a185a6965f0a5df",
}
PARTS = tuple(SHA256)


def read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise UserError("transcript is not valid UTF-8", path) from None
    if not text:
        raise UserError("transcript is empty", path)
    return " ".join(text.split())


def part_utterances(part_dir: Path) -> list[Utterance]:
    items = []
    for audio in sorted(part_dir.glob("*/*/*.wav")):
        text_file = audio.with_name(audio.stem + ".normalized.txt")
        if not text_file.is_file():
            raise UserError(f"{audio.name} has no {text_file.name} beside it", audio.parent)
        items.append(Utterance(str(audio), round(duration(audio), 4), read_text(text_file), audio.stem,
                               audio.stem.split("_")[0]))
    return items


def prepare(out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None,
            parts: tuple[str, ...] = ("dev-clean", "test-clean")) -> dict[str, Path]:
    """Fetch and extract each part, write `out_dir/libritts/<part>.jsonl`."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise UserError(f"unknown LibriTTS part {unknown[0]!r}; known: {', '.join(PARTS)}")
    root = Path(out_dir) / "libritts"
    manifests: dict[str, Path] = {}
    for part in parts:
        manifest = root / f"{part}.jsonl"
        if not manifest.is_file():
            # in a mirror folder LibriTTS archives live under libritts/: their names clash with LibriSpeech's
            archive = fetch(f"libritts/{part}.tar.gz", URL.format(part=part), f"sha256:{SHA256[part]}",
                            Path(out_dir) / "downloads", mirror)
            extracted = root / "extracted" / part
            extract(archive, extracted)
            part_dir = extracted / "LibriTTS" / part
            if not part_dir.is_dir():
                shutil.rmtree(extracted, ignore_errors=True)
                raise UserError(f"archive does not have the LibriTTS layout (no LibriTTS/{part}/)", archive)
            items = part_utterances(part_dir)
            if not items:
                raise UserError(f"archive has no utterances under LibriTTS/{part}/", archive)
            write_manifest(manifest, items)
        manifests[part] = manifest
    return manifests
