"""The streaming model against the offline one on AN4 test: WER (greedy, and each model's tuned decoding),
algorithmic look-ahead, how long after a word's end it first shows in a partial, and the compute real-time factor
per chunk.

    python benchmarks/streaming.py [--model models/an4_stream.pt] [--offline models/an4_ds2.pt]

Writes results/an4_stream_streaming.json (greedy) and results/an4_stream_streaming_lm.json (the models' decoding
files). Each utterance is replayed in `--chunk-ms` pieces as fast as possible; the "arrival" time of a partial is
the audio time at the end of the chunk that produced it, so delays are algorithmic + chunking, independent of this
machine's speed (the compute RTF is reported separately).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ctcasr import load  # noqa: E402
from ctcasr.audio import load as load_audio  # noqa: E402
from ctcasr.data.manifest import read_manifest  # noqa: E402
from ctcasr.evaluation import char_errors, word_errors  # noqa: E402
from ctcasr.files import write_json  # noqa: E402
from ctcasr.provenance import stamp  # noqa: E402
from ctcasr.streaming import lookahead_seconds  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def replay(recognizer, wave: np.ndarray, chunk: int) -> tuple[str, list[float], list[float]]:
    """Final text, per-word delays (first appearance in a partial minus the word's end), per-chunk compute RTF."""
    session = recognizer.stream(endpoint_seconds=None)
    first_seen: dict[tuple[int, str], float] = {}
    rtfs = []
    for i in range(0, wave.size, chunk):
        piece = wave[i:i + chunk]
        started = time.perf_counter()
        events = session.accept(piece)
        rtfs.append((time.perf_counter() - started) / (piece.size / recognizer.sample_rate))
        arrival = (i + piece.size) / recognizer.sample_rate
        for event in events:
            for n, w in enumerate(event.words):
                first_seen.setdefault((n, w.word), arrival)
    final = session.finish()
    words = final[-1].words if final else []
    end_of_audio = wave.size / recognizer.sample_rate
    delays = [first_seen.get((n, w.word), end_of_audio) - w.end for n, w in enumerate(words)]
    return session.text, delays, rtfs


def measure(model: str, offline_model: str, items: list, chunk_ms: float, decoding: str) -> dict:
    """Replay every utterance through `model`'s stream and compare with `offline_model`; `decoding` is `greedy`
    or `default` (each model's own tuned decoding file: beam search + LM for the shipped AN4 models)."""
    overrides = {"decoder": "greedy"} if decoding == "greedy" else {}
    streaming, offline = load(model, **overrides), load(offline_model, **overrides)
    refs = [u.text for u in items]
    chunk = round(chunk_ms / 1000 * streaming.sample_rate)
    hyps, delays, rtfs, offline_hyps, same = [], [], [], [], 0
    for u in items:
        wave = load_audio(u.audio_filepath, streaming.sample_rate)
        text, d, r = replay(streaming, wave, chunk)
        hyps.append(text)
        delays += d
        rtfs += r
        same += text == streaming.transcribe(wave, sample_rate=streaming.sample_rate).text
        offline_hyps.append(offline.transcribe(wave, sample_rate=offline.sample_rate).text)
    wer, wer_offline = word_errors(refs, hyps).rate, word_errors(refs, offline_hyps).rate
    described = "greedy" if decoding == "greedy" else "each model's tuned decoding (beam search + LM)"
    return {
        "what": f"streaming WER penalty vs the offline model, AN4 test, {described} ({model} vs {offline_model})",
        "value": round(100 * (wer - wer_offline) / wer_offline, 1), "unit": "% relative",
        "wer_streaming": round(wer, 2), "cer_streaming": round(char_errors(refs, hyps).rate, 2),
        "wer_offline": round(wer_offline, 2), "cer_offline": round(char_errors(refs, offline_hyps).rate, 2),
        "decoding_streaming": dataclasses.asdict(streaming.config),
        "decoding_offline": dataclasses.asdict(offline.config),
        "streamed_equals_offline_decoding_of_the_same_model": f"{same}/{len(items)}",
        "algorithmic_lookahead_ms": round(1000 * lookahead_seconds(streaming.model), 1),
        "chunk_ms": chunk_ms,
        "word_delay_ms": {"mean": round(1000 * statistics.fmean(delays), 1),
                          "p50": round(1000 * percentile(delays, 50), 1),
                          "p95": round(1000 * percentile(delays, 95), 1), "words": len(delays)},
        "compute_rtf_per_chunk": {"mean": round(statistics.fmean(rtfs), 4), "p95": round(percentile(rtfs, 95), 4),
                                  "threads": 1},
        "utterances": len(items)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_stream.pt")
    parser.add_argument("--offline", default="models/an4_ds2.pt")
    parser.add_argument("--manifest", default="data/an4/test.jsonl")
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument("--decodings", default="greedy,default",
                        help="greedy and/or default (each model's decoding file), comma-separated")
    parser.add_argument("--out", default="results/an4_stream_streaming.json",
                        help="the greedy results file; the default decoding's gets a _lm suffix")
    args = parser.parse_args()
    torch.set_num_threads(1)
    items = read_manifest(args.manifest)
    for decoding in args.decodings.split(","):
        started = time.time()
        report = measure(args.model, args.offline, items, args.chunk_ms, decoding)
        out = args.out if decoding == "greedy" else args.out.replace(".json", "_lm.json")
        write_json(out, {**report, **stamp(started)})
        print(f"{decoding}: streaming WER {report['wer_streaming']}, offline {report['wer_offline']}, "
              f"penalty {report['value']} % -> {out}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
