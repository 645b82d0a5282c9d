"""Training throughput and memory of one recipe under different process, thread and allocator settings.

    python benchmarks/train_settings.py [--recipe recipes/an4_ds2.yaml] [--epochs 1] [--variants a,b,...]

Each variant is a real `ctcasr train RECIPE` run of the same epochs from the same seed in a scratch folder
(runs/train_settings/<variant>), one after another on an otherwise quiet machine; its train_summary.json gives
audio seconds per second of training, peak RSS, and the dev WER after those epochs (so a faster setting that
learns less shows). Variants:
- `2 threads`: one process, two torch threads, glibc's and torch's own allocation (the earlier default);
- `1 thread`: one process, one thread;
- `2 threads + mmap 1 MiB`: as the first with `trainer.mmap_threshold_kb=1024` (ctcasr.memory);
- `2 threads + mmap 1 MiB + THP` (the training default now): and torch's `THP_MEM_ALLOC_ENABLE=1` (large
  blocks 2 MiB-aligned and advised into transparent huge pages: fewer page faults for freshly mapped memory);
- `2 threads + mmap 8 MiB`: a higher fixed threshold (fewer blocks mapped);
- `2 ranks x 1 thread`: Lightning CPU DDP (gloo), two single-thread processes, each with half the batch seconds
  so the optimiser sees the same batches' worth of audio per step.
Writes results/train_settings_<recipe>.json; variants measured earlier and not re-run stay in it (each row has its
own commit and date).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ctcasr.config import load_recipe
from ctcasr.files import write_json
from ctcasr.provenance import stamp


def variants(batch_seconds: float) -> dict[str, list[str]]:
    plain = ["trainer.mmap_threshold_kb=0", "env:THP_MEM_ALLOC_ENABLE=0"]  # glibc's and torch's own allocation
    no_thp = "env:THP_MEM_ALLOC_ENABLE=0"
    return {
        "2 threads": ["trainer.threads=2", *plain],
        "1 thread": ["trainer.threads=1", *plain],
        "2 threads + mmap 1 MiB": ["trainer.threads=2", "trainer.mmap_threshold_kb=1024", no_thp],
        "2 threads + mmap 1 MiB + THP": ["trainer.threads=2", "trainer.mmap_threshold_kb=1024",
                                         "env:THP_MEM_ALLOC_ENABLE=1"],  # the training default
        "2 threads + mmap 8 MiB": ["trainer.threads=2", "trainer.mmap_threshold_kb=8192", no_thp],
        "2 ranks x 1 thread": ["trainer.threads=1", "trainer.devices=2", "trainer.accelerator=cpu",
                               "trainer.strategy=ddp", f"data.batch_seconds={batch_seconds / 2:g}", *plain],
    }


def run(recipe: str, name: str, overrides: list[str], epochs: int, scratch: Path) -> dict:
    out = scratch / name.replace(" ", "_").replace("+", "")
    shutil.rmtree(out, ignore_errors=True)
    env = dict(o[4:].split("=", 1) for o in overrides if o.startswith("env:"))
    recipe_overrides = [o for o in overrides if not o.startswith("env:")]
    command = [sys.executable, "-m", "ctcasr.cli", "train", recipe, f"trainer.out_dir={out}",
               f"trainer.epochs={epochs}", "trainer.max_minutes=null", *recipe_overrides]
    print("$ " + shlex.join(command[2:]), flush=True)
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        sys.exit(f"{name}: training failed:\n{done.stderr[-2000:]}")
    summary = json.loads((out / "train_summary.json").read_text())
    row = {"overrides": overrides, "wall_s": round(time.time() - started, 1),
           **{k: summary.get(k) for k in ("throughput_audio_s_per_s", "peak_rss_mb", "train_s", "train_audio_s",
                                          "best_dev_wer", "step", "threads", "world_size")}}
    print(f"  {name}: {row['throughput_audio_s_per_s']} audio-s/s, peak RSS {row['peak_rss_mb']} MB, "
          f"dev WER {row['best_dev_wer']}", flush=True)
    return row


def earlier_rows(out: Path) -> dict:
    """The variants an earlier run of this benchmark measured, each with the commit and date it was measured at."""
    if not out.is_file():
        return {}
    earlier = json.loads(out.read_text())
    provenance = {k: earlier.get(k) for k in ("commit", "date", "command")}
    return {name: {**provenance, **row} for name, row in earlier["variants"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/an4_ds2.yaml")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--variants", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--scratch", default="runs/train_settings")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    started = time.time()
    table = variants(load_recipe(args.recipe).data.batch_seconds)
    names = args.variants.split(",") if args.variants else list(table)
    out = Path(args.results) / f"train_settings_{Path(args.recipe).stem}.json"
    rows = earlier_rows(out)
    for name in names:
        rows[name] = run(args.recipe, name, table[name], args.epochs, Path(args.scratch))
        rows[name] |= {k: v for k, v in stamp(time.time()).items() if k in ("commit", "date", "command")}
    base = rows.get("2 threads")
    best = max(rows, key=lambda n: rows[n]["throughput_audio_s_per_s"] or 0)
    write_json(out, {
        "what": f"training throughput of {args.recipe} by setting, {args.epochs} epoch(s) each",
        "value": rows[best]["throughput_audio_s_per_s"], "unit": "audio-s/s", "fastest": best,
        "speedup_over_2_threads": (round(rows[best]["throughput_audio_s_per_s"] / base["throughput_audio_s_per_s"],
                                         3) if base else None),
        "variants": rows, **stamp(started),
    })
    print(f"{out}: fastest {best}")


if __name__ == "__main__":
    main()
