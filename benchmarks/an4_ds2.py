"""AN4 benchmark of a trained model: dev and test WER / CER and speed (greedy), and its training cost.

    python benchmarks/an4_ds2.py [--model models/an4_ds2.pt] [--data data] [--results results]

Writes results/an4_ds2_dev.json, results/an4_ds2.json (test) and results/an4_ds2_training.json (wall time,
audio seconds per second and peak memory of the whole training run, from the run's train_summary.json, kept
next to the shipped model), each with the foundation issue's targets and whether they are met, then
regenerates the README's results table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ctcasr.checkpoint import read_checkpoint
from ctcasr.evaluate import evaluate_manifest
from ctcasr.files import write_json
from ctcasr.report import update_readme

TARGET_TEST_WER = 12.8  # pocketsphinx measured on this machine kind, with an AN4 LM: 12.81
STRETCH_TEST_WER = 9.5  # deepspeech.pytorch published: 9.573
TARGET_SPEED = 50.0  # x real time, greedy, on the 2-core CPU
TARGET_TRAIN_MINUTES = 90.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--data", default="data")
    parser.add_argument("--train-summary", default="models/an4_ds2/train_summary.json",
                        help="the training run's train_summary.json")
    parser.add_argument("--results", default="results")
    parser.add_argument("--readme", default="README.md")
    args = parser.parse_args()
    command = shlex.join(["python", *sys.argv])
    results = Path(args.results)

    dev = evaluate_manifest(args.model, f"{args.data}/an4/dev.jsonl", command=command)
    write_json(results / "an4_ds2_dev.json", dev)
    test = evaluate_manifest(args.model, f"{args.data}/an4/test.jsonl", command=command)
    test["targets"] = {"wer_max": TARGET_TEST_WER, "wer_met": test["wer"] <= TARGET_TEST_WER,
                       "stretch_wer_max": STRETCH_TEST_WER, "stretch_met": test["wer"] <= STRETCH_TEST_WER,
                       "speed_min_x_real_time": TARGET_SPEED,
                       "speed_met": test["real_time_factor_inverse"] >= TARGET_SPEED}
    write_json(results / "an4_ds2.json", test)

    meta = json.loads(Path(args.train_summary).read_text())
    best = read_checkpoint(args.model)["metadata"]
    if best["commit"] != meta["commit"] or best["command"] != meta["command"]:
        raise SystemExit(f"{args.train_summary} does not describe the run that produced {args.model}")
    minutes = meta["wall_s"] / 60
    training = {
        "what": "AN4 training wall time, recipes/an4_ds2.yaml (to the last epoch)", "value": round(minutes, 1),
        "unit": "min", "commit": meta["commit"], "date": meta["date"], "machine": meta["machine"],
        "wall_s": meta["wall_s"], "command": meta["command"],
        "throughput_audio_s_per_s": meta["throughput_audio_s_per_s"], "peak_rss_mb": meta["peak_rss_mb"],
        "peak_rss_workers_mb": meta["peak_rss_workers_mb"], "epochs": meta["epochs"],
        "best_epoch": meta["best_epoch"] + 1, "best_dev_wer": meta["best_dev_wer"],
        "num_parameters": meta["num_parameters"], "precision": meta["precision"],
        "targets": {"minutes_max": TARGET_TRAIN_MINUTES, "met": minutes <= TARGET_TRAIN_MINUTES},
    }
    write_json(results / "an4_ds2_training.json", training)
    update_readme(results, args.readme)
    print(f"AN4 dev WER {dev['wer']:.2f} / CER {dev['cer']:.2f}; test WER {test['wer']:.2f} / CER {test['cer']:.2f} "
          f"at {test['real_time_factor_inverse']:.0f}x real time; trained in {minutes:.1f} min")


if __name__ == "__main__":
    main()
