"""Model families and output units compared on AN4 with the same wall-clock training budget on this CPU.

    python benchmarks/models.py CONFIG... [--train] [--data data] [--results results] [--alphas A,.. --betas B,..]
    (make bench-models trains and measures every configuration; one or two fit a session)

CONFIG is one of CONFIGS below (deepspeech2_char, quartznet_char, conformer_char, deepspeech2_bpe,
deepspeech2_phone, ...). With --train, the configurations' recipes are trained first (`ctcasr train RECIPE`,
resumed when the run folder has a checkpoint), their epochs sized to stay inside the budget: one after another,
or with --together at the same time with one thread each (the convolutional and attention models were trained
so; DeepSpeech2's GRUs gain more from a second thread). Then, with each run's best checkpoint (picked on dev):
- `ctcasr evaluate` on AN4 test, greedy (a phone model's greedy path is looked up in the lexicon) -> wer, cer;
  phone models also with their default lexicon-constrained search without an LM -> wer_lexicon;
- `ctcasr lm build` of AN4 *train* transcripts (3-gram), `ctcasr tune-lm` of alpha / beta on *dev*, then
  `ctcasr evaluate` on test once with the tuned settings -> wer_lm;
- params, train_minutes (to the best epoch and in all), audio_seconds_per_second and peak_rss_mb from the run.
Each configuration writes results/an4_<arch>_<units>.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ctcasr.checkpoint import read_checkpoint
from ctcasr.files import write_json
from ctcasr.provenance import stamp

BUDGET_MINUTES = 60.0


@dataclass(frozen=True)
class Config:
    arch: str
    units: str
    recipe: str
    run: str  # the run folder (or the folder of a shipped model's summary)
    model: str | None = None  # the checkpoint, when not RUN/best.pt


CONFIGS = {
    # the landed DeepSpeech2 run stands for its row: its best dev epoch (32) came after 46 of its 69 minutes
    "deepspeech2_char": Config("deepspeech2", "char", "recipes/an4_ds2.yaml", "models/an4_ds2", "models/an4_ds2.pt"),
    "quartznet_char": Config("quartznet", "char", "recipes/an4_quartznet.yaml", "runs/an4_quartznet"),
    "conformer_char": Config("conformer", "char", "recipes/an4_conformer.yaml", "runs/an4_conformer"),
    "deepspeech2_bpe": Config("deepspeech2", "bpe", "recipes/an4_ds2_bpe.yaml", "runs/an4_ds2_bpe"),
    "deepspeech2_phone": Config("deepspeech2", "phone", "recipes/an4_ds2_phone.yaml", "runs/an4_ds2_phone"),
}


def ctcasr(*args) -> str:
    command = [sys.executable, "-m", "ctcasr.cli", *map(str, args)]
    print("$ ctcasr " + shlex.join(command[3:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    sys.stderr.write(done.stderr[-3000:])
    if done.returncode != 0:
        sys.exit(f"ctcasr {args[0]} failed")
    return done.stdout


def train(configs: list[Config], extra: list[str], together: bool) -> None:
    """Train the configurations (each resumed when its run folder has a checkpoint; logs in RUN.log): one after
    another with the recipe's threads, or `together` at the same time with one thread each."""
    running = []
    for config in configs:
        resume = ["--resume"] if (Path(config.run) / "lightning" / "last.ckpt").is_file() else []
        command = [sys.executable, "-m", "ctcasr.cli", "train", config.recipe, *resume,
                   f"trainer.out_dir={config.run}", *(["trainer.threads=1"] if together else []), *extra]
        print("$ " + shlex.join(command), flush=True)
        log = open(f"{config.run}.log", "a")  # noqa: SIM115 - closed when the run ends
        running.append((config, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log))
        if not together:
            _wait(*running.pop())
    for item in running:
        _wait(*item)


def _wait(config: Config, process: subprocess.Popen, log) -> None:
    code = process.wait()
    log.close()
    if code != 0:
        sys.exit(f"training {config.recipe} failed (see {config.run}.log)")


ALPHAS, BETAS = "0,0.25,0.5,0.75,1,1.25,1.5,2", "-1,0,1,2,3,4,5"


