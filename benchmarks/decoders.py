"""CTC decoders on identical log-probs: greedy, ctcasr's own prefix beam search, flashlight-text and pyctcdecode,
at beams 10 / 50 / 100, without and with the AN4-train 3-gram (alpha / beta from models/an4_ds2.decoding.yaml,
tuned on dev for ctcasr's beam search and used as they are by pyctcdecode, whose scores mean the same; flashlight-text
gets its own, tuned on dev, from models/an4_ds2/flashlight.decoding.yaml).

    make bench-decoders      # = pip install --no-deps pyctcdecode pygtrie; python benchmarks/decoders.py

Inputs: the shipped model's log-probs on AN4 test (130 utterances, computed once, cached) and "long" synthetic
utterances made by joining 10 consecutive test utterances' log-probs (13 utterances of ~25-40 s). Every decoder
gets one utterance at a time on one thread; time is wall time of the decode call alone. Each tool keeps its own
default pruning. Writes results/decoders_an4.json and the README table between the decoders markers.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ctcasr.decoding import Decoder, DecoderConfig
from ctcasr.decoding.beam import path_score
from ctcasr.decoding.settings import load_decoding
from ctcasr.evaluation import char_errors, word_errors
from ctcasr.files import write_json, write_text
from ctcasr.provenance import git_commit, machine_description
from ctcasr.tune_lm import cached_log_probs

START, END = "<!-- decoders:start -->", "<!-- decoders:end -->"


def utterances(model: str, manifest: str, cache: str) -> tuple[list[np.ndarray], list[str], object]:
    """Per-utterance (T, V) log-probs in manifest order, the references and the model's tokenizer."""
    batches, refs, tokenizer = cached_log_probs(model, manifest, cache)
    arrays: list[np.ndarray] = [np.empty(0)] * len(refs)
    for indices, log_probs, lengths in batches:
        for row, index in enumerate(indices):
            arrays[index] = log_probs[row, : int(lengths[row])].numpy()
    return arrays, refs, tokenizer


def joined(arrays: list[np.ndarray], refs: list[str], group: int, space: int) -> tuple[list[np.ndarray], list[str]]:
    """Long utterances: `group` consecutive utterances' log-probs joined by a confident blank-space-blank gap."""
    gap = np.full((3, arrays[0].shape[1]), 1e-4)
    gap[[0, 2], 0] = gap[1, space] = 1.0
    gap = np.log(gap / gap.sum(axis=1, keepdims=True)).astype(arrays[0].dtype)
    out = []
    for i in range(0, len(arrays), group):
        parts = [piece for a in arrays[i: i + group] for piece in (a, gap)][:-1]
        out.append(np.concatenate(parts))
    return out, [" ".join(refs[i: i + group]) for i in range(0, len(refs), group)]


class OwnOrFlashlight:
    def __init__(self, config: DecoderConfig, tokenizer):
        self.decoder = Decoder(config, tokenizer, verbose=False)

    def __call__(self, array: np.ndarray) -> str:
        tensor = torch.from_numpy(array)[None]
        return self.decoder(tensor, torch.tensor([array.shape[0]]))[0]


class PyCTCDecode:
    def __init__(self, beam: int, lm: str | None, alpha: float, beta: float, alphabet: str):
        from pyctcdecode import build_ctcdecoder

        self.decoder = build_ctcdecoder(["", *alphabet], kenlm_model_path=lm, alpha=alpha, beta=beta)
        self.beam = beam

    def __call__(self, array: np.ndarray) -> str:
        return " ".join(self.decoder.decode(array, beam_width=self.beam).split())


