"""Word times and confidences of the Recognizer, measured on AN4 test.

    python benchmarks/word_times.py [--model models/an4_ds2.pt] [--data data]

1. Start times: AN4 test utterances are joined ten at a time (13 files); for each utterance, the start of the
   hypothesis word aligned to its first reference word is compared with the known join (where its audio
   begins) and with where that word's speech begins (CTC forced alignment of the reference on the utterance
   alone). Reported as distributions, for greedy and for the model's tuned decoding.
2. Confidence: on AN4 test, each hypothesis word is correct (aligned to an equal reference word) or not
   (substitution or insertion); ROC AUC of the confidence as a detector of correct words.
Writes results/word_times.json and results/word_confidence.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from datetime import datetime, timezone

import jiwer
import numpy as np
import torch

import ctcasr
from ctcasr.align import forced_align, word_spans
from ctcasr.audio import load
from ctcasr.data.manifest import read_manifest
from ctcasr.files import write_json
from ctcasr.inference import log_probs_of
from ctcasr.provenance import git_commit, machine_description

GROUP = 10


def aligned_pairs(ref: list[str], hyp: list[str]) -> list[tuple[int | None, int | None, str]]:
    """(ref index, hyp index, kind) for every aligned position (kind: equal, substitute, insert, delete)."""
    out = []
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        for k in range(max(chunk.ref_end_idx - chunk.ref_start_idx, chunk.hyp_end_idx - chunk.hyp_start_idx)):
            r = chunk.ref_start_idx + k if chunk.type != "insert" else None
            h = chunk.hyp_start_idx + k if chunk.type != "delete" else None
            out.append((r, h, chunk.type))
    return out


def roc_auc(scores: list[float], labels: list[bool]) -> float:
    """Probability that a correct word has a higher confidence than a wrong one (ties count half)."""
    pos = np.array([s for s, y in zip(scores, labels, strict=True) if y])
    neg = np.array([s for s, y in zip(scores, labels, strict=True) if not y])
    if not pos.size or not neg.size:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def speech_starts(model, items) -> list[float]:
    """Where each utterance's first word begins, by forced alignment of its reference on its own audio."""
    tok = model.tokenizer
    out = []
    for u in items:
        wave = load(u.audio_filepath, model.sample_rate)
        lp, _ = log_probs_of(model, [torch.from_numpy(wave)])
        ids = tok.encode(u.text)
        first, _ = word_spans(forced_align(lp[0].numpy(), ids), ids, tok.spelling)[0]
        out.append(first * model.frame_seconds)
    return out


def start_errors(recognizer, items, starts: list[float]) -> dict:
    to_join, to_speech = [], []
    for g in range(0, len(items), GROUP):
        group = items[g : g + GROUP]
        waves = [load(u.audio_filepath, 16000) for u in group]
        joins = np.cumsum([0] + [w.size / 16000 for w in waves[:-1]])
        transcript = recognizer.transcribe(np.concatenate(waves), sample_rate=16000)
        ref_words, first_index = [], []
        for u in group:
            first_index.append(len(ref_words))
            ref_words += u.text.split()
        hyp_words = [w.word for w in transcript.words]
        matched = {r: h for r, h, kind in aligned_pairs(ref_words, hyp_words) if kind in ("equal", "substitute")}
        for i, first in enumerate(first_index):
            if first in matched:
                start = transcript.words[matched[first]].start
                to_join.append(abs(start - joins[i]))
                to_speech.append(abs(start - (joins[i] + starts[g + i])))
    return {name: summary(values) for name, values in (("from_join", to_join), ("from_speech_start", to_speech))}


def summary(values: list[float]) -> dict:
    v = np.array(values)
    return {"count": int(v.size), "within_150ms": round(float(np.mean(v <= 0.15)) * 100, 1),
            "median_ms": round(float(np.median(v)) * 1000, 1), "p90_ms": round(float(np.percentile(v, 90)) * 1000, 1),
            "max_ms": round(float(v.max()) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--data", default="data")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    command = shlex.join(["python", *sys.argv])
    started = time.time()
    items = read_manifest(f"{args.data}/an4/test.jsonl")
    tuned, greedy = ctcasr.load(args.model, verbose=False), ctcasr.load(args.model, decoder="greedy")
    starts = speech_starts(tuned.model, items)
    provenance = {"commit": git_commit(), "machine": machine_description(), "command": command,
                  "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    timing = {name: start_errors(rec, items, starts) for name, rec in (("greedy", greedy), ("tuned", tuned))}
    write_json(f"{args.results}/word_times.json", {
        "what": "first words starting within 150 ms of their forced-aligned start, 10-utterance AN4 test "
                "concatenations, tuned decoding",
        "value": timing["tuned"]["from_speech_start"]["within_150ms"], "unit": "%", "decoders": timing,
        "leading_silence_ms": summary(starts), "model": args.model, **provenance,
        "wall_s": round(time.time() - started, 1)})
    confidence = {}
    for name, rec in (("greedy", greedy), ("tuned", tuned)):
        scores, labels = [], []
        for u in items:
            words = rec.transcribe(u.audio_filepath).words
            for _, h, kind in aligned_pairs(u.text.split(), [w.word for w in words]):
                if h is not None:
                    scores.append(words[h].confidence)
                    labels.append(kind == "equal")
        confidence[name] = {"auc": round(roc_auc(scores, labels), 4), "words": len(labels),
                            "wrong": int(len(labels) - sum(labels))}
    write_json(f"{args.results}/word_confidence.json", {
        "what": "ROC AUC of word confidence, correct vs wrong words, AN4 test, tuned decoding",
        "value": confidence["tuned"]["auc"], "unit": "", "decoders": confidence, "model": args.model, **provenance,
        "wall_s": round(time.time() - started, 1)})
    print(timing, confidence)


if __name__ == "__main__":
    main()
