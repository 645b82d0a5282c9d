"""The shipped general model (recipes/en_small.yaml -> en_small_phone.yaml -> en_small_words.yaml): LMs, tuning on
dev, test once, robustness checks.

    python benchmarks/en_small.py [--model models/en_small.pt] [--compare models/an4_ds2.pt] [--data data]

Results files are named after the model file (`en_small_*.json`, `en_small_char_*.json`).

1. Builds the word 3-gram (AN4 + speechocean762 training transcripts + LJSpeech's 13,100 sentences, and every run
   of one to three words of AN4's training transcripts as a sentence of its own, `lm build --crops`, so that a
   letter or digit spoken alone is not taken for a likelier sentence-initial word: "e" for "he", "r" for "are")
   and trains the LSTM LM on the same text, beside the model.
2. Tunes alpha / beta (beam search + 3-gram) and then the LSTM rescoring weight on the pooled dev sets
   (AN4 dev + speechocean762 dev + the single words cut from AN4 dev of step 4); writes MODEL.decoding.yaml.
3. Evaluates AN4 test and speechocean762 test once, greedy and with the tuned decoding.
4. Robustness on data derived from dev (never test): telephone band (8 kHz files through a 300-3400 Hz band and
   G.711 mu-law) and single words cut out of AN4 dev at the quietest points of the gaps between force-aligned
   words (also trimmed tightly to their speech), for this model and `--compare` (greedy),
   and for this model with its tuned decoding.
A phone model is also measured on both test sets with its lexicon-constrained search without an LM.
Each measurement is a results file; the README table is regenerated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
from derived_sets import isolated_words, pooled, telephone_copy

from ctcasr.checkpoint import read_checkpoint
from ctcasr.decoding.settings import load_decoding, model_decoding_path
from ctcasr.evaluate import evaluate_decodings, evaluate_manifest
from ctcasr.files import write_json
from ctcasr.provenance import git_commit, machine_description
from ctcasr.report import update_readme
from ctcasr.tune_lm import open_tokenizer

LJ_TEXT = "../shared/data/ljspeech-metadata-full.csv"
TARGETS = {"so762_wer_greedy": 35.0, "so762_wer_greedy_stretch": 25.0, "so762_wer_lm": 28.0,
           "so762_wer_lm_stretch": 20.0, "an4_wer_greedy": 9.70}


def ctcasr(*args: str) -> None:
    command = [str(Path(sys.executable).with_name("ctcasr")), *map(str, args)]
    print("$", shlex.join(command[1:]), flush=True)
    subprocess.run(command, check=True)


def result(report: dict, what: str, command: str, extra: dict | None = None) -> dict:
    keep = {k: v for k, v in report.items() if k != "utterances"}
    return {**keep, "what": what, "value": report["wer"], "unit": "%", "command": command, **(extra or {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/en_small.pt")
    parser.add_argument("--compare", default="models/an4_ds2.pt", help="the AN4-only model, for the robustness rows")
    parser.add_argument("--also", action="append", default=[],
                        help="another model measured on the robustness sets, greedy and with its own decoding file "
                             "(e.g. the previous version of this one)")
    parser.add_argument("--data", default="data")
    parser.add_argument("--work", default="runs/en_small_bench")
    parser.add_argument("--init-summary", action="append", default=[],
                        help="train_summary.json of a run this one started from (init_from), once per earlier "
                             "stage: their minutes count in the training time")
    parser.add_argument("--lm-dir", default="models/en_small", help="where the n-gram and LSTM LMs are (built)")
    parser.add_argument("--results", default="results")
    parser.add_argument("--readme", help="README whose results table is rebuilt from --results (default: README.md "
                                         "when --results is results/; none for an experiment's folder)")
    parser.add_argument("--skip-lm", action="store_true", help="reuse the LMs and decoding file already there")
    parser.add_argument("--neural", action="store_true", help="also train the LSTM LM and tune n-best rescoring")
    parser.add_argument("--alphas", default="0.3,0.6,1.0,1.5")
    parser.add_argument("--betas", default="0,1.5,3")
    args = parser.parse_args()
    command = shlex.join(["python", *sys.argv])
    started = time.time()
    model, results, work = Path(args.model), Path(args.results), Path(args.work)
    tag, assets, lm_dir = model.stem, model.with_suffix(""), Path(args.lm_dir)  # models/en_small/
    lm_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    d = args.data
    an4_dev, an4_test = f"{d}/an4/dev.jsonl", f"{d}/an4/test.jsonl"
    so_dev, so_test = f"{d}/speechocean762/dev.jsonl", f"{d}/speechocean762/test.jsonl"
    texts = [f"{d}/an4/train.jsonl", f"{d}/speechocean762/train.jsonl", LJ_TEXT]
    crops = [f"{d}/an4/train.jsonl"]  # spoken digits and letters alone (speechocean762's made the words set worse)
    ngram, neural = lm_dir / "en_small_3gram.arpa.gz", lm_dir / "en_small_lstm.pt"
    decoding = model_decoding_path(model)
    words = {"an4_dev_isolated_words": isolated_words(args.compare, an4_dev, work / "words_an4"),
             "an4_dev_isolated_words_tight": isolated_words(args.compare, an4_dev, work / "words_an4_tight",
                                                            tight=True)}
    dev = pooled([an4_dev, so_dev, str(words["an4_dev_isolated_words"])], work / "dev_pooled.jsonl")

    if not args.skip_lm:
        if not ngram.is_file():
            ctcasr("lm", "build", *texts, *[f"--crops={c}" for c in crops], "--order", "3", "--out", ngram)
        rescoring, neural_train_s = [], None
        if args.neural:
            if not neural.is_file():
                t0 = time.time()
                ctcasr("lm", "train-neural", *texts, "--out", neural, "--epochs", "4", "--min-count", "2")
                neural_train_s = round(time.time() - t0, 1)
            rescoring = ["--rescore-lm", neural, "--rescore-weights=0.1,0.2,0.3,0.5,0.75"]
        ctcasr("tune-lm", "--model", model, "--manifest", dev, "--lm", ngram, "--out", decoding, "--beam", "32",
               f"--alphas={args.alphas}", f"--betas={args.betas}", *rescoring)
    if args.neural and neural.is_file():
        meta = torch.load(neural, weights_only=True)["metadata"]
        write_json(results / "en_small_neural_lm.json", {
            "what": "LSTM LM dev perplexity (every 20th training sentence held out)",
            "value": min(h["dev_perplexity"] for h in meta["history"]), "unit": "", "history": meta["history"],
            "train_sentences": meta.get("train_sentences"), "train_s": neural_train_s,
            "epochs_trained": len(meta["history"]),
            "train_command": f"ctcasr lm train-neural {' '.join(texts)} --out {neural} --epochs 4 --min-count 2",
            "note": "the training can be stopped early (the file holds the best epoch so far): epochs_trained says",
            "commit": git_commit(), "machine": machine_description(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "wall_s": neural_train_s,
            "command": command})
    tuned = load_decoding(decoding)
    greedy_cfg = dataclasses.replace(tuned, decoder="greedy", lm=None, rescore_lm=None)
    decodings = [("greedy", greedy_cfg), ("lm", tuned)]
    if open_tokenizer(model).lexical:  # the lexicon-constrained search on its own
        decodings.insert(1, ("search", dataclasses.replace(tuned, lm=None, rescore_lm=None)))
    labels = {"greedy": "greedy", "search": "lexicon search without LM", "lm": "tuned LM"}

    rows = {}
    for name, manifest in (("an4", an4_test), ("so762", so_test)):
        reports = evaluate_decodings(str(model), manifest, dict(decodings), command=command)
        for label, config in decodings:
            report = rows[f"{name}_{label}"] = reports[label]
            extra = {"decoding": dataclasses.asdict(config)}
            what = f"WER, {Path(manifest).parent.name}/test, {labels[label]}, {model.name}"
            write_json(results / f"{tag}_{name}_test{'' if label == 'greedy' else '_' + label}.json",
                       result(report, what, command, extra))
            print(f"{name} test {label}: WER {report['wer']:.2f} CER {report['cer']:.2f}", flush=True)
        if tuned.rescore_lm:  # the cost of the second pass, measured on the same test set
            first = dataclasses.replace(tuned, rescore_lm=None)
            report = evaluate_manifest(str(model), manifest, decoding=first, command=command)
            rows[f"{name}_first_pass"] = report

    for name in ("an4", "so762"):
        if f"{name}_first_pass" in rows:
            full, first = rows[f"{name}_lm"], rows[f"{name}_first_pass"]
            per_utt = (full["processing_seconds"] - first["processing_seconds"]) / full["num_utterances"] * 1000
            write_json(results / f"{tag}_{name}_rescoring.json", {
                "what": f"LSTM n-best rescoring, {name} test: WER with / without it, cost in ms per utterance",
                "value": round(per_utt, 2), "unit": "ms/utt", "wer_with": full["wer"], "wer_without": first["wer"],
                "commit": git_commit(), "machine": machine_description(), "command": command,
                "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "wall_s": None})

    robustness = {"what": "WER on dev-derived robustness sets (greedy)", "unit": "%", "sets": {}}
    sets = {"an4_dev": an4_dev, "so762_dev": so_dev,
            "an4_dev_telephone": telephone_copy(an4_dev, work / "tel_an4"),
            "so762_dev_telephone": telephone_copy(so_dev, work / "tel_so762"), **words}
    compare = Path(args.compare)
    for set_name, manifest in sets.items():
        found = {f"{tag}{suffix}": report for suffix, report in evaluate_decodings(
            str(model), str(manifest), {"": greedy_cfg, "_tuned": tuned}, command=command).items()}
        found[compare.stem] = evaluate_manifest(str(compare), str(manifest), decoding=greedy_cfg, command=command)
        for other in map(Path, args.also):
            own = load_decoding(model_decoding_path(other))
            found.update({f"{other.stem}{suffix}": report for suffix, report in evaluate_decodings(
                str(other), str(manifest), {"": greedy_cfg, "_tuned": own}, command=command).items()})
        for label, report in found.items():
            robustness["sets"].setdefault(set_name, {})[label] = {"wer": report["wer"], "cer": report["cer"],
                                                                  "utterances": report["num_utterances"]}
            print(f"{set_name} {label}: WER {report['wer']:.2f}", flush=True)
    robustness["value"] = robustness["sets"]["an4_dev_telephone"][tag]["wer"]
    robustness["what"] = f"WER, AN4 dev through a telephone channel (8 kHz, mu-law), greedy, {model.name}"
    robustness.update(commit=git_commit(), machine=machine_description(),
                      date=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), command=command,
                      wall_s=round(time.time() - started, 1))
    write_json(results / f"{tag}_robustness.json", robustness)

    summary = json.loads((assets / "train_summary.json").read_text())
    minutes = summary["train_s"] / 60
    before = {"init_from": summary.get("init_from"), "earlier_stages": []} if args.init_summary else {}
    for path in args.init_summary:  # the runs this one started from (init_from): their minutes count too
        earlier = json.loads(Path(path).read_text())
        before["earlier_stages"].append({"summary": path, "minutes": round(earlier["train_s"] / 60, 1),
                                         "command": earlier["command"], "epochs": earlier["epochs"]})
        minutes += earlier["train_s"] / 60
    so_lm, so_g, an4_g = rows["so762_lm"]["wer"], rows["so762_greedy"]["wer"], rows["an4_greedy"]["wer"]
    write_json(results / f"{tag}_training.json", {
        "what": f"{tag} training wall time, {summary['command']}", "value": round(summary["wall_s"] / 60, 1),
        "unit": "min", **{k: summary[k] for k in ("commit", "date", "machine", "wall_s", "command",
                                                  "throughput_audio_s_per_s", "peak_rss_mb", "epochs",
                                                  "best_epoch", "best_dev_wer", "num_parameters")},
        "checkpoint_epoch": read_checkpoint(model)["metadata"].get("epoch"),  # best.pt or last.pt
        **before, "total_minutes": round(minutes, 1),
        "targets": {**TARGETS, "so762_greedy_met": so_g <= TARGETS["so762_wer_greedy"],
                    "so762_lm_met": so_lm <= TARGETS["so762_wer_lm"], "an4_greedy_met": an4_g <=
                    TARGETS["an4_wer_greedy"], "train_minutes_max": 120, "train_minutes_met": minutes <= 120}})
    readme = args.readme or ("README.md" if results.resolve() == Path("results").resolve() else None)
    if readme:
        update_readme(results, readme)
    print(json.dumps({k: round(v["wer"], 2) for k, v in rows.items()}))


if __name__ == "__main__":
    main()
