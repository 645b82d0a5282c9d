"""speechocean762 (OpenSLR 101): 5,000 English sentences read by 250 non-native speakers, children and adults.

Kaldi-style `train/` and `test/` folders (125 speakers each) with `text`, `wav.scp`, `utt2spk`, `spk2age`,
`spk2gender`, and a CMU-style phone lexicon in `resource/lexicon.txt`. Audio is read through `wav.scp`, so the
official WAV archive and a mirror that re-encoded it (Ogg Opus) both work; it is converted once to FLAC at 16 kHz
so training does not decode Opus every epoch. Licence: CC BY 4.0 (Zhang et al., Interspeech 2021).

Splits: `test` is the official test half (2,500 utterances); `dev` holds out about 10 % of the official train
speakers, whole, chosen evenly among children and among adults; `train` is the rest of the train half.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from ctcasr.audio import load
from ctcasr.data.download import extract, fetch
from ctcasr.data.manifest import write_manifest
from ctcasr.errors import UserError
from ctcasr.files import utf8_lines
from ctcasr.text import normalise

ARCHIVE = "speechocean762.tar.gz"
URL = "https://www.openslr.org/resources/101/speechocean762.tar.gz"
SAMPLE_RATE = 16000
CHILD_MAX_AGE = 15  # speakers up to this age count as children when the dev speakers are balanced
DEV_STRIDE = 10  # every 10th speaker of each group (sorted) is held out as dev
SPLITS = ("train", "dev", "test")


def read_table(path: Path, required: bool = True) -> dict[str, str]:
    """Kaldi `key value...` lines -> {key: value}; a line without a value is an error naming file and line."""
    if not path.is_file():
        if required:
            raise UserError("missing from the speechocean762 archive", path)
        return {}
    out: dict[str, str] = {}
    for number, line in enumerate(utf8_lines(path), start=1):
        line = line.strip()
        if not line:
            continue
        key, _, value = line.replace("\t", " ").partition(" ")
        if not value.strip():
            raise UserError(f"line {number} has an id but no value: {line!r}", path)
        out[key] = value.strip()
    return out


def dev_speakers(ages: dict[str, int]) -> set[str]:
    """Every DEV_STRIDE-th child and every DEV_STRIDE-th adult (sorted by id): whole speakers, both groups."""
    children = sorted(s for s, a in ages.items() if a <= CHILD_MAX_AGE)
    adults = sorted(s for s, a in ages.items() if a > CHILD_MAX_AGE)
    offset = DEV_STRIDE // 2
    return set(children[offset::DEV_STRIDE]) | set(adults[offset::DEV_STRIDE])


def _age(value: str, where: Path) -> int:
    try:
        return int(value)
    except ValueError:
        raise UserError(f"age {value!r} is not a whole number", where) from None


def _convert(source: Path, dest: Path) -> float:
    """Decode `source` (any readable format) to 16 kHz FLAC at `dest`; returns its duration in seconds."""
    wave = load(source, SAMPLE_RATE)
    pcm = np.clip(np.round(wave * 32767.0), -32768, 32767).astype(np.int16)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, pcm, SAMPLE_RATE, subtype="PCM_16")
    return pcm.size / SAMPLE_RATE


def read_half(corpus: Path, half: str, audio_out: Path) -> list[dict]:
    """Utterances of the official `train` or `test` folder, audio converted under `audio_out`."""
    folder = corpus / half
    texts = read_table(folder / "text")
    scp = read_table(folder / "wav.scp")
    utt2spk = read_table(folder / "utt2spk")
    ages = read_table(folder / "spk2age", required=False)
    genders = read_table(folder / "spk2gender", required=False)
    items = []
    for utt in sorted(texts):
        if utt not in scp:
            raise UserError(f"utterance {utt} has a transcript but no wav.scp entry", folder / "wav.scp")
        source = corpus / scp[utt].split()[-1]
        if not source.is_file():
            raise UserError(f"wav.scp names {scp[utt]!r} for {utt}, which is not in the archive", folder / "wav.scp")
        speaker = utt2spk.get(utt)
        if speaker is None:
            raise UserError(f"utterance {utt} has no speaker in utt2spk", folder / "utt2spk")
        dest = audio_out / speaker / f"{utt}.flac"
        seconds = _convert(source, dest)
        items.append({"audio_filepath": str(dest), "duration": round(seconds, 4), "text": normalise(texts[utt]),
                      "id": utt, "speaker": speaker, "gender": genders.get(speaker, ""),
                      "age": _age(ages[speaker], folder / "spk2age") if speaker in ages else None})
    return items


def prepare(out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None) -> dict[str, Path]:
    """Fetch (or take from the mirror), convert and write `out_dir/speechocean762/{train,dev,test}.jsonl`."""
    root = Path(out_dir) / "speechocean762"
    manifests = {split: root / f"{split}.jsonl" for split in SPLITS}
    if (root / ".prepared").is_file() and all(p.is_file() for p in manifests.values()):
        return manifests
    archive = fetch(ARCHIVE, URL, None, Path(out_dir) / "downloads", mirror)
    if mirror is None:  # OpenSLR publishes no checksum for it: say what was received
        from ctcasr.data.download import file_digest

        print(f"{archive}: sha256 {file_digest(archive, 'sha256')} (OpenSLR publishes none to check against)")
    work = root.with_name("speechocean762.preparing")
    shutil.rmtree(work, ignore_errors=True)
    try:
        extract(archive, work / "extracted")
        corpus = work / "extracted" / "speechocean762"
        if not (corpus / "train").is_dir() or not (corpus / "test").is_dir():
            raise UserError("archive does not have the speechocean762 layout (speechocean762/train, test)", archive)
        train = read_half(corpus, "train", work / "audio")
        test = read_half(corpus, "test", work / "audio")
        lexicon = corpus / "resource" / "lexicon.txt"
        if lexicon.is_file():
            shutil.copyfile(lexicon, work / "lexicon.txt")
        for name in ("README.md", "MIRROR-NOTE.txt"):
            if (corpus / name).is_file():
                shutil.copyfile(corpus / name, work / name)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    held_out = dev_speakers({u["speaker"]: u["age"] for u in train if u["age"] is not None})
    rows = {"train": [u for u in train if u["speaker"] not in held_out],
            "dev": [u for u in train if u["speaker"] in held_out], "test": test}
    for split in SPLITS:
        write_manifest(work / f"{split}.jsonl", rows[split])
    shutil.rmtree(work / "extracted")
    (work / ".prepared").write_text(f"{ARCHIVE}\n")
    shutil.rmtree(root, ignore_errors=True)
    os.replace(work, root)
    return manifests