def measure(name: str, config: Config, data: Path, results: Path, grid: tuple[str, str] = (ALPHAS, BETAS)) -> dict:
    started = time.time()
    run = Path(config.run)
    model = Path(config.model or run / "best.pt")
    an4 = data / "an4"
    meta = read_checkpoint(model)["metadata"]
    summary = json.loads((run / "train_summary.json").read_text())
    scratch = run / "bench" if config.model is None else Path("runs") / "bench" / name  # not beside a shipped model
    scratch.mkdir(parents=True, exist_ok=True)

    def evaluate(out: str, *options) -> dict:
        ctcasr("evaluate", "--model", model, "--manifest", an4 / "test.jsonl", "--out", scratch / out, *options)
        return json.loads((scratch / out).read_text())

    greedy = evaluate("test_greedy.json", "--decoder", "greedy")
    row = {"what": f"AN4 test WER, {config.arch} + {config.units}, greedy, trained <= {BUDGET_MINUTES:.0f} min "
                   "on this CPU", "value": greedy["wer"], "unit": "%", "wer": greedy["wer"], "cer": greedy["cer"]}
    if config.units == "phone":
        lexicon = evaluate("test_lexicon.json", "--decoder", "beam")
        row |= {"wer_lexicon": lexicon["wer"], "cer_lexicon": lexicon["cer"]}
    lm = scratch / "an4_train_3gram.arpa"
    settings = scratch / "lm.decoding.yaml"
    ctcasr("lm", "build", an4 / "train.jsonl", "--order", 3, "--model", model, "--out", lm)
    ctcasr("tune-lm", "--model", model, "--manifest", an4 / "dev.jsonl", "--lm", lm, "--out", settings,
           "--beam", "32", f"--alphas={grid[0]}", f"--betas={grid[1]}")
    with_lm = evaluate("test_lm.json", "--decoding", settings)
    row |= {
        "wer_lm": with_lm["wer"], "cer_lm": with_lm["cer"], "lm": str(lm), "decoding": str(settings),
        "params": meta.get("num_parameters") or summary.get("num_parameters"),
        "train_minutes": round(meta["wall_s"] / 60, 1), "train_minutes_total": round(summary["wall_s"] / 60, 1),
        "best_epoch": meta.get("epoch"), "epochs": summary.get("epoch"),
        "audio_seconds_per_second": summary.get("throughput_audio_s_per_s"),
        "peak_rss_mb": summary.get("peak_rss_mb"), "threads": summary.get("threads"),
        "training": {k: summary.get(k) for k in ("command", "commit", "date", "machine", "wall_s", "best_dev_wer")},
        "model": str(model), "config": name, "lm_grid": {"alphas": grid[0], "betas": grid[1]},
        "budget": {"minutes": BUDGET_MINUTES, "met": meta["wall_s"] / 60 <= BUDGET_MINUTES},
    }
    row |= stamp(started)
    out = results / f"an4_{config.arch}_{config.units}.json"
    write_json(out, row)
    print(f"{out}: WER {row['wer']:.2f} greedy, {row['wer_lm']:.2f} with the AN4 3-gram "
          f"({row['train_minutes']} min to the best epoch)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", choices=sorted(CONFIGS))
    parser.add_argument("--train", action="store_true", help="train (or resume) the configurations first")
    parser.add_argument("--together", action="store_true", help="train them at the same time, one thread each")
    parser.add_argument("--data", default="data")
    parser.add_argument("--results", default="results")
    parser.add_argument("--train-args", default="", help="extra recipe overrides for --train")
    parser.add_argument("--alphas", default=ALPHAS, help="LM weights tune-lm tries on dev")
    parser.add_argument("--betas", default=BETAS, help="word bonuses tune-lm tries on dev")
    args = parser.parse_args()
    if args.train:
        train([CONFIGS[n] for n in args.configs], shlex.split(args.train_args), args.together)
    for name in args.configs:
        measure(name, CONFIGS[name], Path(args.data), Path(args.results), (args.alphas, args.betas))


if __name__ == "__main__":
    main()
