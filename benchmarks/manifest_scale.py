"""Data loading at LibriSpeech-960 scale: a 281,241-entry manifest pointing at the mirror's real audio.

    python benchmarks/manifest_scale.py [--mirror ../shared/data] [--entries 281241] [--world-size 8]

Measures what training does before its first step — read the manifest, encode every transcript, build the
duration buckets and this rank's shard — and the first batch, with peak memory; writes results/scale_281k.json.
Durations come from the manifest: no audio file is opened except those of the first batch.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from ctcasr.data.corpora import librispeech
from ctcasr.data.dataset import DurationBatchSampler, SpeechDataset, collate
from ctcasr.data.manifest import Utterance, read_manifest, write_manifest
from ctcasr.files import write_json
from ctcasr.memory import peak_rss_mb
from ctcasr.provenance import git_commit, machine_description
from ctcasr.units.char import CharTokenizer

TARGET_SECONDS, TARGET_MB = 10.0, 2048.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", default="../shared/data")
    parser.add_argument("--entries", type=int, default=281_241)
    parser.add_argument("--world-size", type=int, default=8)
    parser.add_argument("--out", default="results/scale_281k.json")
    args = parser.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        parts = librispeech.prepare(tmp, args.mirror, parts=("dev-clean", "test-clean"))
        real = read_manifest(parts["dev-clean"]) + read_manifest(parts["test-clean"])
        rng = np.random.default_rng(0)
        synthetic = []
        for i in range(args.entries):
            u = real[i % len(real)]
            synthetic.append(Utterance(u.audio_filepath, round(float(rng.uniform(1.0, 20.0)), 3), u.text, f"u{i}"))
        manifest = Path(tmp) / "train-960-synthetic.jsonl"
        write_manifest(manifest, synthetic, relative=False)
        del synthetic, real
        size_mb = manifest.stat().st_size / 2**20
        rss_before = peak_rss_mb()

        t0 = time.perf_counter()
        items = read_manifest(manifest)
        t_read = time.perf_counter() - t0
        dataset = SpeechDataset(items, CharTokenizer(), 16000)
        t_encode = time.perf_counter() - t0
        sampler = DurationBatchSampler(dataset.durations, 400.0, seed=0, sortagrad=True, rank=0,
                                       world_size=args.world_size)
        t_sampler = time.perf_counter() - t0
        batch = next(iter(DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)))
        t_first = time.perf_counter() - t0
        peak_mb = peak_rss_mb()

    report = {
        "what": f"time to first batch, {args.entries:,}-entry manifest (LibriSpeech-960 size), rank 0 of "
                f"{args.world_size}", "value": round(t_first, 2), "unit": "s",
        "peak_rss_mb": round(peak_mb, 1), "rss_before_loading_mb": round(rss_before, 1),
        "manifest_mb": round(size_mb, 1), "read_manifest_s": round(t_read, 2),
        "encode_transcripts_s": round(t_encode - t_read, 2), "build_batches_s": round(t_sampler - t_encode, 2),
        "first_batch_s": round(t_first - t_sampler, 2), "batches_on_this_rank": len(sampler),
        "first_batch_utterances": len(batch["texts"]),
        "targets": {"seconds_max": TARGET_SECONDS, "seconds_met": t_first <= TARGET_SECONDS,
                    "memory_mb_max": TARGET_MB, "memory_met": peak_mb <= TARGET_MB},
        "commit": git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(), "wall_s": round(time.time() - started, 1),
        "command": shlex.join(["python", *sys.argv]),
    }
    write_json(args.out, report)
    print(f"{args.entries:,} entries: first batch after {t_first:.2f} s (read {t_read:.2f} s, encode "
          f"{t_encode - t_read:.2f} s, batches {t_sampler - t_encode:.2f} s); peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
