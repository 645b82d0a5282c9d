"""Hotword boosting on AN4 test: words that greedy decoding misses become hotwords, as a user would list the
names and commands a recogniser gets wrong. Recall of those words, and WER on the utterances without them,
for the beam search (no LM) with and without `--hotwords`.

    python benchmarks/hotwords.py [--model models/an4_ds2.pt] [--boost 4]

Writes results/hotwords.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import ctcasr
from ctcasr.data.manifest import read_manifest
from ctcasr.evaluation import word_errors
from ctcasr.files import write_json, write_text
from ctcasr.provenance import git_commit, machine_description


def recall(refs: list[str], hyps: list[str], words: set[str]) -> tuple[int, int]:
    """(hotword occurrences recognised, occurrences) by bag-of-words per utterance."""
    found = total = 0
    for ref, hyp in zip(refs, hyps, strict=True):
        hyp_words = hyp.split()
        for w in ref.split():
            if w in words:
                total += 1
                if w in hyp_words:
                    found += 1
                    hyp_words.remove(w)
    return found, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--data", default="data")
    parser.add_argument("--boost", type=float, default=4.0)
    parser.add_argument("--out", default="results/hotwords.json")
    args = parser.parse_args()
    started = time.time()
    items = read_manifest(f"{args.data}/an4/test.jsonl")
    refs = [u.text for u in items]
    greedy = ctcasr.load(args.model, decoder="greedy")
    greedy_hyps = [greedy.transcribe(u.audio_filepath).text for u in items]
    missed = set()
    for ref, hyp in zip(refs, greedy_hyps, strict=True):
        missed |= {w for w in ref.split() if len(w) > 1 and w not in hyp.split()}
    hot_file = Path("runs/hotwords_bench/an4_missed.txt")
    write_text(hot_file, "".join(f"{w}\n" for w in sorted(missed)))
    rows = {}
    for name, options in (("beam", {}), ("beam + hotwords", {"hotwords": str(hot_file),
                                                             "hotword_boost": args.boost})):
        rec = ctcasr.load(args.model, decoder="beam", beam=16, lm="", **options)  # lm="": no LM
        hyps = [rec.transcribe(u.audio_filepath).text for u in items]
        found, total = recall(refs, hyps, missed)
        rest = [i for i, r in enumerate(refs) if not set(r.split()) & missed]
        rows[name] = {"hotword_recall": round(100 * found / max(total, 1), 2), "hotword_occurrences": total,
                      "wer_other_utterances": round(word_errors([refs[i] for i in rest],
                                                                [hyps[i] for i in rest]).rate, 3),
                      "other_utterances": len(rest), "wer_all": round(word_errors(refs, hyps).rate, 3)}
        print(name, rows[name], flush=True)
    write_json(args.out, {
        "what": "hotword recall on AN4 test, beam 16 + hotwords (words greedy missed)",
        "value": rows["beam + hotwords"]["hotword_recall"], "unit": "%", "hotwords": sorted(missed),
        "boost": args.boost, "rows": rows, "model": args.model, "commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_description(),
        "wall_s": round(time.time() - started, 1), "command": shlex.join(["python", *sys.argv])})


if __name__ == "__main__":
    main()
