"""LJSpeech 1.1: one speaker reading non-fiction, 22.05 kHz WAV (resampled at load time, never rewritten).

Licence: public domain. The manifests use metadata.csv's normalised-text column (numbers spelled out).
Split by id: every 20th clip (sorted) is dev, every 20th from the 10th on is test, the rest train.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

from ctcasr.audio import duration
from ctcasr.data.download import extract, fetch
from ctcasr.data.manifest import Utterance, write_manifest
from ctcasr.errors import UserError
from ctcasr.files import utf8_lines

ARCHIVE = "LJSpeech-1.1.tar.bz2"
URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"
SHA256 = "be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5"
SPLITS = ("train", "dev", "test")


def split_of(index: int) -> str:
    return "dev" if index % 20 == 0 else "test" if index % 20 == 10 else "train"


def read_metadata(path: Path) -> list[tuple[str, str]]:
    """(id, normalised text) rows of `metadata.csv` (`id|text|normalised text`, no quoting)."""
    rows = []
    for number, row in enumerate(csv.reader(utf8_lines(path), delimiter="|", quoting=csv.QUOTE_NONE), start=1):
        if len(row) != 3 or not row[0].strip():
            raise UserError(f"line {number} is not `id|text|normalised text`", path)
        rows.append((row[0].strip(), row[2].strip() or row[1].strip()))
    return rows


def prepare(out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None) -> dict[str, Path]:
    root = Path(out_dir) / "ljspeech"
    manifests = {split: root / f"{split}.jsonl" for split in SPLITS}
    if all(p.is_file() for p in manifests.values()):
        return manifests
    archive = fetch(ARCHIVE, URL, f"sha256:{SHA256}", Path(out_dir) / "downloads", mirror)
    extracted = root / "extracted"
    extract(archive, extracted)
    corpus = extracted / "LJSpeech-1.1"
    if not (corpus / "metadata.csv").is_file() or not (corpus / "wavs").is_dir():
        shutil.rmtree(extracted, ignore_errors=True)
        raise UserError("archive does not have the LJSpeech layout (LJSpeech-1.1/metadata.csv, wavs/)", archive)
    rows: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    for index, (utt, text) in enumerate(sorted(read_metadata(corpus / "metadata.csv"))):
        audio = corpus / "wavs" / f"{utt}.wav"
        if not audio.is_file():
            raise UserError(f"metadata.csv names {utt} but wavs/{utt}.wav is missing", corpus / "metadata.csv")
        rows[split_of(index)].append(Utterance(str(audio), round(duration(audio), 4), text, utt, "LJ"))
    for split in SPLITS:
        write_manifest(manifests[split], rows[split])
    return manifests
