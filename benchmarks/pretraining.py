"""Does pretraining on AN4 help speechocean762? Two arms with the same network and the same training compute
(audio seconds through the network), from scratch:

    joint:      AN4 + speechocean762 together (recipes/en_small_lstm.yaml, phones) for --joint-epochs epochs;
    an4_first:  AN4 alone for --an4-epochs epochs, then AN4 + speechocean762 from that model for the joint
                epochs that remain once the AN4 epochs' audio is paid for.

    python benchmarks/pretraining.py [--recipe recipes/en_small_lstm.yaml] [--joint-epochs 8] [--an4-epochs 12]

Each arm is real `ctcasr train` runs (runs/pretrain_<recipe>_<arm>*/), compared on both dev sets by greedy WER at
the best epoch, then on speechocean762 test once. Stopped (or killed) and started again, it skips the runs that finished
and resumes the one that was stopped from its last epoch. Writes results/experiments/pretraining_so762.json (kept out of
the README table: the arms are short runs that answer a question, not shipped models).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from ctcasr.files import write_json
from ctcasr.provenance import stamp

AN4_TRAIN = "data/an4/train_aligned.jsonl"  # word times for recipes with crops; the same audio and text


def train(recipe: str, out_dir: str, epochs: int, *overrides: str) -> dict:
    """One `ctcasr train` run; its summary (wall time, audio seconds, best dev WER). A run that finished in an
    earlier call is not run again; one that was stopped continues from its last epoch (`--resume`), so the
    benchmark can be stopped and started again across sessions."""
    summary = Path(out_dir) / "train_summary.json"
    if summary.is_file() and (done := json.loads(summary.read_text()))["epoch"] == epochs:
        print(f"{out_dir}: finished earlier", flush=True)
        return done
    resume = ["--resume"] if (Path(out_dir) / "lightning" / "last.ckpt").is_file() else []
    command = [str(Path(sys.executable).with_name("ctcasr")), "train", recipe, *resume,
               f"trainer.out_dir={out_dir}", f"trainer.epochs={epochs}",
               "trainer.max_minutes=null", *overrides]  # equal audio in both arms: no run cut by the clock
    print("$", shlex.join(command[1:]), flush=True)
    subprocess.run(command, check=True)
    return json.loads(summary.read_text())


def dev_wers(out_dir: str) -> dict:
    """Each dev set's greedy WER at the epoch the run kept (best combined dev WER)."""
    history = json.loads((Path(out_dir) / "history.json").read_text())
    best = min(history, key=lambda row: (row["dev_wer"], row["dev_loss"]))
    return {k: v for k, v in best.items() if k.startswith("dev_") or k == "epoch"}


def test_wer(out_dir: str) -> float:
    """speechocean762 test WER, greedy, of the run's best checkpoint: the report `ctcasr train` wrote at its end
    (the recipe's test manifests)."""
    return json.loads((Path(out_dir) / "eval_speechocean762_test.json").read_text())["wer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/en_small_lstm.yaml")
    parser.add_argument("--joint-epochs", type=int, default=8)
    parser.add_argument("--an4-epochs", type=int, default=12)
    parser.add_argument("--out", default="results/experiments/pretraining_so762.json")
    args = parser.parse_args()
    started = time.time()
    arms, runs = {}, f"runs/pretrain_{Path(args.recipe).stem}"
    joint = train(args.recipe, f"{runs}_joint", args.joint_epochs)
    arms["joint"] = {"runs": [joint], "dev": dev_wers(f"{runs}_joint"), "test_so762_wer": test_wer(f"{runs}_joint")}
    an4 = train(args.recipe, f"{runs}_an4", args.an4_epochs,
                f"data.train_manifest=[{AN4_TRAIN}]", "data.train_weights=[1.0]",
                "data.dev_manifest=[data/an4/dev.jsonl]", "data.test_manifests=[data/an4/test.jsonl]")
    per_joint_epoch = joint["train_audio_s"] / args.joint_epochs
    remaining = max(1, round((joint["train_audio_s"] - an4["train_audio_s"]) / per_joint_epoch))
    then = train(args.recipe, f"{runs}_an4_then_joint", remaining,
                 f"trainer.init_from={runs}_an4/best.pt")
    arms["an4_first"] = {"runs": [an4, then], "dev": dev_wers(f"{runs}_an4_then_joint"),
                         "test_so762_wer": test_wer(f"{runs}_an4_then_joint")}
    for arm in arms.values():
        arm["train_audio_s"] = round(sum(r["train_audio_s"] for r in arm["runs"]), 1)
        arm["train_wall_s"] = round(sum(r["wall_s"] for r in arm["runs"]), 1)
        arm["runs"] = [{k: r.get(k) for k in ("command", "epochs", "best_epoch", "best_dev_wer", "wall_s",
                                               "train_audio_s", "throughput_audio_s_per_s")} for r in arm["runs"]]
    gain = arms["joint"]["test_so762_wer"] - arms["an4_first"]["test_so762_wer"]
    write_json(args.out, {
        "what": "speechocean762 test WER, greedy: training on AN4 + speechocean762 at once minus AN4 first "
                "then both (same network and training audio)",
        "value": round(gain, 2), "unit": "WER points (positive: AN4 first helps)", "arms": arms,
        "recipe": args.recipe, **stamp(started)})
    print(f"joint {arms['joint']['test_so762_wer']:.2f}, AN4 first {arms['an4_first']['test_so762_wer']:.2f} "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
