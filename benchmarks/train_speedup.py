"""Training speed-up of a recipe at this checkout over a baseline recipe at an earlier commit, measured back to back.

    python benchmarks/train_speedup.py [--baseline 7bbba6f:recipes/an4_ds2.yaml] [--recipe recipes/an4_fast.yaml]
                                       [--epochs 1] [--repeats 2] [--full-runs BASE_SUMMARY NEW_SUMMARY]
    (make bench-train-speedup)

The baseline runs from a git worktree of its commit (its own code and recipe, with this checkout's `data/` linked
in), the candidate from this checkout. Runs alternate (baseline, candidate, baseline, ...) so that a machine whose
speed drifts during the benchmark moves both alike. Each run is a real `ctcasr train` of --epochs epochs from the
recipe's seed; its summary gives audio seconds per second of training and peak RSS. --full-runs names the two
shipped models' training summaries (all epochs of each recipe), whose best dev WERs show what the speed costs.
Writes results/train_speedup_<recipe>.json: the ratio of the median throughputs, each side's peak RSS, every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ctcasr.files import write_json
from ctcasr.provenance import stamp


def remove_worktree(where: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(where)], check=False, capture_output=True)
    shutil.rmtree(where, ignore_errors=True)


def worktree(revision: str, where: Path) -> Path:
    """A detached checkout of `revision` at `where` with this checkout's data folder linked in."""
    remove_worktree(where)
    subprocess.run(["git", "worktree", "add", "--detach", str(where), revision], check=True, capture_output=True)
    (where / "data").symlink_to(Path("data").resolve())
    return where


def train(source: Path, recipe: str, out_dir: Path, epochs: int) -> dict:
    """One `ctcasr train` run of the code in `source` (cwd and PYTHONPATH), its summary's speed and memory."""
    shutil.rmtree(out_dir, ignore_errors=True)
    command = [sys.executable, "-m", "ctcasr.cli", "train", recipe, f"trainer.out_dir={out_dir.resolve()}",
               f"trainer.epochs={epochs}"]
    print(f"$ (in {source}) {shlex.join(command[2:])}", flush=True)
    env = {**os.environ, "PYTHONPATH": str((source / "src").resolve())}
    done = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{source}: training failed:\n{done.stderr[-2000:]}")
    summary = json.loads((out_dir / "train_summary.json").read_text())
    row = {k: summary.get(k) for k in ("commit", "throughput_audio_s_per_s", "peak_rss_mb", "train_s",
                                       "train_audio_s", "best_dev_wer")}
    print(f"  {row['throughput_audio_s_per_s']} audio-s/s, peak RSS {row['peak_rss_mb']} MB", flush=True)
    return row


def full_run(path: str) -> dict:
    summary = json.loads(Path(path).read_text())
    return {"summary": path, **{k: summary.get(k) for k in ("command", "commit", "epochs", "best_dev_wer",
                                                             "best_epoch", "throughput_audio_s_per_s",
                                                             "peak_rss_mb", "wall_s")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="7bbba6f:recipes/an4_ds2.yaml", help="REVISION:RECIPE")
    parser.add_argument("--recipe", default="recipes/an4_fast.yaml")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--full-runs", nargs=2, default=None, metavar=("BASELINE_SUMMARY", "SUMMARY"))
    parser.add_argument("--scratch", default="runs/train_speedup")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    started = time.time()
    revision, baseline_recipe = args.baseline.split(":", 1)
    scratch = Path(args.scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    old = worktree(revision, scratch / "baseline_src")
    runs: dict[str, list[dict]] = {"baseline": [], "candidate": []}
    try:
        for repeat in range(args.repeats):
            runs["baseline"].append(train(old, baseline_recipe, scratch / f"baseline_{repeat}", args.epochs))
            runs["candidate"].append(train(Path("."), args.recipe, scratch / f"candidate_{repeat}", args.epochs))
    finally:
        remove_worktree(old)
    speed = {side: statistics.median(r["throughput_audio_s_per_s"] for r in rows) for side, rows in runs.items()}
    memory = {side: max(r["peak_rss_mb"] for r in rows) for side, rows in runs.items()}
    out = Path(args.results) / f"train_speedup_{Path(args.recipe).stem}.json"
    write_json(out, {
        "what": f"training speed-up, {args.recipe} at this commit over {baseline_recipe} at {revision} "
                f"({args.epochs} epoch(s), {args.repeats} runs each, alternating)",
        "value": round(speed["candidate"] / speed["baseline"], 2), "unit": "x audio-s/s",
        "throughput_audio_s_per_s": speed, "peak_rss_mb": memory, "runs": runs,
        "full_runs": ({"baseline": full_run(args.full_runs[0]), "candidate": full_run(args.full_runs[1])}
                      if args.full_runs else None),
        **stamp(started)})
    print(f"{out}: {speed['candidate'] / speed['baseline']:.2f}x ({speed})")


if __name__ == "__main__":
    main()
