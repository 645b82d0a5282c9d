"""AN4 with a word LM: the LM is built from AN4 *train* transcripts only, alpha / beta are tuned on *dev* only,
and test is decoded once with the chosen settings.

    python benchmarks/an4_lm.py [--model models/an4_ds2.pt] [--data data] [--results results]

Steps (each a `ctcasr` command, recorded in the results): `ctcasr lm build` (3-gram, modified Kneser-Ney) ->
models/an4_ds2/an4_train_3gram.arpa; `ctcasr tune-lm` on dev -> models/an4_ds2.decoding.yaml (so `ctcasr
transcribe` uses it by default); `ctcasr evaluate --decoding` on test -> results/an4_ds2_lm.json. An uppercase copy
of the same ARPA is decoded with the same settings -> results/an4_ds2_lm_uppercase.json; the two must be
identical. Then the n-best list of that first pass is rescored by a 5-gram of the same text, its weight tuned on
dev -> results/an4_ds2_lm_rescored.json (models/an4_ds2/rescore.decoding.yaml); and the flashlight-text backend
with the same LM, alpha / beta tuned for it on dev -> results/an4_ds2_lm_flashlight.json. Targets (issue 3): test WER at
least 25 % lower than greedy, and below pocketsphinx's 12.81.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from ctcasr.files import write_json, write_text
from ctcasr.report import update_readme

TARGET_RELATIVE_REDUCTION = 25.0  # % below greedy
POCKETSPHINX_WER = 12.81


def ctcasr(*args: str) -> str:
    command = [sys.executable, "-m", "ctcasr.cli", *map(str, args)]
    print("$ ctcasr " + shlex.join(command[3:]), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode != 0:
        sys.exit(f"ctcasr {args[0]} failed")
    print(done.stdout, end="", flush=True)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--data", default="data")
    parser.add_argument("--order", type=int, default=3)
    parser.add_argument("--rescore-order", type=int, default=5, help="second-pass n-gram for n-best rescoring")
    parser.add_argument("--results", default="results")
    parser.add_argument("--readme", default="README.md")
    args = parser.parse_args()
    model = Path(args.model)
    lm = model.with_suffix("") / f"an4_train_{args.order}gram.arpa"
    settings = model.with_name(f"{model.stem}.decoding.yaml")
    results = Path(args.results)
    an4 = Path(args.data) / "an4"

    ctcasr("lm", "build", an4 / "train.jsonl", "--order", args.order, "--out", lm)
    ctcasr("tune-lm", "--model", model, "--manifest", an4 / "dev.jsonl", "--lm", lm, "--out", settings,
           "--beam", "32", "--alphas=0,0.25,0.5,0.75,1,1.25,1.5,2", "--betas=-1,0,1,2,3,4,5")
    greedy_out = results / "an4_ds2.json"
    if not greedy_out.is_file():
        ctcasr("evaluate", "--model", model, "--manifest", an4 / "test.jsonl", "--out", greedy_out)
    greedy = json.loads(greedy_out.read_text())
    lm_out = results / "an4_ds2_lm.json"
    ctcasr("evaluate", "--model", model, "--manifest", an4 / "test.jsonl", "--decoding", settings, "--out", lm_out)

    with tempfile.TemporaryDirectory() as tmp:
        upper = Path(tmp) / "AN4_UPPER.arpa"
        upper.write_text("\n".join(line if line.startswith(("\\", "ngram ")) else
                                   line.upper().replace("<S>", "<s>").replace("</S>", "</s>").replace("<UNK>", "<unk>")
                                   for line in lm.read_text().splitlines()) + "\n")
        upper_out = results / "an4_ds2_lm_uppercase.json"
        ctcasr("evaluate", "--model", model, "--manifest", an4 / "test.jsonl", "--decoding", settings,
               "--lm", upper, "--out", upper_out)

    # two-stage: the first pass's n-best list (the whole beam) rescored by a higher-order n-gram, weight tuned on dev
    big = model.with_suffix("") / f"an4_train_{args.rescore_order}gram.arpa"
    ctcasr("lm", "build", an4 / "train.jsonl", "--order", args.rescore_order, "--out", big)
    tuned = yaml.safe_load(settings.read_text())["decoding"]
    rescore_settings = model.with_suffix("") / "rescore.decoding.yaml"
    ctcasr("tune-lm", "--model", model, "--manifest", an4 / "dev.jsonl", "--lm", lm, "--out", rescore_settings,
           "--beam", "32", f"--alphas={tuned['alpha']}", f"--betas={tuned['beta']}", "--rescore-lm", big,
           "--rescore-weights=0,0.1,0.25,0.5,0.75,1")
    rescored_out = results / "an4_ds2_lm_rescored.json"
    ctcasr("evaluate", "--model", model, "--manifest", an4 / "test.jsonl", "--decoding", rescore_settings,
           "--out", rescored_out)

    # the flashlight-text backend with the same LM, its own alpha / beta tuned on dev (its beta is per space token)
    flashlight_settings = model.with_suffix("") / "flashlight.decoding.yaml"
    ctcasr("tune-lm", "--model", model, "--manifest", an4 / "dev.jsonl", "--lm", lm, "--out", flashlight_settings,
           "--decoder", "flashlight", "--beam", "32", "--alphas=0,0.25,0.5,0.75,1,1.5", "--betas=-2,-1,0,1,2,3")
    flashlight_out = results / "an4_ds2_lm_flashlight.json"
    ctcasr("evaluate", "--model", model, "--manifest", an4 / "test.jsonl", "--decoding", flashlight_settings,
           "--out", flashlight_out)

    report, upper_report = json.loads(lm_out.read_text()), json.loads(upper_out.read_text())
    reduction = 100.0 * (greedy["wer"] - report["wer"]) / greedy["wer"]
    same = [u["hypothesis"] for u in report["utterances"]] == [u["hypothesis"] for u in upper_report["utterances"]]
    report["what"] = (f"WER, an4/test, beam {report['decoder']['beam']} + AN4-train {args.order}-gram "
                      f"(alpha {report['decoder']['alpha']:g}, beta {report['decoder']['beta']:g} tuned on dev), "
                      f"{model.name}")
    report["targets"] = {"greedy_wer": greedy["wer"], "relative_reduction_pct": round(reduction, 2),
                         "relative_reduction_min_pct": TARGET_RELATIVE_REDUCTION,
                         "relative_reduction_met": reduction >= TARGET_RELATIVE_REDUCTION,
                         "pocketsphinx_wer": POCKETSPHINX_WER, "below_pocketsphinx": report["wer"] < POCKETSPHINX_WER,
                         "uppercase_lm_wer": upper_report["wer"], "uppercase_identical": same}
    report["command"] = shlex.join(["python", *sys.argv])
    write_json(lm_out, report)
    upper_report["what"] = report["what"].replace(f"{args.order}-gram", f"{args.order}-gram UPPERCASE copy")
    upper_report["command"] = report["command"]
    write_json(upper_out, upper_report)
    rescored = json.loads(rescored_out.read_text())
    chosen = rescored["decoder"]
    rescored["what"] = (report["what"].replace(", an4_ds2", "") + f"; n-best rescored by a {args.rescore_order}-gram"
                        f" (weight {chosen['rescore_weight']:g}, tuned on dev)" if chosen["rescore_lm"] else
                        report["what"] + f"; {args.rescore_order}-gram rescoring did not help on dev (not used)")
    rescored["command"] = report["command"]
    write_json(rescored_out, rescored)
    flashlight = json.loads(flashlight_out.read_text())
    flashlight["what"] = (f"WER, an4/test, flashlight-text beam {flashlight['decoder']['beam']} + AN4-train "
                          f"{args.order}-gram (alpha {flashlight['decoder']['alpha']:g}, beta "
                          f"{flashlight['decoder']['beta']:g} tuned on dev), {model.name}")
    flashlight["command"] = report["command"]
    write_json(flashlight_out, flashlight)
    write_text(model.with_suffix("") / "LM.md",
               f"`{lm.name}`: built by `{report['command']}` from AN4 train transcripts "
               "(© Carnegie Mellon University, AN4 licence in models/AN4-LICENSE).\n")
    print(f"test WER greedy {greedy['wer']:.2f} -> LM {report['wer']:.2f} ({reduction:.1f} % lower); "
          f"uppercase LM {upper_report['wer']:.2f} ({'identical' if same else 'DIFFERENT'})")
    update_readme(results, args.readme)


if __name__ == "__main__":
    main()
