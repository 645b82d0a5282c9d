"""AN4 models on dev-derived robustness sets, each with its default decoding (its decoding file) and greedy: AN4 dev,
single words cut out of it at force-aligned word boundaries (also tightly trimmed), and its telephone-band copy.

    python benchmarks/robustness.py --model models/an4_stream.pt [--model OTHER.pt ...] --out results/X.json

A model may be given as NAME=PATH (e.g. a previous version, `previous=/tmp/old.pt`, decoded with the decoding file
beside it). Never touches test.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

from derived_sets import isolated_words, telephone_copy

from ctcasr.decoding.settings import load_decoding, model_decoding_path
from ctcasr.evaluate import evaluate_decodings
from ctcasr.files import write_json
from ctcasr.provenance import git_commit, machine_description


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help="PATH or NAME=PATH (repeatable)")
    parser.add_argument("--aligner", default="models/an4_ds2.pt", help="the model whose forced alignment cuts words")
    parser.add_argument("--dev", default="data/an4/dev.jsonl")
    parser.add_argument("--work", default="runs/an4_derived")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started, work = time.time(), Path(args.work)
    sets = {"an4_dev": args.dev,
            "an4_dev_isolated_words": str(isolated_words(args.aligner, args.dev, work / "words_an4")),
            "an4_dev_isolated_words_tight": str(isolated_words(args.aligner, args.dev, work / "words_an4_tight",
                                                               tight=True)),
            "an4_dev_telephone": str(telephone_copy(args.dev, work / "tel_an4"))}
    rows: dict[str, dict] = {}
    for given in args.model:
        name, _, path = given.rpartition("=")
        name = name or Path(path).stem
        default = load_decoding(model_decoding_path(Path(path)))
        greedy = dataclasses.replace(default, decoder="greedy", lm=None, rescore_lm=None)
        for set_name, manifest in sets.items():
            for label, report in evaluate_decodings(path, manifest, {"default": default, "greedy": greedy}).items():
                rows.setdefault(set_name, {})[f"{name}_{label}"] = {
                    "wer": report["wer"], "cer": report["cer"], "utterances": report["num_utterances"]}
                print(f"{set_name} {name} {label}: WER {report['wer']:.2f}", flush=True)
    first = args.model[0].rpartition("=")[0] or Path(args.model[0].rpartition("=")[2]).stem
    write_json(args.out, {
        "what": f"WER on single words cut from AN4 dev, default decoding, {first}",
        "value": rows["an4_dev_isolated_words"][f"{first}_default"]["wer"], "unit": "%", "sets": rows,
        "commit": git_commit(), "machine": machine_description(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "wall_s": round(time.time() - started, 1),
        "command": shlex.join(["python", *sys.argv])})


if __name__ == "__main__":
    main()
