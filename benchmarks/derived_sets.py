"""Dev-derived test sets for robustness checks (never from test): telephone-band copies, single words cut out at
force-aligned word boundaries, and pooled manifests for tuning.

    python benchmarks/derived_sets.py [--aligner models/an4_ds2.pt] [--dev data/an4/dev.jsonl] [--out DIR]

writes DIR/words_an4/an4_dev_words.jsonl (single words, as `benchmarks/en_small.py` measures them) and
DIR/an4_dev_and_words.jsonl (AN4 dev + those words, absolute paths): the tuning set of the AN4 models' decoding
files, so that alpha / beta suit a letter or digit spoken alone as well as a whole utterance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from ctcasr.audio import load
from ctcasr.augment import cut_points, mu_law, telephone_band, trim_silence
from ctcasr.checkpoint import load_model
from ctcasr.data.manifest import Utterance, read_manifest, write_manifest
from ctcasr.word_alignment import align_utterances


def pooled(manifests: list[str], out: Path) -> Path:
    """One manifest holding several (absolute paths), e.g. both dev sets for tuning."""
    write_manifest(out, [u for m in manifests for u in read_manifest(m)], relative=False)
    return out


def telephone_copy(manifest: str, out_dir: Path) -> Path:
    """Each utterance as an 8 kHz file through a 300-3400 Hz band and G.711 mu-law, as a phone line gives it."""
    rows = []
    for u in read_manifest(manifest):
        wave = telephone_band(load(u.audio_filepath, 16000), 16000, highpass_hz=300.0)
        narrow = mu_law(load_resampled(wave))
        path = out_dir / "audio" / f"{Path(u.audio_filepath).stem}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, narrow, 8000, subtype="PCM_16")
        rows.append(Utterance(str(path), u.duration, u.text, u.id, u.speaker))
    out = out_dir / f"{Path(manifest).parent.name}_{Path(manifest).stem}_telephone.jsonl"
    write_manifest(out, rows, relative=False)
    return out


def load_resampled(wave: np.ndarray) -> np.ndarray:
    import soxr

    return soxr.resample(wave, 16000, 8000, quality="HQ").astype(np.float32)


def isolated_words(aligner_path: str, manifest: str, out_dir: Path, tight: bool = False) -> Path:
    """Single words cut from each utterance: a forced alignment places each word's tokens, and a word's audio runs
    from the quietest point of the gap before it to the quietest point of the gap after it (CTC's token spikes are
    much shorter than the word, so cutting at the spikes would clip it, and half-way between them often cuts into
    a word). `tight`: then trimmed to its speech by energy with
    10 ms left each side, as a word recorded on its own and cut closely."""
    aligned, problems = align_utterances(load_model(aligner_path), read_manifest(manifest), batch_seconds=0)
    assert not problems, problems
    rows = []
    for u in aligned:
        wave = load(u.audio_filepath, 16000)
        for index, word in enumerate(u.text.split()):
            start, end = cut_points(wave, 16000, u.words, index, index + 1)
            clip = wave[int(start * 16000):int(end * 16000)]
            if tight:
                clip = trim_silence(clip, 16000, (0.01, 0.01))
            path = out_dir / "audio" / f"{u.id}_{index:02d}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, clip, 16000)
            rows.append(Utterance(str(path), round(clip.size / 16000, 4), word, f"{u.id}_{index:02d}", u.speaker))
    out = out_dir / f"{Path(manifest).parent.name}_{Path(manifest).stem}_words{'_tight' if tight else ''}.jsonl"
    write_manifest(out, rows, relative=False)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aligner", default="models/an4_ds2.pt", help="the model whose forced alignment cuts words")
    parser.add_argument("--dev", default="data/an4/dev.jsonl")
    parser.add_argument("--out", default="runs/an4_derived")
    args = parser.parse_args()
    out = Path(args.out)
    words = isolated_words(args.aligner, args.dev, out / "words_an4")
    print(pooled([args.dev, str(words)], out / "an4_dev_and_words.jsonl"))


if __name__ == "__main__":
    main()
