"""Is the default thread setting ever slower than one thread? `ctcasr evaluate` (greedy, AN4 test, the whole
command) on a quiet machine and beside one competing CPU-bound process, default threads vs `--threads 1`.

    python benchmarks/threads.py [--model models/an4_ds2.pt] [--manifest data/an4/test.jsonl]

Writes results/threads_busy.json; runs alternate (default, 1 thread, default, ...) so drift hits both alike.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from ctcasr.files import write_json
from ctcasr.provenance import git_commit, machine_description


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--manifest", default="data/an4/test.jsonl")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results/threads_busy.json")
    args = parser.parse_args()
    ctcasr = str(Path(sys.executable).with_name("ctcasr"))
    base = [ctcasr, "evaluate", "--model", args.model, "--manifest", args.manifest, "--decoder", "greedy"]
    variants = {"default": base, "1 thread": [*base, "--threads", "1"]}
    rows: dict[str, dict[str, list[float]]] = {}
    started = time.time()
    for load in ("quiet", "busy"):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
        try:
            for _ in range(args.repeats):
                for name, command in variants.items():
                    rows.setdefault(load, {}).setdefault(name, []).append(round(timed(command), 3))
        finally:
            if hog:
                hog.kill()
                hog.wait()
    medians = {load: {name: statistics.median(v) for name, v in runs.items()} for load, runs in rows.items()}
    ratio = medians["busy"]["default"] / medians["busy"]["1 thread"]
    write_json(args.out, {
        "what": "evaluate wall time beside a busy process, default threads / 1 thread (AN4 test, greedy)",
        "value": round(ratio, 3), "unit": "x (below 1: the default is faster)", "seconds": rows,
        "median_seconds": medians, "not_slower_than_one_thread": ratio <= 1.05,
        "commit": git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(), "wall_s": round(time.time() - started, 1),
        "command": shlex.join(["python", *sys.argv])})
    print({load: {k: f"{v:.2f} s" for k, v in m.items()} for load, m in medians.items()}, f"ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
