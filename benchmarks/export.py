"""ONNX export of a shipped model: parity with PyTorch on AN4 test, onnxruntime vs PyTorch speed at one thread
(both measured in this run, alternating), and the int8 model's size and WER.

    python benchmarks/export.py [--model models/an4_ds2.pt] [--manifest data/an4/test.jsonl]

Writes results/<model>_onnx.json. Speed: the acoustic model only (features + network; decoding is the same
code for both), utterance by utterance as `transcribe` runs them, best of `--repeats` passes each.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch and onnxruntime start their thread pools

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ctcasr.acoustic import TorchAcoustic  # noqa: E402
from ctcasr.audio import load  # noqa: E402
from ctcasr.checkpoint import load_model  # noqa: E402
from ctcasr.data.manifest import read_manifest  # noqa: E402
from ctcasr.decoding.greedy import greedy_decode  # noqa: E402
from ctcasr.evaluation import word_errors  # noqa: E402
from ctcasr.export import export_model, open_export  # noqa: E402
from ctcasr.files import write_json  # noqa: E402
from ctcasr.provenance import stamp  # noqa: E402


def run_all(acoustic, waves: list[np.ndarray]) -> tuple[list, float]:
    start = time.perf_counter()
    outputs = [acoustic.log_probs([w]) for w in waves]
    return outputs, time.perf_counter() - start


def texts(acoustic, outputs) -> list[str]:
    return [acoustic.tokenizer.decode(greedy_decode(lp, n)[0]) for lp, n in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/an4_ds2.pt")
    parser.add_argument("--manifest", default="data/an4/test.jsonl")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    started = time.time()
    torch.set_num_threads(1)
    items = read_manifest(args.manifest)
    waves = [load(u.audio_filepath, 16000) for u in items]
    audio_s = sum(w.size for w in waves) / 16000
    pytorch = TorchAcoustic(load_model(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        export_model(args.model, "onnx", Path(tmp) / "fp32")
        export_model(args.model, "onnx", Path(tmp) / "int8", quantize="int8")
        fp32, int8 = open_export(Path(tmp) / "fp32"), open_export(Path(tmp) / "int8")
        sizes = {name: (Path(tmp) / name / "model.onnx").stat().st_size for name in ("fp32", "int8")}
        seconds: dict[str, list[float]] = {"pytorch": [], "onnxruntime": [], "onnxruntime_int8": []}
        for _ in range(args.repeats):  # alternate, so drift on the machine hits each alike
            ref, t = run_all(pytorch, waves)
            seconds["pytorch"].append(t)
            out, t = run_all(fp32, waves)
            seconds["onnxruntime"].append(t)
            quant, t = run_all(int8, waves)
            seconds["onnxruntime_int8"].append(t)
    diffs = [float(np.abs(a[0][0, : a[1][0]] - b[0][0, : b[1][0]]).max()) for a, b in zip(out, ref, strict=True)]
    refs = [u.text for u in items]
    hyp_ref, hyp_onnx, hyp_int8 = texts(pytorch, ref), texts(fp32, out), texts(int8, quant)
    best = {k: min(v) for k, v in seconds.items()}
    name = Path(args.model).stem
    write_json(args.out or f"results/{name}_onnx.json", {
        "what": f"ONNX export of {name}: onnxruntime / PyTorch speed at 1 thread (acoustic model, AN4 test)",
        "value": round(best["pytorch"] / best["onnxruntime"], 3), "unit": "x (above 1: onnxruntime is faster)",
        "max_abs_log_prob_difference": max(diffs), "utterances": len(items), "audio_seconds": round(audio_s, 1),
        "identical_greedy_transcripts": sum(a == b for a, b in zip(hyp_ref, hyp_onnx, strict=True)),
        **{f"wer_{k}": round(word_errors(refs, h).rate, 2)
           for k, h in (("pytorch", hyp_ref), ("onnx", hyp_onnx), ("int8", hyp_int8))},
        "size_mb": {k: round(v / 2**20, 2) for k, v in sizes.items()},
        "seconds": {k: [round(x, 3) for x in v] for k, v in seconds.items()},
        "x_real_time": {k: round(audio_s / v, 1) for k, v in best.items()},
        "int8_speed_vs_fp32": round(best["onnxruntime"] / best["onnxruntime_int8"], 3),
        "threads": 1, **stamp(started)})


if __name__ == "__main__":
    sys.exit(main())
