"""Checkpoints decoded on the CPU through onnxruntime: exported once into a cache folder, reused by later commands.

Importing PyTorch takes 1.3-2 s, about half of a short `evaluate` or `transcribe`; onnxruntime loads in a fraction
of that and runs the same graph (features included) at least as fast on this CPU. So the first command that
decodes a checkpoint on the CPU exports it (`ctcasr export`'s ONNX network and sidecar, without decoding files)
into `$CTCASR_HOME/onnx/<sha256 of the checkpoint>/` (default `~/.cache/ctcasr`), after checking that both runtimes
give the same output probabilities on a test input; later commands load the export without importing PyTorch.
A checkpoint that cannot be exported, or whose export disagrees, is run with PyTorch (and noted, so the next
command does not try again). `--runtime torch` or `CTCASR_RUNTIME=torch` keeps PyTorch; a GPU machine keeps it
too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from pathlib import Path

from ctcasr.errors import UserError

RUNTIMES = ("auto", "onnx", "torch")
RUNTIME_ENV = "CTCASR_RUNTIME"
TOLERANCE = 1e-3  # largest difference of any output probability between the two runtimes on the test input


def cache_root() -> Path:
    from ctcasr.artifacts import cache_home

    return cache_home() / "onnx"


def export_for(checkpoint: Path, device: str, runtime: str | None) -> Path | None:
    """The cached export to run `checkpoint` with, or None for PyTorch. `runtime`: auto, onnx (an error where it
    cannot be), torch or None ($CTCASR_RUNTIME, else auto)."""
    asked = runtime or os.environ.get(RUNTIME_ENV) or "auto"
    if choose_runtime(asked, device) == "torch":
        return None
    return cached_export(checkpoint, required=asked == "onnx")


def choose_runtime(runtime: str, device: str) -> str:
    """"onnx" or "torch" for a checkpoint: auto is onnx on the CPU when onnx and onnxruntime are installed, torch
    for any other device and where a GPU is present."""
    if runtime not in RUNTIMES:
        raise UserError(f"unknown runtime {runtime!r}; use {', '.join(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    if device not in ("auto", "cpu") or (device == "auto" and Path("/proc/driver/nvidia/version").exists()):
        return "torch"  # a GPU, or a device PyTorch is to judge
    return "onnx" if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx") else "torch"


def cached_export(checkpoint: Path, required: bool = False) -> Path | None:
    """The cache folder holding `checkpoint`'s checked ONNX export, made now if missing or damaged; None (or, when
    `required`, a UserError) where it cannot be made or its outputs differ from PyTorch's."""
    from ctcasr.data.download import file_digest
    from ctcasr.export import read_sidecar

    key = file_digest(checkpoint, "sha256")[:32]
    root = cache_root()
    folder, failed = root / key, root / f"{key}.failed"
    if failed.is_file():
        return _refuse(failed.read_text(encoding="utf-8", errors="replace").strip(), checkpoint, required)
    if folder.is_dir():
        try:
            read_sidecar(folder)
            return folder
        except UserError:  # damaged or half deleted: made again below
            shutil.rmtree(folder, ignore_errors=True)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _refuse(f"cannot write the cache folder {root} ({exc.strerror})", checkpoint, required)
    tmp = root / f".{key}.tmp{os.getpid()}"
    try:
        problem = _export_and_check(checkpoint, tmp)
        if problem:
            failed.write_text(problem + "\n", encoding="utf-8")
            return _refuse(problem, checkpoint, required)
        with contextlib.suppress(OSError):  # failing only where another command made it first: theirs is as good
            os.rename(tmp, folder)
    except OSError as exc:
        return _refuse(f"cannot write the cache folder {root} ({exc.strerror})", checkpoint, required)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _refuse(problem: str, checkpoint: Path, required: bool) -> None:
    if required:
        raise UserError(f"cannot run it with onnxruntime: {problem}", checkpoint)
    return None


def _export_and_check(checkpoint: Path, out: Path) -> str:
    """Export `checkpoint` into `out` and compare both runtimes on the exporter's test input; the problem, or ""."""
    import numpy as np

    from ctcasr.acoustic import TorchAcoustic
    from ctcasr.checkpoint import load_model
    from ctcasr.export import OnnxAcoustic, _example, export_model, read_sidecar

    try:
        export_model(checkpoint, "onnx", out, decoding=False)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds for graphs it cannot trace
        return f"the ONNX export failed ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
    model = load_model(checkpoint, "cpu")
    waves, lengths = _example(model.sample_rate)
    waves = [w[:n].numpy() for w, n in zip(waves, lengths, strict=True)]
    expected, frames = TorchAcoustic(model).log_probs(waves)
    got, got_frames = OnnxAcoustic(out, read_sidecar(out)).log_probs(waves)
    if got.shape != expected.shape or not np.array_equal(frames, got_frames):
        return f"the export's output shape {got.shape} differs from PyTorch's {expected.shape}"
    differences = [np.abs(np.exp(got[i, :n]) - np.exp(expected[i, :n])).max() for i, n in enumerate(frames)]
    if max(differences) > TOLERANCE:
        return f"the export's probabilities differ from PyTorch's by {max(differences):.2g}"
    return ""
