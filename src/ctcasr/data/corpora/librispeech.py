"""LibriSpeech (OpenSLR 12): read English audiobooks, 16 kHz FLAC, one manifest per part.

Licence: CC BY 4.0. Archives: https://www.openslr.org/resources/12/<part>.tar.gz, checked against the MD5s
OpenSLR publishes; from a mirror folder, against that folder's MD5SUMS.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ctcasr.audio import duration
from ctcasr.data.download import extract, fetch
from ctcasr.data.manifest import Utterance, write_manifest
from ctcasr.errors import UserError
from ctcasr.files import utf8_lines, write_text

URL = "https://www.openslr.org/resources/12/{part}.tar.gz"
MD5 = {
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
}
PARTS = tuple(MD5)
MERGED = {"train-960": ("train-clean-100", "train-clean-360", "train-other-500"),
          "train-460": ("train-clean-100", "train-clean-360")}
_UTT_ID = re.compile(r"^\d+-\d+-\d+$")


def read_transcripts(path: Path) -> dict[str, str]:
    """`<speaker>-<chapter>-<utt> TEXT` lines of one `.trans.txt` file; the text is kept exactly as written."""
    out = {}
    for number, line in enumerate(utf8_lines(path), start=1):
        if not line.strip():
            continue
        utt, _, text = line.strip().partition(" ")
        if not _UTT_ID.match(utt) or not text.strip():
            raise UserError(f"line {number} is not `<utterance-id> <text>`: {line[:60]!r}", path)
        out[utt] = text.strip()
    return out


def part_utterances(part_dir: Path) -> list[Utterance]:
    items = []
    for trans in sorted(part_dir.glob("*/*/*.trans.txt")):
        for utt, text in read_transcripts(trans).items():
            audio = trans.parent / f"{utt}.flac"
            if not audio.is_file():
                raise UserError(f"transcript names {utt} but {audio.name} is missing", trans)
            items.append(Utterance(str(audio), round(duration(audio), 4), text, utt, utt.split("-")[0]))
    return items


def prepare(out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None,
            parts: tuple[str, ...] = ("dev-clean", "test-clean"), merge: tuple[str, ...] = ()) -> dict[str, Path]:
    """Fetch and extract each part, write `out_dir/librispeech/<part>.jsonl`; `merge` adds e.g. train-960."""
    unknown = [p for p in (*parts, *merge) if p not in PARTS and p not in MERGED]
    if unknown:
        raise UserError(f"unknown LibriSpeech part {unknown[0]!r}; known: {', '.join(PARTS + tuple(MERGED))}")
    root = Path(out_dir) / "librispeech"
    wanted = list(dict.fromkeys([*parts, *(p for m in merge for p in MERGED[m])]))
    manifests: dict[str, Path] = {}
    for part in wanted:
        manifest = root / f"{part}.jsonl"
        if not manifest.is_file():
            archive = fetch(f"{part}.tar.gz", URL.format(part=part), f"md5:{MD5[part]}", Path(out_dir) / "downloads",
                            mirror)
            extracted = root / "extracted" / part
            extract(archive, extracted)
            part_dir = extracted / "LibriSpeech" / part
            if not part_dir.is_dir():
                shutil.rmtree(extracted, ignore_errors=True)
                raise UserError(f"archive does not have the LibriSpeech layout (no LibriSpeech/{part}/)", archive)
            items = part_utterances(part_dir)
            if not items:
                raise UserError(f"archive has no transcribed utterances under LibriSpeech/{part}/", archive)
            write_manifest(manifest, items)
        manifests[part] = manifest
    for name in merge:
        merged = root / f"{name}.jsonl"
        write_text(merged, "".join(manifests[p].read_text(encoding="utf-8") for p in MERGED[name]))
        manifests[name] = merged
    return {p: manifests[p] for p in (*parts, *merge)}
