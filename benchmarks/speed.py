"""Where training and inference time goes on this CPU, as ratios that hold across machines.

    python benchmarks/speed.py [--recipes recipes/an4_ds2.yaml ...] [--models models/an4_ds2.pt ...]
                               [--steps 12] [--warmup 3] [--threads 2]    (make bench-speed)

Training, per recipe (results/speed_train_<recipe>.json): a fixed number of optimiser steps on real AN4 batches
(the recipe's sampler, augmentation and model), after warm-up steps, each step timed by phase -- data loading
(audio read + collate), waveform augmentation, features, SpecAugment, encoder forward, CTC head + loss, backward,
optimiser -- giving audio seconds per second and peak RSS; the model's forward FLOPs per audio second (counted
with torch's FlopCounterMode, plus an analytic count for fused recurrent kernels it cannot see, such as oneDNN's
LSTM; training ~3x forward) and the fp32 matmul rate measured in the same run, so the
fraction of the machine's peak the training reaches is a ratio (of the best rate the run measured). Every recipe
after the first also gets its speed-up over the first, measured in the same run (so a machine that is slower
today moves both alike).
Inference, per model (results/speed_inference_<model>.json): the whole `ctcasr evaluate` command on AN4 test with
default settings (the checkpoint through its cached ONNX export), greedy and with the model's own decoding, on a
quiet machine and beside one competing CPU-bound process; the same with PyTorch (`--runtime torch`), greedy and
beam, at 1 and 2 threads; `ctcasr --help`, a first `ctcasr transcribe` (which exports the checkpoint), a later one
and one with PyTorch; greedy `evaluate` of the model exported with `ctcasr export` (quiet and busy); the model's
forward FLOPs per audio second and the one-thread matmul rate, whose ratio is the x real time a compute-bound
forward pass could reach on one core.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ctcasr.config import load_recipe
from ctcasr.data.dataset import DurationBatchSampler, SpeechDataset, collate
from ctcasr.data.manifest import read_manifest
from ctcasr.features import SpecAugment
from ctcasr.files import write_json
from ctcasr.memory import peak_rss_mb
from ctcasr.provenance import stamp
from ctcasr.training import build_asr_model

CTCASR = str(Path(sys.executable).with_name("ctcasr"))  # the CLI of this environment

PHASES = ("data", "augment", "features", "spec_augment", "encoder", "ctc", "backward", "optimizer")


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """The fp32 matrix-product rate of this machine at the current thread count (GFLOP/s, best of 3)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = max(best, 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


def recurrent_flops(module: torch.nn.RNNBase, inputs: tuple) -> float:
    """Multiply-adds (x2) of a recurrent layer stack over its valid frames: gates x hidden x (input + hidden) per
    frame, layer and direction. For the fused kernels (oneDNN's LSTM) that FlopCounterMode does not see."""
    x = inputs[0]
    frames = x.data.shape[0] if isinstance(x, torch.nn.utils.rnn.PackedSequence) else x.shape[:-1].numel()
    gates = {"LSTM": 4, "GRU": 3}.get(module.mode, 1)
    directions = 2 if module.bidirectional else 1
    total, width = 0.0, module.input_size
    for _ in range(module.num_layers):
        total += 2.0 * frames * directions * gates * module.hidden_size * (width + module.hidden_size)
        width = module.hidden_size * directions
    return total


def forward_flops(model, waves: torch.Tensor, lengths: torch.Tensor) -> float:
    """FLOPs of one forward pass: torch's FlopCounterMode, plus the analytic count of any recurrent module whose
    kernel the counter saw nothing of (a fused op it has no formula for)."""
    from torch.utils.flop_counter import FlopCounterMode

    seen_before, uncounted, handles = {}, [], []
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        def before(module, inputs):
            seen_before[module] = counter.get_total_flops()

        def after(module, inputs, output):
            if counter.get_total_flops() == seen_before[module]:
                uncounted.append(recurrent_flops(module, inputs))

        for module in model.modules():
            if isinstance(module, torch.nn.RNNBase):
                handles += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
        try:
            model(waves, lengths)
        finally:
            for handle in handles:
                handle.remove()
    return float(counter.get_total_flops()) + sum(uncounted)


def training_breakdown(recipe_path: str, steps: int, warmup: int) -> dict:
    recipe = load_recipe(recipe_path)
    torch.manual_seed(recipe.trainer.seed)
    model = build_asr_model(recipe).train()
    spec = SpecAugment(recipe.augment.spec_augment) if recipe.augment.spec_augment is not None else None
    items = [u for m in recipe.train_manifests for u in read_manifest(m)]
    dataset = SpeechDataset(items, model.tokenizer, recipe.features.sample_rate)  # augmentation timed apart
    from ctcasr.augment import WaveAugment

    augment = WaveAugment(recipe.augment, recipe.features.sample_rate, seed=0)
    sampler = DurationBatchSampler(dataset.durations, recipe.data.batch_seconds, shuffle=True, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.optim.lr)
    ctc = torch.nn.CTCLoss(zero_infinity=True)
    batches = iter(list(sampler))
    times = {p: [] for p in PHASES}
    audio, padded_audio, flops = 0.0, 0.0, None
    for step in range(warmup + steps):
        clock = {}
        t = time.perf_counter()
        raw = [dataset[i] for i in next(batches)]
        clock["data"] = time.perf_counter() - t
        t = time.perf_counter()
        raw = [(torch.from_numpy(augment(w.numpy())), y, s, 1.0) for w, y, s, _ in raw]
        clock["augment"] = time.perf_counter() - t
        t = time.perf_counter()
        batch = collate(raw)
        clock["data"] += time.perf_counter() - t
        t = time.perf_counter()
        feats, frames = model.features(batch["waves"], batch["wave_lens"])
        clock["features"] = time.perf_counter() - t
        t = time.perf_counter()
        if spec is not None:
            feats = spec(feats, frames)
        clock["spec_augment"] = time.perf_counter() - t
        t = time.perf_counter()
        encodings, lengths = model.encoder(feats, frames)
        clock["encoder"] = time.perf_counter() - t
        t = time.perf_counter()
        loss = ctc(model.head(encodings).transpose(0, 1), batch["targets"], lengths, batch["target_lens"])
        clock["ctc"] = time.perf_counter() - t
        t = time.perf_counter()
        optimizer.zero_grad()
        loss.backward()
        clock["backward"] = time.perf_counter() - t
        t = time.perf_counter()
        optimizer.step()
        clock["optimizer"] = time.perf_counter() - t
        if step == 0:
            flops = forward_flops(model, batch["waves"], batch["wave_lens"]) / (
                float(batch["wave_lens"].sum()) / recipe.features.sample_rate)
        if step >= warmup:
            for phase, seconds in clock.items():
                times[phase].append(seconds)
            audio += float(batch["wave_lens"].sum()) / recipe.features.sample_rate
            padded_audio += batch["waves"].numel() / recipe.features.sample_rate
    total = sum(sum(v) for v in times.values())
    peak = matmul_gflops()
    achieved = 3 * flops * audio / total / 1e9
    return {
        "what": f"training throughput, {Path(recipe_path).name} ({steps} steps of real AN4 batches)",
        "value": round(audio / total, 2), "unit": "audio s / s",
        "phases_s_per_step": {p: round(statistics.mean(v), 4) for p, v in times.items()},
        "phases_fraction": {p: round(sum(v) / total, 3) for p, v in times.items()},
        "padded_fraction": round(1 - audio / padded_audio, 3),
        "forward_gflop_per_audio_s": round(flops / 1e9, 3), "matmul_gflops": round(peak, 1),
        "achieved_gflops": round(achieved, 1), "fraction_of_matmul_peak": round(achieved / peak, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "threads": torch.get_num_threads(), "params": model.num_parameters(),
    }


def timed(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, **(env or {})})
    return time.perf_counter() - start


@contextlib.contextmanager
def machine_load(load: str) -> Iterator[None]:
    """`quiet`: nothing added; `busy`: one competing CPU-bound process for the duration of the block."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
    try:
        yield
    finally:
        if hog:
            hog.kill()
            hog.wait()


def inference(model: str, manifest: str, audio_seconds: float, sample: str) -> dict:
    rows = {}
    for load in ("quiet", "busy"):
        with machine_load(load):
            for decoder in ("greedy", "beam"):
                for threads in ("1", "2"):
                    seconds = timed([CTCASR, "evaluate", "--model", model, "--manifest", manifest, "--decoder",
                                     decoder, "--threads", threads, "--runtime", "torch"])
                    rows[f"{load}/{decoder}/{threads} threads"] = round(audio_seconds / seconds, 1)
    help_s = statistics.median(timed([CTCASR, "--help"]) for _ in range(3))
    with tempfile.TemporaryDirectory() as home:  # a fresh ctcasr cache: the first command exports the checkpoint
        first = timed([CTCASR, "transcribe", "--model", model, sample], {"CTCASR_HOME": home})
        defaults = default_settings(model, manifest, audio_seconds, {"CTCASR_HOME": home})
        later = statistics.median(timed([CTCASR, "transcribe", "--model", model, sample], {"CTCASR_HOME": home})
                                  for _ in range(3))
    torch_first = timed([CTCASR, "transcribe", "--model", model, sample, "--runtime", "torch"])
    return {"what": f"evaluate x real time (whole command), AN4 test, {Path(model).name}, greedy, busy machine, "
                    "default settings", "value": defaults["busy/greedy"], "unit": "x real time",
            "x_real_time_default": defaults, "x_real_time": rows,
            "x_real_time_onnx": exported(model, manifest, audio_seconds),
            "help_s": round(help_s, 3), "first_transcript_s": round(first, 3),
            "later_transcript_s": round(later, 3), "transcript_torch_s": round(torch_first, 3),
            **compute_bound(model, sample)}


def default_settings(model: str, manifest: str, audio_seconds: float, env: dict) -> dict:
    """`ctcasr evaluate` as a user types it (no flags: the checkpoint runs through its cached ONNX export, made
    by the first command), greedy and with the model's own decoding, quiet and beside one competing CPU-bound
    process; median of three runs each."""
    rows = {}
    for load in ("quiet", "busy"):
        with machine_load(load):
            for decoder, flags in (("greedy", ["--decoder", "greedy"]), ("own decoding", [])):
                seconds = statistics.median(timed([CTCASR, "evaluate", "--model", model, "--manifest", manifest,
                                                   *flags], env) for _ in range(3))
                rows[f"{load}/{decoder}"] = round(audio_seconds / seconds, 1)
    return rows


def exported(model: str, manifest: str, audio_seconds: float) -> dict:
    """The same greedy `evaluate`, default threads, of the model exported to ONNX (`ctcasr export`): onnxruntime
    and NumPy, no PyTorch import; quiet and beside one competing CPU-bound process."""
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([CTCASR, "export", "--model", model, "--out", f"{folder}/onnx"], check=True,
                       capture_output=True)
        for load in ("quiet", "busy"):
            with machine_load(load):
                seconds = timed([CTCASR, "evaluate", "--model", f"{folder}/onnx", "--manifest", manifest,
                                 "--decoder", "greedy"])
            rows[f"{load}/greedy/default threads"] = round(audio_seconds / seconds, 1)
    return rows


def compute_bound(model_path: str, sample: str) -> dict:
    """The model's forward GFLOP per audio second (on one real utterance) and the x real time that one core's
    fp32 matmul rate would give a forward pass doing nothing else: the ceiling the measured figures sit under."""
    from ctcasr.audio import load
    from ctcasr.checkpoint import load_model

    model = load_model(model_path, torch.device("cpu")).eval()
    wave = torch.from_numpy(load(sample, model.sample_rate))
    gflop = forward_flops(model, wave[None], torch.tensor([wave.numel()])) / 1e9 / (wave.numel() / model.sample_rate)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        peak = matmul_gflops()
    finally:
        torch.set_num_threads(threads)
    return {"forward_gflop_per_audio_s": round(gflop, 3), "matmul_gflops_1_thread": round(peak, 1),
            "compute_bound_x_real_time_1_thread": round(peak / gflop, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="*", default=["recipes/an4_ds2.yaml"])  # none: inference only
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=["models/an4_ds2.pt"])  # none: training only
    parser.add_argument("--data", default="data")
    parser.add_argument("--results", default="results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for recipe in args.recipes:
        started = time.time()
        row = training_breakdown(recipe, args.steps, args.warmup)
        rows[recipe] = (row, stamp(started))  # its own wall time, not the later recipes'
    # One sgemm measurement beside a recipe varies with the machine's moment (111 vs 183 GFLOP/s in one run here):
    # every fraction is taken of the best rate the run measured, each recipe's own rate kept beside it.
    peak = max((row["matmul_gflops"] for row, _ in rows.values()), default=0.0)
    baseline = None
    for recipe, (row, provenance) in rows.items():
        row |= {"matmul_gflops_beside": row["matmul_gflops"], "matmul_gflops": peak,
                "fraction_of_matmul_peak": round(row["achieved_gflops"] / peak, 3)}
        if baseline is None:
            baseline = (Path(recipe).name, row["value"])
        else:
            row |= {"relative_to": baseline[0], "speedup": round(row["value"] / baseline[1], 2)}
        write_json(Path(args.results) / f"speed_train_{Path(recipe).stem}.json", row | provenance)
        print(f"{recipe}: {row['value']} audio s/s, {row['fraction_of_matmul_peak']:.0%} of the matmul peak"
              + (f", {row['speedup']}x {baseline[0]}" if "speedup" in row else ""))
    manifest = f"{args.data}/an4/test.jsonl"
    items = read_manifest(manifest)
    for model in args.models:
        started = time.time()
        row = inference(model, manifest, float(np.sum([u.duration for u in items])), items[0].audio_filepath)
        write_json(Path(args.results) / f"speed_inference_{Path(model).stem}.json", row | stamp(started))
        print(f"evaluate {model}: {row['x_real_time']}; --help {row['help_s']} s; compute-bound at one thread "
              f"{row['compute_bound_x_real_time_1_thread']}x")


if __name__ == "__main__":
    main()
