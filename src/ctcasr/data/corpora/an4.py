"""CMU AN4: 948 training and 130 test utterances of spelled words and numbers, 16 kHz.

The archive holds raw 16-bit PCM that is big-endian (its README says otherwise); it is converted to FLAC.
Licence: CMU's terms, free for any use; the notice (an4/LICENSE) is copied next to the prepared corpus.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ctcasr.data.download import fetch
from ctcasr.data.manifest import Utterance, write_manifest
from ctcasr.errors import UserError
from ctcasr.files import utf8_lines
from ctcasr.text import normalise

ARCHIVE = "an4_raw.bigendian.tar.gz"
URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_raw.bigendian.tar.gz"
MD5 = "a8e8446100a9e8c124967ebdf2a88dca"  # the complete archive as CMU distributes it
SAMPLE_RATE = 16000
DEV_SPEAKER_STRIDE = 10  # every 10th training speaker (sorted) is held out whole as dev
SPLITS = ("train", "dev", "test")
_LINE = re.compile(r"^(?:<s>\s*)?(.*?)(?:\s*</s>)?\s*\(([^()\s]+)\)\s*$")


def parse_transcription(text: str, where: str) -> dict[str, str]:
    """`<s> WORDS </s> (utt-id)` lines -> {utt-id: words}."""
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if not match:
            raise UserError(f"transcript line {number} has no utterance id: {line!r}", where)
        out[match.group(2)] = normalise(match.group(1))
    return out


def dev_speakers(speakers: list[str]) -> set[str]:
    ordered = sorted(set(speakers))
    return set(ordered[DEV_SPEAKER_STRIDE // 2 :: DEV_SPEAKER_STRIDE])


LEXICON = "lexicon.dic"


def prepare(out_dir: str | os.PathLike, mirror: str | os.PathLike | None = None) -> dict[str, Path]:
    """Fetch, convert and write `out_dir/an4/{train,dev,test}.jsonl`, and AN4's pronunciation lexicon as
    `lexicon.dic` (for phone models). Does nothing when already prepared."""
    root = Path(out_dir) / "an4"
    manifests = {split: root / f"{split}.jsonl" for split in SPLITS}
    done = root / ".prepared"
    if done.is_file() and all(p.is_file() for p in [*manifests.values(), root / LEXICON]):
        return manifests
    archive = fetch(ARCHIVE, URL, f"md5:{MD5}", Path(out_dir) / "downloads", mirror)

    work = root.with_name("an4.preparing")
    shutil.rmtree(work, ignore_errors=True)
    (work / "wav").mkdir(parents=True)
    transcripts: dict[str, dict[str, str]] = {}
    audio: dict[str, tuple[str, str, float]] = {}  # id -> (official split, speaker, duration)
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                name = member.name
                if name.endswith(("an4_train.transcription", "an4_test.transcription")):
                    split = "train" if "train" in os.path.basename(name) else "test"
                    where = f"{archive}:{name}"
                    data = "\n".join(utf8_lines(tar.extractfile(member).read(), where))
                    transcripts[split] = parse_transcription(data, where)
                elif name.endswith("etc/an4.dic"):
                    (work / LEXICON).write_bytes(tar.extractfile(member).read())
                elif name.endswith("/LICENSE"):
                    (work / "LICENSE").write_bytes(tar.extractfile(member).read())
                elif name.endswith(".raw") and member.isfile():
                    parts = Path(name).parts  # an4/wav/an4_clstk/SPEAKER/ID.raw
                    split = "test" if parts[-3] == "an4test_clstk" else "train"
                    raw = tar.extractfile(member).read()
                    if len(raw) % 2:
                        raise UserError(f"audio {name} has an odd number of bytes: not 16-bit PCM", archive)
                    pcm = np.frombuffer(raw, dtype=">i2")
                    utt = Path(name).stem
                    if pcm.size == 0:
                        raise UserError(f"audio {name} in the archive is empty", archive)
                    sf.write(work / "wav" / f"{utt}.flac", pcm.astype(np.int16), SAMPLE_RATE, subtype="PCM_16")
                    audio[utt] = (split, parts[-2], pcm.size / SAMPLE_RATE)
    except (tarfile.TarError, EOFError, OSError) as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise UserError(f"archive is damaged or truncated ({exc})", archive) from None
    except UserError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if set(transcripts) != {"train", "test"} or not audio:
        shutil.rmtree(work, ignore_errors=True)
        raise UserError("archive does not have the AN4 layout (an4/etc/*.transcription, an4/wav/...)", archive)

    held_out = dev_speakers([spk for split, spk, _ in audio.values() if split == "train"])
    rows: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    for utt, (split, speaker, seconds) in sorted(audio.items()):
        text = transcripts[split].get(utt)
        if text is None:
            raise UserError(f"no transcript for {utt}", archive)
        if split == "train" and speaker in held_out:
            split = "dev"
        rows[split].append(Utterance(str(work / "wav" / f"{utt}.flac"), round(seconds, 4), text, utt, speaker))

    for split in SPLITS:  # paths are written relative to the manifest, so they stay valid after the rename
        write_manifest(work / f"{split}.jsonl", rows[split])
    (work / ".prepared").write_text(f"{ARCHIVE} {MD5}\n")
    shutil.rmtree(root, ignore_errors=True)
    os.replace(work, root)
    return manifests