def run(decode, arrays: list[np.ndarray], refs: list[str], tokenizer=None) -> dict:
    """WER, CER and decode time; with `tokenizer`, also the exact model log-probability of the answers, summed
    (what a search without an LM maximises: higher is a better search)."""
    hyps, seconds = [], 0.0
    for array in arrays:
        start = time.perf_counter()
        hyps.append(decode(array))
        seconds += time.perf_counter() - start
    result = {"wer": round(word_errors(refs, hyps).rate, 3), "cer": round(char_errors(refs, hyps).rate, 3),
              "ms_per_utt": round(1000 * seconds / len(arrays), 2), "seconds": round(seconds, 3)}
    if tokenizer is not None:
        result["log_prob"] = round(sum(path_score(a, tuple(tokenizer.encode(h))) for a, h in zip(arrays, hyps,
                                                                                                strict=True)), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--manifest", default="data/an4/test.jsonl")
    parser.add_argument("--decoding", default="models/an4_ds2.decoding.yaml", help="alpha, beta and the LM")
    parser.add_argument("--flashlight-decoding", default="models/an4_ds2/flashlight.decoding.yaml",
                        help="flashlight-text's own alpha / beta (tuned on dev; its beta is per space token)")
    parser.add_argument("--beams", default="10,50,100")
    parser.add_argument("--decoders", default="ctcasr,flashlight,pyctcdecode")
    parser.add_argument("--cache-dir", default="runs/cache")
    parser.add_argument("--out", default="results/decoders_an4.json")
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--table-only", action="store_true", help="only re-render the README table from --out")
    args = parser.parse_args()
    if args.table_only:
        update_table(json.loads(Path(args.out).read_text()), Path(args.out), Path(args.readme))
        return
    started = time.time()
    torch.set_num_threads(1)
    tuned = load_decoding(args.decoding)
    flashlight_tuned = load_decoding(args.flashlight_decoding) if Path(args.flashlight_decoding).is_file() else tuned
    arrays, refs, tokenizer = utterances(args.model, args.manifest, args.cache_dir)
    sets = {"an4 test": (arrays, refs), "long (10 joined)": joined(arrays, refs, 10, tokenizer.alphabet.index(" ") + 1)}
    rows = []

    def record(name: str, beam: int | None, lm: bool, make) -> None:
        decode = make()
        for set_name, (a, r) in sets.items():
            result = {"decoder": name, "beam": beam, "lm": lm, "set": set_name, "utterances": len(a),
                      "frames": int(sum(x.shape[0] for x in a)), **run(decode, a, r, None if lm else tokenizer)}
            rows.append(result)
            print(json.dumps(result), flush=True)

    record("greedy", None, False, lambda: OwnOrFlashlight(DecoderConfig(), tokenizer))
    for beam in (int(b) for b in args.beams.split(",")):
        for lm in (False, True):
            lm_path = tuned.lm if lm else None
            for name in args.decoders.split(","):
                if name == "ctcasr":
                    config = DecoderConfig(decoder="beam", beam=beam, lm=lm_path, alpha=tuned.alpha, beta=tuned.beta)
                    record("ctcasr beam", beam, lm, lambda c=config: OwnOrFlashlight(c, tokenizer))
                elif name == "flashlight":
                    config = DecoderConfig(decoder="flashlight", beam=beam, lm=lm_path, alpha=flashlight_tuned.alpha,
                                           beta=flashlight_tuned.beta)
                    record("flashlight-text (lexicon-free)", beam, lm, lambda c=config: OwnOrFlashlight(c, tokenizer))
                elif name == "pyctcdecode":
                    record("pyctcdecode", beam, lm,
                           lambda b=beam, p=lm_path: PyCTCDecode(b, p, tuned.alpha, tuned.beta, tokenizer.alphabet))
    report = {"what": "CTC decoders on identical AN4 log-probs", "rows": rows, "comparison": compare(rows),
              "alpha": tuned.alpha, "beta": tuned.beta,
              "flashlight_alpha": flashlight_tuned.alpha, "flashlight_beta": flashlight_tuned.beta,
              "lm": tuned.lm, "model": args.model, "manifest": args.manifest,
              "commit": git_commit(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_description(), "python": platform.python_version(), "threads": 1,
              "wall_s": round(time.time() - started, 1), "command": shlex.join(["python", *sys.argv])}
    write_json(args.out, report)
    update_table(report, Path(args.out), Path(args.readme))


def compare(rows: list[dict]) -> list[dict]:
    """ctcasr's beam search against pyctcdecode (target: as fast, WER as good) and flashlight-text (goal: <= 2x)."""
    keyed = {(r["decoder"], r["beam"], r["lm"], r["set"]): r for r in rows}
    out = []
    for (name, beam, lm, set_name), own in keyed.items():
        if name != "ctcasr beam":
            continue
        item = {"beam": beam, "lm": lm, "set": set_name}
        for other, label in (("pyctcdecode", "pyctcdecode"), ("flashlight-text (lexicon-free)", "flashlight")):
            theirs = keyed.get((other, beam, lm, set_name))
            if theirs:
                item[f"time_ratio_to_{label}"] = round(own["ms_per_utt"] / theirs["ms_per_utt"], 2)
                item[f"wer_minus_{label}"] = round(own["wer"] - theirs["wer"], 3)
        item["as_fast_as_pyctcdecode"] = item.get("time_ratio_to_pyctcdecode", 9e9) <= 1.0
        item["wer_as_good_as_pyctcdecode"] = item.get("wer_minus_pyctcdecode", 9e9) <= 0.0
        item["within_2x_of_flashlight"] = item.get("time_ratio_to_flashlight", 9e9) <= 2.0
        out.append(item)
    return out


def update_table(report: dict, out: Path, readme: Path) -> None:
    lines = ["| decoder | beam | LM | AN4 test WER % | ms / utt | Σ log P (no LM) | long WER % | ms / long utt |",
             "|---|---|---|---|---|---|---|---|"]
    keyed = {(r["decoder"], r["beam"], r["lm"], r["set"]): r for r in report["rows"]}
    for (name, beam, lm, set_name), r in keyed.items():
        if set_name != "an4 test":
            continue
        long = keyed[name, beam, lm, "long (10 joined)"]
        log_prob = f"{r['log_prob']:.2f}" if "log_prob" in r else ""
        lines.append(f"| {name} | {beam or ''} | {'3-gram' if lm else ''} | {r['wer']:.2f} | {r['ms_per_utt']:.1f} "
                     f"| {log_prob} | {long['wer']:.2f} | {long['ms_per_utt']:.1f} |")
    comparison = {(c["beam"], c["lm"], c["set"]): c for c in report.get("comparison", [])}
    if comparison:
        lines += ["", "| beam | LM | time ctcasr / pyctcdecode (AN4, long) | WER ctcasr − pyctcdecode (AN4, long) "
                  "| time ctcasr / flashlight-text (AN4, long) |", "|---|---|---|---|---|"]
        for beam, lm in dict.fromkeys((b, lm) for b, lm, _ in comparison):
            pair = [comparison.get((beam, lm, name), {}) for name in ("an4 test", "long (10 joined)")]
            cells = [" / ".join(f"{c.get(key, float('nan')):.2f}" for c in pair)
                     for key in ("time_ratio_to_pyctcdecode", "wer_minus_pyctcdecode", "time_ratio_to_flashlight")]
            lines.append(f"| {beam} | {'3-gram' if lm else ''} | " + " | ".join(cells) + " |")
    lines.append(f"\n`{report['command']}` at {report['commit']}, {report['date'][:10]}, {report['machine']}, one "
                 f"thread, {report['wall_s']:.0f} s in all; alpha {report['alpha']:g}, beta {report['beta']:g} "
                 f"(flashlight-text: {report.get('flashlight_alpha', report['alpha']):g}, "
                 f"{report.get('flashlight_beta', report['beta']):g}); "
                 f"[{out.name}]({out.parent.name}/{out.name})")
    text = readme.read_text(encoding="utf-8")
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = f"{head}{START}\n" + "\n".join(lines) + f"\n{END}{rest.split(END, 1)[1]}"
        write_text(readme, text)


if __name__ == "__main__":
    main()
